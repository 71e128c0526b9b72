package cluster

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
