// Package mutators fills in defaults before the Kyma controller acts. Each
// default is a small function that reads the typed object and returns JSON
// patch operations against the raw request, so fields gatewarden does not
// know are never touched.
package mutators

import (
	"context"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

// Mutate returns the patch that applies every enabled default to obj, and
// warnings for defaults that could not be applied. Paths point into the raw
// request; operations only add what is missing, so applying the patch and
// calling Mutate again yields no operations.
func Mutate(ctx context.Context, obj *core.Object, env *core.Env) ([]jsonpatch.JsonPatchOperation, []core.Finding) {
	if obj == nil || env == nil || obj.Typed == nil {
		return nil, nil
	}
	if obj.Operation != "" && obj.Operation != "CREATE" && obj.Operation != "UPDATE" && obj.Operation != "CHECK" && obj.Operation != "AUDIT" {
		return nil, nil
	}
	s := env.Defaults.WithDefaults()
	p := &patch{}
	switch t := obj.Typed.(type) {
	case *apirule.APIRule:
		mutateAPIRule(ctx, t, namespaceOf(obj, t), env, s, p)
	case *apirule.V1beta1APIRule:
		mutateV1beta1APIRule(ctx, t, namespaceOf(obj, t), env, s, p)
	case *networkingv1.Gateway:
		if s.Enabled(DefaultMinTLSVersion) {
			defaultMinTLS(t.Spec.Servers, s.MinTLSVersion, p)
		}
	}
	if len(p.fields) > 0 && s.Enabled(DefaultedAnnotation) {
		if m, ok := obj.Typed.(metav1.Object); ok {
			p.ops = append(p.ops, recordDefaulted(m, isZeroMeta(obj.Typed), p.fields)...)
		}
	}
	return p.ops, p.warnings
}

// namespaceOf is the object's namespace as the request names it, else as
// the object does, else "default".
func namespaceOf(obj *core.Object, m metav1.Object) string {
	switch {
	case obj.Namespace != "":
		return obj.Namespace
	case m.GetNamespace() != "":
		return m.GetNamespace()
	}
	return "default"
}

// patch collects what the defaults decided.
type patch struct {
	ops      []jsonpatch.JsonPatchOperation
	fields   []string // field paths that were defaulted, for the annotation
	warnings []core.Finding
}

// set adds a value at p (RFC 6902 add: creates the member, or replaces an
// explicit null or empty value the typed object could not tell from absent).
func (pt *patch) set(p path, value any) {
	pt.ops = append(pt.ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: p.Pointer(), Value: value})
	pt.fields = append(pt.fields, p.String())
}

func (pt *patch) warn(id string, p path, format string, args ...any) {
	pt.warnings = append(pt.warnings, core.Finding{Check: id, Field: p.String(), Message: fmt.Sprintf(format, args...)})
}
