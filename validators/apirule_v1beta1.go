package validators

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleV1beta1Deprecated = core.Register(core.Check{
	ID:          "apirule-v1beta1-deprecated",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "APIRule v1beta1 is deprecated; the warning names the v2 equivalent of each access strategy",
})

// v2Equivalent maps v1beta1 access strategies to what replaces them in v2;
// an empty value means there is none.
var v2Equivalent = map[string]string{
	"allow":                     "noAuth: true",
	"noop":                      "noAuth: true",
	"no_auth":                   "noAuth: true",
	"jwt":                       "jwt",
	"oauth2_introspection":      "extAuth",
	"oauth2_client_credentials": "",
	"cookie_session":            "",
	"anonymous":                 "",
	"unauthorized":              "",
}

// v1beta1JWTErrors is apirule-jwt for the config of v1beta1 jwt handlers, in
// either form: the Istio form (authentications, authorizations) gets the v2
// checks; the Ory form (trusted_issuers, jwks_urls, required_scope,
// target_audience) may not have empty entries. Kyma refuses a config that
// mixes the two, whichever jwt handler it runs.
func v1beta1JWTErrors(rules []apirule.V1beta1Rule) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		for k, h := range rule.AccessStrategies {
			if h == nil || h.Name != "jwt" {
				continue
			}
			cp := field.NewPath("spec", "rules").Index(i).Child("accessStrategies").Index(k).Child("config")
			ory, ist, err := h.JWTConfig()
			if err != nil {
				errs = append(errs, field.Invalid(cp, string(h.Config.Raw), "not a jwt config: "+err.Error()))
				continue
			}
			oryForm := ory.TrustedIssuers != nil || ory.JwksURLs != nil || ory.RequiredScope != nil || ory.TargetAudience != nil
			istioForm := ist.Authentications != nil || ist.Authorizations != nil
			if oryForm && istioForm {
				errs = append(errs, field.Forbidden(cp,
					"mixes the Ory form (trusted_issuers, jwks_urls, required_scope, target_audience) with the Istio form (authentications, authorizations): keep one"))
			}
			if istioForm {
				errs = append(errs, jwtConfigErrors(ist, cp)...)
			}
			for _, l := range []struct {
				name, what string
				values     []string
			}{
				{"trusted_issuers", "issuer", ory.TrustedIssuers},
				{"jwks_urls", "JWKS URL", ory.JwksURLs},
				{"required_scope", "scope", ory.RequiredScope},
				{"target_audience", "audience", ory.TargetAudience},
			} {
				for n, v := range l.values {
					if strings.TrimSpace(v) == "" {
						errs = append(errs, field.Invalid(cp.Child(l.name).Index(n), v, "empty "+l.what+": name it, or remove the entry"))
					}
				}
			}
		}
	}
	return errs
}

func validateV1beta1Deprecation(ar *apirule.V1beta1APIRule, r *core.Report) {
	mapped := map[string]bool{}
	missing := map[string]bool{}
	for i, rule := range ar.Spec.Rules {
		for k, h := range rule.AccessStrategies {
			if h == nil {
				continue
			}
			eq, known := v2Equivalent[h.Name]
			switch {
			case known && eq != "":
				mapped[h.Name+" → "+eq] = true
			case !missing[h.Name]:
				// Reported once, where the handler first appears.
				missing[h.Name] = true
				r.Warn(APIRuleV1beta1Deprecated, field.Invalid(
					field.NewPath("spec", "rules").Index(i).Child("accessStrategies").Index(k).Child("handler"), h.Name,
					fmt.Sprintf("access strategy %q has no v2 equivalent; use jwt or extAuth (oauth2-proxy) instead", h.Name)))
			}
		}
	}
	msg := "gateway.kyma-project.io/v1beta1 APIRule is deprecated and no longer reconciled by Kyma; migrate to gateway.kyma-project.io/v2 (spec.host → spec.hosts, spec.gateway as namespace/name"
	if len(mapped) > 0 {
		var m []string
		for k := range mapped {
			m = append(m, k)
		}
		sort.Strings(m)
		msg += ", " + strings.Join(m, ", ")
	}
	msg += ")"
	r.Warn(APIRuleV1beta1Deprecated, field.Invalid(field.NewPath("apiVersion"), apirule.V1beta1.GroupVersion().String(), msg))
}
