package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// Lookups are the questions an admission asks about other objects that a
// whole-kind List would answer at a cost growing with the cluster. The
// States of this package answer them from the cache's indexes (FromCache)
// or by listing (FromReader, FromObjects); the functions below ask any
// State, listing when it has no Lookups of its own.
type Lookups interface {
	// APIRule is one APIRule in the v2 shape, nil when it does not exist.
	APIRule(ctx context.Context, namespace, name string) (*apirule.APIRule, error)
	// APIRulesWithHost lists, by namespace and name, the APIRules (v2
	// shape) with any of hosts in spec.hosts, compared in lower case.
	APIRulesWithHost(ctx context.Context, hosts []string) ([]*apirule.APIRule, error)
	// VirtualServicesWithHost lists, by namespace and name, the
	// VirtualServices with any of hosts in spec.hosts, compared in lower
	// case.
	VirtualServicesWithHost(ctx context.Context, hosts []string) ([]*networkingv1.VirtualService, error)
	// APIRulesWithServiceIn lists, by namespace and name, the APIRules (v2
	// shape) whose rules may route to a Service in any of namespaces: the
	// APIRule's namespace, spec.service.namespace or a
	// rules[].service.namespace is one of them. A superset of the exact
	// answer, which callers resolve per rule.
	APIRulesWithServiceIn(ctx context.Context, namespaces []string) ([]*apirule.APIRule, error)
}

// APIRule asks st for one APIRule.
func APIRule(ctx context.Context, st State, namespace, name string) (*apirule.APIRule, error) {
	if l, ok := st.(Lookups); ok {
		return l.APIRule(ctx, namespace, name)
	}
	return listedAPIRule(ctx, st, namespace, name)
}

// APIRulesWithHost asks st for the APIRules naming any of hosts.
func APIRulesWithHost(ctx context.Context, st State, hosts []string) ([]*apirule.APIRule, error) {
	if l, ok := st.(Lookups); ok {
		return l.APIRulesWithHost(ctx, hosts)
	}
	return listedAPIRulesWithHost(ctx, st, hosts)
}

// VirtualServicesWithHost asks st for the VirtualServices naming any of
// hosts.
func VirtualServicesWithHost(ctx context.Context, st State, hosts []string) ([]*networkingv1.VirtualService, error) {
	if l, ok := st.(Lookups); ok {
		return l.VirtualServicesWithHost(ctx, hosts)
	}
	return listedVirtualServicesWithHost(ctx, st, hosts)
}

// APIRulesWithServiceIn asks st for the APIRules that may route to a
// Service in any of namespaces.
func APIRulesWithServiceIn(ctx context.Context, st State, namespaces []string) ([]*apirule.APIRule, error) {
	if l, ok := st.(Lookups); ok {
		return l.APIRulesWithServiceIn(ctx, namespaces)
	}
	return listedAPIRulesWithServiceIn(ctx, st, namespaces)
}

func listedAPIRulesWithServiceIn(ctx context.Context, st State, namespaces []string) ([]*apirule.APIRule, error) {
	rules, err := st.APIRules(ctx, "")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(slices.Clone(rules), func(r *apirule.APIRule) bool {
		return !slices.ContainsFunc(serviceNamespaces(r), func(ns string) bool { return slices.Contains(namespaces, ns) })
	}), nil
}

// serviceNamespaces are the keys of IndexAPIRuleServiceNamespace: the
// APIRule's namespace, spec.service's and each rules[].service's. The index
// reads them from the stored form (apiRuleServiceNamespaceKeys, below),
// which spares decoding every APIRule on every informer event;
// TestIndexedLookupsAgreeWithListing holds the two to one answer.
func serviceNamespaces(r *apirule.APIRule) []string {
	out := []string{NamespaceOrDefault(r.Namespace)}
	add := func(s *apirule.Service) {
		if s != nil && s.Namespace != nil && *s.Namespace != "" && !slices.Contains(out, *s.Namespace) {
			out = append(out, *s.Namespace)
		}
	}
	add(r.Spec.Service)
	for _, rule := range r.Spec.Rules {
		add(rule.Service)
	}
	return out
}

// apiRuleServiceNamespaceKeys is serviceNamespaces over a stored APIRule
// (Stored or unstructured).
func apiRuleServiceNamespaceKeys(o client.Object) []string {
	if u, ok := o.(*unstructured.Unstructured); ok {
		out := []string{NamespaceOrDefault(u.GetNamespace())}
		add := func(m map[string]any) {
			if ns, ok, _ := unstructured.NestedString(m, "service", "namespace"); ok && ns != "" && !slices.Contains(out, ns) {
				out = append(out, ns)
			}
		}
		if spec, ok := u.Object["spec"].(map[string]any); ok {
			add(spec)
			rules, _ := spec["rules"].([]any)
			for _, r := range rules {
				if m, ok := r.(map[string]any); ok {
					add(m)
				}
			}
		}
		return out
	}
	st, ok := o.(*apirule.Stored)
	if !ok {
		return nil
	}
	var shape struct {
		Service *struct {
			Namespace string `json:"namespace"`
		} `json:"service"`
		Rules []struct {
			Service *struct {
				Namespace string `json:"namespace"`
			} `json:"service"`
		} `json:"rules"`
	}
	out := []string{NamespaceOrDefault(st.Namespace)}
	if len(st.Spec) == 0 || json.Unmarshal(st.Spec, &shape) != nil {
		return out
	}
	add := func(ns string) {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	if shape.Service != nil {
		add(shape.Service.Namespace)
	}
	for _, r := range shape.Rules {
		if r.Service != nil {
			add(r.Service.Namespace)
		}
	}
	return out
}

func listedAPIRule(ctx context.Context, st State, namespace, name string) (*apirule.APIRule, error) {
	rules, err := st.APIRules(ctx, namespace)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, nil
}

func listedAPIRulesWithHost(ctx context.Context, st State, hosts []string) ([]*apirule.APIRule, error) {
	rules, err := st.APIRules(ctx, "")
	if err != nil {
		return nil, err
	}
	want := lowerUnique(hosts)
	return slices.DeleteFunc(slices.Clone(rules), func(r *apirule.APIRule) bool { return !namesAny(r.Spec.Hosts, want) }), nil
}

func listedVirtualServicesWithHost(ctx context.Context, st State, hosts []string) ([]*networkingv1.VirtualService, error) {
	vss, err := st.VirtualServices(ctx, "")
	if err != nil {
		return nil, err
	}
	want := lowerUnique(hosts)
	return slices.DeleteFunc(slices.Clone(vss), func(vs *networkingv1.VirtualService) bool {
		return vs == nil || !namesAny(vs.Spec.Hosts, want)
	}), nil
}

// namesAny reports whether any of have is in want (lower case).
func namesAny(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, strings.ToLower(h)) {
			return true
		}
	}
	return false
}

func (c *reader) APIRule(ctx context.Context, namespace, name string) (*apirule.APIRule, error) {
	if o, ok := storeGet[client.Object](ctx, c.stores, "APIRule", namespace, name); ok {
		if o == nil {
			return nil, nil
		}
		return c.decode(o), nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(apirule.V2)
	got, err := get(ctx, c.r, u, namespace, name, c.getOpts()...)
	if err != nil || got == nil {
		return nil, err
	}
	return c.decode(got), nil
}

func (c *reader) APIRulesWithHost(ctx context.Context, hosts []string) ([]*apirule.APIRule, error) {
	found, ok := byKeys[client.Object](ctx, c.stores, "APIRule", IndexAPIRuleHost, hosts)
	if !ok {
		return listedAPIRulesWithHost(ctx, c, hosts)
	}
	return c.decodeAll(found), nil
}

func (c *reader) VirtualServicesWithHost(ctx context.Context, hosts []string) ([]*networkingv1.VirtualService, error) {
	found, ok := byKeys[*networkingv1.VirtualService](ctx, c.stores, "VirtualService", IndexVirtualServiceHost, hosts)
	if !ok {
		return listedVirtualServicesWithHost(ctx, c, hosts)
	}
	return found, nil
}

func (c *reader) APIRulesWithServiceIn(ctx context.Context, namespaces []string) ([]*apirule.APIRule, error) {
	if keys := lowerUnique(namespaces); len(keys) == 1 {
		if l, ok := c.apiRulesUnder(ctx, IndexAPIRuleServiceNamespace, keys[0]); ok {
			return l, nil
		}
	}
	found, ok := byKeys[client.Object](ctx, c.stores, "APIRule", IndexAPIRuleServiceNamespace, namespaces)
	if !ok {
		return listedAPIRulesWithServiceIn(ctx, c, namespaces)
	}
	return c.decodeAll(found), nil
}

// indexAnswers bounds the remembered answers of apiRulesUnder: the
// namespaces an admission burst or an audit run is in.
const indexAnswers = 16

type answerKey struct{ index, key string }

// indexAnswer is the sorted, decoded list of the APIRules under one index
// key, and the stored objects it was made of.
type indexAnswer struct {
	of    map[any]struct{}
	rules []*apirule.APIRule
}

// madeOf says whether objs are the objects the answer was made of.
func (a *indexAnswer) madeOf(objs []any) bool {
	if len(objs) != len(a.of) {
		return false
	}
	for _, o := range objs {
		if _, ok := a.of[o]; !ok {
			return false
		}
	}
	return true
}

// apiRulesUnder lists the APIRules under one key of an APIRule index, by
// namespace and name. Every APIRule admitted into a namespace, and every
// one the audit re-checks there, asks for the namespace's APIRules (the
// shared-workload check); sorting and decoding them on each ask made an
// admission cost grow with them, and an audit run over them quadratic. An
// informer replaces an object, never changes it, so while the index holds
// the same objects the answer is the same: checking that is a map lookup
// per object, without allocating.
func (c *reader) apiRulesUnder(ctx context.Context, index, key string) ([]*apirule.APIRule, bool) {
	idx := c.stores.get(ctx, "APIRule")
	if idx == nil {
		return nil, false
	}
	objs, err := idx.ByIndex(index, key)
	if err != nil {
		return nil, false
	}
	k := answerKey{index, key}
	if a, ok := c.answers.Get(k); ok && a.madeOf(objs) {
		return a.rules, true
	}
	l, ok := sortedObjects[client.Object](objs, "")
	if !ok {
		return nil, false
	}
	a := &indexAnswer{of: make(map[any]struct{}, len(objs)), rules: c.decodeAll(l)}
	for _, o := range objs {
		a.of[o] = struct{}{}
	}
	c.answers.Add(k, a)
	return a.rules, true
}

// byKeys reads the objects of a kind under any of hosts (lower case) in an
// index, each once, by namespace and name.
func byKeys[T client.Object](ctx context.Context, s *stores, kind, index string, hosts []string) ([]T, bool) {
	keys := lowerUnique(hosts)
	if len(keys) == 1 {
		// One key: storeList's answer is unique and sorted already.
		return storeList[T](ctx, s, kind, index, keys[0], "")
	}
	var out []T
	seen := map[[2]string]bool{}
	for _, h := range keys {
		l, ok := storeList[T](ctx, s, kind, index, h, "")
		if !ok {
			return nil, false
		}
		for _, o := range l {
			if k := [2]string{o.GetNamespace(), o.GetName()}; !seen[k] {
				seen[k] = true
				out = append(out, o)
			}
		}
	}
	slices.SortFunc(out, func(a, b T) int { return compareKeys(a, b) })
	return out, true
}

// compareKeys orders objects by namespace, then name: the order of a List
// from the map-backed reader, so indexed and listed answers agree.
func compareKeys(a, b client.Object) int {
	if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
		return c
	}
	return strings.Compare(a.GetName(), b.GetName())
}

func (m *memo) APIRule(ctx context.Context, namespace, name string) (*apirule.APIRule, error) {
	return ask(m, memoKey{"apirule", namespace, name}, func() (*apirule.APIRule, error) { return APIRule(ctx, m.s, namespace, name) })
}

func (m *memo) APIRulesWithHost(ctx context.Context, hosts []string) ([]*apirule.APIRule, error) {
	return ask(m, memoKey{"apirules-host", "", hostsKey(hosts)}, func() ([]*apirule.APIRule, error) {
		return APIRulesWithHost(ctx, m.s, hosts)
	})
}

func (m *memo) VirtualServicesWithHost(ctx context.Context, hosts []string) ([]*networkingv1.VirtualService, error) {
	return ask(m, memoKey{"virtualservices-host", "", hostsKey(hosts)}, func() ([]*networkingv1.VirtualService, error) {
		return VirtualServicesWithHost(ctx, m.s, hosts)
	})
}

func (m *memo) APIRulesWithServiceIn(ctx context.Context, namespaces []string) ([]*apirule.APIRule, error) {
	return ask(m, memoKey{"apirules-service-ns", "", hostsKey(namespaces)}, func() ([]*apirule.APIRule, error) {
		return APIRulesWithServiceIn(ctx, m.s, namespaces)
	})
}

func hostsKey(hosts []string) string {
	h := lowerUnique(hosts)
	slices.Sort(h)
	return strings.Join(h, ",")
}
