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
	"reflect"
	"strings"
	"time"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/core"
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
	// SubResource is set for writes to status, scale and the like, which
	// are never judged: they carry no configuration of ours.
	SubResource string
	Object      []byte
	// OldObject is the stored object an UPDATE replaces.
	OldObject []byte
}

// Result is the verdict on one object.
type Result struct {
	Allowed    bool
	Violations []core.Finding
	Warnings   []core.Finding
	Patch      []jsonpatch.JsonPatchOperation
	// checks holds the outcome of every check of the kind (EachCheck), for
	// metrics and the audit's summary; nil when no check ran.
	checks *core.Report
	// Kind is the object's kind as checks name it ("" when not checked).
	Kind string
	// Name is the object's name: the request's, else metadata.name, else
	// metadata.generateName ("" when not decoded).
	Name string
	// Exempt says why no check ran when the object's namespace is exempt
	// ("" otherwise): the audit lists such objects as skipped.
	Exempt string
}

// EachCheck calls fn with every check of the object's kind and its outcome:
// pass unless it reported, skipped when the policy turns it off.
func (r *Result) EachCheck(fn func(id string, res core.Result)) {
	if r.checks != nil {
		r.checks.EachResult(r.Kind, fn)
	}
}

// Check is the outcome of one check ("" when it is not a check of the kind
// or no check ran).
func (r *Result) Check(id string) core.Result {
	var out core.Result
	r.EachCheck(func(c string, res core.Result) {
		if c == id {
			out = res
		}
	})
	return out
}

// Counts says how many checks passed and how many were skipped, and lets go
// of what EachCheck reads: the audit keeps the counts of every stored object,
// not its report.
func (r *Result) Counts() (pass, skipped int) {
	r.EachCheck(func(_ string, res core.Result) {
		switch res {
		case core.Pass:
			pass++
		case core.Skipped:
			skipped++
		}
	})
	r.checks = nil
	return pass, skipped
}

// Reviewer holds what every review needs.
type Reviewer struct {
	Config  *config.Config
	Cluster cluster.State
	Trust   trust.Resolver
	Now     func() time.Time
}

// enforcement reads the namespace through the review's memo, where the
// checks that read its labels find it again.
func (rv *Reviewer) enforcement(ctx context.Context, ns string, env *core.Env) config.Enforcement {
	var labels map[string]string
	if ns != "" {
		if n, err := env.Cluster.Namespace(ctx, ns); err == nil && n != nil {
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
	return &Result{Allowed: true, Warnings: []core.Finding{{
		Check:   "gatewarden",
		Message: fmt.Sprintf("not checked by gatewarden: %s", why),
	}}}
}

// decode reads the request's object into its version's Go type. An object
// of a kind or version gatewarden does not know is admitted unchecked.
func (rv *Reviewer) decode(req *Request) (*core.Object, *Version, *Result) {
	k, v, ok := Find(req.GVK)
	if !ok {
		return nil, nil, unchecked(req.GVK, fmt.Sprintf("%s is not a version gatewarden knows", req.GVK.GroupVersion().WithKind(req.GVK.Kind)))
	}
	typed, err := v.decode(req.Object)
	if err != nil {
		return nil, nil, &Result{Allowed: false, Violations: []core.Finding{{
			Check: "gatewarden", Message: fmt.Sprintf("cannot decode %s: %v", req.GVK.Kind, err)}}}
	}
	ns := normalize(typed, req.Namespace)
	name := req.Name
	if m, ok := typed.(metav1.Object); ok && name == "" {
		if name = m.GetName(); name == "" {
			name = m.GetGenerateName()
		}
	}
	return &core.Object{GVK: req.GVK, Kind: k.Kind, Namespace: ns, Name: name, Operation: req.Operation, Typed: typed}, v, nil
}

// Mutate computes the defaults patch for the object. Objects being deleted
// and updates that leave the spec alone (a controller removing its
// finalizer, a label change) get nothing: defaults belong to the writes
// that configure something.
func (rv *Reviewer) Mutate(ctx context.Context, req *Request) *Result {
	return rv.mutate(ctx, req, rv.env())
}

func (rv *Reviewer) mutate(ctx context.Context, req *Request, env *core.Env) *Result {
	if req.SubResource != "" {
		return &Result{Allowed: true}
	}
	obj, v, res := rv.decode(req)
	if res != nil {
		if !res.Allowed {
			return res
		}
		return &Result{Allowed: true}
	}
	if deleting(obj) || (req.Operation == "UPDATE" && specUnchanged(req.OldObject, req.Object)) {
		return &Result{Allowed: true}
	}
	if rv.enforcement(ctx, obj.Namespace, env) == config.Exempt {
		return &Result{Allowed: true}
	}
	patch, warnings := mutators.Run(ctx, obj, env, v.Default)
	return &Result{Allowed: true, Patch: patch, Warnings: warnings, Name: obj.Name}
}

// Validate runs the checks on the object as it is. Only what a write
// introduces denies it (see docs/day2.md): findings on an object being
// deleted, on an update that leaves the spec alone, findings the old
// object already had, and findings on objects Kyma generates for an
// APIRule come back as warnings.
func (rv *Reviewer) Validate(ctx context.Context, req *Request) *Result {
	return rv.validate(ctx, req, rv.env())
}

func (rv *Reviewer) validate(ctx context.Context, req *Request, env *core.Env) *Result {
	if req.SubResource != "" {
		return &Result{Allowed: true}
	}
	obj, v, res := rv.decode(req)
	if res != nil {
		return res
	}
	e := rv.enforcement(ctx, obj.Namespace, env)
	rep := rv.check(ctx, obj, v, e, env)
	if e != config.Exempt {
		except(ctx, obj, env, rep)
	}
	if !rep.Allowed() {
		rv.ratchet(ctx, req, obj, v, e, env, rep)
	}
	rep.Finish()
	return &Result{Allowed: rep.Allowed(), Violations: rep.Violations, Warnings: rep.Warnings, checks: rep, Kind: obj.Kind, Name: obj.Name,
		Exempt: rv.exemptReason(obj.Namespace, e)}
}

func (rv *Reviewer) check(ctx context.Context, obj *core.Object, v *Version, e config.Enforcement, env *core.Env) *core.Report {
	rep := core.NewReport(rv.Config.Policy(e))
	if e == config.Exempt {
		return rep
	}
	v.Validate(ctx, obj, env, rep)
	return rep
}

// env is what one review's defaults and checks consult: the cluster state
// and the trust resolver behind memos, so the review asks each question
// once and sees one answer to it.
func (rv *Reviewer) env() *core.Env {
	now := rv.Now
	if now == nil {
		now = time.Now
	}
	return &core.Env{Cluster: cluster.Memo(rv.Cluster), Trust: trust.Memo(rv.Trust),
		Settings: rv.Config.Settings, Defaults: rv.Config.Defaults, Exceptions: rv.Config.Exceptions, Now: now}
}

// Notes on findings that do not deny this write.
const (
	NoteDeleting      = "the object is being deleted: not blocking it"
	NoteMetadataOnly  = "already so before this update, which changes no spec: not blocking it"
	NotePreexisting   = "already so before this update: not blocking it"
	noteGeneratedFrom = "generated by APIRule %s, whose own admission is where this is judged: not blocking its controller"
)

// ratchet softens the violations this write did not introduce.
func (rv *Reviewer) ratchet(ctx context.Context, req *Request, obj *core.Object, v *Version, e config.Enforcement, env *core.Env, rep *core.Report) {
	all := func(note string) func(core.Finding) string {
		return func(core.Finding) string { return note }
	}
	if deleting(obj) {
		rep.Soften(all(NoteDeleting))
		return
	}
	if owner := generatedFor(ctx, obj, env.Cluster); owner != "" {
		rep.Soften(all(fmt.Sprintf(noteGeneratedFrom, owner)))
		return
	}
	if req.Operation != "UPDATE" || len(req.OldObject) == 0 {
		return
	}
	if specUnchanged(req.OldObject, req.Object) {
		rep.Soften(all(NoteMetadataOnly))
		return
	}
	old, _, res := rv.decode(&Request{GVK: req.GVK, Namespace: req.Namespace, Name: req.Name, Operation: req.Operation, Object: req.OldObject})
	if res != nil {
		return // an old object we cannot read ratchets nothing
	}
	had := map[[2]string]bool{}
	for _, f := range rv.check(ctx, old, v, e, env).Violations {
		had[[2]string{f.Check, f.Field}] = true
	}
	rep.Soften(func(f core.Finding) string {
		if had[[2]string{f.Check, f.Field}] {
			return NotePreexisting
		}
		return ""
	})
}

// generatedFor names the APIRule an AuthorizationPolicy or
// RequestAuthentication was generated for, when that APIRule exists:
// Kyma's controller writes them, and denying its write only leaves the
// APIRule half reconciled. A label naming no existing APIRule counts for
// nothing, so it is no way around the checks.
func generatedFor(ctx context.Context, obj *core.Object, st cluster.State) string {
	switch obj.Kind {
	case core.KindAuthorizationPolicy, core.KindRequestAuthentication:
	default:
		return ""
	}
	m, ok := obj.Typed.(metav1.Object)
	if !ok {
		return ""
	}
	owner := validators.APIRuleOwner(m)
	ns, name, ok := strings.Cut(owner, "/")
	if !ok {
		return ""
	}
	if r, err := cluster.APIRule(ctx, st, ns, name); err == nil && r != nil {
		return owner
	}
	return ""
}

// deleting reports an object whose deletion has begun: its finalizers are
// being removed, and nothing may keep that from finishing.
func deleting(obj *core.Object) bool {
	m, ok := obj.Typed.(metav1.Object)
	return ok && m.GetDeletionTimestamp() != nil
}

// specUnchanged reports whether an update leaves everything but metadata
// and status as it was. Both documents are compared as JSON values, so
// fields gatewarden has no type for count too.
func specUnchanged(oldRaw, newRaw []byte) bool {
	if len(oldRaw) == 0 {
		return false
	}
	var o, n map[string]any
	if json.Unmarshal(oldRaw, &o) != nil || json.Unmarshal(newRaw, &n) != nil {
		return false
	}
	for _, k := range []string{"metadata", "status"} {
		delete(o, k)
		delete(n, k)
	}
	return reflect.DeepEqual(o, n)
}

// Review mutates, applies the patch, then validates the result, as the API
// server does with a mutating and a validating webhook.
func (rv *Reviewer) Review(ctx context.Context, req *Request) *Result {
	env := rv.env()
	m := rv.mutate(ctx, req, env)
	if !m.Allowed {
		return m
	}
	v := *req
	if len(m.Patch) > 0 {
		patched, err := ApplyPatch(req.Object, m.Patch)
		if err != nil {
			return &Result{Allowed: false, Violations: []core.Finding{{Check: "gatewarden", Message: "applying defaults: " + err.Error()}}}
		}
		v.Object = patched
	}
	res := rv.validate(ctx, &v, env)
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
