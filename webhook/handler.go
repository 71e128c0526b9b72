// Package webhook is the admission plumbing: it reads AdmissionReview
// requests into review.Requests, and writes review.Results back as admission
// answers (denials listing every violation with its field path, warnings
// through the warnings API, JSON patches), counting each in metrics.
//
// It reads and writes the AdmissionReview itself rather than through
// controller-runtime's admission.Webhook: that one decodes the whole review
// through the API machinery's codecs and builds a logger per request, which
// together cost more than gatewarden's checks (docs/benchmarks.md). It reads
// only the fields it uses, with segmentio/encoding/json, a drop-in
// replacement for encoding/json about four times as fast. The server around
// it (TLS, certificate rotation) is still controller-runtime's.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/segmentio/encoding/json"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/review"
)

// Paths the webhook configurations point at.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// MaxRequestBytes bounds an AdmissionReview, as controller-runtime and the
// API server's own request limit (3 MiB objects, old and new) do.
const MaxRequestBytes = 7 << 20

// Handler answers one of the two webhooks.
type Handler struct {
	Reviewer *review.Reviewer
	// Mutate selects the mutating webhook; otherwise it validates.
	Mutate bool
	// Budget bounds the work for one admission, fetches included; it must stay
	// below the webhook configurations' timeoutSeconds so the API server gets
	// our answer rather than its own timeout.
	Budget time.Duration
	// Context, when set, prepares each admission's context (serve gives
	// every admission its own fetch budget there).
	Context func(context.Context) context.Context
	// Inflight, when set, counts the admissions this handler is answering.
	Inflight *Inflight

	// panics lets a panic through instead of answering with it (fuzzing).
	panics bool
}

func (h *Handler) name() string {
	if h.Mutate {
		return "mutate"
	}
	return "validate"
}

// admissionReview is the part of an AdmissionReview request gatewarden
// reads. The object stays raw: each kind's decoder reads it once.
type admissionReview struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Request    *admissionRequest `json:"request"`
}

type admissionRequest struct {
	UID         types.UID               `json:"uid"`
	Kind        metav1.GroupVersionKind `json:"kind"`
	Name        string                  `json:"name"`
	Namespace   string                  `json:"namespace"`
	Operation   string                  `json:"operation"`
	SubResource string                  `json:"subResource"`
	Object      json.RawMessage         `json:"object"`
	OldObject   json.RawMessage         `json:"oldObject"`
}

var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP answers one AdmissionReview. Whatever the request, the answer
// is an AdmissionReview with HTTP 200, as the API server expects; a request
// that cannot be read is refused with the HTTP code in its status.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer h.Inflight.enter()()
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			bodies.Put(buf)
		}
	}()
	var ar admissionReview
	resp := h.read(r, buf, &ar)
	if resp == nil {
		ctx := r.Context()
		if h.Context != nil {
			ctx = h.Context(ctx)
		}
		resp = h.answer(ctx, ar.Request)
	}
	if ar.Request != nil {
		resp.UID = ar.Request.UID
	}
	out := admissionv1.AdmissionReview{Response: resp}
	// Answer in the version asked in (the configurations allow v1 only, an
	// older API server may ask in v1beta1, whose fields are the same).
	out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
	if ar.APIVersion == "admission.k8s.io/v1beta1" {
		out.APIVersion = ar.APIVersion
	}
	w.Header().Set("Content-Type", "application/json")
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(out); err != nil {
		ctrl.Log.WithName("webhook").Error(err, "encoding the answer")
		buf.Reset()
		_ = json.NewEncoder(buf).Encode(admissionv1.AdmissionReview{TypeMeta: out.TypeMeta,
			Response: errored(http.StatusInternalServerError, errors.New("cannot encode the answer"))})
	}
	_, _ = w.Write(buf.Bytes())
}

// read reads the request body into buf and decodes it into ar; a non-nil
// answer refuses the request.
func (h *Handler) read(r *http.Request, buf *bytes.Buffer, ar *admissionReview) *admissionv1.AdmissionResponse {
	if r.Body == nil || r.Body == http.NoBody {
		return errored(http.StatusBadRequest, errors.New("request body is empty"))
	}
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return errored(http.StatusBadRequest, fmt.Errorf("contentType=%s, expected application/json", ct))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return errored(http.StatusBadRequest, err)
	}
	if n > MaxRequestBytes {
		return errored(http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes))
	}
	if err := json.Unmarshal(buf.Bytes(), ar); err != nil {
		return errored(http.StatusBadRequest, fmt.Errorf("not an AdmissionReview: %v", err))
	}
	if ar.Request == nil {
		return errored(http.StatusBadRequest, errors.New("not an AdmissionReview request: no request"))
	}
	// The object is read in place (the buffer outlives the answer); the
	// checks keep no reference to it.
	return nil
}

// answer reviews one request and counts it, by kind and decision.
func (h *Handler) answer(ctx context.Context, req *admissionRequest) (resp *admissionv1.AdmissionResponse) {
	var decision string
	start := time.Now()
	gvk := schema.GroupVersionKind(req.Kind)
	kind := gvk.Kind
	if _, ok := review.Lookup(gvk.GroupKind()); !ok {
		kind = "other"
	}
	defer func() {
		if h.panics {
			return
		}
		if p := recover(); p != nil {
			ctrl.Log.WithName("webhook").Error(fmt.Errorf("%v", p), "panic while answering", "kind", gvk, "namespace", req.Namespace, "name", req.Name)
			resp, decision = errored(http.StatusInternalServerError, fmt.Errorf("panic: %v [recovered]", p)), "error"
		}
		decisionCounter(kind, req.Operation, decision).Inc()
		latencyObserver(h.name(), kind).Observe(time.Since(start).Seconds())
	}()
	resp, decision = h.handle(ctx, req, gvk)
	return resp
}

func (h *Handler) handle(ctx context.Context, req *admissionRequest, gvk schema.GroupVersionKind) (*admissionv1.AdmissionResponse, string) {
	if req.Kind.Kind == "" || req.Operation == "" {
		return errored(http.StatusBadRequest, fmt.Errorf("not an AdmissionReview request: kind and operation are required")), "error"
	}
	switch admissionv1.Operation(req.Operation) {
	case admissionv1.Create, admissionv1.Update:
	default:
		return allowed(), "allowed"
	}
	object, oldObject := raw(req.Object), raw(req.OldObject)
	if len(object) == 0 {
		return errored(http.StatusBadRequest, fmt.Errorf("admission request for %s has no object", gvk.Kind)), "error"
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
	rr := &review.Request{GVK: gvk, Namespace: req.Namespace, Name: req.Name, Operation: req.Operation,
		SubResource: req.SubResource, Object: object, OldObject: oldObject}
	var res *review.Result
	if h.Mutate {
		res = h.Reviewer.Mutate(ctx, rr)
	} else {
		res = h.Reviewer.Validate(ctx, rr)
		res.EachCheck(func(id string, r core.Result) { checkCounter(id, r).Inc() })
	}
	name := rr.Name
	if name == "" {
		name = res.Name
	}
	return respond(gvk, name, res)
}

// raw is a JSON value, nil for an absent or null one.
func raw(m json.RawMessage) []byte {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}

// allowed admits. No status: the API server reads none from an admission,
// and each answer is one more thing for it to parse.
func allowed() *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true}
}

func errored(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{Code: code, Message: err.Error()}}
}

func respond(gvk schema.GroupVersionKind, name string, res *review.Result) (*admissionv1.AdmissionResponse, string) {
	var warnings []string
	if len(res.Warnings) > 0 {
		warnings = make([]string, 0, len(res.Warnings))
		for _, w := range res.Warnings {
			warnings = append(warnings, w.String())
		}
	}
	if !res.Allowed {
		st := &metav1.Status{Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid,
			Message: DenialMessage(gvk, name, res.Violations),
			Details: &metav1.StatusDetails{Name: name, Group: gvk.Group, Kind: gvk.Kind}}
		for _, v := range res.Violations {
			st.Details.Causes = append(st.Details.Causes, metav1.StatusCause{
				Type: metav1.CauseTypeFieldValueInvalid, Field: v.Field, Message: v.Message + " [" + v.Check + "]"})
		}
		return &admissionv1.AdmissionResponse{Result: st, Warnings: warnings}, "denied"
	}
	resp := allowed()
	resp.Warnings = warnings
	decision := "allowed"
	switch {
	case len(res.Patch) > 0:
		patch, err := json.Marshal(res.Patch)
		if err != nil {
			return errored(http.StatusInternalServerError, fmt.Errorf("encoding the defaults: %v", err)), "error"
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
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
	var b strings.Builder
	n := len(gvk.Kind) + len(name) + 20
	for _, v := range vs {
		n += len(v.Field) + len(v.Message) + len(v.Check) + len(v.Note) + 10
	}
	b.Grow(n)
	b.WriteString(gvk.Kind)
	b.WriteByte(' ')
	b.WriteString(strconv.Quote(name))
	b.WriteString(" is invalid: ")
	if len(vs) > 1 {
		b.WriteByte('[')
	}
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		v.WriteLine(&b)
	}
	if len(vs) > 1 {
		b.WriteByte(']')
	}
	return b.String()
}
