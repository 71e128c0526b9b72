package validators

import (
	"context"
	"fmt"
	"sort"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

// The AuthorizationPolicy checks: what istiod's own validation accepts but
// what never works in a cluster (unknown providers, principals nothing can
// produce, selectors that select nothing) and the two classic ALLOW pitfalls.

var AuthorizationPolicyCustomProvider = core.Register(core.Check{
	ID:          "authorizationpolicy-custom-provider",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Deny,
	Description: "a CUSTOM policy names an ext-authz provider registered in the mesh config (extensionProviders) or a Kyma Istio authorizer",
	Runtime:     "istio/istio pilot/pkg/security/authz/builder/builder.go (unknown provider: matching requests denied)",
})

var AuthorizationPolicyRequestPrincipalIssuer = core.Register(core.Check{
	ID:          "authorizationpolicy-request-principal-issuer",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "requestPrincipals name an issuer trusted by a RequestAuthentication that applies to the same workloads",
	Runtime:     "istio/istio pilot/pkg/security/authn/policy_applier.go (request principal <iss>/<sub> only for trusted issuers)",
})

var AuthorizationPolicyPrincipalFormat = core.Register(core.Check{
	ID:          "authorizationpolicy-principal-format",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "principals have the SPIFFE form <trust-domain>/ns/<namespace>/sa/<service-account> (or * at the start or end)",
	Runtime:     "istio/istio pilot/pkg/security/authz/model/generator.go srcPrincipalGenerator (adds spiffe://)",
})

var AuthorizationPolicySelectorNoWorkload = core.Register(core.Check{
	ID:          "authorizationpolicy-selector-no-workload",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "selector.matchLabels match at least one pod",
	Runtime:     "istio/istio pilot/pkg/model/policyattachment.go WorkloadPolicyMatcher.ShouldAttachPolicy",
})

var AuthorizationPolicyTargetNotFound = core.Register(core.Check{
	ID:          "authorizationpolicy-target-not-found",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "targetRef/targetRefs of kind Service name an existing Service",
	Runtime:     "istio/istio pilot/pkg/model/policyattachment.go WorkloadPolicyMatcher.ShouldAttachPolicy",
})

var AuthorizationPolicySourceNamespaceNotFound = core.Register(core.Check{
	ID:          "authorizationpolicy-source-namespace-not-found",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "source.namespaces and source.notNamespaces name existing namespaces",
	Runtime:     "istio/istio pilot/pkg/security/authz/model/generator.go srcNamespaceGenerator",
})

var AuthorizationPolicyAllowNothing = core.Register(core.Check{
	ID:          "authorizationpolicy-allow-nothing",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "an ALLOW policy without rules denies every request to the workloads it selects",
	Runtime:     "istio/istio pilot/pkg/security/authz/builder/builder.go (ALLOW without rules matches nothing)",
})

var AuthorizationPolicyAllowAll = core.Register(core.Check{
	ID:          "authorizationpolicy-allow-all",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Warn,
	Description: "an ALLOW policy with an empty rule {} allows every request to the workloads it selects",
	Runtime:     "istio/istio pilot/pkg/security/authz/builder/builder.go (an empty rule matches every request)",
})

var AuthorizationPolicyAllowAllRoot = core.Register(core.Check{
	ID:          "authorizationpolicy-allow-all-root",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Deny,
	Description: "an ALLOW policy with an empty rule {} in the mesh root namespace, without selector or targetRefs, allows every request mesh-wide",
	Runtime:     "istio/istio pilot/pkg/model/authorization.go ListAuthorizationPolicies, policyattachment.go (denied on purpose: mesh-wide)",
})

// authzDefaultRoot is istiod's root namespace when the mesh config cannot be read.
const authzDefaultRoot = "istio-system"

// AuthorizationPolicy validates an Istio AuthorizationPolicy (every served
// version decodes into v1).
func AuthorizationPolicy(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	ap := obj.Typed.(*securityv1.AuthorizationPolicy)
	ns := cluster.NamespaceOrDefault(ap.Namespace)
	mesh, meshErr := env.Cluster.Mesh(ctx)
	root := authzRootNamespace(mesh)
	spec := &ap.Spec

	validateAuthzCustomProvider(spec, mesh, meshErr, r)
	validateAuthzRequestPrincipals(ctx, spec, ns, root, env.Cluster, r)
	validateAuthzPrincipals(spec, r)
	validateAuthzSelector(ctx, spec, ns, root, env.Cluster, r)
	validateAuthzTargets(ctx, spec, ns, env.Cluster, r)
	validateAuthzSourceNamespaces(ctx, spec, env.Cluster, r)
	validateAuthzAllowPitfalls(spec, ns, root, meshErr, r)
	// Last: it leaves out what the checks above reported on the same field.
	validateAuthorizationPolicyIstio(ap, r)
}

func authzRootNamespace(m *cluster.Mesh) string {
	if m == nil || m.RootNamespace == "" {
		return authzDefaultRoot
	}
	return m.RootNamespace
}

func authzLabels(sel *typeapi.WorkloadSelector) map[string]string {
	if sel == nil {
		return nil
	}
	return sel.MatchLabels
}

// authzSelectorMatchesNothing reports a workload selector (of an
// AuthorizationPolicy or RequestAuthentication) that no pod matches. A
// policy in the root namespace selects workloads in every namespace.
func authzSelectorMatchesNothing(ctx context.Context, c *core.Check, sel map[string]string, ns, root string, st cluster.State, r *core.Report) {
	if len(sel) == 0 || !r.Enabled(c) {
		return
	}
	p := field.NewPath("spec", "selector", "matchLabels")
	where, scope := ns, "namespace "+ns
	if ns == root {
		where, scope = "", "any namespace"
	}
	found, err := st.PodNamespaces(ctx, where, sel)
	if err != nil {
		r.Warn(c, couldNotRun(p, "pods", err))
		return
	}
	if len(found) == 0 {
		r.Deny(c, field.Invalid(p, labels.SelectorFromSet(sel).String(),
			"no pod in "+scope+" has these labels, so the policy applies to nothing: fix the labels or deploy the workload"))
	}
}

func validateAuthzCustomProvider(spec *securityapi.AuthorizationPolicy, mesh *cluster.Mesh, meshErr error, r *core.Report) {
	if spec.Action != securityapi.AuthorizationPolicy_CUSTOM {
		return
	}
	p := field.NewPath("spec", "provider", "name")
	name := ""
	if prov := spec.GetProvider(); prov != nil {
		name = prov.Name
	}
	if name == "" {
		r.Deny(AuthorizationPolicyCustomProvider, field.Required(p,
			"action CUSTOM needs the name of an ext-authz provider from the mesh config extensionProviders"))
		return
	}
	if meshErr != nil {
		r.Warn(AuthorizationPolicyCustomProvider, couldNotRun(p, "the mesh config", meshErr))
		return
	}
	for _, n := range mesh.ExtAuthzProviders {
		if n == name {
			return
		}
	}
	for _, n := range mesh.KymaAuthorizers {
		if n == name {
			return
		}
	}
	registered := append(append([]string{}, mesh.ExtAuthzProviders...), mesh.KymaAuthorizers...)
	sort.Strings(registered)
	registered = dedupe(registered)
	for _, n := range mesh.Providers {
		if n == name {
			r.Deny(AuthorizationPolicyCustomProvider, field.Invalid(p, name,
				"provider is not envoyExtAuthzHttp or envoyExtAuthzGrpc, so matching requests are denied: use one of "+authzNames(registered)))
			return
		}
	}
	msg := "not in the mesh config extensionProviders, so matching requests are denied: use one of " + authzNames(registered) + " or register it"
	if !mesh.Found && len(mesh.KymaAuthorizers) == 0 {
		msg = "no mesh config istio-system/istio found, so no provider is registered and matching requests are denied: register it first"
	}
	r.Deny(AuthorizationPolicyCustomProvider, field.Invalid(p, name, msg))
}

// authzNames renders names for a message; "none registered" when empty.
func authzNames(names []string) string {
	if len(names) == 0 {
		return "(none registered)"
	}
	return strings.Join(names, ", ")
}

// authzSourcePath is spec.rules[i].from[j].source.
func authzSourcePath(i, j int) *field.Path {
	return field.NewPath("spec", "rules").Index(i).Child("from").Index(j).Child("source")
}

// authzEachSource calls fn for every non-nil source of the policy.
func authzEachSource(spec *securityapi.AuthorizationPolicy, fn func(src *securityapi.Source, p *field.Path)) {
	for i, rule := range spec.Rules {
		if rule == nil {
			continue
		}
		for j, from := range rule.From {
			if from == nil || from.Source == nil {
				continue
			}
			fn(from.Source, authzSourcePath(i, j))
		}
	}
}

// authzList is one list field of a source, by its JSON name.
type authzList struct {
	name   string
	values []string
}

type authzValue struct {
	value string
	path  *field.Path
	not   bool
}

func validateAuthzRequestPrincipals(ctx context.Context, spec *securityapi.AuthorizationPolicy, ns, root string, st cluster.State, r *core.Report) {
	if !r.Enabled(AuthorizationPolicyRequestPrincipalIssuer) {
		return
	}
	var vals []authzValue
	authzEachSource(spec, func(src *securityapi.Source, p *field.Path) {
		for k, v := range src.RequestPrincipals {
			vals = append(vals, authzValue{v, p.Child("requestPrincipals").Index(k), false})
		}
		for k, v := range src.NotRequestPrincipals {
			vals = append(vals, authzValue{v, p.Child("notRequestPrincipals").Index(k), true})
		}
	})
	var checked []authzValue
	for _, v := range vals {
		if v.value != "*" && v.value != "" {
			checked = append(checked, v)
		}
	}
	if len(checked) == 0 {
		return
	}
	issuers, anyIssuer, nApplicable, err := authzTrustedIssuers(ctx, spec, ns, root, st)
	if err != nil {
		r.Warn(AuthorizationPolicyRequestPrincipalIssuer, couldNotRun(checked[0].path, "RequestAuthentications", err))
		return
	}
	for _, v := range checked {
		if authzPrincipalTrusted(v.value, issuers, anyIssuer) {
			continue
		}
		effect := "so this rule never matches"
		if v.not {
			effect = "so this exclusion always holds"
		}
		var msg string
		switch {
		case !strings.Contains(strings.Trim(v.value, "*"), "/"):
			msg = "not of the form <issuer>/<subject>, " + effect
		case nApplicable == 0:
			msg = "no RequestAuthentication applies to these workloads (namespace " + ns + " or " + root + "), " + effect + ": add one trusting the issuer"
		default:
			msg = "issuer not trusted by the RequestAuthentications for these workloads (trusted: " + strings.Join(issuers, ", ") +
				"), " + effect + ": add a jwtRule for it or fix the principal (issuer exactly as in the token)"
		}
		r.Deny(AuthorizationPolicyRequestPrincipalIssuer, field.Invalid(v.path, v.value, msg))
	}
}

// authzTrustedIssuers collects the issuers of the RequestAuthentications that
// apply to the policy's workloads: namespace-wide ones in its namespace or the
// root namespace, and ones whose selector labels are a subset of the
// policy's. anyIssuer is set by a jwtRule without issuer (any iss accepted).
func authzTrustedIssuers(ctx context.Context, spec *securityapi.AuthorizationPolicy, ns, root string, st cluster.State) (issuers []string, anyIssuer bool, applicable int, err error) {
	var ras []*securityv1.RequestAuthentication
	if ns == root {
		// A root namespace policy spans the mesh: any RequestAuthentication may
		// cover some of its workloads.
		if ras, err = st.RequestAuthentications(ctx, ""); err != nil {
			return nil, false, 0, err
		}
	} else {
		for _, n := range []string{ns, root} {
			l, err := st.RequestAuthentications(ctx, n)
			if err != nil {
				return nil, false, 0, err
			}
			ras = append(ras, l...)
		}
	}
	seen := map[string]bool{}
	for _, ra := range ras {
		if ra == nil || (ns != root && !authzRAApplies(ra, spec, root)) {
			continue
		}
		applicable++
		for _, jr := range ra.Spec.JwtRules {
			if jr == nil {
				continue
			}
			if jr.Issuer == "" {
				anyIssuer = true
				continue
			}
			if !seen[jr.Issuer] {
				seen[jr.Issuer] = true
				issuers = append(issuers, jr.Issuer)
			}
		}
	}
	sort.Strings(issuers)
	return issuers, anyIssuer, applicable, nil
}

func authzRAApplies(ra *securityv1.RequestAuthentication, spec *securityapi.AuthorizationPolicy, root string) bool {
	raSel := authzLabels(ra.Spec.Selector)
	raTargets := authzTargetRefs(ra.Spec.TargetRef, ra.Spec.TargetRefs)
	if len(raSel) == 0 && len(raTargets) == 0 {
		return true // namespace-wide, or mesh-wide in the root namespace
	}
	if len(raSel) > 0 {
		apSel := authzLabels(spec.Selector)
		if len(apSel) == 0 {
			return false
		}
		for k, v := range raSel {
			if got, ok := apSel[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
	if cluster.NamespaceOrDefault(ra.Namespace) == root {
		return false // targetRefs do not reach across namespaces
	}
	for _, t := range authzTargetRefs(spec.TargetRef, spec.TargetRefs) {
		for _, rt := range raTargets {
			if t.Kind == rt.Kind && t.Name == rt.Name && t.Group == rt.Group {
				return true
			}
		}
	}
	return false
}

func authzTargetRefs(one *typeapi.PolicyTargetReference, many []*typeapi.PolicyTargetReference) []*typeapi.PolicyTargetReference {
	var out []*typeapi.PolicyTargetReference
	if one != nil {
		out = append(out, one)
	}
	for _, t := range many {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// authzPrincipalTrusted says whether a request principal pattern (exact,
// prefix* or *suffix) can match <issuer>/<subject> for a trusted issuer.
func authzPrincipalTrusted(p string, issuers []string, anyIssuer bool) bool {
	if p == "*" || (anyIssuer && strings.Contains(strings.Trim(p, "*"), "/")) {
		return true
	}
	if strings.HasPrefix(p, "*") {
		// *suffix: any issuer can be followed by a subject ending in suffix.
		return len(issuers) > 0 || anyIssuer
	}
	for _, iss := range issuers {
		want := iss + "/"
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(prefix, want) || strings.HasPrefix(want, prefix) {
				return true
			}
			continue
		}
		if strings.HasPrefix(p, want) && len(p) > len(want) {
			return true
		}
	}
	return false
}

func validateAuthzPrincipals(spec *securityapi.AuthorizationPolicy, r *core.Report) {
	authzEachSource(spec, func(src *securityapi.Source, p *field.Path) {
		for _, list := range []authzList{{"principals", src.Principals}, {"notPrincipals", src.NotPrincipals}} {
			name := list.name
			for k, v := range list.values {
				if v == "" {
					continue // istiod refuses empty values: authorizationpolicy-istio-validation
				}
				if why := spiffePrincipalProblem(v); why != "" {
					r.Deny(AuthorizationPolicyPrincipalFormat, field.Invalid(p.Child(name).Index(k), v, why))
				}
			}
		}
	})
}

// spiffeTemplate is <trust-domain>/ns/<namespace>/sa/<service-account>; ""
// stands for any non-empty segment.
var spiffeTemplate = [5]string{"", "ns", "", "sa", ""}

const spiffeHint = "; want <trust-domain>/ns/<namespace>/sa/<service-account>, * allowed at start or end"

// spiffePrincipalProblem says what is wrong with a peer principal pattern,
// or "" when it can match some workload identity.
func spiffePrincipalProblem(p string) string {
	if p == "*" {
		return ""
	}
	if p == "" {
		return "empty principal" + spiffeHint
	}
	if strings.HasPrefix(p, "spiffe://") {
		return "drop the spiffe:// prefix" + spiffeHint
	}
	stars := strings.Count(p, "*")
	prefix := strings.HasSuffix(p, "*") && stars == 1
	suffix := strings.HasPrefix(p, "*") && stars == 1
	if stars > 0 && !prefix && !suffix {
		return "* may only appear once" + spiffeHint
	}
	var segs []string
	offset := 0
	switch {
	case prefix:
		segs = strings.Split(strings.TrimSuffix(p, "*"), "/")
	case suffix:
		segs = strings.Split(strings.TrimPrefix(p, "*"), "/")
		offset = len(spiffeTemplate) - len(segs)
	default:
		segs = strings.Split(p, "/")
	}
	if len(segs) > len(spiffeTemplate) || (!prefix && !suffix && len(segs) != len(spiffeTemplate)) || offset < 0 {
		return fmt.Sprintf("has %d /-separated parts, not 5", len(segs)) + spiffeHint
	}
	for i, s := range segs {
		want := spiffeTemplate[offset+i]
		partial := (prefix && i == len(segs)-1) || (suffix && i == 0)
		switch {
		case want != "" && partial && prefix && !strings.HasPrefix(want, s),
			want != "" && partial && suffix && !strings.HasSuffix(want, s),
			want != "" && !partial && s != want:
			return fmt.Sprintf("part %d is %q where %q belongs", offset+i+1, s, want) + spiffeHint
		case want == "" && !partial && s == "":
			return fmt.Sprintf("part %d is empty", offset+i+1) + spiffeHint
		}
	}
	return ""
}

func validateAuthzSelector(ctx context.Context, spec *securityapi.AuthorizationPolicy, ns, root string, st cluster.State, r *core.Report) {
	authzSelectorMatchesNothing(ctx, AuthorizationPolicySelectorNoWorkload, authzLabels(spec.Selector), ns, root, st, r)
}

func validateAuthzTargets(ctx context.Context, spec *securityapi.AuthorizationPolicy, ns string, st cluster.State, r *core.Report) {
	if !r.Enabled(AuthorizationPolicyTargetNotFound) {
		return
	}
	check := func(t *typeapi.PolicyTargetReference, p *field.Path) {
		if t == nil || t.Kind != "Service" || (t.Group != "" && t.Group != "core") || t.Name == "" {
			return
		}
		tns := ns
		if t.Namespace != "" {
			tns = t.Namespace
		}
		svc, err := st.Service(ctx, tns, t.Name)
		switch {
		case err != nil:
			r.Warn(AuthorizationPolicyTargetNotFound, couldNotRun(p.Child("name"), "Services", err))
		case svc == nil:
			r.Deny(AuthorizationPolicyTargetNotFound, notFound(p.Child("name"), t.Name,
				"no such Service in namespace "+tns+", so the policy applies to nothing: fix the name or create the Service"))
		}
	}
	check(spec.TargetRef, field.NewPath("spec", "targetRef"))
	for i, t := range spec.TargetRefs {
		check(t, field.NewPath("spec", "targetRefs").Index(i))
	}
}

func validateAuthzSourceNamespaces(ctx context.Context, spec *securityapi.AuthorizationPolicy, st cluster.State, r *core.Report) {
	if !r.Enabled(AuthorizationPolicySourceNamespaceNotFound) {
		return
	}
	failed := false
	authzEachSource(spec, func(src *securityapi.Source, p *field.Path) {
		for _, list := range []authzList{{"namespaces", src.Namespaces}, {"notNamespaces", src.NotNamespaces}} {
			name := list.name
			for k, v := range list.values {
				if failed || v == "" || strings.Contains(v, "*") {
					continue
				}
				nsObj, err := st.Namespace(ctx, v)
				if err != nil {
					r.Warn(AuthorizationPolicySourceNamespaceNotFound, couldNotRun(p.Child(name).Index(k), "namespaces", err))
					failed = true
					continue
				}
				if nsObj == nil {
					r.Deny(AuthorizationPolicySourceNamespaceNotFound, notFound(p.Child(name).Index(k), v,
						"no such namespace: fix the name or create it"))
				}
			}
		}
	})
}

// authzEmptyRule is the rule `{}`: it matches every request.
func authzEmptyRule(rule *securityapi.Rule) bool {
	return rule == nil || (len(rule.From) == 0 && len(rule.To) == 0 && len(rule.When) == 0)
}

func validateAuthzAllowPitfalls(spec *securityapi.AuthorizationPolicy, ns, root string, meshErr error, r *core.Report) {
	if spec.Action != securityapi.AuthorizationPolicy_ALLOW {
		return
	}
	rules := field.NewPath("spec", "rules")
	if len(spec.Rules) == 0 {
		r.Deny(AuthorizationPolicyAllowNothing, field.Required(rules,
			"ALLOW without rules denies every request to the selected workloads: add rules (or turn this check off for an intended allow-nothing policy)"))
		return
	}
	// A selector or targetRefs limit even a root-namespace policy to the
	// workloads they name; only a policy with neither applies mesh-wide.
	meshWide := len(authzLabels(spec.Selector)) == 0 && len(authzTargetRefs(spec.TargetRef, spec.TargetRefs)) == 0
	for i, rule := range spec.Rules {
		if !authzEmptyRule(rule) {
			continue
		}
		p := rules.Index(i)
		switch {
		case !meshWide:
		case meshErr != nil:
			r.Warn(AuthorizationPolicyAllowAllRoot, couldNotRun(p, "the mesh config (root namespace)", meshErr))
		case ns == root && r.Enabled(AuthorizationPolicyAllowAllRoot):
			r.Deny(AuthorizationPolicyAllowAllRoot, field.Forbidden(p,
				"empty rule {} in root namespace "+root+" without selector or targetRefs allows every request to every workload of the mesh; "+
					"istiod accepts it, gatewarden refuses it as insecure: add from/to/when conditions, a selector, or move the policy to the workload's namespace"))
			continue
		}
		r.Deny(AuthorizationPolicyAllowAll, field.Invalid(p, "{}",
			"empty rule {} allows every request to the selected workloads, whatever other ALLOW policies say: add from/to/when conditions"))
	}
}
