package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestFromObjects(t *testing.T) {
	ctx := context.Background()
	rule := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
		"metadata": map[string]any{"name": "old", "namespace": "a"},
		"spec":     map[string]any{"host": "old.example.com", "gateway": "kyma-gateway.kyma-system.svc.cluster.local"},
	}}
	rule2 := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
		"metadata": map[string]any{"name": "new", "namespace": "b"},
		"spec":     map[string]any{"hosts": []any{"new"}, "gateway": "kyma-system/kyma-gateway"},
	}}
	gw := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "kyma-gateway", Namespace: "kyma-system"},
		Spec: networkingapi.Gateway{Selector: map[string]string{"istio": "ingressgateway"}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gw-1", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway", "x": "y"}}}
	mesh := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "istio-system"},
		Data: map[string]string{"mesh": "rootNamespace: istio-system\nextensionProviders:\n- name: oauth2-proxy\n  envoyExtAuthzHttp: {service: x, port: 80}\n- name: otel\n  opentelemetry: {}\n"}}
	s, err := FromObjects(rule, rule2, gw, pod, mesh)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := s.APIRules(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 {
		t.Fatalf("want 2 APIRules, got %d", len(rules))
	}
	for _, r := range rules {
		if r.Name == "old" && (len(r.Spec.Hosts) != 1 || *r.Spec.Gateway != "kyma-system/kyma-gateway") {
			t.Errorf("v1beta1 not upgraded: %+v", r.Spec)
		}
	}
	g, err := s.Gateway(ctx, "kyma-system", "kyma-gateway")
	if err != nil || g == nil || g.Spec.Selector["istio"] != "ingressgateway" {
		t.Fatalf("gateway: %v %v", g, err)
	}
	if g, err := s.Gateway(ctx, "kyma-system", "nope"); g != nil || err != nil {
		t.Fatalf("missing gateway: %v %v", g, err)
	}
	ns, err := s.PodNamespaces(ctx, "", map[string]string{"istio": "ingressgateway"})
	if err != nil || len(ns) != 1 || ns[0] != "istio-system" {
		t.Fatalf("pod namespaces: %v %v", ns, err)
	}
	if ns, _ := s.PodNamespaces(ctx, "", map[string]string{"istio": "other"}); len(ns) != 0 {
		t.Fatalf("want none, got %v", ns)
	}
	m, err := s.Mesh(ctx)
	if err != nil || !m.Found || len(m.ExtAuthzProviders) != 1 || m.ExtAuthzProviders[0] != "oauth2-proxy" || len(m.Providers) != 2 {
		t.Fatalf("mesh: %+v %v", m, err)
	}
	certs, err := s.Certificates(ctx, "istio-system")
	if err != nil || len(certs) != 0 {
		t.Fatalf("certs: %v %v", certs, err)
	}
}

func TestFromObjectsDuplicate(t *testing.T) {
	a := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n"}}
	b := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n"}}
	v1 := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule", "metadata": map[string]any{"name": "r", "namespace": "n"}}}
	v2 := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule", "metadata": map[string]any{"name": "r", "namespace": "n"}}}
	for _, objs := range [][]runtime.Object{{a, b}, {v1, v2}} {
		if _, err := FromObjects(objs...); err == nil || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("want a duplicate error, got %v", err)
		}
	}
}

func TestWithMeshConfigMap(t *testing.T) {
	ctx := context.Background()
	custom := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "mesh-system"},
		Data: map[string]string{"mesh": "extensionProviders:\n- name: oauth2-proxy\n  envoyExtAuthzHttp: {service: x, port: 80}\n"}}
	s, err := FromObjects(custom)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		state     State
		wantFound bool
		wantRoot  string
	}{
		{"default looks in istio-system", s, false, "istio-system"},
		{"moved to mesh-system", WithMeshConfigMap(s, client.ObjectKey{Namespace: "mesh-system", Name: "istio"}), true, "mesh-system"},
		{"moved elsewhere", WithMeshConfigMap(s, client.ObjectKey{Namespace: "other", Name: "istio"}), false, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.state.Mesh(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Found != tc.wantFound || m.RootNamespace != tc.wantRoot {
				t.Errorf("found %v root %q, want found %v root %q", m.Found, m.RootNamespace, tc.wantFound, tc.wantRoot)
			}
			if tc.wantFound && !strings.Contains(strings.Join(m.ExtAuthzProviders, ","), "oauth2-proxy") {
				t.Errorf("providers %v, want oauth2-proxy", m.ExtAuthzProviders)
			}
		})
	}
}

// APIRules are decoded once per stored version: the host checks read every
// APIRule on every admission.
func TestAPIRulesDecodedOncePerVersion(t *testing.T) {
	ctx := context.Background()
	rule := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
		"metadata": map[string]any{"name": "r", "namespace": "a", "uid": "u-1"},
		"spec":     map[string]any{"hosts": []any{"one.example.com"}},
	}}
	c := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(rule).Build()
	s := FromReader(c)
	first, err := s.APIRules(ctx, "")
	if err != nil || len(first) != 1 {
		t.Fatalf("%v %v", first, err)
	}
	again, _ := s.APIRules(ctx, "")
	if len(again) != 1 || again[0] != first[0] {
		t.Error("the same stored version was decoded again")
	}
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(rule.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKey{Namespace: "a", Name: "r"}, stored); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedStringSlice(stored.Object, []string{"two.example.com"}, "spec", "hosts"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	changed, _ := s.APIRules(ctx, "")
	if len(changed) != 1 || len(changed[0].Spec.Hosts) != 1 || changed[0].Spec.Hosts[0] != "two.example.com" {
		t.Errorf("after an update: %+v, want the new host", changed[0].Spec)
	}
}

func TestGardenerCertificates(t *testing.T) {
	gardener := func(name string, spec map[string]any, state, msg string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": name, "namespace": "istio-system"},
			"spec":     spec,
			"status":   map[string]any{"state": state, "message": msg},
		}}
		u.SetGroupVersionKind(GardenerCertificate)
		return u
	}
	s, err := FromObjects(
		gardener("by-name", map[string]any{"secretName": "api-cred"}, "Pending", ""),
		gardener("by-ref", map[string]any{"secretRef": map[string]any{"name": "ref-cred", "namespace": "istio-system"}}, "Ready", ""),
		gardener("broken", map[string]any{"secretName": "bad-cred"}, "Error", "domain not allowed"),
	)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := s.Certificates(context.Background(), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Certificate{}
	for _, c := range certs {
		got[c.Name] = c
	}
	for _, want := range []Certificate{
		{Source: "gardener", Namespace: "istio-system", Name: "by-name", SecretName: "api-cred"},
		{Source: "gardener", Namespace: "istio-system", Name: "by-ref", SecretName: "ref-cred", Ready: true},
		{Source: "gardener", Namespace: "istio-system", Name: "broken", SecretName: "bad-cred", Failed: true, Message: "domain not allowed"},
	} {
		if got[want.Name] != want {
			t.Errorf("%s: got %+v, want %+v", want.Name, got[want.Name], want)
		}
	}
}

// The map-backed reader answers as the API server does for what State asks:
// every version of a kind under the version read, namespaces and label
// selectors, NotFound for what is absent, copies of typed objects.
func TestMemoryReader(t *testing.T) {
	ctx := context.Background()
	gwV1beta1 := &networkingv1beta1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "gw"},
		Spec: networkingapi.Gateway{Selector: map[string]string{"istio": "ingressgateway"}}}
	gwV1 := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "gw"}}
	svcU := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "s", "namespace": "a"}, "spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}}
	pod := func(name, ns, app string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app}}}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cred", Namespace: "gw", UID: "given", ResourceVersion: "42"}}
	objs := []runtime.Object{gwV1beta1, gwV1, svcU, secret, pod("p2", "b", "x"), pod("p1", "b", "x"), pod("p3", "a", "y"), pod("p0", "c", "x")}
	m, err := newMemory(Scheme, objs)
	if err != nil {
		t.Fatal(err)
	}

	var gws networkingv1.GatewayList
	if err := m.List(ctx, &gws); err != nil || len(gws.Items) != 2 {
		t.Fatalf("gateways: %v %v", gws.Items, err)
	}
	if gws.Items[0].Name != "new" || gws.Items[1].Name != "old" || gws.Items[1].Spec.Selector["istio"] != "ingressgateway" {
		t.Errorf("v1beta1 Gateway not served as v1, or not sorted: %v", gws.Items)
	}
	if gwV1beta1.APIVersion != "" || gwV1beta1.UID != "" {
		t.Errorf("the caller's object was changed: %+v", gwV1beta1.TypeMeta)
	}

	svc := &corev1.Service{}
	if err := m.Get(ctx, client.ObjectKey{Namespace: "a", Name: "s"}, svc); err != nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 {
		t.Fatalf("unstructured Service read typed: %+v %v", svc.Spec, err)
	}
	if err := m.Get(ctx, client.ObjectKey{Namespace: "b", Name: "s"}, &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Errorf("other namespace: want NotFound, got %v", err)
	}
	if err := m.Get(ctx, client.ObjectKey{Namespace: "a", Name: "s"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("other kind: want NotFound, got %v", err)
	}

	got := &corev1.Secret{}
	if err := m.Get(ctx, client.ObjectKey{Namespace: "gw", Name: "cred"}, got); err != nil {
		t.Fatal(err)
	}
	if got.UID != "given" || got.ResourceVersion != "42" {
		t.Errorf("a given UID and resourceVersion are kept: %q %q", got.UID, got.ResourceVersion)
	}
	got.Labels = map[string]string{"changed": "yes"}
	again := &corev1.Secret{}
	_ = m.Get(ctx, client.ObjectKey{Namespace: "gw", Name: "cred"}, again)
	if again.Labels["changed"] != "" {
		t.Error("a Get handed out the stored object, not a copy")
	}
	if svc.UID == "" || svc.ResourceVersion == "" {
		t.Errorf("no synthetic UID and resourceVersion: %q %q", svc.UID, svc.ResourceVersion)
	}

	names := func(l *metav1.PartialObjectMetadataList) []string {
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opts []client.ListOption
		want []string
	}{
		{"all", nil, []string{"a/p3", "b/p1", "b/p2", "c/p0"}},
		{"namespace", []client.ListOption{client.InNamespace("b")}, []string{"b/p1", "b/p2"}},
		{"labels", []client.ListOption{client.MatchingLabels{"app": "x"}}, []string{"b/p1", "b/p2", "c/p0"}},
		{"both", []client.ListOption{client.InNamespace("a"), client.MatchingLabels{"app": "x"}}, nil},
		{"empty namespace", []client.ListOption{client.InNamespace("none")}, nil},
	} {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PodList"})
		if err := m.List(ctx, l, tc.opts...); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := names(l); !slices.Equal(got, tc.want) {
			t.Errorf("%s: pods %v, want %v", tc.name, got, tc.want)
		}
	}

	if err := m.List(ctx, &corev1.PodList{}, client.MatchingFields{"spec.nodeName": "n"}); err == nil {
		t.Error("a field selector was silently ignored")
	}
	var none corev1.ConfigMapList
	if err := m.List(ctx, &none); err != nil || len(none.Items) != 0 {
		t.Errorf("known kind without objects: %v %v", none.Items, err)
	}
	unknown := &unstructured.UnstructuredList{}
	unknown.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "ThingList"})
	if err := m.List(ctx, unknown); !notServed(err) {
		t.Errorf("kind the Scheme does not know: want a no-match error, got %v", err)
	}
}

// Objects from files carry no UID or resourceVersion; FromObjects gives them
// one, so the reader decodes each APIRule once, not on every admission.
func TestFromObjectsAPIRulesDecodedOnce(t *testing.T) {
	ctx := context.Background()
	s, err := FromObjects(
		&unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
			"metadata": map[string]any{"name": "a", "namespace": "n"}, "spec": map[string]any{"hosts": []any{"a.example.com"}}}},
		&unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
			"metadata": map[string]any{"name": "b", "namespace": "n"}, "spec": map[string]any{"host": "b.example.com"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.APIRules(ctx, "n")
	if err != nil || len(first) != 2 {
		t.Fatalf("%v %v", first, err)
	}
	again, _ := s.APIRules(ctx, "")
	if len(again) != 2 || again[0] != first[0] || again[1] != first[1] {
		t.Error("an APIRule from a file was decoded again")
	}
	if first[1].Spec.Hosts[0] != "b.example.com" {
		t.Errorf("v1beta1 host: %v", first[1].Spec.Hosts)
	}
}

func TestFromObjectsDuplicateAcrossVersions(t *testing.T) {
	a := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "n"}}
	b := &networkingv1beta1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "n"}}
	if _, err := FromObjects(a, b); err == nil || !strings.Contains(err.Error(), "Gateway.networking.istio.io n/g appears twice") {
		t.Errorf("want a duplicate error naming the Gateway, got %v", err)
	}
}

// BenchmarkListAPIRules compares one List of 2,000 stored APIRules (all
// namespaces, and one namespace of 20) through the map-backed reader and
// through controller-runtime's fake client, which FromObjects used before.
func BenchmarkListAPIRules(b *testing.B) {
	var objs []runtime.Object
	var cos []client.Object
	for i := range 2000 {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
			"metadata": map[string]any{"name": fmt.Sprintf("r%04d", i), "namespace": fmt.Sprintf("ns%03d", i%100)},
			"spec": map[string]any{"hosts": []any{fmt.Sprintf("r%d.example.com", i)}, "gateway": "kyma-system/kyma-gateway",
				"service": map[string]any{"name": "s", "port": int64(80)},
				"rules":   []any{map[string]any{"path": "/*", "methods": []any{"GET"}, "noAuth": true}}},
		}}
		objs, cos = append(objs, u), append(cos, u)
	}
	mem, err := newMemory(Scheme, objs)
	if err != nil {
		b.Fatal(err)
	}
	fakeClient := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(cos...).Build()
	for _, r := range []struct {
		name string
		r    client.Reader
	}{{"memory", mem}, {"fake", fakeClient}} {
		for _, scope := range []struct {
			name string
			ns   string
			want int
		}{{"all", "", 2000}, {"namespace", "ns042", 20}} {
			b.Run(r.name+"/"+scope.name, func(b *testing.B) {
				ctx := context.Background()
				for b.Loop() {
					l := &unstructured.UnstructuredList{}
					l.SetGroupVersionKind(schema.GroupVersionKind{Group: "gateway.kyma-project.io", Version: "v2", Kind: "APIRuleList"})
					if err := r.r.List(ctx, l, client.InNamespace(scope.ns)); err != nil || len(l.Items) != scope.want {
						b.Fatalf("%d items, %v", len(l.Items), err)
					}
				}
			})
		}
	}
}
