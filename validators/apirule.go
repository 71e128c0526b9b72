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
	r.Deny(APIRuleHostForm, hostFormErrors(ar.Spec.Hosts, field.NewPath("spec", "hosts"))...)
	validateAPIRuleRefs(ctx, ar, env, r, refOptions{
		// A host Kyma refuses for its form is not judged against the gateway.
		skipHost: func(h string) bool { return r.Enabled(APIRuleHostForm) && hostFormProblem(h) != "" },
	})
	rules := field.NewPath("spec", "rules")
	r.Deny(APIRulePath, pathErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleMethods, methodErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleRuleDuplicate, duplicateRuleErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleAccess, accessErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleTimeout, timeoutErrors(ar.Spec, field.NewPath("spec"))...)
	deny, warn := jwtErrors(ar.Spec.Rules, rules)
	r.Deny(APIRuleJWT, deny...)
	r.Warn(APIRuleJWT, warn...)
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
	r.Warn(APIRuleCORS, corsErrors(ar.Spec)...)
	if r.Enabled(APIRuleSharedWorkload) {
		r.Warn(APIRuleSharedWorkload, sharedWorkloadErrors(ctx, ar, env.Cluster)...)
	}
	validateRuleOrder(ctx, ar.Spec.Rules, r)
	validateAPIRuleJWTTrust(ctx, ar, env, r)
}

// APIRuleV1beta1 validates a v1beta1 APIRule: what only v1beta1 has (its
// deprecation, the jwt handler's two config dialects, its rule duplicates)
// on the object itself, its gateway, hosts and services through the v2 hub
// object.
func APIRuleV1beta1(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	ar := obj.Typed.(*apirule.V1beta1APIRule)
	validateV1beta1Deprecation(ar, r)
	validateAPIRuleRefs(ctx, ar.Upgrade(), env, r, refOptions{paths: v1beta1Paths, injection: v1beta1InjectionRules(ar)})
	r.Deny(APIRuleRuleDuplicate, v1beta1DuplicateErrors(ar.Spec.Rules)...)
	deny, warn := v1beta1JWTErrors(ar.Spec.Rules)
	r.Deny(APIRuleJWT, deny...)
	r.Warn(APIRuleJWT, warn...)
	validateAPIRuleV1beta1JWTTrust(ctx, ar, env, r)
}

// refOptions adapt the checks of references to the version under review.
type refOptions struct {
	// paths rewrites the hub's field paths into the version the user
	// wrote; nil keeps them.
	paths func(field.ErrorList) field.ErrorList
	// injection says for which rules Kyma checks the service selector and
	// the sidecars; nil means every rule.
	injection func(rule int) bool
	// skipHost leaves out hosts that another check refuses already.
	skipHost func(host string) bool
}

// validateAPIRuleRefs runs the checks of what an APIRule references: its
// gateway, its hosts on that gateway and among other APIRules, its services
// and their pods.
func validateAPIRuleRefs(ctx context.Context, ar *apirule.APIRule, env *core.Env, r *core.Report, o refOptions) {
	paths := o.paths
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
		deny, warn := hostGatewayErrors(ctx, ar, gw, env.Cluster, o.skipHost)
		r.Deny(APIRuleHostGateway, paths(deny)...)
		r.Warn(APIRuleHostGateway, paths(warn)...)
	}
	if r.Enabled(APIRuleHostTaken) {
		deny, warn := hostTakenErrors(ctx, ar, gw, env.Cluster)
		r.Deny(APIRuleHostTaken, paths(deny)...)
		r.Warn(APIRuleHostTaken, paths(warn)...)
	}
	if r.Enabled(APIRuleService) || r.Enabled(APIRuleServiceSelector) || r.Enabled(APIRuleSidecar) {
		f := serviceErrors(ctx, ar, env.Cluster, o.injection, r.Enabled(APIRuleSidecar))
		r.Deny(APIRuleService, paths(f.deny)...)
		r.Warn(APIRuleService, paths(f.warn)...)
		r.Deny(APIRuleServiceSelector, paths(f.selector)...)
		r.Deny(APIRuleSidecar, paths(f.sidecarDeny)...)
		r.Warn(APIRuleSidecar, paths(f.sidecarWarn)...)
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
