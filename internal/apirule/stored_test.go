package apirule

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func storedFixture(spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
		"metadata": map[string]any{"name": "r", "namespace": "n", "uid": "u-1", "resourceVersion": "7",
			"labels": map[string]any{"app": "x"}, "annotations": map[string]any{"a": "b"},
			"creationTimestamp": "2026-12-04T10:00:00Z", "deletionTimestamp": "2026-12-04T11:00:00Z",
			"finalizers":      []any{"gateway.kyma-project.io/subresources"},
			"ownerReferences": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-0"}}},
		"spec":   spec,
		"status": map[string]any{"state": "Ready"},
	}}
}

// A Stored APIRule reads as the unstructured one it was made from: the v2
// view, for v2 objects and for v1beta1-shaped ones read as v2.
func TestStoredReadsAsUnstructured(t *testing.T) {
	for name, spec := range map[string]map[string]any{
		"v2": {"hosts": []any{"A.example.com"}, "gateway": "kyma-system/kyma-gateway",
			"service": map[string]any{"name": "s", "port": int64(80), "namespace": "other"},
			"rules":   []any{map[string]any{"path": "/*", "methods": []any{"GET"}, "noAuth": true}}},
		"v1beta1 shape": {"host": "legacy", "gateway": "kyma-system/kyma-gateway",
			"service": map[string]any{"name": "s", "port": int64(80)},
			"rules": []any{map[string]any{"path": "/.*", "methods": []any{"GET"},
				"accessStrategies": []any{map[string]any{"handler": "allow"}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			u := storedFixture(spec)
			st, err := Store(u)
			if err != nil {
				t.Fatal(err)
			}
			if st.Name != "r" || st.Namespace != "n" || st.UID != "u-1" || st.ResourceVersion != "7" || st.Labels["app"] != "x" {
				t.Errorf("metadata %+v", st.ObjectMeta)
			}
			want, err := FromUnstructured(u)
			if err != nil {
				t.Fatal(err)
			}
			got, err := FromObject(st)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Stored reads as\n%+v\nunstructured as\n%+v", got, want)
			}
			if LegacyShape(st) != LegacyShape(u) || LegacyShape(st) != (name == "v1beta1 shape") {
				t.Errorf("legacy: Stored %t, unstructured %t", LegacyShape(st), LegacyShape(u))
			}
			if !reflect.DeepEqual(HostsOf(st), HostsOf(u)) || len(HostsOf(st)) != 1 {
				t.Errorf("hosts: Stored %v, unstructured %v", HostsOf(st), HostsOf(u))
			}
			// Callers own what they read: it shares nothing with the cache.
			got.Labels["app"] = "z"
			if st.Labels["app"] != "x" {
				t.Error("the APIRule read shares its labels with the Stored one")
			}
			cp := st.DeepCopyObject().(*Stored)
			cp.Spec[0], cp.Labels["app"] = ' ', "y"
			if st.Spec[0] == ' ' || st.Labels["app"] != "x" {
				t.Error("DeepCopyObject shares the spec or the labels")
			}
		})
	}
}

// What Store keeps is what the checks read: no status.
func TestStoreDropsStatus(t *testing.T) {
	st, err := Store(storedFixture(map[string]any{"hosts": []any{"a.example.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	if string(st.Spec) != `{"hosts":["a.example.com"]}` {
		t.Errorf("spec %s", st.Spec)
	}
}
