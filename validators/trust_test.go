package validators

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// fakeTrust is a map-based Resolver: discovery documents by issuer, key sets
// by URL, errors for either; anything unknown answers HTTP 404. It counts
// calls.
type fakeTrust struct {
	disc    map[string]*trust.Discovery
	keys    map[string][]byte
	errs    map[string]error // by issuer or URL
	staleAt map[string]string
	mu      sync.Mutex
	calls   map[string]int
}

func (f *fakeTrust) count(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[key]++
}

func (f *fakeTrust) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	f.count("discover " + issuer)
	if err := f.errs[issuer]; err != nil {
		return nil, err
	}
	d, ok := f.disc[issuer]
	if !ok {
		return nil, &trust.FetchError{URL: trust.DiscoveryURL(issuer), Kind: trust.Status, Status: 404}
	}
	out := *d
	if reason, ok := f.staleAt[issuer]; ok {
		out.Stale, out.StaleReason = true, reason
	}
	return &out, nil
}

func (f *fakeTrust) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	f.count("jwks " + uri)
	if err := f.errs[uri]; err != nil {
		return nil, err
	}
	raw, ok := f.keys[uri]
	if !ok {
		return nil, &trust.FetchError{URL: uri, Kind: trust.Status, Status: 404}
	}
	ks := &trust.KeySet{Raw: raw}
	if reason, ok := f.staleAt[uri]; ok {
		ks.Stale, ks.StaleReason = true, reason
	}
	return ks, nil
}

var (
	trustKeysOnce        sync.Once
	goodJWKS, leakedJWKS []byte
	weakJWKS, dupKidJWKS []byte
	otherJWKS            []byte
)

func trustKeys(t *testing.T) {
	t.Helper()
	trustKeysOnce.Do(func() {
		big, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		set := func(keys ...jose.JSONWebKey) []byte {
			b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
			if err != nil {
				panic(err)
			}
			return b
		}
		pub := jose.JSONWebKey{Key: &big.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
		goodJWKS = set(pub)
		otherJWKS = set(jose.JSONWebKey{Key: &big.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"})
		leakedJWKS = set(pub, jose.JSONWebKey{Key: big, KeyID: "leak", Algorithm: "RS256", Use: "sig"})
		weakJWKS = set(jose.JSONWebKey{Key: &small.PublicKey, KeyID: "weak", Algorithm: "RS256"})
		dupKidJWKS = set(pub, pub)
	})
}

const (
	idp     = "https://idp.example.com"
	idpKeys = "https://idp.example.com/keys"
	idp2    = "https://login.example.org/tenant"
)

// goodTrust answers for idp and idp2 with usable keys.
func goodTrust() *fakeTrust {
	return &fakeTrust{
		disc: map[string]*trust.Discovery{
			idp:  {Issuer: idp, JWKSURI: idpKeys},
			idp2: {Issuer: idp2, JWKSURI: idp2 + "/keys"},
		},
		keys: map[string][]byte{idpKeys: goodJWKS, idp2 + "/keys": goodJWKS},
	}
}

// with returns a copy of goodTrust changed by mod.
func trustWith(mod func(f *fakeTrust)) *fakeTrust {
	f := goodTrust()
	f.errs, f.staleAt = map[string]error{}, map[string]string{}
	mod(f)
	return f
}

func auth(issuer, jwks string) apirule.JWTAuthentication {
	return apirule.JWTAuthentication{Issuer: issuer, JwksURI: jwks}
}

func v2Rule(auths ...apirule.JWTAuthentication) *apirule.APIRule {
	return v2Rules(auths)
}

func v2Rules(rules ...[]apirule.JWTAuthentication) *apirule.APIRule {
	ar := &apirule.APIRule{}
	for _, auths := range rules {
		ar.Spec.Rules = append(ar.Spec.Rules, apirule.Rule{Path: "/*", JWT: &apirule.JWT{Authentications: auths}})
	}
	return ar
}

func extAuthRule(auths ...apirule.JWTAuthentication) *apirule.APIRule {
	return &apirule.APIRule{Spec: apirule.Spec{Rules: []apirule.Rule{{
		Path: "/*", ExtAuth: &apirule.ExtAuth{Authorizers: []string{"oauth2-proxy"}, Restrictions: &apirule.JWT{Authentications: auths}},
	}}}}
}

func v1beta1JWT(config string) *apirule.V1beta1APIRule {
	return &apirule.V1beta1APIRule{Spec: apirule.V1beta1Spec{Rules: []apirule.V1beta1Rule{{
		Path: "/.*",
		AccessStrategies: []*apirule.Handler{
			{Name: "noop"},
			{Name: "jwt", Config: &runtime.RawExtension{Raw: []byte(config)}},
		},
	}}}}
}

func reqAuthn(rules ...*securityv1beta1.JWTRule) *securityv1.RequestAuthentication {
	ra := &securityv1.RequestAuthentication{}
	ra.Spec.JwtRules = rules
	return ra
}

// offPolicy turns the named checks off and keeps other defaults.
type offPolicy map[string]bool

func (p offPolicy) Action(c *core.Check) core.Action {
	if p[c.ID] {
		return core.Off
	}
	return c.Default
}
func (offPolicy) NetworkAction() core.Action { return core.Warn }

// denyPolicy makes the named checks deny and keeps other defaults.
type denyPolicy map[string]bool

func (p denyPolicy) Action(c *core.Check) core.Action {
	if p[c.ID] {
		return core.Deny
	}
	return c.Default
}
func (denyPolicy) NetworkAction() core.Action { return core.Warn }

// networkDeny is networkErrorAction: deny, with checks turned off as in
// offPolicy.
type networkDeny struct{ offPolicy }

func (networkDeny) NetworkAction() core.Action { return core.Deny }

// runTrust validates typed with settings and policy of the test's choosing;
// it keeps only trust findings, so other checks of the kind do not matter.
func runTrust(t *testing.T, typed any, tr trust.Resolver, mod func(*core.Settings), pol core.Policy) *core.Report {
	t.Helper()
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	s := core.Settings{}.WithDefaults()
	if mod != nil {
		mod(&s)
	}
	if pol == nil {
		pol = core.DefaultPolicy
	}
	r := core.NewReport(pol)
	Validate(context.Background(), &core.Object{Namespace: "default", Name: "x", Operation: "CREATE", Typed: typed},
		&core.Env{Cluster: st, Trust: tr, Settings: s, Now: func() time.Time { return testNow }}, r)
	return r
}

func trustOnly(fs []core.Finding) []core.Finding {
	var out []core.Finding
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "jwt-") {
			out = append(out, f)
		}
	}
	return out
}

func TestTrustChecks(t *testing.T) {
	trustKeys(t)
	a0 := "spec.rules[0].jwt.authentications[0]"
	tests := []struct {
		name     string
		obj      any
		tr       *fakeTrust
		settings func(*core.Settings)
		policy   core.Policy
		deny     []string
		warn     []string
		// msgs are "check field fragment|fragment" lines one finding must match.
		msgs  []string
		calls map[string]int
	}{
		// APIRule v2: spec.rules[i].jwt.authentications[j]
		{name: "v2 good issuer and jwks", obj: v2Rule(auth(idp, idpKeys)), tr: goodTrust(),
			calls: map[string]int{"discover " + idp: 1, "jwks " + idpKeys: 1}},
		{name: "v2 http jwksUri", obj: v2Rule(auth(idp, "http://idp.example.com/keys")), tr: goodTrust(),
			deny: []string{"jwt-url-form " + a0 + ".jwksUri"},
			// the discovery jwks_uri is the https form: say so
			warn: []string{"jwt-jwks-uri-mismatch " + a0 + ".jwksUri"},
			msgs: []string{"jwt-url-form " + a0 + ".jwksUri plain http is not allowed|allowHTTPHosts|istiod fetches the keys from this URL|stricter on purpose"},
			// a URL that fails the form is not fetched
			calls: map[string]int{"jwks http://idp.example.com/keys": 0}},
		{name: "v2 http allowed by settings", obj: v2Rule(auth(idp, "http://idp.example.com/keys")),
			tr:       trustWith(func(f *fakeTrust) { f.keys["http://idp.example.com/keys"] = goodJWKS }),
			settings: func(s *core.Settings) { s.AllowHTTPHosts = []string{"idp.example.com"} },
			warn:     []string{"jwt-jwks-uri-mismatch " + a0 + ".jwksUri"}},
		// an issuer with keys configured is never fetched: it only has to be a URI
		{name: "v2 issuer with credentials and fragment", obj: v2Rule(auth("https://u:secret@idp.example.com", idpKeys+"#x")), tr: goodTrust(),
			deny:  []string{"jwt-url-form " + a0 + ".jwksUri"},
			msgs:  []string{"jwt-url-form " + a0 + ".jwksUri fragment"},
			calls: map[string]int{"discover https://u:secret@idp.example.com": 0}},
		{name: "v2 http issuer with https jwksUri is compared, not fetched", obj: v2Rule(auth("http://idp.example.com", idpKeys)), tr: goodTrust(),
			calls: map[string]int{"discover http://idp.example.com": 0, "jwks " + idpKeys: 1}},
		{name: "v2 issuer that is no URI", obj: v2Rule(auth("https://idp example.com", idpKeys)), tr: goodTrust(),
			deny: []string{"jwt-url-form " + a0 + ".issuer"},
			msgs: []string{"jwt-url-form " + a0 + ".issuer not a valid URI|as the tokens' iss claim names it"}},
		{name: "v2 issuer trailing slash", obj: v2Rule(auth(idp+"/", idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.disc[idp+"/"] = &trust.Discovery{Issuer: idp, JWKSURI: idpKeys} }),
			deny: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{`jwt-issuer-discovery ` + a0 + `.issuer names issuer "https://idp.example.com" but "https://idp.example.com/" is configured|trailing slash`}},
		{name: "v2 wrong issuer", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.disc[idp].Issuer = "https://evil.example.net" }),
			deny: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{`jwt-issuer-discovery ` + a0 + `.issuer "https://evil.example.net"|"https://idp.example.com"`}},
		{name: "v2 discovery 404 with jwksUri is a warning", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { delete(f.disc, idp) }),
			warn: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer HTTP 404|optional"}},
		{name: "v2 discovery 404 without jwksUri denies", obj: v2Rule(auth(idp, "")),
			tr:   trustWith(func(f *fakeTrust) { delete(f.disc, idp) }),
			deny: []string{"jwt-issuer-discovery " + a0 + ".issuer"}},
		{name: "v2 discovery 503 follows the network action", obj: v2Rule(auth(idp, "")),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idp] = &trust.FetchError{URL: trust.DiscoveryURL(idp), Kind: trust.Status, Status: 503}
			}),
			warn: []string{"jwt-issuer-discovery " + a0 + ".issuer"}},
		{name: "v2 discovery not JSON denies", obj: v2Rule(auth(idp, "")),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idp] = &trust.FetchError{URL: trust.DiscoveryURL(idp), Kind: trust.Invalid, Err: fmt.Errorf("answer is not JSON")}
			}),
			deny: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer not JSON"}},
		{name: "v2 issuer unreachable", obj: v2Rule(auth(idp, idpKeys)),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idp] = &trust.FetchError{URL: trust.DiscoveryURL(idp), Kind: trust.Network, Err: fmt.Errorf("timed out after 2s")}
			}),
			warn: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer got no answer|timed out"}},
		{name: "v2 issuer unreachable, networkErrorAction deny", obj: v2Rule(auth(idp, idpKeys)),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idp] = &trust.FetchError{URL: trust.DiscoveryURL(idp), Kind: trust.Network, Err: fmt.Errorf("connection refused")}
			}),
			policy: networkDeny{},
			deny:   []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs:   []string{"jwt-issuer-discovery " + a0 + ".issuer got no answer|connection refused"}},
		{name: "v2 jwks unreachable, networkErrorAction deny, check off", obj: v2Rule(auth(idp, idpKeys)),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idpKeys] = &trust.FetchError{URL: idpKeys, Kind: trust.Network, Err: fmt.Errorf("connection refused")}
			}),
			policy: networkDeny{offPolicy{"jwt-jwks-usable": true}}},
		{name: "v2 plain error counts as network", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.errs[idpKeys] = fmt.Errorf("boom") }),
			warn: []string{"jwt-jwks-usable " + a0 + ".jwksUri"}},
		{name: "v2 issuer blocked by ssrf policy", obj: v2Rule(auth(idp, idpKeys)),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idp] = &trust.FetchError{URL: trust.DiscoveryURL(idp), Kind: trust.Blocked, Err: fmt.Errorf("address 10.0.0.5 is blocked (in special-purpose range 10.0.0.0/8); if this issuer is trusted, --allow-cidr 10.0.0.5/32 allows it")}
			}),
			deny: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer 10.0.0.5|--allow-cidr"}},
		{name: "v2 no network: one warning per skipped check", obj: v2Rules(
			[]apirule.JWTAuthentication{auth(idp, idpKeys)},
			[]apirule.JWTAuthentication{auth(idp2, "")}),
			tr: nil,
			warn: []string{"jwt-issuer-discovery " + a0 + ".issuer", "jwt-jwks-uri-mismatch " + a0 + ".issuer",
				"jwt-jwks-usable " + a0 + ".jwksUri"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer network checks were skipped"}},
		{name: "v2 discovery without jwks_uri", obj: v2Rule(auth(idp, "")),
			tr:   trustWith(func(f *fakeTrust) { f.disc[idp].JWKSURI = "" }),
			deny: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer no jwks_uri"}},
		{name: "v2 stale discovery", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.staleAt[idp] = "refresh failed (connection refused)" }),
			warn: []string{"jwt-issuer-discovery " + a0 + ".issuer"},
			msgs: []string{"jwt-issuer-discovery " + a0 + ".issuer stale|connection refused"}},

		// JWKS content
		{name: "v2 jwks with a private key", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = leakedJWKS }),
			deny: []string{"jwt-jwks-usable " + a0 + ".jwksUri"},
			msgs: []string{`jwt-jwks-usable ` + a0 + `.jwksUri kid "leak"|private key material`}},
		{name: "v2 jwks with a 1024-bit key", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = weakJWKS }),
			deny: []string{"jwt-jwks-usable " + a0 + ".jwksUri", "jwt-jwks-usable " + a0 + ".jwksUri"},
			msgs: []string{"jwt-jwks-usable " + a0 + ".jwksUri 1024 bits"}},
		{name: "v2 jwks empty", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = []byte(`{"keys":[]}`) }),
			deny: []string{"jwt-jwks-usable " + a0 + ".jwksUri"},
			msgs: []string{"jwt-jwks-usable " + a0 + ".jwksUri empty"}},
		{name: "v2 jwks duplicate kid warns", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = dupKidJWKS }),
			warn: []string{"jwt-jwks-usable " + a0 + ".jwksUri"},
			msgs: []string{`jwt-jwks-usable ` + a0 + `.jwksUri share kid "k1"`}},
		{name: "v2 jwks 404 denies", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { delete(f.keys, idpKeys) }),
			deny: []string{"jwt-jwks-usable " + a0 + ".jwksUri"}},
		{name: "v2 jwks 500 follows the network action", obj: v2Rule(auth(idp, idpKeys)),
			tr: trustWith(func(f *fakeTrust) {
				f.errs[idpKeys] = &trust.FetchError{URL: idpKeys, Kind: trust.Status, Status: 500}
			}),
			warn: []string{"jwt-jwks-usable " + a0 + ".jwksUri"}},
		{name: "v2 stale jwks", obj: v2Rule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.staleAt[idpKeys] = "refresh failed (HTTP 503)" }),
			warn: []string{"jwt-jwks-usable " + a0 + ".jwksUri"},
			msgs: []string{"jwt-jwks-usable " + a0 + ".jwksUri stale|HTTP 503"}},
		{name: "v2 keys from discovery are checked at the issuer", obj: v2Rule(auth(idp, "")),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = leakedJWKS }),
			deny: []string{"jwt-jwks-usable " + a0 + ".issuer"},
			msgs: []string{"jwt-jwks-usable " + a0 + ".issuer discovery jwks_uri|private key material"}},
		{name: "v2 discovery jwks_uri over http", obj: v2Rule(auth(idp, "")),
			tr:    trustWith(func(f *fakeTrust) { f.disc[idp].JWKSURI = "http://idp.example.com/keys" }),
			deny:  []string{"jwt-jwks-usable " + a0 + ".issuer"},
			calls: map[string]int{"jwks http://idp.example.com/keys": 0}},

		// consistency
		{name: "v2 jwksUri differs from discovery", obj: v2Rule(auth(idp, idp2+"/keys")), tr: goodTrust(),
			warn: []string{"jwt-jwks-uri-mismatch " + a0 + ".jwksUri"},
			msgs: []string{"jwt-jwks-uri-mismatch " + a0 + `.jwksUri "https://idp.example.com/keys"|https://login.example.org/tenant/keys`}},
		{name: "v2 one issuer with two jwks across rules", obj: v2Rules(
			[]apirule.JWTAuthentication{auth(idp, idpKeys)},
			[]apirule.JWTAuthentication{auth(idp, idp2+"/keys")}), tr: goodTrust(),
			warn: []string{"jwt-issuer-jwks-conflict spec.rules[1].jwt.authentications[0].jwksUri", "jwt-jwks-uri-mismatch spec.rules[1].jwt.authentications[0].jwksUri"},
			msgs: []string{"jwt-issuer-jwks-conflict spec.rules[1].jwt.authentications[0].jwksUri " + a0 + ".jwksUri|either key set verifies"}},
		{name: "v2 same issuer and jwks twice is fetched once", obj: v2Rules(
			[]apirule.JWTAuthentication{auth(idp, idpKeys)},
			[]apirule.JWTAuthentication{auth(idp, idpKeys)}), tr: goodTrust(),
			calls: map[string]int{"discover " + idp: 1, "jwks " + idpKeys: 1}},

		// allowlist
		{name: "v2 issuer outside allowlist", obj: v2Rule(auth(idp2, idp2+"/keys")), tr: goodTrust(),
			settings: func(s *core.Settings) { s.TrustedIssuers = []string{idp} },
			deny:     []string{"jwt-issuer-allowlist " + a0 + ".issuer"},
			msgs:     []string{"jwt-issuer-allowlist " + a0 + ".issuer trustedIssuers"}},
		{name: "v2 issuer matches allowlist prefix", obj: v2Rule(auth(idp2, idp2+"/keys")), tr: goodTrust(),
			settings: func(s *core.Settings) { s.TrustedIssuers = []string{idp, "https://login.example.org/*"} }},
		{name: "v2 allowlist is exact without star", obj: v2Rule(auth(idp2, idp2+"/keys")), tr: goodTrust(),
			settings: func(s *core.Settings) { s.TrustedIssuers = []string{"https://login.example.org"} },
			deny:     []string{"jwt-issuer-allowlist " + a0 + ".issuer"}},

		// network checks off: nothing fetched
		{name: "v2 network checks off", obj: v2Rule(auth(idp, idpKeys)), tr: goodTrust(),
			policy: offPolicy{"jwt-issuer-discovery": true, "jwt-jwks-usable": true, "jwt-jwks-uri-mismatch": true},
			calls:  map[string]int{"discover " + idp: 0, "jwks " + idpKeys: 0}},
		{name: "v2 only jwks check on", obj: v2Rule(auth(idp, idpKeys)), tr: goodTrust(),
			policy: offPolicy{"jwt-issuer-discovery": true, "jwt-jwks-uri-mismatch": true},
			calls:  map[string]int{"discover " + idp: 0, "jwks " + idpKeys: 1}},

		// APIRule v2 extAuth restrictions
		{name: "v2 extAuth restrictions", obj: extAuthRule(auth(idp, idpKeys)),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = leakedJWKS }),
			deny: []string{"jwt-jwks-usable spec.rules[0].extAuth.restrictions.authentications[0].jwksUri"}},

		// APIRule v1beta1, Ory and Istio dialects
		{name: "v1beta1 ory good", obj: v1beta1JWT(`{"trusted_issuers":["` + idp + `"],"jwks_urls":["` + idpKeys + `"]}`), tr: goodTrust()},
		// an http trusted issuer is compared with iss; the keys come from jwks_urls
		{name: "v1beta1 ory paths", obj: v1beta1JWT(`{"trusted_issuers":["` + idp + `","http://x.example.com"],"jwks_urls":["` + idp2 + `/keys"]}`),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idp2+"/keys"] = weakJWKS }),
			deny: []string{"jwt-jwks-usable spec.rules[0].accessStrategies[1].config.jwks_urls[0]", "jwt-jwks-usable spec.rules[0].accessStrategies[1].config.jwks_urls[0]"},
			warn: []string{"jwt-jwks-uri-mismatch spec.rules[0].accessStrategies[1].config.trusted_issuers[0]"},
			msgs: []string{"jwt-jwks-uri-mismatch spec.rules[0].accessStrategies[1].config.trusted_issuers[0] jwks_urls does not list"}},
		{name: "v1beta1 ory issuer without discovery but jwks_urls", obj: v1beta1JWT(`{"trusted_issuers":["` + idp + `"],"jwks_urls":["` + idpKeys + `"]}`),
			tr:   trustWith(func(f *fakeTrust) { delete(f.disc, idp) }),
			warn: []string{"jwt-issuer-discovery spec.rules[0].accessStrategies[1].config.trusted_issuers[0]"}},
		{name: "v1beta1 istio dialect", obj: v1beta1JWT(`{"authentications":[{"issuer":"` + idp + `","jwksUri":"` + idpKeys + `"}]}`),
			tr:   trustWith(func(f *fakeTrust) { f.keys[idpKeys] = leakedJWKS }),
			deny: []string{"jwt-jwks-usable spec.rules[0].accessStrategies[1].config.authentications[0].jwksUri"}},
		{name: "v1beta1 istio dialect issuer mismatch", obj: v1beta1JWT(`{"authentications":[{"issuer":"` + idp + `/","jwksUri":"` + idpKeys + `"}]}`),
			tr:   trustWith(func(f *fakeTrust) { f.disc[idp+"/"] = &trust.Discovery{Issuer: idp, JWKSURI: idpKeys} }),
			deny: []string{"jwt-issuer-discovery spec.rules[0].accessStrategies[1].config.authentications[0].issuer"}},
		{name: "v1beta1 allowlist on ory issuers", obj: v1beta1JWT(`{"trusted_issuers":["` + idp2 + `"],"jwks_urls":["` + idp2 + `/keys"]}`), tr: goodTrust(),
			settings: func(s *core.Settings) { s.TrustedIssuers = []string{idp} },
			deny:     []string{"jwt-issuer-allowlist spec.rules[0].accessStrategies[1].config.trusted_issuers[0]"}},

		// RequestAuthentication: spec.jwtRules[i]
		{name: "ra good", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: idp, JwksUri: idpKeys}), tr: goodTrust()},
		{name: "ra issuer only uses discovery", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: idp}),
			tr:    trustWith(func(f *fakeTrust) { f.keys[idpKeys] = weakJWKS }),
			deny:  []string{"jwt-jwks-usable spec.jwtRules[0].issuer", "jwt-jwks-usable spec.jwtRules[0].issuer"},
			calls: map[string]int{"discover " + idp: 1, "jwks " + idpKeys: 1}},
		{name: "ra jwksUri form", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: idp}, &securityv1beta1.JWTRule{Issuer: idp2, JwksUri: "ftp://x/keys"}),
			tr:   goodTrust(),
			deny: []string{"jwt-url-form spec.jwtRules[1].jwksUri"},
			warn: []string{"jwt-jwks-uri-mismatch spec.jwtRules[1].jwksUri"}},
		{name: "ra non-url issuer with jwksUri", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "testing@secure.istio.io", JwksUri: idpKeys}),
			tr:    goodTrust(),
			calls: map[string]int{"discover testing@secure.istio.io": 0, "jwks " + idpKeys: 1}},
		{name: "ra non-url issuer without keys", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "testing@secure.istio.io"}),
			tr:   goodTrust(),
			deny: []string{"jwt-url-form spec.jwtRules[0].issuer"}},
		{name: "ra jwksUri only", obj: reqAuthn(&securityv1beta1.JWTRule{JwksUri: idpKeys}), tr: goodTrust(),
			calls: map[string]int{"jwks " + idpKeys: 1}},
		{name: "ra inline jwks with a private key", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: idp, Jwks: string(leakedJWKS)}), tr: goodTrust(),
			deny: []string{"jwt-inline-jwks-usable spec.jwtRules[0].jwks"},
			msgs: []string{"jwt-inline-jwks-usable spec.jwtRules[0].jwks inline jwks|private key material|refuses it on purpose"},
			// the keys are inline: discovery is asked (issuer check), not jwks_uri
			calls: map[string]int{"jwks " + idpKeys: 0}},
		{name: "ra inline jwks offline still judged", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "testing@secure.istio.io", Jwks: `{"keys":[]}`}),
			tr:   nil,
			deny: []string{"jwt-inline-jwks-usable spec.jwtRules[0].jwks"}},
		{name: "ra same issuer inline and uri", obj: reqAuthn(
			&securityv1beta1.JWTRule{Issuer: idp, JwksUri: idpKeys},
			&securityv1beta1.JWTRule{Issuer: idp, Jwks: string(otherJWKS)}), tr: goodTrust(),
			warn: []string{"jwt-issuer-jwks-conflict spec.jwtRules[1].jwks"}},
		{name: "ra issuer conflict denies when configured so", obj: reqAuthn(
			&securityv1beta1.JWTRule{Issuer: idp, JwksUri: idpKeys},
			&securityv1beta1.JWTRule{Issuer: idp, JwksUri: idp2 + "/keys"}), tr: goodTrust(),
			policy: denyPolicy{JWTIssuerJWKSConflict.ID: true},
			deny:   []string{"jwt-issuer-jwks-conflict spec.jwtRules[1].jwksUri"},
			warn:   []string{"jwt-jwks-uri-mismatch spec.jwtRules[1].jwksUri"}},
		{name: "ra http issuer without keys is discovered over http", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "http://idp.example.com"}), tr: goodTrust(),
			deny:  []string{"jwt-url-form spec.jwtRules[0].issuer"},
			msgs:  []string{"jwt-url-form spec.jwtRules[0].issuer plain http|istiod discovers the keys from this issuer|stricter on purpose"},
			calls: map[string]int{"discover http://idp.example.com": 0}},
		{name: "ra http issuer with inline jwks", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "http://idp.example.com", Jwks: string(goodJWKS)}), tr: goodTrust(),
			calls: map[string]int{"discover http://idp.example.com": 0}},
		{name: "ra issuer with user info and no keys", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "https://u:secret@idp.example.com"}), tr: goodTrust(),
			deny: []string{"jwt-url-form spec.jwtRules[0].issuer"},
			msgs: []string{"jwt-url-form spec.jwtRules[0].issuer user info|xxxxx"}},
		{name: "ra issuer mismatch", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: idp, JwksUri: idpKeys}),
			tr:   trustWith(func(f *fakeTrust) { f.disc[idp].Issuer = idp + "/" }),
			deny: []string{"jwt-issuer-discovery spec.jwtRules[0].issuer"}},
		{name: "ra allowlist", obj: reqAuthn(&securityv1beta1.JWTRule{Issuer: "https://evil.example.net", JwksUri: idpKeys}),
			tr: trustWith(func(f *fakeTrust) {
				f.disc["https://evil.example.net"] = &trust.Discovery{Issuer: "https://evil.example.net", JWKSURI: idpKeys}
			}),
			settings: func(s *core.Settings) {
				s.TrustedIssuers = []string{"https://*.example.com/*", "https://idp.example.com*"}
			},
			deny: []string{"jwt-issuer-allowlist spec.jwtRules[0].issuer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr trust.Resolver = trust.Offline{}
			if tt.tr != nil {
				tr = tt.tr
			}
			r := runTrust(t, tt.obj, tr, tt.settings, tt.policy)
			deny, warn := trustOnly(r.Violations), trustOnly(r.Warnings)
			for _, f := range deny {
				t.Logf("deny: %s", f)
			}
			for _, f := range warn {
				t.Logf("warn: %s", f)
			}
			if got := summary(deny); !sameLines(got, tt.deny) {
				t.Errorf("violations:\n got %q\nwant %q\n%v", got, sorted(tt.deny), deny)
			}
			if got := summary(warn); !sameLines(got, tt.warn) {
				t.Errorf("warnings:\n got %q\nwant %q\n%v", got, sorted(tt.warn), warn)
			}
			for _, m := range tt.msgs {
				parts := strings.SplitN(m, " ", 3)
				frags := strings.Split(parts[2], "|")
				if !hasFinding(append(append([]core.Finding{}, deny...), warn...), parts[0], parts[1], frags...) {
					t.Errorf("no %s finding at %s with %q in\n%v\n%v", parts[0], parts[1], frags, deny, warn)
				}
			}
			for key, want := range tt.calls {
				if got := tt.tr.calls[key]; got != want {
					t.Errorf("calls[%s] = %d, want %d (all: %v)", key, got, want, tt.tr.calls)
				}
			}
		})
	}
}

// TestTrustMessagesDoNotLeak: neither inline key material nor URL passwords
// are echoed in findings.
func TestTrustMessagesDoNotLeak(t *testing.T) {
	trustKeys(t)
	r := runTrust(t, reqAuthn(
		&securityv1beta1.JWTRule{Issuer: "testing@secure.istio.io", Jwks: string(leakedJWKS)},
		&securityv1beta1.JWTRule{Issuer: "https://user:hunter2@idp.example.com"},
	), goodTrust(), nil, nil)
	var d struct {
		Keys []struct {
			D string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(leakedJWKS, &d); err != nil || d.Keys[1].D == "" {
		t.Fatalf("test key set has no private member: %v", err)
	}
	if len(r.Violations) < 2 {
		t.Fatalf("violations = %v, want the leak and the credentials", r.Violations)
	}
	for _, f := range append(r.Violations, r.Warnings...) {
		if strings.Contains(f.Message, d.Keys[1].D[:16]) || strings.Contains(f.Message, "hunter2") {
			t.Errorf("finding leaks a secret: %s", f)
		}
	}
}

// TestTrustChecksRegistered: the catalogue has every trust check with the
// documented default and network flag.
func TestTrustChecksRegistered(t *testing.T) {
	want := map[string][2]any{
		"jwt-url-form":             {core.Deny, false},
		"jwt-issuer-discovery":     {core.Deny, true},
		"jwt-jwks-usable":          {core.Deny, true},
		"jwt-inline-jwks-usable":   {core.Deny, false},
		"jwt-jwks-uri-mismatch":    {core.Warn, true},
		"jwt-issuer-jwks-conflict": {core.Warn, false},
		"jwt-issuer-allowlist":     {core.Deny, false},
	}
	for id, w := range want {
		c, ok := core.Lookup(id)
		if !ok {
			t.Errorf("check %s is not registered", id)
			continue
		}
		if got := [2]any{c.Default, c.Network}; !reflect.DeepEqual(got, w) {
			t.Errorf("%s: default/network = %v, want %v", id, got, w)
		}
	}
}

func sorted(in []string) []string {
	out := append([]string{}, in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func sameLines(got, want []string) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, sorted(want))
}
