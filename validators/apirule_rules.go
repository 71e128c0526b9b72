package validators

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRulePath = core.Register(core.Check{
	ID:          "apirule-path",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "rule paths are exact, /* alone, or use the {*} and {**} operators as Kyma defines them",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/rules.go validateEnvoyTemplate; CRD pattern on spec.rules[].path",
})

var APIRuleMethods = core.Register(core.Check{
	ID:          "apirule-methods",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "rule methods are HTTP methods, each listed once",
	Runtime:     "CRD enum HttpMethod; kyma-project/api-gateway internal/validation/v2alpha1/rules.go hasPathByMethodConflict",
})

var APIRuleRuleDuplicate = core.Register(core.Check{
	ID:          "apirule-rule-duplicate",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "no two rules have the same path (/* being /{**}) and a shared method",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/rules.go hasPathByMethodConflict; internal/validation/v1beta1/v1beta1.go hasPathAndMethodDuplicates",
})

var APIRuleAccess = core.Register(core.Check{
	ID:          "apirule-access",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "each rule sets exactly one of noAuth: true, jwt and extAuth",
	Runtime:     "CRD CEL on spec.rules[] (exactly one of noAuth: true, jwt, extAuth)",
})

var APIRuleTimeout = core.Register(core.Check{
	ID:          "apirule-timeout",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "spec and rule timeouts are 1 to 3900 seconds",
	Runtime:     "CRD minimum 1, maximum 3900 on timeout",
})

// httpMethods are the methods the APIRule CRD accepts.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// maxTimeout is the CRD's upper bound for timeouts, in seconds.
const maxTimeout = 3900

// rulePathProblem says what is wrong with a rule path, "" when nothing.
// Paths are exact, `/*` alone (every path), or use `{*}` (one segment) and
// `{**}` (any rest) as whole segments; `{**}` comes once, and no operator
// follows it.
func rulePathProblem(p string) string {
	if p == "/*" {
		return ""
	}
	if !strings.HasPrefix(p, "/") {
		return "a path starts with /: use /* for every path, or an exact path such as /orders"
	}
	rest := false
	for _, s := range strings.Split(p[1:], "/") {
		switch s {
		case "{**}":
			if rest {
				return "{**} appears more than once: use it once, and {*} for single segments"
			}
			rest = true
		case "{*}":
			if rest {
				return "{*} follows {**}: {**} must be the last operator, so only exact segments may follow it"
			}
		default:
			if strings.ContainsAny(s, "*{}") {
				return fmt.Sprintf("segment %q: *, { and } only appear as whole segments {*} (one segment) or {**} (any rest), or as /* alone", s)
			}
			for i := 0; i < len(s); i++ {
				c := s[i]
				if c == '%' {
					if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
						i += 2
						continue
					}
					return "% starts a percent-encoding: write it as %25, or encode two hex digits"
				}
				if !pathChar(c) {
					return fmt.Sprintf("character %q is not allowed in a path: percent-encode it", c)
				}
			}
		}
	}
	return ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func pathChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("-._~!$&'()+,;=:@", c) >= 0
}

func pathErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		if msg := rulePathProblem(rule.Path); msg != "" {
			errs = append(errs, field.Invalid(p.Index(i).Child("path"), rule.Path, msg))
		}
	}
	return errs
}

func methodErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	valid := map[string]bool{}
	for _, m := range httpMethods {
		valid[m] = true
	}
	var errs field.ErrorList
	for i, rule := range rules {
		mp := p.Index(i).Child("methods")
		if len(rule.Methods) == 0 {
			errs = append(errs, field.Required(mp, "list the HTTP methods this rule allows, e.g. GET"))
		}
		seen := map[string]bool{}
		for k, m := range rule.Methods {
			switch {
			case valid[m] && seen[m]:
				errs = append(errs, duplicate(mp.Index(k), m, "listed twice: remove one"))
			case valid[m]:
				seen[m] = true
			case valid[strings.ToUpper(m)]:
				errs = append(errs, field.Invalid(mp.Index(k), m, "methods are upper case: write "+strings.ToUpper(m)))
			default:
				errs = append(errs, field.NotSupported(mp.Index(k), m, httpMethods))
			}
		}
	}
	return errs
}

// duplicateRuleErrors reports a rule whose path (with /* read as /{**}) and
// some method an earlier rule already has; apirule-rule-order leaves these
// pairs alone. Rules are grouped by path, so the cost is linear.
func duplicateRuleErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	byPath := map[string][]int{}
	for j := range rules {
		np := normalizedRulePath(rules[j].Path)
		for _, i := range byPath[np] {
			if shared := sharedMethods(rules[i].Methods, rules[j].Methods); len(shared) > 0 {
				errs = append(errs, duplicate(p.Index(j).Child("path"), rules[j].Path, fmt.Sprintf(
					"rule %d already has this path for %s, and wins: merge the two rules or remove the methods from one", i, strings.Join(shared, ", "))))
			}
		}
		byPath[np] = append(byPath[np], j)
	}
	return errs
}

func accessErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		var set []string
		if rule.NoAuth != nil && *rule.NoAuth {
			set = append(set, "noAuth")
		}
		if rule.JWT != nil {
			set = append(set, "jwt")
		}
		if rule.ExtAuth != nil {
			set = append(set, "extAuth")
		}
		switch len(set) {
		case 0:
			errs = append(errs, field.Required(p.Index(i), "set one of noAuth: true, jwt or extAuth"))
		case 1:
		default:
			errs = append(errs, field.Forbidden(p.Index(i), fmt.Sprintf(
				"sets %s: keep exactly one of noAuth: true, jwt or extAuth", strings.Join(set, " and "))))
		}
	}
	return errs
}

func timeoutErrors(spec apirule.Spec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(fp *field.Path, t *int64) {
		if t != nil && (*t < 1 || *t > maxTimeout) {
			errs = append(errs, field.Invalid(fp, *t, "the timeout is in seconds, from 1 to 3900 (65 minutes)"))
		}
	}
	check(p.Child("timeout"), spec.Timeout)
	for i, rule := range spec.Rules {
		check(p.Child("rules").Index(i).Child("timeout"), rule.Timeout)
	}
	return errs
}
