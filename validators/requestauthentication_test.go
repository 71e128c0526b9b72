package validators

import (
	"strings"
	"testing"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

func raWith(ns string, sel *typeapi.WorkloadSelector, rule *securityapi.JWTRule) *securityv1.RequestAuthentication {
	ra := authzRA(ns, "jwt", sel)
	if rule != nil {
		ra.Spec.JwtRules = []*securityapi.JWTRule{rule}
	}
	return ra
}

func TestRequestAuthenticationSelector(t *testing.T) {
	const id = "requestauthentication-selector-no-workload"
	cases := []struct {
		name string
		ra   *securityv1.RequestAuthentication
		warn []string
	}{
		{"selector matches pod", raWith("apps", authzSel("app", "httpbin"), nil), nil},
		{"selector matches nothing", raWith("apps", authzSel("app", "web"), nil), authzLines(id + " spec.selector.matchLabels")},
		{"pod only in another namespace", raWith("frontend", authzSel("app", "httpbin"), nil), authzLines(id + " spec.selector.matchLabels")},
		{"root namespace is mesh-wide", raWith("istio-system", authzSel("app", "httpbin"), nil), nil},
		{"gateway pods", raWith("istio-system", authzSel("istio", "ingressgateway"), nil), nil},
		{"no selector", raWith("apps", nil, nil), nil},
		{"empty selector", raWith("apps", authzSel(), nil), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authzAssert(t, run(t, tc.ra, nil, authzBase()...), "requestauthentication-selector", nil, tc.warn)
		})
	}
}

func TestRequestAuthenticationHeaderName(t *testing.T) {
	const id = "requestauthentication-header-name"
	rule := func(mod func(*securityapi.JWTRule)) *securityv1.RequestAuthentication {
		jr := &securityapi.JWTRule{Issuer: "https://issuer.example.com", JwksUri: "https://issuer.example.com/jwks"}
		mod(jr)
		return raWith("apps", authzSel("app", "httpbin"), jr)
	}
	fromHeaders := func(names ...string) *securityv1.RequestAuthentication {
		return rule(func(jr *securityapi.JWTRule) {
			for _, n := range names {
				jr.FromHeaders = append(jr.FromHeaders, &securityapi.JWTHeader{Name: n, Prefix: "Bearer "})
			}
		})
	}
	cases := []struct {
		name string
		ra   *securityv1.RequestAuthentication
		deny []string
		frag string
	}{
		{"valid fromHeaders", fromHeaders("Authorization", "x-jwt-assertion", "X_Token.v2", "a!#$%&'*+-.^_`|~9"), nil, ""},
		{"space in header", fromHeaders("Authorization", "x jwt"), authzLines(id + " spec.jwtRules[0].fromHeaders[1].name"), `" " at position 2`},
		{"colon in header", fromHeaders("x-token:"), authzLines(id + " spec.jwtRules[0].fromHeaders[0].name"), `":" at position 8`},
		{"pseudo header", fromHeaders(":authority"), authzLines(id + " spec.jwtRules[0].fromHeaders[0].name"), `":" at position 1`},
		{"empty header", fromHeaders(""), authzLines(id + " spec.jwtRules[0].fromHeaders[0].name"), "empty header name"},
		{"non-ascii header", fromHeaders("x-tökén"), authzLines(id + " spec.jwtRules[0].fromHeaders[0].name"), "position 4"},
		{"valid outputPayloadToHeader", rule(func(jr *securityapi.JWTRule) { jr.OutputPayloadToHeader = "x-jwt-payload" }), nil, ""},
		{"invalid outputPayloadToHeader", rule(func(jr *securityapi.JWTRule) { jr.OutputPayloadToHeader = "x/payload" }),
			authzLines(id + " spec.jwtRules[0].outputPayloadToHeader"), `"/" at position 2`},
		{"valid outputClaimToHeaders", rule(func(jr *securityapi.JWTRule) {
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Header: "x-sub", Claim: "sub"}}
		}), nil, ""},
		{"invalid outputClaimToHeaders", rule(func(jr *securityapi.JWTRule) {
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Header: "x-sub", Claim: "sub"}, {Header: "x-(email)", Claim: "email"}}
		}), authzLines(id + " spec.jwtRules[0].outputClaimToHeaders[1].header"), `"(" at position 3`},
		{"empty outputClaimToHeaders header", rule(func(jr *securityapi.JWTRule) {
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Claim: "sub"}}
		}), authzLines(id + " spec.jwtRules[0].outputClaimToHeaders[0].header"), "empty header name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ra, nil, authzBase()...)
			authzAssert(t, r, "requestauthentication-", tc.deny, nil)
			if tc.frag != "" && !hasFinding(r.Violations, id, strings.TrimPrefix(tc.deny[0], id+" "), tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Violations)
			}
		})
	}
}

func TestRequestAuthenticationClusterErrorsWarn(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	r := authzRunState(t, raWith("apps", authzSel("app", "httpbin"), nil), authzFailingState{st}, core.DefaultPolicy)
	authzAssert(t, r, "requestauthentication-", nil, authzLines("requestauthentication-selector-no-workload spec.selector.matchLabels"))
	if !hasFinding(r.Warnings, "requestauthentication-selector-no-workload", "spec.selector.matchLabels", "this check did not run: cache not synced") {
		t.Errorf("warning does not say the check could not run: %v", r.Warnings)
	}
}
