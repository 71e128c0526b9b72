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

// Defaulter adds the defaults of one kind to p. The table of kinds in
// review names the Defaulter of each kind and version.
type Defaulter func(ctx context.Context, obj *core.Object, env *core.Env, p *Patch)

// APIRule defaults a v2 or v2alpha1 APIRule.
func APIRule(ctx context.Context, obj *core.Object, env *core.Env, p *Patch) {
	mutateAPIRule(ctx, obj.Typed.(*apirule.APIRule), obj.Namespace, env, p.settings, p)
}

// APIRuleV1beta1 defaults a v1beta1 APIRule.
func APIRuleV1beta1(ctx context.Context, obj *core.Object, env *core.Env, p *Patch) {
	mutateV1beta1APIRule(ctx, obj.Typed.(*apirule.V1beta1APIRule), obj.Namespace, env, p.settings, p)
}

// Gateway defaults an Istio Gateway.
func Gateway(_ context.Context, obj *core.Object, _ *core.Env, p *Patch) {
	if p.settings.Enabled(DefaultMinTLSVersion) {
		defaultMinTLS(obj.Typed.(*networkingv1.Gateway).Spec.Servers, p.settings.MinTLSVersion, p)
	}
}

// Run applies d to obj and returns the patch (with the annotation that lists
// what was defaulted) and warnings for defaults that could not be applied.
// Paths point into the raw request; operations only add what is missing, so
// applying the patch and running again yields no operations.
func Run(ctx context.Context, obj *core.Object, env *core.Env, d Defaulter) ([]jsonpatch.JsonPatchOperation, []core.Finding) {
	if obj == nil || env == nil || obj.Typed == nil || d == nil {
		return nil, nil
	}
	p := &Patch{settings: env.Defaults.WithDefaults()}
	d(ctx, obj, env, p)
	if len(p.fields) > 0 && p.settings.Enabled(DefaultedAnnotation) {
		if m, ok := obj.Typed.(metav1.Object); ok {
			p.ops = append(p.ops, recordDefaulted(m, isZeroMeta(obj.Typed), p.fields)...)
		}
	}
	return p.ops, p.warnings
}

// Patch collects what the defaults of one object decided.
type Patch struct {
	settings core.DefaultSettings
	ops      []jsonpatch.JsonPatchOperation
	fields   []string // field paths that were defaulted, for the annotation
	warnings []core.Finding
}

// set adds a value at p (RFC 6902 add: creates the member, or replaces an
// explicit null or empty value the typed object could not tell from absent).
func (pt *Patch) set(p path, value any) {
	pt.ops = append(pt.ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: p.Pointer(), Value: value})
	pt.fields = append(pt.fields, p.String())
}

func (pt *Patch) warn(id string, p path, format string, args ...any) {
	pt.warnings = append(pt.warnings, core.Finding{Check: id, Field: p.String(), Message: fmt.Sprintf(format, args...)})
}
