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
	Runtime:     "kyma-project/api-gateway internal/controller/gateway/apirule_controller.go (v1beta1 reconciliation disabled unless allowed); docs 04-70-changes-in-apirule-v2.md",
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
// checks, and authentications of one issuer must agree across rules
// (Kyma's RulesValidator); the Ory form (trusted_issuers, jwks_urls,
// required_scope, target_audience) may not have empty entries. Kyma refuses
// a config that mixes the two, whichever jwt handler it runs.
func v1beta1JWTErrors(rules []apirule.V1beta1Rule) (deny, warn field.ErrorList) {
	var configs []jwtAt
	for i, rule := range rules {
		for k, h := range rule.AccessStrategies {
			if h == nil || h.Name != "jwt" {
				continue
			}
			cp := field.NewPath("spec", "rules").Index(i).Child("accessStrategies").Index(k).Child("config")
			ory, ist, err := h.JWTConfig()
			if err != nil {
				deny = append(deny, field.Invalid(cp, string(h.Config.Raw), "not a jwt config: "+err.Error()))
				continue
			}
			oryForm := ory.TrustedIssuers != nil || ory.JwksURLs != nil || ory.RequiredScope != nil || ory.TargetAudience != nil
			istioForm := ist.Authentications != nil || ist.Authorizations != nil
			if oryForm && istioForm {
				deny = append(deny, field.Forbidden(cp,
					"mixes the Ory form (trusted_issuers, jwks_urls, required_scope, target_audience) with the Istio form (authentications, authorizations): keep one"))
			}
			if istioForm {
				d, w := jwtConfigErrors(ist, cp)
				deny, warn = append(deny, d...), append(warn, w...)
				configs = append(configs, jwtAt{ist, cp})
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
						deny = append(deny, field.Invalid(cp.Child(l.name).Index(n), v, "empty "+l.what+": name it, or remove the entry"))
					}
				}
			}
		}
	}
	return append(deny, jwtEqualityErrors(configs)...), warn
}

// v1beta1InjectionRules are the rules whose service Kyma's v1beta1
// validator checks for a selector and sidecars: validateAccessStrategy runs
// the InjectionValidator for jwt access strategies only.
func v1beta1InjectionRules(ar *apirule.V1beta1APIRule) func(int) bool {
	return func(i int) bool {
		if i >= len(ar.Spec.Rules) {
			return false
		}
		for _, h := range ar.Spec.Rules[i].AccessStrategies {
			if h != nil && h.Name == "jwt" {
				return true
			}
		}
		return false
	}
}

// v1beta1DuplicateErrors is Kyma's hasPathAndMethodDuplicates: two rules
// with the same path, as written (v1beta1 paths are regular expressions,
// compared as strings), and a shared method; rules without methods collide
// on the path alone.
func v1beta1DuplicateErrors(rules []apirule.V1beta1Rule) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "rules")
	for j := range rules {
		for i := 0; i < j; i++ {
			if rules[i].Path != rules[j].Path {
				continue
			}
			what := ""
			if shared := sharedMethods(rules[i].Methods, rules[j].Methods); len(shared) > 0 {
				what = " for " + strings.Join(shared, ", ")
			} else if len(rules[i].Methods) > 0 || len(rules[j].Methods) > 0 {
				continue
			}
			errs = append(errs, duplicate(p.Index(j).Child("path"), rules[j].Path, fmt.Sprintf(
				"rule %d already has this path%s: Kyma refuses the APIRule (\"multiple rules defined for the same path and method\"); merge the two rules or remove the methods from one", i, what)))
			break
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
