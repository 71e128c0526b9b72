package validators

import (
	"strings"
	"testing"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

func TestRequestAuthenticationIstioValidation(t *testing.T) {
	const id = "requestauthentication-istio-validation"
	const jr0 = "spec.jwtRules[0]"
	rule := func(mod func(*securityapi.JWTRule)) *securityv1.RequestAuthentication {
		jr := &securityapi.JWTRule{Issuer: "https://issuer.example.com", JwksUri: "https://issuer.example.com/jwks"}
		mod(jr)
		return raWith("apps", authzSel("app", "httpbin"), jr)
	}
	cases := []struct {
		name string
		ra   *securityv1.RequestAuthentication
		deny []string
		warn []string
		frag string
	}{
		{name: "valid", ra: rule(func(jr *securityapi.JWTRule) {
			jr.Audiences = []string{"httpbin"}
			jr.FromParams = []string{"token"}
			jr.FromCookies = []string{"session"}
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Header: "x-sub", Claim: "sub"}}
			jr.Timeout = raTimeout(t, "2s").Timeout
		})},
		{name: "no issuer and no jwksUri", ra: rule(func(jr *securityapi.JWTRule) { jr.Issuer, jr.JwksUri = "", "" }),
			deny: []string{id + " " + jr0 + ".issuer"}, frag: "neither issuer nor jwksUri"},
		{name: "jwksUri without issuer", ra: rule(func(jr *securityapi.JWTRule) { jr.Issuer = "" })},
		{name: "empty audience", ra: rule(func(jr *securityapi.JWTRule) { jr.Audiences = []string{"a", ""} }),
			deny: []string{id + " " + jr0 + ".audiences[1]"}},
		{name: "empty param and cookie", ra: rule(func(jr *securityapi.JWTRule) { jr.FromParams, jr.FromCookies = []string{""}, []string{""} }),
			deny: []string{id + " " + jr0 + ".fromCookies[0]", id + " " + jr0 + ".fromParams[0]"}},
		{name: "claim without name", ra: rule(func(jr *securityapi.JWTRule) {
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Header: "x-sub"}}
		}), deny: []string{id + " " + jr0 + ".outputClaimToHeaders[0].claim"}},
		{name: "claim header that is a token but not istiod's form", ra: rule(func(jr *securityapi.JWTRule) {
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Header: "x.sub", Claim: "sub"}}
		}), deny: []string{id + " " + jr0 + ".outputClaimToHeaders[0].header"}, frag: "letters, digits, '-' and '_'"},
		{name: "timeout under 1ms", ra: rule(func(jr *securityapi.JWTRule) { jr.Timeout = raTimeout(t, "0.0005s").Timeout }),
			deny: []string{id + " " + jr0 + ".timeout"}, frag: "under 1ms"},
		{name: "timeout below ms precision", ra: rule(func(jr *securityapi.JWTRule) { jr.Timeout = raTimeout(t, "0.0015s").Timeout }),
			deny: []string{id + " " + jr0 + ".timeout"}, frag: "millisecond precision"},
		{name: "selector and targetRef", ra: func() *securityv1.RequestAuthentication {
			ra := rule(func(*securityapi.JWTRule) {})
			ra.Spec.TargetRef = &typeapi.PolicyTargetReference{Kind: "Service", Name: "httpbin"}
			return ra
		}(), deny: []string{id + " spec.targetRef"}},
		{name: "dry-run annotation", ra: func() *securityv1.RequestAuthentication {
			ra := rule(func(*securityapi.JWTRule) {})
			ra.Annotations = map[string]string{"istio.io/dry-run": "true"}
			return ra
		}(), deny: []string{id + " metadata.annotations[istio.io/dry-run]"}, frag: "only on AuthorizationPolicies"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ra, nil, authzBase()...)
			if got := istioOnly(r.Violations, id); !gwEqualLines(got, tc.deny) {
				t.Errorf("violations %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if got := istioOnly(r.Warnings, id); !gwEqualLines(got, tc.warn) {
				t.Errorf("warnings %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			found := tc.frag == ""
			for _, f := range append(r.Violations, r.Warnings...) {
				if f.Check == id {
					found = found || strings.Contains(f.Message, tc.frag)
				}
			}
			if !found {
				t.Errorf("no %s finding says %q", id, tc.frag)
			}
		})
	}
}

// raTimeout is a jwtRule with only the timeout, decoded as the webhook
// decodes it.
func raTimeout(t *testing.T, d string) *securityapi.JWTRule {
	t.Helper()
	var jr securityapi.JWTRule
	if err := jr.UnmarshalJSON([]byte(`{"timeout":"` + d + `"}`)); err != nil {
		t.Fatal(err)
	}
	return &jr
}

// Each field is reported once: by the dedicated check when it is on, by
// istiod's table when it is off.
func TestRequestAuthenticationIstioValidationCoverage(t *testing.T) {
	const id = "requestauthentication-istio-validation"
	cases := []struct {
		name, dedicated, field string
		mod                    func(*securityapi.JWTRule)
	}{
		{"jwksUri scheme", "jwt-url-form", "spec.jwtRules[0].jwksUri", func(jr *securityapi.JWTRule) { jr.JwksUri = "ftp://issuer.example.com/jwks" }},
		{"inline jwks", "jwt-inline-jwks-usable", "spec.jwtRules[0].jwks", func(jr *securityapi.JWTRule) { jr.JwksUri, jr.Jwks = "", "not json" }},
		{"empty header name", "requestauthentication-header-name", "spec.jwtRules[0].fromHeaders[0].name", func(jr *securityapi.JWTRule) {
			jr.FromHeaders = []*securityapi.JWTHeader{{}}
		}},
		{"claim header with a space", "requestauthentication-header-name", "spec.jwtRules[0].outputClaimToHeaders[0].header", func(jr *securityapi.JWTRule) {
			jr.OutputClaimToHeaders = []*securityapi.ClaimToHeader{{Header: "x sub", Claim: "sub"}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jr := &securityapi.JWTRule{Issuer: "https://issuer.example.com", JwksUri: "https://issuer.example.com/jwks"}
			tc.mod(jr)
			ra := raWith("apps", authzSel("app", "httpbin"), jr)
			on := run(t, ra, nil, authzBase()...)
			if !hasFinding(on.Violations, tc.dedicated, tc.field) {
				t.Fatalf("%s did not deny %s: %v", tc.dedicated, tc.field, on.Violations)
			}
			if hasFinding(on.Violations, id, tc.field) {
				t.Errorf("%s repeated the finding of %s: %v", id, tc.dedicated, on.Violations)
			}
			off := authzRunState(t, ra, mustState(t, authzBase()...), authzOff{tc.dedicated: true})
			if !hasFinding(off.Violations, id, tc.field, "istiod") {
				t.Errorf("with %s off, %s does not report %s: %v", tc.dedicated, id, tc.field, off.Violations)
			}
		})
	}
}
