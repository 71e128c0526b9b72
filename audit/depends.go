package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	typeapi "istio.io/api/type/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
	"github.com/gatewarden/gatewarden/internal/istio"
	"github.com/gatewarden/gatewarden/review"
	"github.com/gatewarden/gatewarden/validators"
)

// What a change concerns. Every audited object is indexed (IndexDepends) by
// keys naming what its checks read besides itself; a change of a watched
// object names the keys it provides (provides); the objects under those
// keys, and the changed object itself when audited, are what a run after
// the change re-checks. A key of the form k/… means:
//
//	ns/<name>          the namespace (its enforcement and require-auth
//	                   labels; an AuthorizationPolicy's source namespaces;
//	                   the injection label of an APIRule's Service's
//	                   namespace)
//	svc/<ns>/<name>    a Service (an APIRule's, a policy's targetRef)
//	gw/<ns>/<name>     a Gateway an APIRule names (and short hosts' domain)
//	secret/<name>      a Secret a Gateway's credentialName names, in
//	                   whichever gateway namespace istiod reads it, without
//	                   the -cacert suffix (istiod reads <name>-cacert for
//	                   <name>, and <name> for <name>-cacert when missing)
//	cm/<ns>/<name>     a ConfigMap a Gateway names as configmap://ns/name
//	host/<label>       the first label of a host an APIRule exposes (a host
//	                   taken by another APIRule or a VirtualService)
//	gwhost/<host>      a host a Gateway serves (duplicate hosts)
//	owner/<ns>/<name>  the APIRule a policy was generated for
//	ra/<ns>            the RequestAuthentications of a namespace, which an
//	                   AuthorizationPolicy's requestPrincipals rest on
//
// APIRules whose Services select overlapping pods warn of each other (a
// noAuth rule next to a jwt rule on one workload). Two keys only changes
// provide carry that: wl/<ns>/<k=v,...> is a Service's selector (its old
// and its new one), svcwl/<ns>/<name> the selector of a Service a changed
// APIRule names; a run resolves both to the Services of the namespace
// whose selectors include or are included in it, and those to the
// APIRules naming them (svc/).
//
// GatewardenExceptions concern the objects of their namespace (ns/<ns>);
// the mesh ConfigMap concerns everything (keyFull). Changes of pods,
// Certificates, Kyma's Istio CR and ExternalGateways, and issuers' documents
// are not watched; the interval's full run covers them, as it covers
// anything this mapping misses.
const IndexDepends = "gatewarden.io/audit-depends"

// Keys a change resolves specially.
const (
	// keyFull asks for a full run: the mesh config touches every object.
	keyFull = "full"
	// keyRARoot stands for the AuthorizationPolicies of the mesh root
	// namespace, which every RequestAuthentication may concern, and for
	// all of them when the changed one is in the root namespace itself.
	keyRARoot = "ra-root/"
	keyObject = "obj/"
	// keyWorkload is a Service selector, keyServiceWorkload the selector
	// of a Service by name.
	keyWorkload        = "wl/"
	keyServiceWorkload = "svcwl/"
)

// workloadKey is the key of a Service selector: wl/<ns>/<k=v,...>, sorted.
// Label keys hold no "=" and values no ",".
func workloadKey(ns string, sel map[string]string) string {
	pairs := make([]string, 0, len(sel))
	for k, v := range sel {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return keyWorkload + ns + "/" + strings.Join(pairs, ",")
}

// parseWorkloadKey reads the namespace and selector of a workloadKey.
func parseWorkloadKey(key string) (ns string, sel map[string]string) {
	ns, rest, _ := strings.Cut(strings.TrimPrefix(key, keyWorkload), "/")
	sel = map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		if k, v, ok := strings.Cut(p, "="); ok {
			sel[k] = v
		}
	}
	return ns, sel
}

// overlaps reports whether two selectors surely share pods: one's labels
// are part of the other's (as the shared-workload check decides).
func overlaps(a, b map[string]string) bool {
	includes := func(set, sub map[string]string) bool {
		for k, v := range sub {
			if set[k] != v {
				return false
			}
		}
		return true
	}
	return len(a) > 0 && len(b) > 0 && (includes(a, b) || includes(b, a))
}

// objKey names an audited object: obj/<Kind>/<ns>/<name>.
func objKey(kind, ns, name string) string { return keyObject + kind + "/" + ns + "/" + name }

// Indexes are the indexes the audit needs in the cache: what each audited
// kind depends on.
func Indexes() []cluster.Index {
	var out []cluster.Index
	for i := range review.Kinds {
		k := &review.Kinds[i]
		out = append(out, cluster.Index{Object: k.Cached(), Name: IndexDepends, Extract: func(o client.Object) []string {
			return dependsKeys(k.Kind, o)
		}})
	}
	return out
}

// dependsKeys are the keys an audited object is found under.
func dependsKeys(kind string, o client.Object) []string {
	ns := o.GetNamespace()
	keys := []string{"ns/" + ns}
	switch kind {
	case core.KindAPIRule:
		r, err := apirule.FromObject(o)
		if err != nil {
			return keys
		}
		keys = append(keys, apiRuleKeys(r)...)
	case core.KindGateway:
		if g, ok := o.(*networkingv1.Gateway); ok {
			keys = append(keys, gatewayKeys(g)...)
		}
	case core.KindRequestAuthentication:
		if owner := validators.APIRuleOwner(o); owner != "" {
			keys = append(keys, "owner/"+owner)
		}
	case core.KindAuthorizationPolicy:
		if owner := validators.APIRuleOwner(o); owner != "" {
			keys = append(keys, "owner/"+owner)
		}
		keys = append(keys, "ra/"+ns)
		if p, ok := o.(*securityv1.AuthorizationPolicy); ok {
			keys = append(keys, policyKeys(p)...)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func apiRuleKeys(r *apirule.APIRule) []string {
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	var keys []string
	if r.Spec.Gateway != nil {
		keys = append(keys, "gw/"+*r.Spec.Gateway)
	}
	if r.ShortHostGateway != "" {
		keys = append(keys, "gw/"+r.ShortHostGateway)
	}
	svcNS := func(s *apirule.Service) string {
		if s != nil && s.Namespace != nil && *s.Namespace != "" {
			return *s.Namespace
		}
		return ""
	}
	specNS := ns
	if n := svcNS(r.Spec.Service); n != "" {
		specNS = n
	}
	service := func(n, name string) {
		keys = append(keys, "svc/"+n+"/"+name, "ns/"+n)
	}
	if s := r.Spec.Service; s != nil && s.Name != nil {
		service(specNS, *s.Name)
	}
	for _, rule := range r.Spec.Rules {
		if s := rule.Service; s != nil && s.Name != nil {
			n := specNS
			if x := svcNS(s); x != "" {
				n = x
			}
			service(n, *s.Name)
		}
	}
	for _, h := range r.Spec.Hosts {
		keys = append(keys, "host/"+hostLabel(h))
	}
	return keys
}

// hostLabel is the first label of a host, lower case: a short host and the
// FQDNs it may expand to share it.
func hostLabel(h string) string {
	h = strings.ToLower(h)
	label, _, _ := strings.Cut(h, ".")
	return label
}

func gatewayKeys(g *networkingv1.Gateway) []string {
	var keys []string
	for _, s := range g.Spec.Servers {
		if s == nil {
			continue
		}
		for _, h := range s.Hosts {
			keys = append(keys, "gwhost/"+istio.HostName(h))
		}
		if s.Tls == nil {
			continue
		}
		for _, n := range append([]string{s.Tls.CredentialName}, s.Tls.CredentialNames...) {
			if k := credentialKey(n); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// credentialKey is the key of what a credentialName reads: a ConfigMap
// (configmap://ns/name, a -cacert suffix stripped as istiod does) or a
// Secret; "" for sources istiod resolves elsewhere.
func credentialKey(n string) string {
	if rest, cut := strings.CutPrefix(n, "configmap://"); cut {
		ns, name, _ := strings.Cut(rest, "/")
		if ns == "" || name == "" {
			return ""
		}
		return "cm/" + ns + "/" + strings.TrimSuffix(name, caSuffix)
	}
	if rest, cut := strings.CutPrefix(n, "kubernetes://"); cut {
		n = rest
	} else if strings.Contains(n, "://") {
		return ""
	}
	if _, name, cut := strings.Cut(n, "/"); cut {
		n = name
	}
	if n = strings.TrimSuffix(n, caSuffix); n == "" {
		return ""
	}
	return "secret/" + n
}

// caSuffix marks the Secret istiod reads a gateway's client CA from.
const caSuffix = "-cacert"

// isMesh reports whether a ConfigMap is (or was) a mesh configuration: the
// default one, or any with the mesh key, as the one --mesh-configmap names
// has.
func isMesh(cm *corev1.ConfigMap) bool {
	if cm.Namespace == cluster.MeshConfigMap.Namespace && cm.Name == cluster.MeshConfigMap.Name {
		return true
	}
	_, ok := cm.Data["mesh"]
	return ok
}

func policyKeys(p *securityv1.AuthorizationPolicy) []string {
	var keys []string
	refs := append([]*typeapi.PolicyTargetReference{p.Spec.TargetRef}, p.Spec.TargetRefs...)
	for _, t := range refs {
		if t == nil || t.Kind != "Service" || (t.Group != "" && t.Group != "core") || t.Name == "" {
			continue
		}
		tns := p.Namespace
		if t.Namespace != "" {
			tns = t.Namespace
		}
		keys = append(keys, "svc/"+tns+"/"+t.Name)
	}
	for _, r := range p.Spec.Rules {
		if r == nil {
			continue
		}
		for _, f := range r.From {
			if f == nil || f.Source == nil {
				continue
			}
			for _, n := range append(append([]string{}, f.Source.Namespaces...), f.Source.NotNamespaces...) {
				if n != "" && !strings.Contains(n, "*") {
					keys = append(keys, "ns/"+n)
				}
			}
		}
	}
	return keys
}

// workloadShape is what other APIRules' shared-workload check reads of an
// APIRule besides its Services' selectors: per rule in order, the Service
// it sends to and whether it is open (noAuth) or protected (jwt, extAuth
// restrictions). An update that keeps it (a new host, say) concerns no
// other APIRule through their workloads.
func workloadShape(o client.Object) (string, bool) {
	r, err := apirule.FromObject(o)
	if err != nil {
		return "", false
	}
	name := func(s *apirule.Service) string {
		if s == nil || s.Name == nil {
			return ""
		}
		return *s.Name
	}
	ns := func(s *apirule.Service) string {
		if s == nil || s.Namespace == nil {
			return ""
		}
		return *s.Namespace
	}
	var b strings.Builder
	b.WriteString(ns(r.Spec.Service) + "/" + name(r.Spec.Service))
	for _, rule := range r.Spec.Rules {
		open := rule.NoAuth != nil && *rule.NoAuth
		protected := rule.JWT != nil || (rule.ExtAuth != nil && rule.ExtAuth.Restrictions != nil)
		fmt.Fprintf(&b, ";%s/%s:%t:%t", ns(rule.Service), name(rule.Service), open, protected)
	}
	return b.String(), true
}

// updateKeys are the keys of an update from old to new: both objects'
// provides, without the workload keys of an APIRule whose workloadShape
// did not change.
func updateKeys(old, new client.Object) []string {
	keys := append(provides(old), provides(new)...)
	if !isAPIRule(old) || !isAPIRule(new) {
		return keys
	}
	before, ok1 := workloadShape(old)
	after, ok2 := workloadShape(new)
	if !ok1 || !ok2 || before != after {
		return keys
	}
	return slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, keyServiceWorkload) })
}

// provides are the keys a changed object names: what re-checks after its
// change. Objects of kinds the mapping does not know give keyFull.
func provides(o client.Object) []string {
	ns, name := o.GetNamespace(), o.GetName()
	switch obj := o.(type) {
	case *corev1.Service:
		keys := []string{"svc/" + ns + "/" + name}
		if len(obj.Spec.Selector) > 0 {
			keys = append(keys, workloadKey(ns, obj.Spec.Selector))
		}
		return keys
	case *corev1.Secret:
		if base := strings.TrimSuffix(name, caSuffix); base != "" {
			return []string{"secret/" + base}
		}
		return []string{"secret/" + name}
	case *corev1.Namespace:
		return []string{"ns/" + name}
	case *corev1.ConfigMap:
		if isMesh(obj) {
			return []string{keyFull}
		}
		return []string{"cm/" + ns + "/" + name}
	case *networkingv1.VirtualService:
		var keys []string
		for _, h := range obj.Spec.Hosts {
			keys = append(keys, "host/"+hostLabel(h))
		}
		return keys
	case *networkingv1.Gateway:
		keys := []string{objKey(core.KindGateway, ns, name), "gw/" + ns + "/" + name}
		for _, k := range gatewayKeys(obj) {
			// Other Gateways read this one for its hosts only.
			if strings.HasPrefix(k, "gwhost/") {
				keys = append(keys, k)
			}
		}
		return keys
	case *securityv1.RequestAuthentication:
		return []string{objKey(core.KindRequestAuthentication, ns, name), "ra/" + ns, keyRARoot + ns}
	case *securityv1.AuthorizationPolicy:
		return []string{objKey(core.KindAuthorizationPolicy, ns, name)}
	case *exception.GatewardenException:
		// An exception selects objects by kind, name and labels: every
		// object of its namespace may gain or lose a skip.
		return []string{objKey(core.KindException, ns, name), "ns/" + ns}
	case *apirule.Stored, *unstructured.Unstructured:
		if !isAPIRule(obj) {
			return []string{keyFull}
		}
		keys := []string{objKey(core.KindAPIRule, ns, name), "owner/" + ns + "/" + name}
		for _, h := range apirule.HostsOf(obj) {
			keys = append(keys, "host/"+hostLabel(h))
		}
		if r, err := apirule.FromObject(obj); err == nil {
			for _, k := range apiRuleKeys(r) {
				if svc, ok := strings.CutPrefix(k, "svc/"); ok {
					keys = append(keys, keyServiceWorkload+svc)
				}
			}
		}
		return keys
	}
	return []string{keyFull}
}

// isAPIRule says whether o is an APIRule as the cache holds it (Stored) or
// another reader does (unstructured, of the APIRule group and kind).
func isAPIRule(o client.Object) bool {
	switch obj := o.(type) {
	case *apirule.Stored:
		return true
	case *unstructured.Unstructured:
		return obj.GroupVersionKind().GroupKind() == apirule.V2.GroupKind()
	}
	return false
}

// ref is one audited object by kind, namespace and name.
type ref struct {
	kind      *review.Kind
	namespace string
	name      string
}

func (r ref) key() string { return objKey(r.kind.Kind, r.namespace, r.name) }

// dependents resolves changed keys to the audited objects they concern,
// through the cache's indexes. An error means the indexes cannot answer
// (an informer not synced yet): the caller then runs in full.
func dependents(ctx context.Context, stores *cluster.Stores, r client.Reader, st cluster.State, keys []string) (map[string]ref, error) {
	out := map[string]ref{}
	lookup := func(index, key string, kinds ...*review.Kind) ([]ref, error) {
		if len(kinds) == 0 {
			for i := range review.Kinds {
				kinds = append(kinds, &review.Kinds[i])
			}
		}
		var found []ref
		for _, k := range kinds {
			objs, err := stores.ByIndex(ctx, k.Cached(), index, key)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				found = append(found, ref{kind: k, namespace: o.GetNamespace(), name: o.GetName()})
			}
		}
		return found, nil
	}
	root := ""
	if m, err := st.Mesh(ctx); err == nil && m != nil {
		root = m.RootNamespace
	}
	for _, key := range keys {
		var found []ref
		var err error
		switch {
		case strings.HasPrefix(key, keyServiceWorkload), strings.HasPrefix(key, keyWorkload):
			found, err = workloadDependents(ctx, stores, st, key, lookup)
		case strings.HasPrefix(key, keyObject):
			kind, rest, _ := strings.Cut(strings.TrimPrefix(key, keyObject), "/")
			ns, name, _ := strings.Cut(rest, "/")
			for i := range review.Kinds {
				if review.Kinds[i].Kind == kind {
					found = append(found, ref{kind: &review.Kinds[i], namespace: ns, name: name})
				}
			}
		case strings.HasPrefix(key, keyRARoot):
			// Policies of the root namespace span the mesh; a
			// RequestAuthentication there concerns every policy.
			policies, _ := review.Lookup(securityv1.SchemeGroupVersion.WithKind(core.KindAuthorizationPolicy).GroupKind())
			scope := root
			if strings.TrimPrefix(key, keyRARoot) == root {
				scope = ""
			}
			found, err = lookup(toolscache.NamespaceIndex, scope, policies)
		default:
			found, err = lookup(IndexDepends, key)
		}
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			out[f.key()] = f
			// A Gateway's domain gives the FQDNs of the short hosts of the
			// APIRules naming it: those may now collide with other
			// APIRules' hosts.
			if !strings.HasPrefix(key, "gw/") || f.kind.Kind != core.KindAPIRule {
				continue
			}
			for _, hk := range hostKeysOf(ctx, r, f) {
				more, err := lookup(IndexDepends, hk)
				if err != nil {
					return nil, err
				}
				for _, m := range more {
					out[m.key()] = m
				}
			}
		}
	}
	return out, nil
}

// workloadDependents are the APIRules naming a Service whose selector
// overlaps the one key names (wl/) or the one of the Service it names
// (svcwl/).
func workloadDependents(ctx context.Context, stores *cluster.Stores, st cluster.State, key string, lookup func(string, string, ...*review.Kind) ([]ref, error)) ([]ref, error) {
	if svcKey, ok := strings.CutPrefix(key, keyServiceWorkload); ok {
		ns, name, _ := strings.Cut(svcKey, "/")
		svc, err := st.Service(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		if svc == nil || len(svc.Spec.Selector) == 0 {
			return nil, nil // no workload, nothing to share
		}
		key = workloadKey(ns, svc.Spec.Selector)
	}
	ns, sel := parseWorkloadKey(key)
	services, err := stores.ByIndex(ctx, &corev1.Service{}, toolscache.NamespaceIndex, ns)
	if err != nil {
		return nil, err
	}
	rules, _ := review.Lookup(apirule.V2.GroupKind())
	var out []ref
	for _, o := range services {
		svc, ok := o.(*corev1.Service)
		if !ok || !overlaps(sel, svc.Spec.Selector) {
			continue
		}
		found, err := lookup(IndexDepends, "svc/"+ns+"/"+svc.Name, rules)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// hostKeysOf are the host keys of a stored APIRule.
func hostKeysOf(ctx context.Context, r client.Reader, f ref) []string {
	o, err := f.kind.Object(ctx, r, f.namespace, f.name)
	if err != nil || o == nil {
		return nil
	}
	var keys []string
	for _, h := range apirule.HostsOf(o) {
		keys = append(keys, "host/"+hostLabel(h))
	}
	return keys
}
