package cluster

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// FromObjects is a State over a fixed set of objects: what `gatewarden check`
// reads from files, and what unit tests set up. Objects must be of a type the
// Scheme knows (typed, or unstructured with a GVK).
func FromObjects(objs ...runtime.Object) (State, error) {
	b := fake.NewClientBuilder().WithScheme(Scheme)
	seen := map[string]bool{}
	for _, o := range objs {
		co, ok := o.(client.Object)
		if !ok {
			continue
		}
		if u, isU := co.(*unstructured.Unstructured); isU && u.GroupVersionKind().GroupKind() == apirule.V2.GroupKind() {
			// The API server serves every stored APIRule in every version; an
			// in-memory store keeps them all under the version State reads.
			u = u.DeepCopy()
			u.SetAPIVersion(apirule.V2.GroupVersion().String())
			co = u
		}
		// The in-memory client refuses duplicates by panicking; two objects
		// with one identity are an input error to report, not a crash.
		gvk, err := apiutil.GVKForObject(co, Scheme)
		if err != nil {
			return nil, err
		}
		key := gvk.GroupKind().String() + " " + co.GetNamespace() + "/" + co.GetName()
		if seen[key] {
			return nil, fmt.Errorf("%s appears twice", key)
		}
		seen[key] = true
		b = b.WithObjects(co)
	}
	return FromReader(b.Build()), nil
}
