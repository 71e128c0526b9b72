package cluster

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// FromObjects is a State over a fixed set of objects: what `gatewarden check`
// reads from files, and what unit tests set up. Objects must be of a type the
// Scheme knows (typed, or unstructured with a GVK).
func FromObjects(objs ...runtime.Object) (State, error) {
	b := fake.NewClientBuilder().WithScheme(Scheme)
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
		b = b.WithObjects(co)
	}
	return FromReader(b.Build()), nil
}
