// Package review is the one path every front end takes: decode the object,
// apply the namespace's enforcement, run the defaults and the checks, and
// say what the API server should answer. The webhook calls Mutate and
// Validate from its two endpoints; `gatewarden check` calls Review, which does
// both in the order the API server would.
package review

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/object"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/mutators"
	"github.com/gatewarden/gatewarden/validators"
)

// Request is one object to review.
type Request struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
	Operation string
	Object    []byte
}

// Result is the verdict on one object.
type Result struct {
	Allowed    bool
	Violations []validators.Finding
	Warnings   []validators.Finding
	Patch      []jsonpatch.JsonPatchOperation
	// Checks holds the outcome of every check of the kind, for metrics.
	Checks map[string]validators.Result
	// Kind is the object's kind as checks name it ("" when not checked).
	Kind string
}

// Reviewer holds what every review needs.
type Reviewer struct {
	Config  *config.Config
	Cluster cluster.State
	Trust   trust.Resolver
	Now     func() time.Time
}

func (rv *Reviewer) enforcement(ctx context.Context, ns string) config.Enforcement {
	var labels map[string]string
	if ns != "" {
		if n, err := rv.Cluster.Namespace(ctx, ns); err == nil && n != nil {
			labels = n.Labels
		}
	}
	return rv.Config.EnforcementFor(ns, labels)
}

// unchecked is the answer for an object gatewarden cannot judge: admitted,
// with a warning that says so. The API server has already validated it
// against its schema; refusing what we do not understand would block
// upgrades of Istio or Kyma.
func unchecked(gvk schema.GroupVersionKind, why string) *Result {
	return &Result{Allowed: true, Warnings: []validators.Finding{{
		Check:   "gatewarden",
		Message: fmt.Sprintf("not checked by gatewarden: %s", why),
	}}}
}

func (rv *Reviewer) decode(req *Request) (*validators.Object, *Result) {
	if !object.Known(req.GVK) {
		return nil, unchecked(req.GVK, fmt.Sprintf("%s is not a version gatewarden knows", req.GVK.GroupVersion().WithKind(req.GVK.Kind)))
	}
	typed, err := object.Decode(req.GVK, req.Object)
	if err != nil {
		return nil, &Result{Allowed: false, Violations: []validators.Finding{{
			Check: "gatewarden", Message: fmt.Sprintf("cannot decode %s: %v", req.GVK.Kind, err)}}}
	}
	return &validators.Object{GVK: req.GVK, Namespace: req.Namespace, Name: req.Name, Operation: req.Operation, Typed: typed}, nil
}

// Mutate computes the defaults patch for the object.
func (rv *Reviewer) Mutate(ctx context.Context, req *Request) *Result {
	obj, res := rv.decode(req)
	if res != nil {
		if !res.Allowed {
			return res
		}
		return &Result{Allowed: true}
	}
	if rv.enforcement(ctx, req.Namespace) == config.Exempt {
		return &Result{Allowed: true}
	}
	patch, warnings := mutators.Mutate(ctx, obj, &mutators.Env{Cluster: rv.Cluster, Trust: rv.Trust, Settings: rv.Config.Defaults})
	return &Result{Allowed: true, Patch: patch, Warnings: warnings}
}

// Validate runs the checks on the object as it is.
func (rv *Reviewer) Validate(ctx context.Context, req *Request) *Result {
	obj, res := rv.decode(req)
	if res != nil {
		return res
	}
	kind := validators.KindOf(obj.Typed)
	e := rv.enforcement(ctx, req.Namespace)
	rep := validators.NewReport(rv.Config.Policy(e))
	if e != config.Exempt {
		now := rv.Now
		if now == nil {
			now = time.Now
		}
		validators.Validate(ctx, obj, &validators.Env{Cluster: rv.Cluster, Trust: rv.Trust, Settings: rv.Config.Settings, Now: now}, rep)
	}
	return &Result{Allowed: rep.Allowed(), Violations: rep.Violations, Warnings: rep.Warnings, Checks: rep.Results(kind), Kind: kind}
}

// Review mutates, applies the patch, then validates the result, as the API
// server does with a mutating and a validating webhook.
func (rv *Reviewer) Review(ctx context.Context, req *Request) *Result {
	m := rv.Mutate(ctx, req)
	if !m.Allowed {
		return m
	}
	v := *req
	if len(m.Patch) > 0 {
		patched, err := ApplyPatch(req.Object, m.Patch)
		if err != nil {
			return &Result{Allowed: false, Violations: []validators.Finding{{Check: "gatewarden", Message: "applying defaults: " + err.Error()}}}
		}
		v.Object = patched
	}
	res := rv.Validate(ctx, &v)
	res.Patch = m.Patch
	res.Warnings = append(m.Warnings, res.Warnings...)
	return res
}

// ApplyPatch applies RFC 6902 operations to a JSON document.
func ApplyPatch(doc []byte, ops []jsonpatch.JsonPatchOperation) ([]byte, error) {
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch5.DecodePatch(raw)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}
