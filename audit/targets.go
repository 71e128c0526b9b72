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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/review"
)

// Target is one stored object to check, in the version it is checked as
// (review.Kind.List: v2 for APIRules, v1beta1 when a rule read as v2 still
// has the v1beta1 shape, v1 for Istio's kinds).
type Target struct {
	review.Stored
}

// Request is the review request for the target.
func (t Target) Request(operation string) *review.Request {
	return &review.Request{GVK: t.GVK, Namespace: t.Object.GetNamespace(), Name: t.Object.GetName(), Operation: operation, Object: t.Raw}
}

// List reads every object of the kinds gatewarden checks in namespace (""
// for all), sorted by namespace, kind and name. Kinds not installed in the
// cluster are skipped; other errors (forbidden, unreachable) are returned.
func List(ctx context.Context, r client.Reader, namespace string) ([]Target, error) {
	var out []Target
	for i := range review.Kinds {
		k := &review.Kinds[i]
		stored, err := k.List(ctx, r, namespace)
		if err != nil {
			if notInstalled(err) {
				continue
			}
			return nil, fmt.Errorf("listing %s: %w", k.Resource, err)
		}
		for _, s := range stored {
			out = append(out, Target{s})
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
