package cluster

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countingMapper counts RESTMapping calls that reach it.
type countingMapper struct {
	*meta.DefaultRESTMapper
	calls int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	c.calls++
	return c.DefaultRESTMapper.RESTMapping(gk, versions...)
}

// A found mapping is answered from memory; a missing kind is asked again,
// so a CRD installed later is found.
func TestMemoMapper(t *testing.T) {
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	d := meta.NewDefaultRESTMapper(nil)
	d.Add(cm, meta.RESTScopeNamespace)
	c := &countingMapper{DefaultRESTMapper: d}
	m := MemoMapper(c)
	for range 3 {
		got, err := m.RESTMapping(cm.GroupKind(), "v1")
		if err != nil || got.Scope.Name() != meta.RESTScopeNameNamespace {
			t.Fatalf("ConfigMap: %v %v", got, err)
		}
	}
	if c.calls != 1 {
		t.Errorf("ConfigMap asked %d times, want once", c.calls)
	}
	istio := schema.GroupVersionKind{Group: "operator.kyma-project.io", Version: "v1alpha2", Kind: "Istio"}
	if _, err := m.RESTMapping(istio.GroupKind(), "v1alpha2"); !meta.IsNoMatchError(err) {
		t.Fatalf("absent kind: want no match, got %v", err)
	}
	d.Add(istio, meta.RESTScopeNamespace)
	if got, err := m.RESTMapping(istio.GroupKind(), "v1alpha2"); err != nil || got.GroupVersionKind != istio {
		t.Errorf("kind added later: %v %v", got, err)
	}
}
