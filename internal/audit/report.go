package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/core"
)

// PolicyReports of the Kubernetes Policy WG (wgpolicyk8s.io), the format
// Kyverno and other policy engines write, so existing report viewers show
// gatewarden's findings.
var (
	PolicyReportGVK     = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}
	policyReportListGVK = PolicyReportGVK.GroupVersion().WithKind("PolicyReportList")
)

const (
	// ReportName is the name of gatewarden's PolicyReport in each namespace.
	ReportName = "gatewarden"
	// Policy and Source name gatewarden in every result.
	Policy = "gatewarden"
	Source = "gatewarden"
	// ManagedByLabel marks the reports gatewarden owns; it deletes only those.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "gatewarden"
)

// Result values of a report entry.
const (
	ResultFail = "fail"
	ResultWarn = "warn"
)

// entry is one finding on one object: a PolicyReport result.
type entry struct {
	Result  string
	Check   string
	Field   string
	Message string // the report message: "field: message"
	Ref     objectRef
	Since   time.Time
}

type objectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// key identifies a finding across runs: the same object, check and message.
func (e entry) key() string {
	return findingKey(e.Ref.UID, e.Ref.Namespace, e.Ref.Kind, e.Ref.Name, e.Check, e.Message)
}

func findingKey(uid, ns, kind, name, check, message string) string {
	return objectKey(uid, ns, kind, name) + check + "\x00" + message
}

// objectKey is the prefix of the keys of an object's findings.
func objectKey(uid, ns, kind, name string) string {
	if uid == "" {
		return ns + "/" + kind + "/" + name + "\x00"
	}
	return uid + "\x00"
}

func reportMessage(f core.Finding) string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

// namespaceFindings is what one run found in one namespace.
type namespaceFindings struct {
	entries []entry
	// pass and skip count (object, check) pairs that passed or are off.
	pass, skip int
}

func (n *namespaceFindings) count(result string) int {
	c := 0
	for _, e := range n.entries {
		if e.Result == result {
			c++
		}
	}
	return c
}

// collect groups the findings of a run by namespace. Every namespace with an
// audited object is present, with or without findings.
func collect(outcomes []Outcome, now time.Time) map[string]*namespaceFindings {
	out := map[string]*namespaceFindings{}
	for _, o := range outcomes {
		obj := o.Target.Object
		ns := obj.GetNamespace()
		nf := out[ns]
		if nf == nil {
			nf = &namespaceFindings{}
			out[ns] = nf
		}
		ref := objectRef{APIVersion: o.Target.GVK.GroupVersion().String(), Kind: o.Target.GVK.Kind,
			Namespace: ns, Name: obj.GetName(), UID: string(obj.GetUID())}
		add := func(result string, fs []core.Finding) {
			for _, f := range fs {
				nf.entries = append(nf.entries, entry{Result: result, Check: f.Check, Field: f.Field,
					Message: reportMessage(f), Ref: ref, Since: now})
			}
		}
		add(ResultFail, o.Result.Violations)
		add(ResultWarn, o.Result.Warnings)
		for _, r := range o.Result.Checks {
			switch r {
			case core.Pass:
				nf.pass++
			case core.Skipped:
				nf.skip++
			}
		}
	}
	for _, nf := range out {
		sort.SliceStable(nf.entries, func(i, j int) bool {
			a, b := nf.entries[i], nf.entries[j]
			for _, p := range [][2]string{{a.Ref.Kind, b.Ref.Kind}, {a.Ref.Name, b.Ref.Name}, {a.Check, b.Check}, {a.Message, b.Message}} {
				if p[0] != p[1] {
					return p[0] < p[1]
				}
			}
			return false
		})
	}
	return out
}

// reportEntries reads the results of an existing report: key to first-seen
// time.
func reportEntries(u *unstructured.Unstructured) map[string]time.Time {
	out := map[string]time.Time{}
	results, _, _ := unstructured.NestedSlice(u.Object, "results")
	for _, r := range results {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		rule, _ := m["rule"].(string)
		msg, _ := m["message"].(string)
		var ref objectRef
		if res, ok := m["resources"].([]any); ok && len(res) > 0 {
			if rm, ok := res[0].(map[string]any); ok {
				ref.UID, _ = rm["uid"].(string)
				ref.Namespace, _ = rm["namespace"].(string)
				ref.Kind, _ = rm["kind"].(string)
				ref.Name, _ = rm["name"].(string)
			}
		}
		var since time.Time
		if ts, ok := m["timestamp"].(map[string]any); ok {
			if s, ok := asInt64(ts["seconds"]); ok {
				since = time.Unix(s, 0).UTC()
			}
		}
		out[findingKey(ref.UID, ref.Namespace, ref.Kind, ref.Name, rule, msg)] = since
	}
	return out
}

func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// reportContent is the results and summary of a namespace's report. Entries
// that were in the previous report keep their first-seen timestamp, so an
// unchanged namespace gives an identical report.
func reportContent(nf *namespaceFindings, previous map[string]time.Time) (results []any, summary map[string]any) {
	results = []any{}
	for _, e := range nf.entries {
		since := e.Since
		if t, ok := previous[e.key()]; ok && !t.IsZero() {
			since = t
		}
		r := map[string]any{
			"policy":    Policy,
			"rule":      e.Check,
			"result":    e.Result,
			"message":   e.Message,
			"source":    Source,
			"scored":    true,
			"timestamp": map[string]any{"seconds": since.Unix(), "nanos": int64(0)},
			"resources": []any{map[string]any{
				"apiVersion": e.Ref.APIVersion, "kind": e.Ref.Kind, "namespace": e.Ref.Namespace,
				"name": e.Ref.Name, "uid": e.Ref.UID,
			}},
		}
		if e.Field != "" {
			r["properties"] = map[string]any{"field": e.Field}
		}
		results = append(results, r)
	}
	summary = map[string]any{
		"pass":  int64(nf.pass),
		"fail":  int64(nf.count(ResultFail)),
		"warn":  int64(nf.count(ResultWarn)),
		"error": int64(0),
		"skip":  int64(nf.skip),
	}
	return results, summary
}

// reportsInstalled says whether the PolicyReport CRD is served.
func reportsInstalled(c client.Client) (bool, error) {
	_, err := c.RESTMapper().RESTMapping(PolicyReportGVK.GroupKind(), PolicyReportGVK.Version)
	if err == nil {
		return true, nil
	}
	if notInstalled(err) {
		return false, nil
	}
	return false, err
}

// existingReports lists gatewarden's reports by namespace.
func existingReports(ctx context.Context, c client.Reader, namespace string) (map[string]*unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(policyReportListGVK)
	opts := []client.ListOption{client.MatchingLabels{ManagedByLabel: managedBy}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, l, opts...); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing PolicyReports: %w", err)
	}
	out := map[string]*unstructured.Unstructured{}
	for i := range l.Items {
		if l.Items[i].GetName() == ReportName {
			out[l.Items[i].GetNamespace()] = &l.Items[i]
		}
	}
	return out, nil
}

// writeReports makes each namespace's report say what this run found:
// created where missing, updated where changed, deleted where the namespace
// no longer has anything gatewarden audits.
func writeReports(ctx context.Context, c client.Client, found map[string]*namespaceFindings, existing map[string]*unstructured.Unstructured) error {
	var errs []error
	namespaces := make([]string, 0, len(found))
	for ns := range found {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		old := existing[ns]
		var previous map[string]time.Time
		if old != nil {
			previous = reportEntries(old)
		}
		results, summary := reportContent(found[ns], previous)
		if old == nil {
			u := &unstructured.Unstructured{Object: map[string]any{"results": results, "summary": summary}}
			u.SetGroupVersionKind(PolicyReportGVK)
			u.SetNamespace(ns)
			u.SetName(ReportName)
			u.SetLabels(map[string]string{ManagedByLabel: managedBy})
			// A namespace being deleted refuses new objects; its report
			// would go with it anyway.
			if err := c.Create(ctx, u); err != nil && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				errs = append(errs, fmt.Errorf("creating PolicyReport %s/%s: %w", ns, ReportName, err))
			}
			continue
		}
		if sameJSON(old.Object["results"], results) && sameJSON(old.Object["summary"], summary) {
			continue
		}
		u := old.DeepCopy()
		u.Object["results"] = results
		u.Object["summary"] = summary
		if err := c.Update(ctx, u); err != nil {
			errs = append(errs, fmt.Errorf("updating PolicyReport %s/%s: %w", ns, ReportName, err))
		}
	}
	for ns, old := range existing {
		if _, ok := found[ns]; ok {
			continue
		}
		if err := c.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting PolicyReport %s/%s: %w", ns, ReportName, err))
		}
	}
	return errors.Join(errs...)
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
