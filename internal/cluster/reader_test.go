package cluster

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestParseMeshKeepsHTTPExtAuthzApart(t *testing.T) {
	var m Mesh
	err := parseMesh(`
extensionProviders:
- name: oauth2-proxy
  envoyExtAuthzHttp: {service: oauth2-proxy.x.svc.cluster.local, port: 80}
- name: opa-grpc
  envoyExtAuthzGrpc: {service: opa.x.svc.cluster.local, port: 9191}
- name: otel
  opentelemetry: {port: 4317}
`, &m)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"oauth2-proxy", "opa-grpc"}; !reflect.DeepEqual(m.ExtAuthzProviders, want) {
		t.Errorf("ExtAuthzProviders = %v, want %v", m.ExtAuthzProviders, want)
	}
	if want := []string{"oauth2-proxy"}; !reflect.DeepEqual(m.ExtAuthzHTTPProviders, want) {
		t.Errorf("ExtAuthzHTTPProviders = %v, want %v", m.ExtAuthzHTTPProviders, want)
	}
}

func readerPod(ns, name string, labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations}}
}

func TestPodsBySelector(t *testing.T) {
	ctx := context.Background()
	web := map[string]string{"app": "web", "version": "v1"}
	st, err := FromObjects(
		readerPod("shop", "web-b", web, map[string]string{"sidecar.istio.io/status": "{}"}),
		readerPod("shop", "web-a", web, nil),
		readerPod("shop", "db-1", map[string]string{"app": "db"}, nil),
		readerPod("other", "web-c", web, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := st.Pods(ctx, "shop", map[string]string{"app": "web"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if want := []string{"shop/web-a", "shop/web-b"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("pods = %v, want %v (sorted, namespace and selector applied)", names, want)
	}
	if pods[1].Annotations["sidecar.istio.io/status"] != "{}" || pods[1].Labels["version"] != "v1" {
		t.Errorf("metadata lost: %+v", pods[1].ObjectMeta)
	}
	if pods, err := st.Pods(ctx, "shop", nil); err != nil || len(pods) != 0 {
		t.Errorf("an empty selector selects nothing: got %v, %v", pods, err)
	}
}

func TestExternalGateway(t *testing.T) {
	ctx := context.Background()
	eg := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"namespace": "partners", "name": "acme"}}}
	eg.SetGroupVersionKind(KymaExternalGateway)
	st, err := FromObjects([]runtime.Object{eg}...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.ExternalGateway(ctx, "partners", "acme")
	if err != nil || got == nil || got.GetName() != "acme" {
		t.Errorf("ExternalGateway(partners/acme) = %v, %v", got, err)
	}
	if got, err := st.ExternalGateway(ctx, "partners", "nope"); err != nil || got != nil {
		t.Errorf("missing ExternalGateway = %v, %v; want nil, nil", got, err)
	}
	m := Memo(st)
	a, _ := m.ExternalGateway(ctx, "partners", "acme")
	b, _ := m.ExternalGateway(ctx, "partners", "acme")
	if a != b {
		t.Error("the memo asked twice")
	}
}
