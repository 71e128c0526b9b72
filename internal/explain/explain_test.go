package explain

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	networkingapi "istio.io/api/networking/v1"
	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
)

const (
	issuer  = "https://idp.example.com/realms/apps"
	jwksURI = "https://idp.example.com/realms/apps/certs"
)

var now = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

type keys struct {
	good, other *rsa.PrivateKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	g, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return keys{g, o}
}

func mint(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fakeTrust serves one JWKS with the good key as kid "k1".
type fakeTrust struct{ jwks []byte }

func (f fakeTrust) Discover(context.Context, string) (*trust.Discovery, error) {
	return &trust.Discovery{Issuer: issuer, JWKSURI: jwksURI}, nil
}

func (f fakeTrust) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	if uri != jwksURI {
		return nil, &trust.FetchError{URL: uri, Kind: trust.Status, Status: 404}
	}
	return &trust.KeySet{Raw: f.jwks}, nil
}

type fakeLookup struct{}

func (fakeLookup) Service(_ context.Context, ns, name string) (*corev1.Service, error) {
	if ns == "test" && name == "httpbin" {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "httpbin"}}}, nil
	}
	return nil, nil
}

func (fakeLookup) Gateway(_ context.Context, ns, name string) (*networkingv1.Gateway, error) {
	if ns+"/"+name != "kyma-system/kyma-gateway" {
		return nil, nil
	}
	return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: networkingapi.Gateway{
		Servers: []*networkingapi.Server{{Hosts: []string{"*.local.kyma.dev"}}}}}, nil
}

func (fakeLookup) Mesh(context.Context) (*cluster.Mesh, error) {
	return &cluster.Mesh{Found: true, RootNamespace: "istio-system", KymaAuthorizers: []string{"oauth2-proxy"}}, nil
}

const apiruleYAML = `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: httpbin, namespace: test}
spec:
  hosts: [httpbin]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /open
    methods: [GET]
    noAuth: true
  - path: /opts
    methods: [OPTIONS]
    noAuth: true
  - path: /ext
    methods: [GET]
    extAuth: {authorizers: [oauth2-proxy]}
  - path: /aud
    methods: [GET]
    jwt:
      authentications: [{issuer: "` + issuer + `", jwksUri: "` + jwksURI + `"}]
      authorizations: [{audiences: [orders]}]
  - path: /{**}
    methods: [GET, POST]
    jwt:
      authentications: [{issuer: "` + issuer + `", jwksUri: "` + jwksURI + `"}]
      authorizations: [{requiredScopes: [read]}]
`

func apiRule(t *testing.T, y string) *apirule.APIRule {
	t.Helper()
	ar := &apirule.APIRule{}
	if err := yaml.Unmarshal([]byte(y), ar); err != nil {
		t.Fatal(err)
	}
	return ar
}

func TestExplain(t *testing.T) {
	k := newKeys(t)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.good.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": issuer, "sub": "alice", "exp": now.Add(time.Hour).Unix(), "scope": "openid read"}
		for key, v := range extra {
			if v == nil {
				delete(c, key)
			} else {
				c[key] = v
			}
		}
		return c
	}
	good := mint(t, k.good, "k1", claims(nil))
	denyAdmin := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-admin", Namespace: "test"},
		Spec: securityapi.AuthorizationPolicy{Action: securityapi.AuthorizationPolicy_DENY,
			Rules: []*securityapi.Rule{{To: []*securityapi.Rule_To{{Operation: &securityapi.Operation{Paths: []string{"/admin/*"}}}}}}}}
	otherNS := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"},
		Spec: securityapi.AuthorizationPolicy{Action: securityapi.AuthorizationPolicy_DENY, Rules: []*securityapi.Rule{{}}}}
	strictRA := &securityv1.RequestAuthentication{ObjectMeta: metav1.ObjectMeta{Name: "aud", Namespace: "test"},
		Spec: securityapi.RequestAuthentication{Selector: &typeapi.WorkloadSelector{MatchLabels: map[string]string{"app": "httpbin"}},
			JwtRules: []*securityapi.JWTRule{{Issuer: issuer, JwksUri: jwksURI, Audiences: []string{"billing"}}}}}

	for _, tc := range []struct {
		name     string
		req      Request
		extraRA  []*securityv1.RequestAuthentication
		extraAP  []*securityv1.AuthorizationPolicy
		offline  bool
		noRules  bool
		decision Decision
		status   int
		body     string
		step     string
		lines    []string // each in some line of the report
	}{
		{name: "a valid token with the scope is allowed", req: Request{Method: "GET", Path: "/orders?x=1", Token: good},
			decision: Allowed, lines: []string{`iss "` + issuer + `" is exactly this issuer`, `kid "k1", alg RS256: key "k1" of ` + jwksURI + `, fetched now; the signature verifies`,
				"the request's principal is " + issuer + "/alice", "matches"}},
		{name: "the issuer with a trailing slash is another issuer", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"iss": issuer + "/"}))},
			decision: Refused, status: 401, body: "Jwt issuer is not configured", step: "authentication (jwt_authn)",
			lines: []string{"they differ only in the trailing '/'"}},
		{name: "the external URL of an in-cluster issuer", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"iss": "https://keycloak.example.org/realms/apps"}))},
			decision: Refused, status: 401, body: "Jwt issuer is not configured", lines: []string{"same path, other host"}},
		{name: "expired", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}))},
			decision: Refused, status: 401, body: "Jwt is expired", lines: []string{"passed 2m0s ago"}},
		{name: "expired within the clock skew passes", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}))},
			decision: Allowed, lines: []string{"within the 60s clock skew"}},
		{name: "not yet valid", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}))},
			decision: Refused, status: 401, body: "Jwt not yet valid"},
		{name: "unknown kid", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k2", claims(nil))},
			decision: Refused, status: 401, body: "Jwks doesn't have key to match kid or alg from Jwt", lines: []string{`kids ["k1"]`}},
		{name: "signed with another key under the same kid", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.other, "k1", claims(nil))},
			decision: Refused, status: 401, body: "Jwt verification fails", lines: []string{"the signature does not verify"}},
		{name: "no kid: every key is tried", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "", claims(nil))},
			decision: Allowed, lines: []string{"no kid: Envoy tries every key"}},
		{name: "not a JWT", req: Request{Method: "GET", Path: "/orders", Token: "opaque-token"},
			decision: Refused, status: 401, body: "Jwt is not in the form of Header.Payload.Signature"},
		{name: "missing scope", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"scope": "openid write"}))},
			decision: Refused, status: 403, body: "RBAC: access denied", step: "authorization (RBAC)",
			lines: []string{`when request.auth.claims[scope] [read]: the token's scope is [openid write]`}},
		{name: "scp as a space-separated string is not split", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"scope": nil, "scp": "openid read"}))},
			decision: Refused, status: 403, lines: []string{`the token's scp is "openid read"`}},
		{name: "scp as a list", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"scope": nil, "scp": []string{"read"}}))},
			decision: Allowed},
		{name: "no sub: iss/* needs one", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"sub": nil}))},
			decision: Refused, status: 403, lines: []string{`the token has no sub, and "iss/*" needs a non-empty sub`}},
		{name: "no token", req: Request{Method: "GET", Path: "/orders"},
			decision: Refused, status: 403, lines: []string{"no token in the request", "the request has no principal (no token verified)"}},
		{name: "the token in a header no jwtRule reads", req: Request{Method: "GET", Path: "/orders", Token: good, TokenHeader: "X-Token"},
			decision: Refused, status: 403, lines: []string{"the token is in header X-Token with prefix \"Bearer \", where no jwtRule looks"}},
		{name: "the token without the Bearer prefix", req: Request{Method: "GET", Path: "/orders", Token: good, TokenPrefix: "-"},
			decision: Refused, status: 403, lines: []string{"where no jwtRule looks"}},
		{name: "the token as access_token query parameter", req: Request{Method: "GET", Path: "/orders", Token: good, TokenParam: "access_token"},
			decision: Allowed},
		{name: "audience required by the APIRule", req: Request{Method: "GET", Path: "/aud", Token: mint(t, k.good, "k1", claims(map[string]any{"aud": []string{"billing"}}))},
			decision: Refused, status: 403, lines: []string{"when request.auth.claims[aud] [orders]"}},
		{name: "audience required by a RequestAuthentication", req: Request{Method: "GET", Path: "/orders", Workload: "test/httpbin", Token: mint(t, k.good, "k1", claims(map[string]any{"aud": "orders"}))},
			extraRA: []*securityv1.RequestAuthentication{strictRA}, noRules: true, decision: Refused, status: 401, body: "Audiences in Jwt are not allowed",
			lines: []string{"workload given: Service test/httpbin", "aud [orders] has none of the jwtRule's audiences [billing]"}},
		{name: "another jwtRule of the issuer without audiences lets the token through", req: Request{Method: "GET", Path: "/orders", Token: mint(t, k.good, "k1", claims(map[string]any{"aud": "orders"}))},
			extraRA: []*securityv1.RequestAuthentication{strictRA}, decision: Allowed, lines: []string{"verified by jwtRules[0] of RequestAuthentication generated by Kyma"}},
		{name: "noAuth without a token", req: Request{Method: "GET", Path: "/open"}, decision: Allowed},
		{name: "extAuth: the authorizer decides", req: Request{Method: "GET", Path: "/ext"}, decision: Undetermined,
			lines: []string{`Envoy asks the external authorizer "oauth2-proxy"`}},
		{name: "a DENY policy of the namespace", req: Request{Method: "GET", Path: "/admin/users", Token: good},
			extraAP: []*securityv1.AuthorizationPolicy{denyAdmin, otherNS}, decision: Refused, status: 403, lines: []string{"DENY AuthorizationPolicy test/deny-admin"}},
		{name: "no rule for the method", req: Request{Method: "DELETE", Path: "/orders", Token: good},
			decision: Refused, status: 404, step: "route"},
		{name: "an unknown host", req: Request{Method: "GET", Path: "/orders", Host: "other.local.kyma.dev", Token: good},
			decision: Refused, status: 404, lines: []string{`no APIRule exposes host "other.local.kyma.dev"`}},
		{name: "a CORS preflight skips jwt_authn, and then needs an ALLOW rule for OPTIONS", req: Request{Method: "OPTIONS", Path: "/orders", Token: "not-even-a-jwt",
			Headers: map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}},
			decision: Refused, status: 404, lines: []string{"no rule of APIRule test/httpbin matches OPTIONS /orders"}},
		{name: "a CORS preflight on a route with OPTIONS passes jwt_authn unchecked", req: Request{Method: "OPTIONS", Path: "/opts", Token: "not-even-a-jwt",
			Headers: map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}},
			decision: Allowed, lines: []string{"bypass_cors_preflight"}},
		{name: "offline: the signature is not checked", req: Request{Method: "GET", Path: "/orders", Token: good}, offline: true,
			decision: Undetermined, lines: []string{"JWKS not fetched (--no-network)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req.Host == "" {
				req.Host = "httpbin.local.kyma.dev"
			}
			if req.TokenPrefix == "" {
				req.TokenPrefix = "Bearer "
			} else if req.TokenPrefix == "-" {
				req.TokenPrefix = ""
			}
			req.Now = now
			in := &Inputs{APIRules: []*apirule.APIRule{apiRule(t, apiruleYAML)}, Lookup: fakeLookup{}, Trust: fakeTrust{jwks},
				RequestAuthentications: tc.extraRA, AuthorizationPolicies: tc.extraAP}
			if tc.offline {
				in.Trust = trust.Offline{}
			}
			if tc.noRules {
				in.APIRules = nil
			}
			rep := Explain(context.Background(), in, &req)
			var text bytes.Buffer
			Render(&text, rep)
			v := rep.Verdict
			if v.Decision != tc.decision || (tc.status != 0 && v.Status != tc.status) || (tc.body != "" && v.Body != tc.body) || (tc.step != "" && v.Step != tc.step) {
				t.Errorf("verdict %+v, want %s %d %q at %q\n%s", v, tc.decision, tc.status, tc.body, tc.step, text.String())
			}
			if testing.Verbose() {
				t.Log(text.String())
			}
			for _, want := range tc.lines {
				if !strings.Contains(text.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, text.String())
				}
			}
			js, _ := json.Marshal(rep)
			if req.Token != "" {
				sig := req.Token[strings.LastIndex(req.Token, ".")+1:]
				if strings.Contains(text.String(), req.Token) || strings.Contains(string(js), req.Token) || (len(sig) > 8 && strings.Contains(text.String()+string(js), sig)) {
					t.Error("the report contains the token or its signature")
				}
			}
		})
	}
}

func TestExplainSeveralIssuers(t *testing.T) {
	k := newKeys(t)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.good.PublicKey, KeyID: "k1", Algorithm: "RS256"}}})
	ar := apiRule(t, `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: two, namespace: test}
spec:
  hosts: [two.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /{**}
    methods: [GET]
    jwt:
      authentications:
      - {issuer: "https://a.example.com", jwksUri: "https://a.example.com/jwks"}
      - {issuer: "`+issuer+`", jwksUri: "`+jwksURI+`"}
`)
	in := &Inputs{APIRules: []*apirule.APIRule{ar}, Lookup: fakeLookup{}, Trust: fakeTrust{jwks}}
	tok := mint(t, k.good, "k1", map[string]any{"iss": issuer, "sub": "bob", "exp": now.Add(time.Hour).Unix()})
	rep := Explain(context.Background(), in, &Request{Method: "GET", Host: "two.local.kyma.dev", Path: "/x", Token: tok, TokenPrefix: "Bearer ", Now: now})
	if rep.Verdict.Decision != Allowed {
		var b bytes.Buffer
		Render(&b, rep)
		t.Fatalf("want allowed:\n%s", b.String())
	}
}

func TestParseTokenFollowsEnvoysOrder(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for raw, want := range map[string]string{
		"a.b":                        stBadFormat,
		"a..c":                       stBadFormat,
		"!!!." + enc(`{}`) + ".c2ln": stHeaderParse,
		enc(`{"alg":1}`) + "." + enc(`{}`) + ".c2ln":                stHeaderBadAlg,
		enc(`{"alg":"none"}`) + "." + enc(`{}`) + ".c2ln":           stHeaderAlgNotImp,
		enc(`{"alg":"RS256","kid":7}`) + "." + enc(`{}`) + ".c2ln":  stHeaderBadKid,
		enc(`{"alg":"RS256"}`) + ".!!!.c2ln":                        stPayloadParse,
		enc(`{"alg":"RS256"}`) + "." + enc(`{"iss":5}`) + ".c2ln":   "Jwt payload [iss] field is not a string",
		enc(`{"alg":"RS256"}`) + "." + enc(`{"exp":"x"}`) + ".c2ln": "Jwt payload [exp] field is not an integer",
		enc(`{"alg":"RS256"}`) + "." + enc(`{"aud":[1]}`) + ".c2ln": "Jwt payload [aud] field is not a string or string list",
		enc(`{"alg":"RS256"}`) + "." + enc(`{}`) + ".!!!":           stSignatureParse,
	} {
		_, err := ParseToken(raw)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", raw, err, want)
		}
	}
}

func TestPathAndPrincipalMatching(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/{**}", "/", true}, {"/{**}", "/a/b", true}, {"/a/{*}", "/a/b", true}, {"/a/{*}", "/a/", false},
		{"/a/{*}", "/a/b/c", false}, {"/a/{*}/c", "/a/b/c", true}, {"/admin/*", "/admin/x/y", true}, {"*/info", "/x/info", true},
		{"/exact", "/exact", true}, {"/exact", "/exact/", false},
	} {
		if got := pathMatch(tc.pattern, tc.path); got != tc.want {
			t.Errorf("pathMatch(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
	tok := &Token{Iss: "https://i.example.com/realms/x", Sub: "alice"}
	a := &attrs{verified: true}
	for v, want := range map[string]bool{
		"https://i.example.com/realms/x/*":     true,
		"https://i.example.com/realms/x/alice": true,
		"https://i.example.com/realms/x/bob":   false,
		"*/alice":                              true,
		"*":                                    true,
		"https://i.example.com/realms/*":       false,
		"https://i.example.com/realms/x*":      false, // iss "https://i.example.com/realms", sub prefix "x"
		"https://i.example.com/realms/x/al*":   true,
	} {
		if got := requestPrincipalMatch(v, a, tok); got != want {
			t.Errorf("requestPrincipalMatch(%q) = %v", v, got)
		}
	}
	if requestPrincipalMatch("https://i.example.com/realms/x/*", a, &Token{Iss: tok.Iss}) {
		t.Error("iss/* matched a token without sub")
	}
}
