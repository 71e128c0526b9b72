package validators

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleCORS = core.Register(core.Check{
	ID:          "apirule-cors",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "a v2 corsPolicy works: some rule lists OPTIONS, so preflight requests find a route; allowCredentials is not combined with origins that match any site",
	Runtime:     "kyma-project/api-gateway processors/v2alpha1/virtualservice/virtual_service_processor.go (routes match rule methods); envoy cors_filter.cc CorsFilter::decodeHeaders",
})

// corsErrors are the warnings of apirule-cors. Kyma's VirtualService routes
// match only the methods of each rule, and Envoy's CORS filter answers a
// preflight from the policy of the route the request matched: an OPTIONS
// request that matches no route gets 404, and the browser then refuses the
// actual request. With allowCredentials, Envoy echoes any Origin its
// allowOrigins match, so an any-origin match lets every web site read
// responses made with the user's credentials.
func corsErrors(spec apirule.Spec) (warn field.ErrorList) {
	cors := spec.CorsPolicy
	if cors == nil {
		return nil
	}
	p := field.NewPath("spec", "corsPolicy")
	options := slices.ContainsFunc(spec.Rules, func(r apirule.Rule) bool { return slices.Contains(r.Methods, "OPTIONS") })
	if !options && len(spec.Rules) > 0 {
		warn = append(warn, field.Invalid(p, "corsPolicy", fmt.Sprintf(
			"corsPolicy is set, but no rule lists OPTIONS: Kyma's routes match only the rule methods, so a browser's preflight (OPTIONS) matches no route and gets 404, and the browser blocks the request; add OPTIONS to the methods of the rules browsers call (e.g. spec.rules[0].methods: %s)",
			strings.Join(append(slices.Clone(spec.Rules[0].Methods), "OPTIONS"), ", "))))
	}
	if cors.AllowCredentials != nil && *cors.AllowCredentials {
		for i, o := range cors.AllowOrigins {
			if m, ok := anyOrigin(o); ok {
				warn = append(warn, field.Invalid(p.Child("allowOrigins").Index(i), m,
					"matches any origin while allowCredentials is true: Envoy echoes the caller's Origin with Access-Control-Allow-Credentials, so any web site can read responses sent with the user's cookies or credentials; list the origins that may call, or drop allowCredentials"))
			}
		}
	}
	return warn
}

// anyOrigin reports whether a StringMatch (exact, prefix or regex) matches
// every origin, and how it is written.
func anyOrigin(m map[string]string) (string, bool) {
	if v, ok := m["exact"]; ok && v == "*" {
		return `exact: "*"`, true
	}
	if v, ok := m["prefix"]; ok && v == "" {
		return `prefix: ""`, true
	}
	if v, ok := m["regex"]; ok {
		switch strings.TrimSuffix(strings.TrimPrefix(v, "^"), "$") {
		case ".*", ".+", "(.*)", "(.+)":
			return "regex: " + v, true
		}
	}
	return "", false
}
