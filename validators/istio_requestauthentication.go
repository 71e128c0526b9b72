package validators

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
)

var RequestAuthenticationIstioValidation = core.Register(core.Check{
	ID:          "requestauthentication-istio-validation",
	Kinds:       []string{core.KindRequestAuthentication},
	Default:     core.Deny,
	Description: "what istiod's RequestAuthentication validation refuses is denied (a jwtRule without issuer and jwksUri, empty audiences, token locations or claims, timeout under 1ms, selector with targetRefs); findings a dedicated check made on the same field are not repeated",
	Runtime:     "istio/istio pkg/config/validation/validation.go ValidateRequestAuthentication, validateJwtRule",
})

// istioStrictHeader is the header name istiod accepts in
// outputClaimToHeaders (ValidateStrictHTTPHeaderName).
var istioStrictHeader = regexp.MustCompile(`^[-_A-Za-z0-9]+$`)

// validateRequestAuthenticationIstio runs istiod's
// ValidateRequestAuthentication and validateMetadata on ra.
func validateRequestAuthenticationIstio(ra *securityv1.RequestAuthentication, r *core.Report) {
	v := istioRun{c: RequestAuthenticationIstioValidation, r: r}
	if !r.Enabled(v.c) {
		return
	}
	spec := &ra.Spec
	v.metadata(&ra.ObjectMeta, core.KindRequestAuthentication, "")
	v.selectorAndTargets(spec.Selector, spec.TargetRef, spec.TargetRefs)
	rules := field.NewPath("spec", "jwtRules")
	for i, jr := range spec.JwtRules {
		if jr == nil {
			continue
		}
		p := rules.Index(i)
		for k, aud := range jr.Audiences {
			if aud == "" {
				v.deny(field.Invalid(p.Child("audiences").Index(k), aud, "istiod refuses an empty audience: write the audience tokens carry in aud, or remove it"))
			}
		}
		if jr.Issuer == "" && jr.JwksUri == "" {
			v.deny(field.Required(p.Child("issuer"), "istiod refuses a jwtRule with neither issuer nor jwksUri: set the issuer the tokens carry in iss"))
		}
		if jr.JwksUri != "" {
			if why := istioJWKSURIProblem(jr.JwksUri); why != "" {
				v.deny(field.Invalid(p.Child("jwksUri"), jr.JwksUri, why), JWTURLForm)
			}
		}
		if jr.Jwks != "" && !istioJWKSParses(jr.Jwks) {
			v.deny(field.Invalid(p.Child("jwks"), field.OmitValueType{}, "not a JSON Web Key or key set, and istiod refuses it: paste the issuer's JWKS document"),
				JWTInlineJWKSUsable)
		}
		for k, h := range jr.FromHeaders {
			hp := p.Child("fromHeaders").Index(k)
			switch {
			case h == nil:
				v.deny(field.Required(hp, "istiod refuses an empty fromHeaders entry: give the header name, or remove it"))
			case h.Name == "":
				v.deny(field.Required(hp.Child("name"), "istiod refuses a token header without name: name the header that carries the token"), RequestAuthenticationHeaderName)
			}
		}
		for k, q := range jr.FromParams {
			if q == "" {
				v.deny(field.Invalid(p.Child("fromParams").Index(k), q, "istiod refuses an empty query parameter name: name the parameter that carries the token, or remove it"))
			}
		}
		for k, c := range jr.FromCookies {
			if c == "" {
				v.deny(field.Invalid(p.Child("fromCookies").Index(k), c, "istiod refuses an empty cookie name: name the cookie that carries the token, or remove it"))
			}
		}
		for k, oc := range jr.OutputClaimToHeaders {
			op := p.Child("outputClaimToHeaders").Index(k)
			if oc == nil {
				v.deny(field.Required(op, "istiod refuses an empty outputClaimToHeaders entry: give header and claim, or remove it"))
				continue
			}
			if oc.Claim == "" {
				v.deny(field.Required(op.Child("claim"), "istiod refuses an outputClaimToHeaders entry without claim: name the claim to copy"))
			}
			switch {
			case oc.Header == "":
				v.deny(field.Required(op.Child("header"), "istiod refuses an outputClaimToHeaders entry without header: name the header to write"), RequestAuthenticationHeaderName)
			case oc.Claim != "" && !istioStrictHeader.MatchString(oc.Header):
				v.deny(field.Invalid(op.Child("header"), oc.Header, "istiod accepts only letters, digits, '-' and '_' in this header name and refuses the rule: rename the header"),
					RequestAuthenticationHeaderName)
			}
		}
		if jr.Timeout != nil {
			d := jr.Timeout.AsDuration()
			switch {
			case d < time.Millisecond:
				v.deny(field.Invalid(p.Child("timeout"), d.String(), "istiod refuses a JWKS fetch timeout under 1ms: set at least 1ms, or leave it unset for istiod's default of 5s"))
			case d%time.Millisecond != 0:
				v.deny(field.Invalid(p.Child("timeout"), d.String(), "istiod takes durations only to millisecond precision and refuses this one: round it to whole milliseconds"))
			}
		}
	}
}

// istioJWKSURIProblem is security.ParseJwksURI: an http or https URL with a
// numeric port.
func istioJWKSURIProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL, and istiod refuses it: " + urlProblem(err)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return "istiod fetches keys only over https (or http) and refuses scheme " + u.Scheme + ": use an https URL"
	}
	return ""
}

// istioJWKSParses approximates jwk.Parse as istiod calls it: a JSON object,
// either one key or a set under "keys". jwt-inline-jwks-usable checks the
// keys themselves.
func istioJWKSParses(s string) bool {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &doc); err != nil || doc == nil {
		return false
	}
	if keys, ok := doc["keys"]; ok {
		var list []json.RawMessage
		return json.Unmarshal(keys, &list) == nil
	}
	_, ok := doc["kty"]
	return ok
}
