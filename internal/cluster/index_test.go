package cluster_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/cluster/informertest"
)

func rule(ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": ns, "managedFields": []any{map[string]any{"manager": "kubectl"}},
			"annotations": map[string]any{cluster.LastAppliedAnnotation: "{}"}},
		"spec":   spec,
		"status": map[string]any{"state": "Ready"},
	}}
	u.SetGroupVersionKind(apirule.V2)
	return u
}

func vs(ns, name string, hosts ...string) *networkingv1.VirtualService {
	return &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingapi.VirtualService{Hosts: hosts, Http: []*networkingapi.HTTPRoute{{Name: "r"}}}}
}

// indexFixture is what both States hold: APIRules (v2 and a v1beta1 read as
// v2), VirtualServices and pods.
func indexFixture() []client.Object {
	return []client.Object{
		rule("b", "one", map[string]any{"hosts": []any{"One.example.com", "short"}, "gateway": "kyma-system/kyma-gateway"}),
		rule("a", "two", map[string]any{"hosts": []any{"two.example.com"}}),
		rule("a", "dup", map[string]any{"hosts": []any{"one.example.com"}}),
		rule("c", "legacy", map[string]any{"host": "legacy.example.com", "gateway": "kyma-gateway.kyma-system.svc.cluster.local"}),
		rule("d", "cross", map[string]any{"hosts": []any{"d.example.com"}, "service": map[string]any{"name": "s", "namespace": "a", "port": int64(80)}}),
		rule("e", "per-rule", map[string]any{"hosts": []any{"e.example.com"}, "rules": []any{
			map[string]any{"path": "/x", "service": map[string]any{"name": "s", "namespace": "b", "port": int64(80)}}}}),
		vs("x", "v1", "one.example.com", "other.example.com"),
		vs("w", "v2", "TWO.example.com"),
		informertest.PodMeta("p1", "a", map[string]string{"app": "x", "v": "1"}),
		informertest.PodMeta("p2", "b", map[string]string{"app": "x", "v": "2"}),
		informertest.PodMeta("p3", "c", map[string]string{"app": "y", "v": "1"}),
	}
}

func names[T metav1.Object](l []T) []string {
	out := []string{}
	for _, o := range l {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// The cache's indexes give the answers that listing everything gives, in
// the same order.
func TestIndexedLookupsAgreeWithListing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	objs := indexFixture()
	c, err := informertest.New(ctx, nil, nil, objs...)
	if err != nil {
		t.Fatal(err)
	}
	var robjs []runtime.Object
	for _, o := range objs {
		robjs = append(robjs, o.DeepCopyObject())
	}
	fromFiles, err := cluster.FromObjects(robjs...)
	if err != nil {
		t.Fatal(err)
	}
	// Only State's methods: the lookups below list.
	listed := struct{ cluster.State }{fromFiles}
	indexed := cluster.FromCache(c)
	for _, st := range []cluster.State{indexed, cluster.Memo(indexed), fromFiles} {
		for _, hosts := range [][]string{{"one.example.com"}, {"ONE.example.com", "short"}, {"two.example.com", "legacy.example.com"}, {"nothing"}, nil} {
			want, err := cluster.APIRulesWithHost(ctx, listed, hosts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cluster.APIRulesWithHost(ctx, st, hosts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), names(want)) {
				t.Errorf("APIRulesWithHost(%q) = %v, listing gives %v", hosts, names(got), names(want))
			}
			wantVS, err := cluster.VirtualServicesWithHost(ctx, listed, hosts)
			if err != nil {
				t.Fatal(err)
			}
			gotVS, err := cluster.VirtualServicesWithHost(ctx, st, hosts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(gotVS), names(wantVS)) {
				t.Errorf("VirtualServicesWithHost(%q) = %v, listing gives %v", hosts, names(gotVS), names(wantVS))
			}
		}
		for _, sel := range []map[string]string{{"app": "x"}, {"app": "x", "v": "1"}, {"v": "1"}, {"app": "z"}} {
			for _, ns := range []string{"", "b"} {
				want, _ := listed.PodNamespaces(ctx, ns, sel)
				got, err := st.PodNamespaces(ctx, ns, sel)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("PodNamespaces(%q, %v) = %v %v, listing gives %v", ns, sel, got, err, want)
				}
				wantPods, _ := listed.Pods(ctx, ns, sel)
				gotPods, err := st.Pods(ctx, ns, sel)
				if err != nil || !reflect.DeepEqual(names(gotPods), names(wantPods)) {
					t.Errorf("Pods(%q, %v) = %v %v, listing gives %v", ns, sel, names(gotPods), err, names(wantPods))
				}
			}
		}
		for _, nss := range [][]string{{"a"}, {"b"}, {"c", "e"}, {"nowhere"}, nil} {
			want, err := cluster.APIRulesWithServiceIn(ctx, listed, nss)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cluster.APIRulesWithServiceIn(ctx, st, nss)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), names(want)) {
				t.Errorf("APIRulesWithServiceIn(%q) = %v, listing gives %v", nss, names(got), names(want))
			}
		}
		r, err := cluster.APIRule(ctx, st, "c", "legacy")
		if err != nil || r == nil || r.Spec.Hosts[0] != "legacy.example.com" || r.ShortHostGateway == "" {
			t.Errorf("APIRule c/legacy = %+v, %v; want the v2 view of the v1beta1 rule", r, err)
		}
		if r, err := cluster.APIRule(ctx, st, "c", "missing"); r != nil || err != nil {
			t.Errorf("a missing APIRule: %v, %v", r, err)
		}
	}
	// The store has the index (no fallback to listing behind the answers).
	inf, err := c.GetInformer(ctx, rule("", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if l, err := inf.(toolscache.SharedIndexInformer).GetIndexer().ByIndex(cluster.IndexAPIRuleHost, "one.example.com"); err != nil || len(l) != 2 {
		t.Fatalf("index %s: %d items, %v", cluster.IndexAPIRuleHost, len(l), err)
	}
	// The expected answers, so that agreement is not agreement on nothing.
	for nss, want := range map[string][]string{"a": {"a/dup", "a/two", "d/cross"}, "b": {"b/one", "e/per-rule"}} {
		got, _ := cluster.APIRulesWithServiceIn(ctx, indexed, []string{nss})
		if !reflect.DeepEqual(names(got), want) {
			t.Errorf("APIRules with a Service in %s: %v, want %v", nss, names(got), want)
		}
	}
	got, _ := cluster.APIRulesWithHost(ctx, indexed, []string{"one.example.com"})
	if want := []string{"a/dup", "b/one"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("APIRules with one.example.com: %v, want %v", names(got), want)
	}
}

// What the cache keeps of each object: no managedFields, no last-applied
// copy, no APIRule status, VirtualServices cut down to their hosts.
func TestCacheTrimsObjects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "s",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations:   map[string]string{cluster.LastAppliedAnnotation: `{"data":"..."}`, "cert-manager.io/certificate-name": "c"}}}
	c, err := informertest.New(ctx, nil, nil, append(indexFixture(), sec)...)
	if err != nil {
		t.Fatal(err)
	}
	// APIRules are kept as apirule.Stored: metadata and the spec's JSON.
	ex := &unstructured.Unstructured{}
	ex.SetGroupVersionKind(apirule.V2)
	inf, err := c.GetInformer(ctx, ex)
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := inf.(toolscache.SharedIndexInformer).GetIndexer().GetByKey("b/one")
	if err != nil {
		t.Fatal(err)
	}
	st, ok := o.(*apirule.Stored)
	if !ok {
		t.Fatalf("the cache keeps APIRules as %T, want *apirule.Stored", o)
	}
	if st.ManagedFields != nil || st.Annotations[cluster.LastAppliedAnnotation] != "" || st.UID == "" || st.ResourceVersion == "" {
		t.Errorf("APIRule metadata kept as %+v", st.ObjectMeta)
	}
	if r, err := st.APIRule(); err != nil || len(r.Spec.Hosts) == 0 || r.Name != "one" || r.Namespace != "b" {
		t.Errorf("APIRule b/one reads as %+v, %v", r, err)
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(sec), &s); err != nil {
		t.Fatal(err)
	}
	if s.ManagedFields != nil || s.Annotations[cluster.LastAppliedAnnotation] != "" || s.Annotations["cert-manager.io/certificate-name"] != "c" {
		t.Errorf("Secret metadata kept: %+v", s.ObjectMeta)
	}
	var v networkingv1.VirtualService
	if err := c.Get(ctx, client.ObjectKey{Namespace: "x", Name: "v1"}, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Spec.Http) != 0 || len(v.Spec.Hosts) != 2 {
		t.Errorf("VirtualService spec kept: %v", fmt.Sprint(&v.Spec))
	}
}

// An indexed list is remembered while its objects are the same ones, and
// follows every create, update and delete under its key.
func TestIndexedAnswerFollowsChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec := func(host string) map[string]any { return map[string]any{"hosts": []any{host}} }
	c, err := informertest.New(ctx, nil, nil, rule("a", "r1", spec("one.example.com")), rule("a", "r2", spec("two.example.com")),
		rule("b", "other", spec("b.example.com")))
	if err != nil {
		t.Fatal(err)
	}
	st := cluster.FromCache(c)
	ask := func() []*apirule.APIRule {
		t.Helper()
		l, err := cluster.APIRulesWithServiceIn(ctx, st, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	hosts := func(l []*apirule.APIRule) []string {
		var out []string
		for _, r := range l {
			out = append(out, r.Name+"="+r.Spec.Hosts[0])
		}
		return out
	}
	first, again := ask(), ask()
	if want := []string{"r1=one.example.com", "r2=two.example.com"}; !reflect.DeepEqual(hosts(first), want) {
		t.Fatalf("APIRules with a Service in a: %v, want %v", hosts(first), want)
	}
	if &first[0] != &again[0] {
		t.Error("the same objects under the key were sorted and decoded again")
	}
	if l, _ := cluster.APIRulesWithServiceIn(ctx, st, []string{"b"}); !reflect.DeepEqual(names(l), []string{"b/other"}) {
		t.Errorf("APIRules with a Service in b: %v", names(l))
	}
	eventually := func(what string, want []string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := hosts(ask())
			if reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: %v, want %v", what, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := c.Modify(rule("a", "r1", spec("moved.example.com"))); err != nil {
		t.Fatal(err)
	}
	eventually("an update", []string{"r1=moved.example.com", "r2=two.example.com"})
	if err := c.Add(rule("a", "r0", spec("zero.example.com"))); err != nil {
		t.Fatal(err)
	}
	eventually("a create", []string{"r0=zero.example.com", "r1=moved.example.com", "r2=two.example.com"})
	if err := c.Delete(rule("a", "r2", nil)); err != nil {
		t.Fatal(err)
	}
	eventually("a delete", []string{"r0=zero.example.com", "r1=moved.example.com"})
}
