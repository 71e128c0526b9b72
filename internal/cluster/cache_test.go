package cluster

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The sidecar check decides by the injector's status annotation: the cache's
// trimming must keep it (and the opt-out) while dropping the rest.
func TestTrimPodKeepsWhatChecksRead(t *testing.T) {
	p := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns",
		Labels: map[string]string{"app": "httpbin"},
		Annotations: map[string]string{
			"sidecar.istio.io/status":           `{"containers":["istio-proxy"]}`,
			"sidecar.istio.io/inject":           "true",
			"kubectl.kubernetes.io/restartedAt": "2026-12-03T00:00:00Z",
			"checksum/config":                   "abc",
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}}}
	out, err := trimPod(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*metav1.PartialObjectMetadata)
	want := map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`, "sidecar.istio.io/inject": "true"}
	if len(got.Annotations) != len(want) {
		t.Fatalf("annotations = %v, want %v", got.Annotations, want)
	}
	for k, v := range want {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], v)
		}
	}
	if got.Labels["app"] != "httpbin" || got.ManagedFields != nil {
		t.Errorf("labels %v, managedFields %v: want the labels kept and managedFields dropped", got.Labels, got.ManagedFields)
	}

	bare, _ := trimPod(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "q", Annotations: map[string]string{"x": "y"}}})
	if a := bare.(*metav1.PartialObjectMetadata).Annotations; a != nil {
		t.Errorf("pod without sidecar annotations kept %v", a)
	}
}
