// Package webhook is the admission plumbing: it turns AdmissionReview
// requests into review.Requests, and review.Results into admission answers
// (denials listing every violation with its field path, warnings through the
// warnings API, JSON patches), counting each in metrics.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/review"
)

// Paths the webhook configurations point at.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// Handler answers one of the two webhooks.
type Handler struct {
	Reviewer *review.Reviewer
	// Mutate selects the mutating webhook; otherwise it validates.
	Mutate bool
	// Budget bounds the work for one admission, fetches included; it must stay
	// below the webhook configurations' timeoutSeconds so the API server gets
	// our answer rather than its own timeout.
	Budget time.Duration
}

func (h *Handler) name() string {
	if h.Mutate {
		return "mutate"
	}
	return "validate"
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	gvk := schema.GroupVersionKind(req.Kind)
	kind := gvk.Kind
	if _, ok := review.Lookup(gvk.GroupKind()); !ok {
		kind = "other"
	}
	resp, decision := h.handle(ctx, req, gvk)
	decisions.WithLabelValues(kind, string(req.Operation), decision).Inc()
	latency.WithLabelValues(h.name(), kind).Observe(time.Since(start).Seconds())
	return resp
}

func (h *Handler) handle(ctx context.Context, req admission.Request, gvk schema.GroupVersionKind) (admission.Response, string) {
	if req.Kind.Kind == "" || req.Operation == "" {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("not an AdmissionReview request: kind and operation are required")), "error"
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return admission.Allowed(""), "allowed"
	}
	if len(req.Object.Raw) == 0 {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("admission request for %s has no object", gvk.Kind)), "error"
	}
	if h.Budget > 0 {
		// The request context ends when the manager stops, which is exactly
		// when an in-flight admission must still be answered on its merits:
		// the server drains it during the shutdown delay. The budget alone
		// bounds it; the API server's own timeout still cuts the connection.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), h.Budget)
		defer cancel()
	}
	rr := &review.Request{GVK: gvk, Namespace: req.Namespace, Name: req.Name, Operation: string(req.Operation),
		SubResource: req.SubResource, Object: req.Object.Raw, OldObject: req.OldObject.Raw}
	if rr.Name == "" {
		rr.Name = nameOf(req)
	}
	var res *review.Result
	if h.Mutate {
		res = h.Reviewer.Mutate(ctx, rr)
	} else {
		res = h.Reviewer.Validate(ctx, rr)
		for id, r := range res.Checks {
			checkResults.WithLabelValues(id, string(r)).Inc()
		}
	}
	return respond(gvk, rr.Name, res)
}

// nameOf reads metadata.generateName for objects created without a name.
func nameOf(req admission.Request) string {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(req.Object.Raw, &m); err == nil {
		if m.Metadata.Name != "" {
			return m.Metadata.Name
		}
		return m.Metadata.GenerateName
	}
	return ""
}

func respond(gvk schema.GroupVersionKind, name string, res *review.Result) (admission.Response, string) {
	warnings := make([]string, 0, len(res.Warnings))
	for _, w := range res.Warnings {
		warnings = append(warnings, w.String())
	}
	if !res.Allowed {
		resp := admission.Denied(DenialMessage(gvk, name, res.Violations))
		resp.Result.Code = http.StatusUnprocessableEntity
		resp.Result.Reason = metav1.StatusReasonInvalid
		resp.Result.Details = &metav1.StatusDetails{Name: name, Group: gvk.Group, Kind: gvk.Kind}
		for _, v := range res.Violations {
			resp.Result.Details.Causes = append(resp.Result.Details.Causes, metav1.StatusCause{
				Type: metav1.CauseTypeFieldValueInvalid, Field: v.Field, Message: v.Message + " [" + v.Check + "]"})
		}
		resp.Warnings = warnings
		return resp, "denied"
	}
	resp := admission.Allowed("")
	resp.Warnings = warnings
	decision := "allowed"
	switch {
	case len(res.Patch) > 0:
		resp.Patches = res.Patch
		decision = "patched"
	case len(res.Warnings) > 0 && res.Warnings[0].Check == "gatewarden":
		decision = "unchecked"
	case len(res.Warnings) > 0:
		decision = "warned"
	}
	return resp, decision
}

// DenialMessage reads like the API server's own validation errors:
// `APIRule "x" is invalid: [field: message [check], ...]`.
func DenialMessage(gvk schema.GroupVersionKind, name string, vs []core.Finding) string {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, v.String())
	}
	body := strings.Join(parts, ", ")
	if len(parts) > 1 {
		body = "[" + body + "]"
	}
	return fmt.Sprintf("%s %q is invalid: %s", gvk.Kind, name, body)
}
