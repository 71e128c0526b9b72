package validators

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// The trust checks: every URL istiod fetches (a JWKS, or the issuer when
// its keys come from discovery) must be an https URL, the issuer must
// publish a discovery document naming itself, the keys must be usable
// public signing keys, and one issuer paired with different key sets is
// pointed out. See docs/trust.md.

var (
	JWTURLForm = core.Register(core.Check{
		ID:          "jwt-url-form",
		Kinds:       []string{core.KindAPIRule, core.KindRequestAuthentication},
		Default:     core.Deny,
		Description: "URLs istiod fetches (jwksUri, and the issuer when no jwksUri or jwks is set) are https (http only for settings.allowHTTPHosts) with a host, no user info and no fragment; an issuer whose keys are configured only has to be a URI",
		Runtime:     "istio/istio pilot/pkg/model/jwks_resolver.go BuildLocalJwks, resolveJwksURIUsingOpenID (plain http refused on purpose)",
	})
	JWTIssuerDiscovery = core.Register(core.Check{
		ID:          "jwt-issuer-discovery",
		Kinds:       []string{core.KindAPIRule, core.KindRequestAuthentication},
		Default:     core.Deny,
		Description: "the issuer's OIDC discovery document answers and names exactly the configured issuer",
		Runtime:     "istio/istio pilot/pkg/model/jwks_resolver.go resolveJwksURIUsingOpenID; envoy jwt_authn (iss compared exactly)",
		Network:     true,
	})
	JWTJWKSUsable = core.Register(core.Check{
		ID:          "jwt-jwks-usable",
		Kinds:       []string{core.KindAPIRule, core.KindRequestAuthentication},
		Default:     core.Deny,
		Description: "the JWKS answers with a public signing key envoy supports, no RSA key under 2048 bits and no private key material",
		Runtime:     "istio/istio pilot/pkg/model/jwks_resolver.go BuildLocalJwks (a failed fetch rejects every token)",
		Network:     true,
	})
	JWTInlineJWKSUsable = core.Register(core.Check{
		ID:          "jwt-inline-jwks-usable",
		Kinds:       []string{core.KindRequestAuthentication},
		Default:     core.Deny,
		Description: "an inline jwks holds a public signing key envoy supports, no RSA key under 2048 bits and no private key material",
		Runtime:     "istio/istio pkg/config/validation/validation.go validateJwtRule, warnPrivateJwksKeys (private keys refused on purpose)",
	})
	JWTJWKSURIMismatch = core.Register(core.Check{
		ID:          "jwt-jwks-uri-mismatch",
		Kinds:       []string{core.KindAPIRule, core.KindRequestAuthentication},
		Default:     core.Warn,
		Description: "the configured JWKS URL is the jwks_uri the issuer's discovery document names",
		Runtime:     "istio/istio pilot/pkg/model/jwks_resolver.go BuildLocalJwks (tokens verified with the configured keys only)",
		Network:     true,
	})
	JWTIssuerJWKSConflict = core.Register(core.Check{
		ID:          "jwt-issuer-jwks-conflict",
		Kinds:       []string{core.KindAPIRule, core.KindRequestAuthentication},
		Default:     core.Warn,
		Description: "authentications of one object with the same issuer use the same JWKS (two work, as either key set verifies; usually a leftover)",
		Runtime:     "istio/istio pilot/pkg/security/authn/policy_applier.go convertToEnvoyJwtConfig (providers ORed)",
	})
	JWTIssuerAllowlist = core.Register(core.Check{
		ID:          "jwt-issuer-allowlist",
		Kinds:       []string{core.KindAPIRule, core.KindRequestAuthentication},
		Default:     core.Deny,
		Description: "issuers match settings.trustedIssuers (exact, or prefix for entries ending in *) when that list is set",
		Runtime:     "none: operator policy (settings.trustedIssuers)",
	})
)

// jwtSource is one place an object names an issuer and/or where its keys
// are, with the field paths findings point at.
type jwtSource struct {
	issuer     string
	issuerPath *field.Path
	jwksURI    string
	jwksPath   *field.Path
	inline     string
	inlinePath *field.Path
	// keysElsewhere: the keys come from a sibling list (Ory jwks_urls), so
	// discovery is optional; peerJWKS is that list.
	keysElsewhere bool
	peerJWKS      []string
	// paired: issuer and JWKS belong together (not the Ory lists), so one
	// issuer with two key sets is a conflict.
	paired bool
}

func (s *jwtSource) keysGiven() bool {
	return s.jwksURI != "" || s.inline != "" || s.keysElsewhere
}

func validateAPIRuleJWTTrust(ctx context.Context, ar *apirule.APIRule, env *core.Env, r *core.Report) {
	var srcs []jwtSource
	rules := field.NewPath("spec", "rules")
	add := func(p *field.Path, jwt *apirule.JWT) {
		if jwt == nil {
			return
		}
		for j, a := range jwt.Authentications {
			ap := p.Child("authentications").Index(j)
			srcs = append(srcs, jwtSource{
				issuer: a.Issuer, issuerPath: ap.Child("issuer"),
				jwksURI: a.JwksURI, jwksPath: ap.Child("jwksUri"),
				paired: true,
			})
		}
	}
	for i, rule := range ar.Spec.Rules {
		add(rules.Index(i).Child("jwt"), rule.JWT)
		if rule.ExtAuth != nil {
			add(rules.Index(i).Child("extAuth", "restrictions"), rule.ExtAuth.Restrictions)
		}
	}
	checkJWTTrust(ctx, srcs, env, r)
}

func validateAPIRuleV1beta1JWTTrust(ctx context.Context, ar *apirule.V1beta1APIRule, env *core.Env, r *core.Report) {
	var srcs []jwtSource
	rules := field.NewPath("spec", "rules")
	for i, rule := range ar.Spec.Rules {
		for k, h := range rule.AccessStrategies {
			if h == nil || h.Name != "jwt" {
				continue
			}
			ory, ist, err := h.JWTConfig()
			if err != nil {
				continue // a malformed config is reported by the schema checks
			}
			cp := rules.Index(i).Child("accessStrategies").Index(k).Child("config")
			for n, iss := range ory.TrustedIssuers {
				srcs = append(srcs, jwtSource{
					issuer: iss, issuerPath: cp.Child("trusted_issuers").Index(n),
					keysElsewhere: len(ory.JwksURLs) > 0, peerJWKS: ory.JwksURLs,
				})
			}
			for n, u := range ory.JwksURLs {
				srcs = append(srcs, jwtSource{jwksURI: u, jwksPath: cp.Child("jwks_urls").Index(n)})
			}
			for n, a := range ist.Authentications {
				ap := cp.Child("authentications").Index(n)
				srcs = append(srcs, jwtSource{
					issuer: a.Issuer, issuerPath: ap.Child("issuer"),
					jwksURI: a.JwksURI, jwksPath: ap.Child("jwksUri"),
					paired: true,
				})
			}
		}
	}
	checkJWTTrust(ctx, srcs, env, r)
}

func validateRequestAuthenticationTrust(ctx context.Context, ra *securityv1.RequestAuthentication, env *core.Env, r *core.Report) {
	var srcs []jwtSource
	rules := field.NewPath("spec", "jwtRules")
	for i, rule := range ra.Spec.GetJwtRules() {
		if rule == nil {
			continue
		}
		p := rules.Index(i)
		srcs = append(srcs, jwtSource{
			issuer: rule.GetIssuer(), issuerPath: p.Child("issuer"),
			jwksURI: rule.GetJwksUri(), jwksPath: p.Child("jwksUri"),
			inline: rule.GetJwks(), inlinePath: p.Child("jwks"),
			paired: true,
		})
	}
	checkJWTTrust(ctx, srcs, env, r)
}

// checkJWTTrust runs every trust check over the sources of one object.
func checkJWTTrust(ctx context.Context, srcs []jwtSource, env *core.Env, r *core.Report) {
	if len(srcs) == 0 {
		return
	}
	s := env.Settings
	t := &trustRun{ctx: ctx, env: env, r: r,
		tr: trust.Memo(env.Trust), skipped: map[string]bool{}}
	issuerOK := make([]bool, len(srcs))
	jwksOK := make([]bool, len(srcs))
	for i := range srcs {
		issuerOK[i], jwksOK[i] = checkSourceForm(&srcs[i], s.AllowHTTPHosts, r)
		checkIssuerAllowed(&srcs[i], s.TrustedIssuers, r)
		if srcs[i].inline != "" {
			t.inspect(JWTInlineJWKSUsable, srcs[i].inlinePath, field.OmitValueType{}, "inline jwks", trust.InspectKeySet([]byte(srcs[i].inline)))
		}
	}
	checkIssuerJWKSConflicts(srcs, r)

	if t.env.Trust == nil || !(r.Enabled(JWTIssuerDiscovery) || r.Enabled(JWTJWKSUsable) || r.Enabled(JWTJWKSURIMismatch)) {
		return
	}
	for i := range srcs {
		if issuerOK[i] {
			t.checkIssuer(&srcs[i])
		}
		if jwksOK[i] && r.Enabled(JWTJWKSUsable) {
			t.checkJWKS(JWTJWKSUsable, srcs[i].jwksPath, trust.Redact(srcs[i].jwksURI), srcs[i].jwksURI, "jwks")
		}
	}
}

// isURLIssuer: issuers are StringOrURI; only URL issuers can be discovered.
func isURLIssuer(iss string) bool { return strings.Contains(iss, "://") }

// checkSourceForm runs jwt-url-form on one source and says whether its
// issuer may be discovered and its jwksUri fetched. Only URLs that istiod
// fetches must be https: an issuer whose keys are configured is never
// fetched by istiod (jwks_resolver.go BuildLocalJwks fetches jwksUri, or
// discovery only without jwksUri and jwks), it is only compared with the
// token's iss, so it merely has to be a URI, as Kyma requires.
func checkSourceForm(src *jwtSource, allowHTTP []string, r *core.Report) (issuerOK, jwksOK bool) {
	if src.issuer != "" {
		switch {
		case isURLIssuer(src.issuer) && src.keysGiven():
			if _, err := url.ParseRequestURI(src.issuer); err != nil {
				r.Deny(JWTURLForm, field.Invalid(src.issuerPath, trust.Redact(src.issuer),
					"issuer is not a valid URI: "+urlProblem(err)+"; write the issuer exactly as the tokens' iss claim names it"))
			} else {
				// Discovered only when gatewarden may fetch it; a plain
				// http issuer is compared, never fetched.
				issuerOK = trust.CheckURL(src.issuer, allowHTTP) == nil
			}
		case isURLIssuer(src.issuer):
			if err := trust.CheckURL(src.issuer, allowHTTP); err != nil {
				r.Deny(JWTURLForm, field.Invalid(src.issuerPath, trust.Redact(src.issuer),
					fetchedURLProblem(src.issuer, err, "istiod discovers the keys from this issuer because no jwksUri or jwks is set")))
			} else {
				issuerOK = true
			}
		case !src.keysGiven():
			r.Deny(JWTURLForm, field.Invalid(src.issuerPath, src.issuer,
				"issuer is not a URL, so its keys cannot be discovered; use the https issuer URL or set a jwksUri"))
		}
	}
	if src.jwksURI != "" {
		if err := trust.CheckURL(src.jwksURI, allowHTTP); err != nil {
			r.Deny(JWTURLForm, field.Invalid(src.jwksPath, trust.Redact(src.jwksURI),
				fetchedURLProblem(src.jwksURI, err, "istiod fetches the keys from this URL")))
		} else {
			jwksOK = true
		}
	}
	return issuerOK, jwksOK
}

// fetchedURLProblem words a CheckURL error for a URL istiod fetches. istiod
// fetches plain http too; refusing it is gatewarden's choice, so the
// message says so and why.
func fetchedURLProblem(raw string, err error, fetched string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && strings.EqualFold(u.Scheme, "http") {
		msg += "; " + fetched + " and would accept plain http: gatewarden is stricter on purpose, " +
			"as keys fetched over plain http can be swapped in transit and then any token verifies"
	}
	return msg
}

// urlProblem keeps the reason of a url parse error without the URL it repeats.
func urlProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// checkIssuerAllowed runs jwt-issuer-allowlist on one source.
func checkIssuerAllowed(src *jwtSource, allow []string, r *core.Report) {
	if len(allow) == 0 || src.issuer == "" || issuerAllowed(src.issuer, allow) {
		return
	}
	r.Deny(JWTIssuerAllowlist, field.Invalid(src.issuerPath, trust.Redact(src.issuer),
		"issuer is not in settings.trustedIssuers; use a trusted issuer or ask the operator to add it"))
}

func issuerAllowed(iss string, allow []string) bool {
	for _, a := range allow {
		if p, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(iss, p) {
				return true
			}
		} else if iss == a {
			return true
		}
	}
	return false
}

// checkIssuerJWKSConflicts runs jwt-issuer-jwks-conflict: within one
// object, an issuer paired with two different key sets.
func checkIssuerJWKSConflicts(srcs []jwtSource, r *core.Report) {
	type first struct {
		key  string
		desc string
		path *field.Path
	}
	seen := map[string]first{}
	for i := range srcs {
		src := &srcs[i]
		if !src.paired || src.issuer == "" {
			continue
		}
		var key, desc string
		var path *field.Path
		var value any
		switch {
		case src.jwksURI != "":
			key, desc, path, value = "uri "+src.jwksURI, fmt.Sprintf("%q", trust.Redact(src.jwksURI)), src.jwksPath, trust.Redact(src.jwksURI)
		case src.inline != "":
			key, desc, path, value = "inline "+src.inline, "an inline jwks", src.inlinePath, field.OmitValueType{}
		default:
			continue
		}
		f, ok := seen[src.issuer]
		if !ok {
			seen[src.issuer] = first{key: key, desc: desc, path: path}
			continue
		}
		if f.key != key {
			r.Deny(JWTIssuerJWKSConflict, field.Invalid(path, value,
				fmt.Sprintf("issuer %q also uses %s at %s; istiod accepts a token that either key set verifies, so keep both only during a key move and remove the stale one after it",
					src.issuer, f.desc, f.path)))
		}
	}
}

// trustRun is one object's run of the trust checks. Its resolver is
// memoized (trust.Memo, which the review already applies), so a URL the
// object names twice is asked once; skipped holds the checks already
// reported as skipped.
type trustRun struct {
	ctx     context.Context
	env     *core.Env
	tr      trust.Resolver
	r       *core.Report
	skipped map[string]bool
}

func (t *trustRun) discover(issuer string) (*trust.Discovery, error) {
	return t.tr.Discover(t.ctx, issuer)
}

func (t *trustRun) jwks(uri string) (*trust.KeySet, error) { return t.tr.JWKS(t.ctx, uri) }

// checkIssuer fetches the issuer's discovery document when a check needs it
// and runs jwt-issuer-discovery, jwt-jwks-uri-mismatch and, for issuers
// whose keys come from discovery, jwt-jwks-usable.
func (t *trustRun) checkIssuer(src *jwtSource) {
	r := t.r
	wantDiscovery := r.Enabled(JWTIssuerDiscovery)
	wantKeys := r.Enabled(JWTJWKSUsable) && !src.keysGiven()
	wantMismatch := r.Enabled(JWTJWKSURIMismatch) && (src.jwksURI != "" || len(src.peerJWKS) > 0)
	if !wantDiscovery && !wantKeys && !wantMismatch {
		return
	}
	path, iss := src.issuerPath, trust.Redact(src.issuer)
	d, err := t.discover(src.issuer)
	if err != nil {
		if trust.KindOf(err) == trust.Disabled {
			if wantDiscovery {
				t.skip(JWTIssuerDiscovery, path, iss, "issuer discovery")
			}
			if wantKeys {
				t.skip(JWTJWKSUsable, path, iss, "the issuer's JWKS")
			}
			if wantMismatch {
				t.skip(JWTJWKSURIMismatch, path, iss, "the issuer's jwks_uri")
			}
			return
		}
		if wantDiscovery {
			t.fetchFailed(JWTIssuerDiscovery, path, iss, "issuer discovery", err, src.keysGiven())
		}
		return
	}
	if d.Stale {
		r.Warn(JWTIssuerDiscovery, field.Invalid(path, iss, "discovery answer is stale: "+d.StaleReason))
	}
	if d.Issuer != src.issuer {
		msg := fmt.Sprintf("discovery document names issuer %q but %q is configured; tokens carry the former, set issuer to it exactly", d.Issuer, src.issuer)
		if strings.TrimSuffix(d.Issuer, "/") == strings.TrimSuffix(src.issuer, "/") {
			msg += " (mind the trailing slash)"
		}
		r.Deny(JWTIssuerDiscovery, field.Invalid(path, iss, msg))
	}
	if d.JWKSURI == "" {
		if !src.keysGiven() {
			r.Deny(JWTIssuerDiscovery, field.Invalid(path, iss, "discovery document has no jwks_uri; set jwksUri"))
		}
		return
	}
	if wantMismatch {
		switch {
		case src.jwksURI != "" && src.jwksURI != d.JWKSURI:
			r.Warn(JWTJWKSURIMismatch, field.Invalid(src.jwksPath, trust.Redact(src.jwksURI),
				fmt.Sprintf("issuer %q publishes its keys at %q (discovery jwks_uri); use that URL or tokens may fail verification", src.issuer, trust.Redact(d.JWKSURI))))
		case src.jwksURI == "" && !listed(src.peerJWKS, d.JWKSURI):
			r.Warn(JWTJWKSURIMismatch, field.Invalid(path, iss,
				fmt.Sprintf("issuer publishes its keys at %q (discovery jwks_uri), which jwks_urls does not list", trust.Redact(d.JWKSURI))))
		}
	}
	if wantKeys {
		if err := trust.CheckURL(d.JWKSURI, t.env.Settings.AllowHTTPHosts); err != nil {
			r.Deny(JWTJWKSUsable, field.Invalid(path, iss,
				fmt.Sprintf("discovery jwks_uri %q cannot be fetched: %v", trust.Redact(d.JWKSURI), err)))
			return
		}
		t.checkJWKS(JWTJWKSUsable, path, iss, d.JWKSURI, fmt.Sprintf("jwks from discovery jwks_uri %q", trust.Redact(d.JWKSURI)))
	}
}

// checkJWKS fetches one key set and judges it; findings go to path with
// value, what names the key set in messages.
func (t *trustRun) checkJWKS(c *core.Check, path *field.Path, value any, uri, what string) {
	ks, err := t.jwks(uri)
	if err != nil {
		if trust.KindOf(err) == trust.Disabled {
			t.skip(c, path, value, "the JWKS")
			return
		}
		t.fetchFailed(c, path, value, what, err, false)
		return
	}
	if ks.Stale {
		t.r.Warn(c, field.Invalid(path, value, what+" answer is stale: "+ks.StaleReason))
	}
	t.inspect(c, path, value, what, ks.Inspect())
}

// inspect turns a key-set report into findings of c.
func (t *trustRun) inspect(c *core.Check, path *field.Path, value any, what string, rep trust.KeySetReport) {
	for _, e := range rep.Errors {
		if c == JWTInlineJWKSUsable && strings.Contains(e, "private key material") {
			// istiod only warns here (warnPrivateJwksKeys).
			e += "; istiod would accept it with a warning, gatewarden refuses it on purpose: anyone who can read this resource can mint tokens"
		}
		t.r.Deny(c, field.Invalid(path, value, what+": "+e))
	}
	for _, w := range rep.Warnings {
		t.r.Warn(c, field.Invalid(path, value, what+": "+w))
	}
}

// skip warns once per check that network checks were switched off.
func (t *trustRun) skip(c *core.Check, path *field.Path, value any, what string) {
	if t.skipped[c.ID] {
		return
	}
	t.skipped[c.ID] = true
	t.r.Warn(c, field.Invalid(path, value, "network checks were skipped (--no-network); "+what+" was not verified"))
}

// fetchFailed reports a fetch that did not give a usable answer. optional
// (discovery when the keys are configured elsewhere) turns definitive
// failures into warnings. Transient answers (no answer, HTTP 5xx or 429)
// follow the network-error action.
func (t *trustRun) fetchFailed(c *core.Check, path *field.Path, value any, what string, err error, optional bool) {
	var fe *trust.FetchError
	errors.As(err, &fe)
	switch trust.KindOf(err) {
	case trust.Network:
		t.r.Unreachable(c, field.Invalid(path, value, what+" got no answer: "+describeFetch(err)))
		return
	case trust.Blocked:
		t.r.Deny(c, field.Invalid(path, value, what+" refused by the SSRF policy: "+describeFetch(err)))
		return
	case trust.Budget:
		// Once per check: the budget exists so that an object naming
		// thousands of URLs gets a bounded answer.
		if !t.skipped[c.ID+"/budget"] {
			t.skipped[c.ID+"/budget"] = true
			t.r.Warn(c, field.Invalid(path, value, what+" not checked: "+fe.Err.Error()+"; later URLs of this object were not fetched either"))
		}
		return
	case trust.Status:
		if fe != nil && (fe.Status >= 500 || fe.Status == http.StatusTooManyRequests) {
			t.r.Unreachable(c, field.Invalid(path, value, what+" failed: "+describeFetch(err)))
			return
		}
	}
	msg := what + " failed: " + describeFetch(err)
	if optional {
		t.r.Warn(c, field.Invalid(path, value, msg+"; discovery is optional here because the keys are configured"))
		return
	}
	t.r.Deny(c, field.Invalid(path, value, msg))
}

// describeFetch renders a fetch error; FetchErrors already name their URL.
func describeFetch(err error) string {
	var fe *trust.FetchError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return err.Error()
}

func listed(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
