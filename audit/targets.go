// Package audit re-validates the objects already stored in a cluster: the
// webhook sees an object only when it is written, but the secrets, services
// and issuers it depends on change later. The audit runs the same checks
// (review.Reviewer.Validate) on an interval and after dependencies change,
// and reports what it finds as OpenReports or PolicyReports, Events and
// metrics. The live `gatewarden check --kubeconfig` shares the listing and
// checking code.
package audit

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/review"
)

// Target is one stored object to check, in the version it is checked as
// (review.Kind.List: v2 for APIRules, v1beta1 when a rule read as v2 still
// has the v1beta1 shape, v1 for Istio's kinds).
type Target struct {
	review.Stored
	// kind and source, when set, give Stored at check time: source is the
	// reader's own object, only read; List leaves Stored's Object with its
	// metadata and Raw empty. A full run then holds one copy and one JSON
	// encoding per worker, not per stored object (at 10,000 APIRules,
	// tens of MB for as long as the run lasts).
	kind   *review.Kind
	source client.Object
}

// Request is the review request for the target.
func (t Target) Request(operation string) *review.Request {
	return &review.Request{GVK: t.GVK, Namespace: t.Object.GetNamespace(), Name: t.Object.GetName(), Operation: operation, Object: t.Raw}
}

// load gives the target with its object copied and encoded.
func (t Target) load() (Target, error) {
	if t.source == nil {
		return t, nil
	}
	st, ok, err := t.kind.Stored(t.source)
	if err == nil && !ok {
		err = fmt.Errorf("%T is not an object", t.source)
	}
	if err != nil {
		return Target{}, err
	}
	return Target{Stored: st}, nil
}

// light is the target as outcomes keep it: its identity.
func (t Target) light() Target {
	if t.source == nil {
		return t
	}
	return Target{Stored: t.Stored}
}

// listed is a target for an object a reader holds, copied at check time.
func listed(k *review.Kind, o client.Object) Target {
	gvk := k.CheckedAs(o)
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: o.GetNamespace(), Name: o.GetName(), UID: o.GetUID(), ResourceVersion: o.GetResourceVersion()}}
	m.SetGroupVersionKind(gvk)
	return Target{Stored: review.Stored{GVK: gvk, Object: m}, kind: k, source: o}
}

// List reads every object of the kinds gatewarden checks in namespace (""
// for all), sorted by namespace, kind and name. Kinds not installed in the
// cluster are skipped; other errors (forbidden, unreachable) are returned.
func List(ctx context.Context, r client.Reader, namespace string) ([]Target, error) {
	var out []Target
	for i := range review.Kinds {
		k := &review.Kinds[i]
		objs, err := k.Objects(ctx, r, namespace)
		if err != nil {
			if notInstalled(err) {
				continue
			}
			return nil, fmt.Errorf("listing %s: %w", k.Resource, err)
		}
		for _, o := range objs {
			out = append(out, listed(k, o))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Object, out[j].Object
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		if out[i].GVK.Kind != out[j].GVK.Kind {
			return out[i].GVK.Kind < out[j].GVK.Kind
		}
		return a.GetName() < b.GetName()
	})
	return out, nil
}

// notInstalled reports errors that mean the kind does not exist here.
func notInstalled(err error) bool {
	if err == nil {
		return false
	}
	if meta.IsNoMatchError(err) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "no matches for kind") || strings.Contains(s, "no kind is registered")
}
