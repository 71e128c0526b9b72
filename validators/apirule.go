package validators

import (
	"context"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

// APIRule checks. Every check runs and reports on its own, so one answer
// lists every problem of the object; a check whose cluster read fails warns
// that it could not run instead of guessing. v2 and v2alpha1 are one type;
// v1beta1 is converted to it (apirule.Upgrade) and its references are judged
// by the same checks, with findings pointed back at the v1beta1 fields. The
// checks live by concern: apirule_hosts.go (gateway and hosts),
// apirule_services.go, apirule_rules.go and ruleorder.go (paths, methods,
// access, timeouts), apirule_auth.go and trust.go (JWT, extAuth).

// APIRule validates a v2 or v2alpha1 APIRule.
func APIRule(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	ar := obj.Typed.(*apirule.APIRule)
	validateAPIRuleRefs(ctx, ar, env, r, nil)
	rules := field.NewPath("spec", "rules")
	r.Deny(APIRulePath, pathErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleMethods, methodErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleRuleDuplicate, duplicateRuleErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleAccess, accessErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleTimeout, timeoutErrors(ar.Spec, field.NewPath("spec"))...)
	r.Deny(APIRuleJWT, jwtErrors(ar.Spec.Rules, rules)...)
	if r.Enabled(APIRuleExtAuth) {
		deny, warn := extAuthErrors(ctx, ar.Spec.Rules, rules, env.Cluster)
		r.Deny(APIRuleExtAuth, deny...)
		r.Warn(APIRuleExtAuth, warn...)
	}
	if r.Enabled(APIRuleRequireAuth) {
		deny, warn := requireAuthErrors(ctx, ar, env.Settings.RequireAuthLabel, env.Cluster)
		r.Deny(APIRuleRequireAuth, deny...)
		r.Warn(APIRuleRequireAuth, warn...)
	}
	validateRuleOrder(ctx, ar.Spec.Rules, r)
	validateAPIRuleJWTTrust(ctx, ar, env, r)
}

// APIRuleV1beta1 validates a v1beta1 APIRule: what only v1beta1 has (its
// deprecation, the jwt handler's two config dialects) on the object itself,
// its gateway, hosts and services through the v2 hub object.
func APIRuleV1beta1(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	ar := obj.Typed.(*apirule.V1beta1APIRule)
	validateV1beta1Deprecation(ar, r)
	validateAPIRuleRefs(ctx, ar.Upgrade(), env, r, v1beta1Paths)
	r.Deny(APIRuleJWT, v1beta1JWTErrors(ar.Spec.Rules)...)
	validateAPIRuleV1beta1JWTTrust(ctx, ar, env, r)
}

// validateAPIRuleRefs runs the checks of what an APIRule references: its
// gateway, its hosts on that gateway and among other APIRules, its services.
// paths, when set, rewrites the hub's field paths into the version the user
// wrote.
func validateAPIRuleRefs(ctx context.Context, ar *apirule.APIRule, env *core.Env, r *core.Report, paths func(field.ErrorList) field.ErrorList) {
	if paths == nil {
		paths = func(l field.ErrorList) field.ErrorList { return l }
	}
	var gw *networkingv1.Gateway
	if r.Enabled(APIRuleGateway) || r.Enabled(APIRuleHostGateway) || r.Enabled(APIRuleHostTaken) {
		var deny, warn field.ErrorList
		gw, deny, warn = apiruleGatewayErrors(ctx, ar.Spec, env.Cluster)
		r.Deny(APIRuleGateway, paths(deny)...)
		r.Warn(APIRuleGateway, paths(warn)...)
	}
	if r.Enabled(APIRuleHostGateway) {
		deny, warn := hostGatewayErrors(ctx, ar, gw, env.Cluster)
		r.Deny(APIRuleHostGateway, paths(deny)...)
		r.Warn(APIRuleHostGateway, paths(warn)...)
	}
	if r.Enabled(APIRuleHostTaken) {
		deny, warn := hostTakenErrors(ctx, ar, gw, env.Cluster)
		r.Deny(APIRuleHostTaken, paths(deny)...)
		r.Warn(APIRuleHostTaken, paths(warn)...)
	}
	if r.Enabled(APIRuleService) || r.Enabled(APIRuleServiceSelector) {
		deny, noSelector, warn := serviceErrors(ctx, ar, env.Cluster)
		r.Deny(APIRuleService, paths(deny)...)
		r.Warn(APIRuleService, paths(warn)...)
		r.Warn(APIRuleServiceSelector, paths(noSelector)...)
	}
}

// v1beta1Paths points findings about the hub's hosts at v1beta1's single
// spec.host; every other field has the same path in both versions.
func v1beta1Paths(errs field.ErrorList) field.ErrorList {
	for _, e := range errs {
		if rest, ok := strings.CutPrefix(e.Field, "spec.hosts"); ok {
			if i := strings.Index(rest, "]"); strings.HasPrefix(rest, "[") && i > 0 {
				rest = rest[i+1:]
			}
			e.Field = "spec.host" + rest
		}
	}
	return errs
}
