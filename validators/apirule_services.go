package validators

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleService = core.Register(core.Check{
	ID:          "apirule-service",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "every rule has a service (rule or spec level) that exists and has the port",
	Runtime:     "kyma-project/api-gateway apis/gateway/v2alpha1/service.go GetSelectorFromService; istio pilot/pkg/networking/core/route/route.go (no such port: 503)",
})

var APIRuleServiceSelector = core.Register(core.Check{
	ID:          "apirule-service-selector",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "the service has a selector (not ExternalName, not selector-less), which Kyma needs to place its policies (v1beta1: rules with a jwt access strategy)",
	Runtime:     "kyma-project/api-gateway internal/validation/injection.go InjectionValidator.Validate (\"Target service label selectors are not defined\")",
})

var APIRuleSidecar = core.Register(core.Check{
	ID:          "apirule-sidecar",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "every pod the service selects has an injected istio-proxy sidecar; no pods yet in a namespace without sidecar injection: a warning (v1beta1: rules with a jwt access strategy)",
	Runtime:     "kyma-project/api-gateway internal/validation/injection.go InjectionValidator.Validate, containsSidecar",
})

var APIRuleSharedWorkload = core.Register(core.Check{
	ID:          "apirule-shared-workload",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "no noAuth rule shares its workload with another APIRule's jwt (or extAuth restrictions) rule: that APIRule's RequestAuthentication selects the whole workload",
	Runtime:     "istio pilot/pkg/security/authn/policy_applier.go convertToEnvoyJwtConfig; kyma-project/api-gateway requestauthentication/creator.go",
})

// Istio's sidecar injection markers (istio/istio pkg/kube/inject).
const (
	// sidecarStatusAnnotation is written on every pod the injector
	// injected; the webhook caches pod metadata only, so this is the
	// signal of an istio-proxy container.
	sidecarStatusAnnotation = "sidecar.istio.io/status"
	sidecarInjectLabel      = "sidecar.istio.io/inject"
	namespaceInjectionLabel = "istio-injection"
	revisionLabel           = "istio.io/rev"
	dataplaneModeLabel      = "istio.io/dataplane-mode"
)

// ruleService is the Service a rule routes to, resolved as Kyma's
// FindServiceNamespace does (rule, then spec, then the APIRule namespace).
type ruleService struct {
	rule      int
	spec      *apirule.Service
	specLevel bool // the rule has no service of its own: spec.service
	namespace string
}

// path is the service field the findings point at. It is built only for a
// finding: the shared-workload check resolves the rules of every APIRule in
// the namespace on each review.
func (rs ruleService) path() *field.Path {
	if rs.specLevel {
		return field.NewPath("spec", "service")
	}
	return field.NewPath("spec", "rules").Index(rs.rule).Child("service")
}

func ruleServiceOf(ar *apirule.APIRule, i int) ruleService {
	rule := &ar.Spec.Rules[i]
	rs := ruleService{rule: i, spec: rule.Service, namespace: cluster.NamespaceOrDefault(ar.Namespace)}
	if rs.spec == nil {
		rs.spec, rs.specLevel = ar.Spec.Service, true
	}
	if ar.Spec.Service != nil && ar.Spec.Service.Namespace != nil && *ar.Spec.Service.Namespace != "" {
		rs.namespace = *ar.Spec.Service.Namespace
	}
	if rule.Service != nil && rule.Service.Namespace != nil && *rule.Service.Namespace != "" {
		rs.namespace = *rule.Service.Namespace
	}
	return rs
}

func ruleServices(ar *apirule.APIRule) []ruleService {
	out := make([]ruleService, len(ar.Spec.Rules))
	for i := range ar.Spec.Rules {
		out[i] = ruleServiceOf(ar, i)
	}
	return out
}

// serviceFindings are the findings of the checks of an APIRule's services.
type serviceFindings struct {
	deny, warn               field.ErrorList // apirule-service
	selector                 field.ErrorList // apirule-service-selector
	sidecarDeny, sidecarWarn field.ErrorList // apirule-sidecar
}

// serviceErrors checks the service of every rule. A spec-level service is
// checked once per namespace it resolves to, and reported at spec.service.
// injection says for which rules Kyma checks the selector and the sidecars
// (v2: every rule; v1beta1: rules with a jwt access strategy); nil means
// every rule.
func serviceErrors(ctx context.Context, ar *apirule.APIRule, st cluster.State, injection func(rule int) bool, sidecars bool) serviceFindings {
	var f serviceFindings
	checked := map[string]bool{}
	injected := map[string]bool{} // Services whose selector and pods were judged
	for _, rs := range ruleServices(ar) {
		svc, p, ns := rs.spec, rs.path(), rs.namespace
		if svc == nil {
			f.deny = append(f.deny, field.Required(field.NewPath("spec", "rules").Index(rs.rule).Child("service"),
				"no service for this rule: set the rule's service or spec.service"))
			continue
		}
		if svc.Name == nil || *svc.Name == "" {
			if key := p.String() + " " + ns; !checked[key] {
				checked[key] = true
				f.deny = append(f.deny, field.Required(p.Child("name"), "name the Service that receives the traffic"))
			}
			continue
		}
		key := ns + "/" + *svc.Name
		g, err := st.Service(ctx, ns, *svc.Name)
		if k := p.String() + " " + ns; !checked[k] {
			checked[k] = true
			if svc.Port == nil {
				f.deny = append(f.deny, field.Required(p.Child("port"), "give the Service port to route to"))
			}
			switch {
			case err != nil:
				f.warn = append(f.warn, couldNotRun(p.Child("name"), "Service "+key, err))
			case g == nil:
				f.deny = append(f.deny, notFound(p.Child("name"), *svc.Name, fmt.Sprintf(
					"no such Service in namespace %s: create it, or fix the service name or namespace", ns)))
			case svc.Port != nil && g.Spec.Type != corev1.ServiceTypeExternalName:
				if e := servicePortError(p.Child("port"), *svc.Port, key, g); e != nil {
					f.deny = append(f.deny, e)
				}
			}
		}
		if err != nil || g == nil || (injection != nil && !injection(rs.rule)) || injected[key] {
			continue
		}
		injected[key] = true
		if e := noSelectorError(p.Child("name"), g); e != nil {
			f.selector = append(f.selector, e)
			continue
		}
		if sidecars {
			d, w := sidecarErrors(ctx, p.Child("name"), g, st)
			f.sidecarDeny, f.sidecarWarn = append(f.sidecarDeny, d...), append(f.sidecarWarn, w...)
		}
	}
	return f
}

func servicePortError(p *field.Path, port int64, key string, svc *corev1.Service) *field.Error {
	var ports []string
	for _, sp := range svc.Spec.Ports {
		if int64(sp.Port) == port {
			return nil
		}
		ports = append(ports, strconv.Itoa(int(sp.Port)))
	}
	list := strings.Join(ports, ", ")
	if list == "" {
		list = "none"
	}
	return field.Invalid(p, port, fmt.Sprintf("service %s has no such port (its ports: %s): use one of its ports", key, list))
}

// noSelectorError is the denial of a Service without a selector, which
// Kyma's InjectionValidator refuses: its policies select the workload by it.
// An ExternalName Service has none either.
func noSelectorError(p *field.Path, svc *corev1.Service) *field.Error {
	if len(svc.Spec.Selector) > 0 {
		return nil
	}
	what := "selector-less"
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		what = "ExternalName"
	}
	return field.Invalid(p, svc.Name, fmt.Sprintf(
		"service %s/%s has no selector (%s): Kyma refuses the APIRule with \"Target service label selectors are not defined\"; expose a Service that selects the pods",
		svc.Namespace, svc.Name, what))
}

// sidecarErrors is Kyma's InjectionValidator: every pod the Service selects
// needs an istio-proxy container. Pods are read as metadata, and the
// injector marks every pod it injects (native sidecars included) with
// sidecar.istio.io/status. Without pods there is nothing to refuse yet, but
// in a namespace without injection the pods to come get no sidecar.
func sidecarErrors(ctx context.Context, p *field.Path, svc *corev1.Service, st cluster.State) (deny, warn field.ErrorList) {
	key := svc.Namespace + "/" + svc.Name
	pods, err := st.Pods(ctx, svc.Namespace, svc.Spec.Selector)
	if err != nil {
		return nil, field.ErrorList{couldNotRun(p, "the pods of Service "+key, err)}
	}
	ns, err := st.Namespace(ctx, svc.Namespace)
	if err != nil {
		return nil, field.ErrorList{couldNotRun(p, "Namespace "+svc.Namespace, err)}
	}
	var missing []*metav1.PartialObjectMetadata
	for _, pod := range pods {
		if pod.Annotations[sidecarStatusAnnotation] == "" {
			missing = append(missing, pod)
		}
	}
	if len(pods) == 0 {
		if why := namespaceNoInjection(ns, svc.Namespace); why != "" {
			warn = append(warn, field.Invalid(p, svc.Name, fmt.Sprintf(
				"service %s selects no pods yet, and %s: the pods that start there get no istio-proxy sidecar unless their template has the label sidecar.istio.io/inject=true, and Kyma then puts the APIRule in Error (\"does not have an injected istio sidecar\"); label the namespace istio-injection=enabled",
				key, why)))
		}
		return nil, warn
	}
	if len(missing) == 0 {
		return nil, nil
	}
	first := missing[0]
	who := fmt.Sprintf("pod %s/%s", first.Namespace, first.Name)
	if len(missing) > 1 {
		who += fmt.Sprintf(" (and %d more of its %d pods)", len(missing)-1, len(pods))
	}
	why, todo := podNoSidecarReason(first, ns, svc.Namespace)
	deny = append(deny, field.Invalid(p, svc.Name, fmt.Sprintf(
		"%s, selected by service %s, has no istio-proxy sidecar (%s): Kyma refuses the APIRule (\"Pod %s/%s does not have an injected istio sidecar\"); %s",
		who, key, why, first.Namespace, first.Name, todo)))
	return deny, nil
}

// namespaceNoInjection says why pods of a namespace get no sidecar by
// default, "" when they get one.
func namespaceNoInjection(ns *corev1.Namespace, name string) string {
	var labels map[string]string
	if ns != nil {
		labels = ns.Labels
	}
	switch {
	case labels[dataplaneModeLabel] == "ambient":
		return "namespace " + name + " is in ambient mode (istio.io/dataplane-mode=ambient), which has no sidecars"
	case labels[namespaceInjectionLabel] == "enabled":
		return ""
	case labels[namespaceInjectionLabel] != "":
		return "namespace " + name + " has istio-injection=" + labels[namespaceInjectionLabel]
	case labels[revisionLabel] != "":
		return ""
	}
	return "namespace " + name + " has neither istio-injection=enabled nor istio.io/rev"
}

// podNoSidecarReason says why a pod has no sidecar and what to do.
func podNoSidecarReason(pod *metav1.PartialObjectMetadata, ns *corev1.Namespace, nsName string) (why, todo string) {
	restart := "then restart the pods (kubectl rollout restart)"
	switch {
	case pod.Labels[sidecarInjectLabel] == "false" || pod.Annotations[sidecarInjectLabel] == "false":
		return "it opts out with sidecar.istio.io/inject=false", "remove the opt-out from the pod template"
	case pod.Labels[dataplaneModeLabel] == "ambient":
		return "it is in ambient mode, which has no sidecar", "take the workload out of ambient mode and label the namespace istio-injection=enabled, " + restart
	}
	if why := namespaceNoInjection(ns, nsName); why != "" {
		return why, "label the namespace istio-injection=enabled, " + restart
	}
	return "it started before injection was enabled, or injection failed", "restart it (kubectl rollout restart) and check that it gets the sidecar"
}

// sharedWorkloadErrors warns where this APIRule and another one send
// traffic to one workload, one with a noAuth rule and the other with a
// jwt rule (or extAuth restrictions): Kyma's RequestAuthentication for the
// jwt rule selects the Service's pods, so it applies to every request to
// them, and a request carrying a token of another issuer gets 401 on the
// noAuth paths too.
func sharedWorkloadErrors(ctx context.Context, ar *apirule.APIRule, st cluster.State) (warn field.ErrorList) {
	type workload struct {
		namespace string
		selector  map[string]string
	}
	// A rule's workload, when the rule is noAuth (open) or needs a token.
	type ruleWorkload struct {
		rule int
		open bool
		w    workload
	}
	resolve := func(o *apirule.APIRule, into []ruleWorkload) []ruleWorkload {
		into = into[:0]
		for i := range o.Spec.Rules {
			rule := o.Spec.Rules[i]
			isOpen, isJWT := openRule(rule), tokenRule(rule)
			if !isOpen && !isJWT {
				continue
			}
			rs := ruleServiceOf(o, i)
			if rs.spec == nil || rs.spec.Name == nil {
				continue
			}
			svc, err := st.Service(ctx, rs.namespace, *rs.spec.Name)
			if err != nil || svc == nil || len(svc.Spec.Selector) == 0 {
				continue
			}
			into = append(into, ruleWorkload{rule: i, open: isOpen, w: workload{rs.namespace, svc.Spec.Selector}})
		}
		return into
	}
	// Two selectors share pods for sure when one's labels are part of the
	// other's.
	overlap := func(a, b workload) bool {
		return a.namespace == b.namespace && (labelsInclude(a.selector, b.selector) || labelsInclude(b.selector, a.selector))
	}
	mine := resolve(ar, nil)
	if len(mine) == 0 {
		return nil
	}
	// Only APIRules whose Services may share a namespace with this one's
	// can share its workloads: an index answers which, so the cost follows
	// the namespace, not the cluster.
	var namespaces []string
	myOpen, myJWT := false, false
	for _, m := range mine {
		namespaces = append(namespaces, m.w.namespace)
		myOpen, myJWT = myOpen || m.open, myJWT || !m.open
	}
	others, err := cluster.APIRulesWithServiceIn(ctx, st, namespaces)
	if err != nil {
		return field.ErrorList{couldNotRun(field.NewPath("spec", "rules"), "APIRules", err)}
	}
	self := cluster.NamespaceOrDefault(ar.Namespace)
	reported := map[int]bool{}
	var theirs []ruleWorkload
	for _, o := range others {
		// Each rule is reported once, with the first APIRule found: the
		// others need not be read once every rule is.
		if len(reported) == len(mine) {
			break
		}
		if o.Name == ar.Name && cluster.NamespaceOrDefault(o.Namespace) == self {
			continue
		}
		// Only a rule of the other sort can pair with ours: skip the
		// Service lookups when o has none.
		if !hasRule(o, myJWT, myOpen) {
			continue
		}
		theirs = resolve(o, theirs)
		for _, m := range mine {
			if reported[m.rule] {
				continue
			}
			for _, t := range theirs {
				if t.open == m.open || !overlap(m.w, t.w) {
					continue
				}
				reported[m.rule] = true
				warn = append(warn, sharedWorkload(ar, m.rule, m.open, cluster.NamespaceOrDefault(o.Namespace)+"/"+o.Name, t.rule))
				break
			}
		}
	}
	return warn
}

// sharedWorkload is the finding on rule i of ar, open (noAuth) or not,
// whose workload the rule k of the APIRule owner also serves, the other way.
func sharedWorkload(ar *apirule.APIRule, i int, open bool, owner string, k int) *field.Error {
	rules := field.NewPath("spec", "rules")
	if open {
		return field.Invalid(rules.Index(i).Child("noAuth"), true, fmt.Sprintf(
			"APIRule %s protects the same workload with jwt (its rule %d): the RequestAuthentication Kyma creates for it selects every pod of the workload, so a request here that carries a token of another issuer gets 401 although this rule needs no auth; expose the open paths through a Service of their own workload, or protect them the same way",
			owner, k))
	}
	return field.Invalid(rules.Index(i).Child("path"), ar.Spec.Rules[i].Path, fmt.Sprintf(
		"APIRule %s exposes the same workload without auth (its rule %d): the RequestAuthentication Kyma creates for this rule selects every pod of the workload, so requests there that carry a token of another issuer will get 401; expose the open paths through a Service of their own workload, or protect them the same way",
		owner, k))
}

// hasRule reports whether r has a noAuth rule (open) or a rule that needs a
// token (jwt, extAuth restrictions).
func hasRule(r *apirule.APIRule, open, jwt bool) bool {
	return slices.ContainsFunc(r.Spec.Rules, func(rule apirule.Rule) bool {
		return (open && openRule(rule)) || (jwt && tokenRule(rule))
	})
}

// openRule reports a noAuth rule.
func openRule(rule apirule.Rule) bool { return rule.NoAuth != nil && *rule.NoAuth }

// tokenRule reports a rule that needs a token: jwt, or extAuth with
// restrictions.
func tokenRule(rule apirule.Rule) bool {
	return rule.JWT != nil || (rule.ExtAuth != nil && rule.ExtAuth.Restrictions != nil)
}

// labelsInclude reports whether every label of sub is in set.
func labelsInclude(set, sub map[string]string) bool {
	for k, v := range sub {
		if set[k] != v {
			return false
		}
	}
	return true
}
