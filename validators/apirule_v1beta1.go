package validators

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

var APIRuleV1beta1Deprecated = register(Check{
	ID:          "apirule-v1beta1-deprecated",
	Kinds:       []string{KindAPIRule},
	Default:     Warn,
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

func validateAPIRuleV1beta1(ctx context.Context, ar *apirule.V1beta1APIRule, env *Env, r *Report) {
	validateV1beta1Deprecation(ar, r)
	validateAPIRuleV1beta1JWTTrust(ctx, ar, env, r)
}

func validateV1beta1Deprecation(ar *apirule.V1beta1APIRule, r *Report) {
	mapped := map[string]bool{}
	var missing []string
	for _, rule := range ar.Spec.Rules {
		for _, h := range rule.AccessStrategies {
			if h == nil {
				continue
			}
			eq, known := v2Equivalent[h.Name]
			switch {
			case known && eq != "":
				mapped[h.Name+" → "+eq] = true
			default:
				missing = append(missing, h.Name)
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
	for _, name := range dedupe(missing) {
		r.Warn(APIRuleV1beta1Deprecated, field.Invalid(field.NewPath("spec", "rules"), name,
			fmt.Sprintf("access strategy %q has no v2 equivalent; use jwt or extAuth (oauth2-proxy) instead", name)))
	}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
