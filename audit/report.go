package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"sort"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/core"
)

// Two report formats carry the findings, with the same results: OpenReports
// (openreports.io), which Kyverno writes since it moved off the Policy WG's
// API and which Policy Reporter 3.2 and later reads, and the Policy WG's
// PolicyReports (wgpolicyk8s.io), which older engines and viewers use.
var (
	OpenReportGVK       = schema.GroupVersionKind{Group: "openreports.io", Version: "v1alpha1", Kind: "Report"}
	PolicyReportGVK     = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}
	policyReportListGVK = PolicyReportGVK.GroupVersion().WithKind("PolicyReportList")
)

// ReportFormat is one kind of report the audit writes.
type ReportFormat struct {
	GVK schema.GroupVersionKind
	// Resource is the plural name discovery lists the kind under.
	Resource string
	// openReports marks the format with a report-level source and limits.
	openReports bool
}

func (f ReportFormat) listGVK() schema.GroupVersionKind {
	return f.GVK.GroupVersion().WithKind(f.GVK.Kind + "List")
}

func (f ReportFormat) String() string { return f.GVK.Kind + "." + f.GVK.Group }

var (
	OpenReports   = ReportFormat{GVK: OpenReportGVK, Resource: "reports", openReports: true}
	PolicyReports = ReportFormat{GVK: PolicyReportGVK, Resource: "policyreports"}
)

// ReportMode selects the formats the audit writes.
type ReportMode string

const (
	// ReportsAuto writes OpenReports when that CRD is served, else
	// PolicyReports when that one is.
	ReportsAuto          ReportMode = "auto"
	ReportsOpenReports   ReportMode = "openreports"
	ReportsPolicyReports ReportMode = "policyreports"
	ReportsBoth          ReportMode = "both"
	ReportsNone          ReportMode = "none"
)

// ParseReportMode accepts the values of --reports.
func ParseReportMode(s string) (ReportMode, error) {
	switch m := ReportMode(s); m {
	case ReportsAuto, ReportsOpenReports, ReportsPolicyReports, ReportsBoth, ReportsNone:
		return m, nil
	}
	return "", fmt.Errorf("reports %q: want auto, openreports, policyreports, both or none", s)
}

// formats decides which formats a run writes, given which are served, and
// which it clears: a served format the mode does not select holds only
// stale findings of gatewarden's (from before the mode changed or the other
// CRD was installed), and report viewers would show them twice.
func (m ReportMode) formats(openServed, policyServed bool) (write, clear []ReportFormat) {
	want := map[ReportFormat]bool{}
	switch m {
	case ReportsOpenReports:
		want[OpenReports] = true
	case ReportsPolicyReports:
		want[PolicyReports] = true
	case ReportsBoth:
		want[OpenReports], want[PolicyReports] = true, true
	case ReportsNone:
	default:
		if openServed {
			want[OpenReports] = true
		} else {
			want[PolicyReports] = true
		}
	}
	for _, f := range []ReportFormat{OpenReports, PolicyReports} {
		served := policyServed
		if f == OpenReports {
			served = openServed
		}
		switch {
		case !served:
		case want[f]:
			write = append(write, f)
		default:
			clear = append(clear, f)
		}
	}
	return write, clear
}

// missing lists the formats the mode asks for by name that are not served.
func (m ReportMode) missing(openServed, policyServed bool) []ReportFormat {
	var out []ReportFormat
	if (m == ReportsOpenReports || m == ReportsBoth) && !openServed {
		out = append(out, OpenReports)
	}
	if (m == ReportsPolicyReports || m == ReportsBoth) && !policyServed {
		out = append(out, PolicyReports)
	}
	return out
}

// DefaultMaxResults caps the results of one report. A report is one object
// in etcd (at most 1.5 MiB by default) and is held whole in memory by every
// reader; at about 600 bytes a result, 1,000 stay well inside both.
const DefaultMaxResults = 1000

const (
	// ReportName is the name of gatewarden's report in each namespace.
	ReportName = "gatewarden"
	// Policy and Source name gatewarden in every result.
	Policy = "gatewarden"
	Source = "gatewarden"
	// ManagedByLabel marks the reports gatewarden owns; it deletes only those.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "gatewarden"
	// DroppedAnnotation on a report counts the findings left out of its
	// results by the cap; absent when none were.
	DroppedAnnotation = "gatewarden.io/dropped-results"
)

// Result values of a report entry.
const (
	ResultFail = "fail"
	ResultWarn = "warn"
	// ResultSkip is a finding a GatewardenException covers, and an object
	// in an exempt namespace, which no check looked at.
	ResultSkip = "skip"
)

// entry is one finding on one object: a report result.
type entry struct {
	Result   string
	Severity string
	Category string
	Check    string
	Field    string
	// Message and Note are the finding's own strings, one copy for every
	// entry that says the same (texts); the report message (message()) is
	// composed when a report is written, so an audit of many objects holds
	// each message once.
	Message string
	Note    string
	// Exception names the GatewardenException of a skip result.
	Exception string
	// Ref is the object's, one for all of its entries.
	Ref   *objectRef
	Since time.Time
}

type objectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// key identifies a finding across runs: the same object, check and report
// message.
func (e *entry) key() string {
	return findingKey(e.Ref.UID, e.Ref.Namespace, e.Ref.Kind, e.Ref.Name, e.Check, e.parts()...)
}

// parts are the pieces of the report message, in order: "field: message
// (note)".
func (e *entry) parts() []string {
	out := make([]string, 0, 5)
	if e.Field != "" {
		out = append(out, e.Field, ": ")
	}
	out = append(out, e.Message)
	if e.Note != "" {
		out = append(out, " ("+e.Note+")")
	}
	return out
}

// message is the report message.
func (e *entry) message() string { return strings.Join(e.parts(), "") }

// findingKey keys a finding by its object, check and report message, given
// as the parts that make it up when concatenated.
func findingKey(uid, ns, kind, name, check string, message ...string) string {
	return findingKeyUnder(objectKey(uid, ns, kind, name), check, message...)
}

// findingKeyUnder is findingKey for an object whose objectKey is known.
func findingKeyUnder(object, check string, message ...string) string {
	// The message as a 64-bit hash: the keys of every finding are held
	// between runs (to announce only new ones), and messages run to
	// hundreds of bytes. A collision costs one Event not sent.
	h := fnv.New64a()
	for _, m := range message {
		h.Write([]byte(m))
	}
	return object + check + "\x00" + strconv.FormatUint(h.Sum64(), 36)
}

// objectKey is the prefix of the keys of an object's findings.
func objectKey(uid, ns, kind, name string) string {
	if uid == "" {
		return ns + "/" + kind + "/" + name + "\x00"
	}
	return uid + "\x00"
}

// reportMessage is a finding's message in reports and its key: its field and
// message, without the note that says why the webhook only warned.
func reportMessage(f core.Finding) string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

// namespaceFindings is what one run found in one namespace.
type namespaceFindings struct {
	entries []*entry
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

// objectFindings is what a run found on one object: its report entries
// and its share of the summary. The audit keeps them per object, so a run
// that re-checks only some objects rebuilds their namespaces' reports
// with everyone else's results as they were.
type objectFindings struct {
	namespace string
	// prefix is objectKey of the object: the start of its findings' keys.
	prefix  string
	entries []entry
	// pass and skip count (check) results that passed or are off.
	pass, skip int
}

// texts keeps one copy of each string the findings repeat across objects.
// A check says the same about every APIRule of one workload (10,000
// APIRules sharing 100 Services held 12.5 MB of copies of the same 100
// messages), and every object of a kind has the same field paths and API
// version. A full run starts it anew; between full runs it holds what the
// runs on changes added, up to maxTexts.
type texts struct{ m map[string]string }

// maxTexts bounds texts: past it, it starts over. The findings keep
// their strings either way; only later copies are no longer shared.
const maxTexts = 1 << 16

func (t *texts) get(s string) string {
	if c, ok := t.m[s]; ok {
		return c
	}
	if t.m == nil || len(t.m) >= maxTexts {
		t.m = map[string]string{}
	}
	t.m[s] = s
	return s
}

// findingsOf turns one outcome into the object's findings.
func findingsOf(o Outcome, now time.Time, t *texts) *objectFindings {
	obj := o.Target.Object
	ns := obj.GetNamespace()
	of := &objectFindings{namespace: ns, prefix: objectKey(string(obj.GetUID()), ns, o.Target.GVK.Kind, obj.GetName())}
	ref := &objectRef{APIVersion: t.get(o.Target.GVK.GroupVersion().String()), Kind: o.Target.GVK.Kind,
		Namespace: ns, Name: obj.GetName(), UID: string(obj.GetUID())}
	add := func(result string, fs []core.Finding) {
		for _, f := range fs {
			of.entries = append(of.entries, entry{Result: result, Check: f.Check, Field: t.get(f.Field),
				Severity: Severity(f, result == ResultFail), Category: Category(f.Check, o.Target.GVK.Kind),
				Message: t.get(f.Message), Ref: ref, Since: now})
		}
	}
	add(ResultFail, o.Result.Violations)
	var warnings, excepted []core.Finding
	for _, f := range o.Result.Warnings {
		if f.Exception != "" {
			excepted = append(excepted, f)
		} else {
			warnings = append(warnings, f)
		}
	}
	add(ResultWarn, warnings)
	for _, f := range excepted {
		// The report says which exception lets the finding through, and
		// until when (the note), so a reviewer sees both at a glance.
		of.entries = append(of.entries, entry{Result: ResultSkip, Check: f.Check, Field: t.get(f.Field),
			Severity: SeverityInfo, Category: Category(f.Check, o.Target.GVK.Kind),
			Message: t.get(f.Message), Note: t.get(f.Note), Exception: f.Exception, Ref: ref, Since: now})
	}
	if o.Result.Exempt != "" {
		// One result per object rather than per check: the namespace,
		// not any check, decided.
		of.entries = append(of.entries, entry{Result: ResultSkip, Check: InternalCheck, Severity: SeverityInfo,
			Category: Category(InternalCheck, o.Target.GVK.Kind), Message: t.get(o.Result.Exempt), Ref: ref, Since: now})
		return of
	}
	of.pass, of.skip = o.Pass, o.Skipped
	return of
}

// group sums objects' findings by namespace, most severe first. Every
// namespace with an audited object is present, with or without findings.
func group(objs iter.Seq[*objectFindings]) map[string]*namespaceFindings {
	out := map[string]*namespaceFindings{}
	for of := range objs {
		nf := out[of.namespace]
		if nf == nil {
			nf = &namespaceFindings{}
			out[of.namespace] = nf
		}
		for i := range of.entries {
			nf.entries = append(nf.entries, &of.entries[i])
		}
		nf.pass += of.pass
		nf.skip += of.skip
	}
	for _, nf := range out {
		// Most severe first, so the cap keeps what matters most.
		sort.SliceStable(nf.entries, func(i, j int) bool {
			a, b := nf.entries[i], nf.entries[j]
			if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
				return ra < rb
			}
			for _, p := range [][2]string{{a.Ref.Kind, b.Ref.Kind}, {a.Ref.Name, b.Ref.Name}, {a.Check, b.Check}} {
				if p[0] != p[1] {
					return p[0] < p[1]
				}
			}
			return a.message() < b.message()
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

// reportContent is the results and summary of a namespace's report: at most
// maxResults results (the most severe; dropped says how many more there
// were), and a summary that counts every finding. Entries that were in the
// previous report keep their first-seen timestamp, so an unchanged namespace
// gives an identical report.
func reportContent(nf *namespaceFindings, previous map[string]time.Time, maxResults int) (results []any, summary map[string]any, dropped int) {
	results = []any{}
	entries := nf.entries
	if maxResults > 0 && len(entries) > maxResults {
		dropped = len(entries) - maxResults
		entries = entries[:maxResults]
	}
	for _, e := range entries {
		since := e.Since
		if t, ok := previous[e.key()]; ok && !t.IsZero() {
			since = t
		}
		r := map[string]any{
			"policy":    Policy,
			"rule":      e.Check,
			"result":    e.Result,
			"severity":  e.Severity,
			"category":  e.Category,
			"message":   e.message(),
			"source":    Source,
			"scored":    true,
			"timestamp": map[string]any{"seconds": since.Unix(), "nanos": int64(0)},
			"resources": []any{map[string]any{
				"apiVersion": e.Ref.APIVersion, "kind": e.Ref.Kind, "namespace": e.Ref.Namespace,
				"name": e.Ref.Name, "uid": e.Ref.UID,
			}},
		}
		props := map[string]any{}
		if e.Field != "" {
			props["field"] = e.Field
		}
		if e.Exception != "" {
			props["exception"] = e.Exception
		}
		if len(props) > 0 {
			r["properties"] = props
		}
		results = append(results, r)
	}
	summary = map[string]any{
		"pass":  int64(nf.pass),
		"fail":  int64(nf.count(ResultFail)),
		"warn":  int64(nf.count(ResultWarn)),
		"error": int64(0),
		"skip":  int64(nf.skip + nf.count(ResultSkip)),
	}
	return results, summary, dropped
}

// ServedFunc says whether the API server serves a kind now.
type ServedFunc func(ctx context.Context, f ReportFormat) (bool, error)

// DiscoveryServed asks the API server's discovery on every call, so a report
// CRD installed or removed while gatewarden runs is noticed on the next run
// (a cached REST mapping would keep a removed kind).
func DiscoveryServed(d discovery.DiscoveryInterface) ServedFunc {
	return func(_ context.Context, f ReportFormat) (bool, error) {
		l, err := d.ServerResourcesForGroupVersion(f.GVK.GroupVersion().String())
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, r := range l.APIResources {
			if r.Name == f.Resource && r.Kind == f.GVK.Kind {
				return true, nil
			}
		}
		return false, nil
	}
}

// mapperServed asks the client's REST mapper: enough where the kinds do not
// change while the process runs (tests, a fixed mapper).
func mapperServed(c client.Client) ServedFunc {
	return func(_ context.Context, f ReportFormat) (bool, error) {
		_, err := c.RESTMapper().RESTMapping(f.GVK.GroupKind(), f.GVK.Version)
		if err == nil {
			return true, nil
		}
		if notInstalled(err) {
			return false, nil
		}
		return false, err
	}
}

// existingReports lists gatewarden's reports of a format by namespace, a
// page at a time: each report is handed to seen, then kept as its metadata
// only (stub). With thousands of objects the reports' results run to tens
// of MB, which a full run must not hold all at once; writeReports reads a
// namespace's report in full when it writes it.
func existingReports(ctx context.Context, c client.Reader, f ReportFormat, namespace string, seen func(*unstructured.Unstructured)) (map[string]*unstructured.Unstructured, error) {
	out := map[string]*unstructured.Unstructured{}
	next := ""
	for {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(f.listGVK())
		opts := []client.ListOption{client.MatchingLabels{ManagedByLabel: managedBy}, client.Limit(reportPage)}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if next != "" {
			opts = append(opts, client.Continue(next))
		}
		if err := c.List(ctx, l, opts...); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("listing %s: %w", f, err)
		}
		for i := range l.Items {
			u := &l.Items[i]
			if u.GetName() != ReportName {
				continue
			}
			if seen != nil {
				seen(u)
			}
			out[u.GetNamespace()] = stub(u)
		}
		if next = l.GetContinue(); next == "" {
			return out, nil
		}
	}
}

// reportPage is how many reports a listing reads at a time.
const reportPage = 20

// stub is a report's identity without its content: what deleting it needs,
// and the mark that writeReports must read it in full.
func stub(u *unstructured.Unstructured) *unstructured.Unstructured {
	s := &unstructured.Unstructured{Object: map[string]any{stubMark: true}}
	s.SetGroupVersionKind(u.GroupVersionKind())
	s.SetNamespace(u.GetNamespace())
	s.SetName(u.GetName())
	s.SetUID(u.GetUID())
	s.SetResourceVersion(u.GetResourceVersion())
	s.SetLabels(u.GetLabels())
	return s
}

// stubMark is a key no report has (a field name cannot start with a
// space), set on stubs only.
const stubMark = " stub"

// full reads the whole of a report that may be a stub; nil when it is gone.
func full(ctx context.Context, c client.Reader, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if u == nil || u.Object[stubMark] == nil {
		return u, nil
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}, got); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return got, nil
}

// reportsIn reads gatewarden's reports of a format in namespaces, by
// namespace: what a scoped run needs, without listing every report.
// A report this replica wrote last (mem) is not read: the update that
// follows fails on its resourceVersion if someone else changed it since,
// and writeReports then reads it.
func reportsIn(ctx context.Context, c client.Reader, f ReportFormat, namespaces []string, mem *reportMemory) (map[string]*unstructured.Unstructured, error) {
	out := map[string]*unstructured.Unstructured{}
	for _, ns := range namespaces {
		if w := mem.get(f, ns); w != nil {
			out[ns] = w.stub(f)
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(f.GVK)
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ReportName}, u)
		switch {
		case meta.IsNoMatchError(err):
			return nil, nil
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading %s %s/%s: %w", f, ns, ReportName, err)
		}
		if u.GetLabels()[ManagedByLabel] == managedBy {
			out[ns] = u
		}
	}
	return out, nil
}

// reportFields is every field of a report gatewarden sets besides its
// identity: what a run compares to decide whether to write.
func reportFields(f ReportFormat, results []any, summary map[string]any, maxResults int) map[string]any {
	body := map[string]any{"results": results, "summary": summary}
	if f.openReports {
		body["source"] = Source
		if maxResults > 0 {
			body["configuration"] = map[string]any{"limits": map[string]any{"maxResults": int64(maxResults)}}
		}
	}
	return body
}

// setDropped keeps the dropped-results annotation in step; it reports
// whether it changed anything.
func setDropped(u *unstructured.Unstructured, dropped int) bool {
	ann := u.GetAnnotations()
	old, had := ann[DroppedAnnotation]
	want := strconv.Itoa(dropped)
	switch {
	case dropped == 0 && !had:
		return false
	case dropped == 0:
		delete(ann, DroppedAnnotation)
	case had && old == want:
		return false
	default:
		if ann == nil {
			ann = map[string]string{}
		}
		ann[DroppedAnnotation] = want
	}
	u.SetAnnotations(ann)
	return true
}

// scope is what a run that re-checked only some objects touches: the
// namespaces whose reports it rewrites, and the objects (by objectKey
// prefix) whose earlier findings it replaces. A nil scope is a full run.
type scope struct {
	namespaces []string
	replaced   map[string]bool
}

// report writes the run's findings into the report formats the mode selects
// among those served, clears gatewarden's reports of served formats it does
// not select, and records the Events. Events come first: a report that
// cannot be written must not hold back the announcement of a finding. A
// scoped run reads and writes only the reports of its namespaces (found
// holds their findings) and leaves clearing to the full runs.
func (a *Auditor) report(ctx context.Context, outcomes []Outcome, found map[string]*namespaceFindings, sc *scope) []error {
	var errs []error
	served := a.Served
	if served == nil {
		served = mapperServed(a.Client)
	}
	isServed := func(f ReportFormat) bool {
		ok, err := served(ctx, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("looking up %s: %w", f, err))
		}
		return ok
	}
	openServed, policyServed := isServed(OpenReports), isServed(PolicyReports)
	write, clear := a.Options.Reports.formats(openServed, policyServed)
	for _, f := range a.Options.Reports.missing(openServed, policyServed) {
		errs = append(errs, fmt.Errorf("--reports=%s, but the API server does not serve %s: install its CRD or choose another mode", a.Options.Reports, f.GVK.GroupVersion().WithKind(f.GVK.Kind)))
	}

	if sc != nil {
		clear = nil
	}
	existing := map[ReportFormat]map[string]*unstructured.Unstructured{}
	// The findings the reports hold, which need no new Event: read once,
	// at the first run after a start.
	var known map[string]bool
	if a.known == nil {
		known = map[string]bool{}
	}
	seen := func(u *unstructured.Unstructured) {
		if known != nil {
			for k := range reportEntries(u) {
				known[k] = true
			}
		}
	}
	for _, f := range append(append([]ReportFormat{}, write...), clear...) {
		var ex map[string]*unstructured.Unstructured
		var err error
		if sc == nil {
			ex, err = existingReports(ctx, a.Client, f, a.Options.Namespace, seen)
		} else {
			ex, err = reportsIn(ctx, a.Client, f, sc.namespaces, a.written)
			for _, u := range ex {
				seen(u)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		existing[f] = ex
	}
	var replaced map[string]bool
	if sc != nil {
		replaced = sc.replaced
	}
	a.events(outcomes, replaced, known)

	dropped := map[string]int{}
	for _, f := range write {
		ex, ok := existing[f]
		if !ok {
			continue // not listed: writing blind could duplicate or clobber
		}
		n, err := writeReports(ctx, a.Client, f, found, ex, a.Options.MaxResults, a.written)
		if err != nil {
			errs = append(errs, err)
		}
		for ns, d := range n {
			dropped[ns] = max(dropped[ns], d)
		}
	}
	for _, f := range clear {
		if ex, ok := existing[f]; ok {
			if err := clearReports(ctx, a.Client, ex); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if sc == nil {
		setDroppedMetric(dropped)
	} else {
		for _, ns := range sc.namespaces {
			if d := dropped[ns]; d > 0 {
				Dropped.WithLabelValues(ns).Set(float64(d))
			} else {
				Dropped.DeleteLabelValues(ns)
			}
		}
	}
	for ns, d := range dropped {
		if d > 0 {
			a.Log.Info("report results capped; the summary counts them all", "namespace", ns, "dropped", d, "maxResults", a.Options.MaxResults)
		}
	}
	return errs
}

// writeReports makes each namespace's report of format f say what this run
// found: created where missing, updated where changed, deleted where the
// namespace no longer has anything gatewarden audits. It returns how many
// findings the cap left out, by namespace. mem (may be nil) holds the
// reports this replica wrote last.
func writeReports(ctx context.Context, c client.Client, f ReportFormat, found map[string]*namespaceFindings, existing map[string]*unstructured.Unstructured, maxResults int, mem *reportMemory) (map[string]int, error) {
	var errs []error
	dropped := map[string]int{}
	namespaces := make([]string, 0, len(found))
	for ns := range found {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		w := mem.get(f, ns)
		ex := existing[ns]
		if w != nil && (ex == nil || ex.GetResourceVersion() != w.rv) {
			w = nil // changed since this replica wrote it, or gone
		}
		n, err := writeReport(ctx, c, f, ns, found[ns], ex, w, maxResults, mem)
		if w != nil && (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
			// Someone else wrote or deleted it after this replica did:
			// read it and write again.
			mem.forget(f, ns)
			ex = w.stub(f)
			n, err = writeReport(ctx, c, f, ns, found[ns], ex, nil, maxResults, mem)
		}
		dropped[ns] = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	for ns, old := range existing {
		if _, ok := found[ns]; ok {
			continue
		}
		mem.forget(f, ns)
		if err := c.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", f, ns, ReportName, err))
		}
	}
	return dropped, errors.Join(errs...)
}

// writeReport writes one namespace's report; ex is what exists (a stub, a
// full report, or nil), w what this replica wrote last when ex is that.
func writeReport(ctx context.Context, c client.Client, f ReportFormat, ns string, nf *namespaceFindings, ex *unstructured.Unstructured, w *writtenReport, maxResults int, mem *reportMemory) (int, error) {
	var old *unstructured.Unstructured
	var previous map[string]time.Time
	if w != nil {
		previous = w.entries
	} else {
		var err error
		if old, err = full(ctx, c, ex); err != nil {
			return 0, fmt.Errorf("reading %s %s/%s: %w", f, ns, ReportName, err)
		}
		if old != nil {
			previous = reportEntries(old)
		}
	}
	results, summary, n := reportContent(nf, previous, maxResults)
	body := reportFields(f, results, summary, maxResults)
	sums := checksums(body)
	if old == nil && w == nil {
		u := &unstructured.Unstructured{Object: body}
		u.SetGroupVersionKind(f.GVK)
		u.SetNamespace(ns)
		u.SetName(ReportName)
		u.SetLabels(map[string]string{ManagedByLabel: managedBy})
		setDropped(u, n)
		// A namespace being deleted refuses new objects; its report
		// would go with it anyway.
		if err := c.Create(ctx, u); err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return n, nil
			}
			return n, fmt.Errorf("creating %s %s/%s: %w", f, ns, ReportName, err)
		}
		mem.put(f, ns, u, sums)
		return n, nil
	}
	var u *unstructured.Unstructured
	changed := false
	if w != nil {
		// Every field of a report gatewarden wrote is its identity, its
		// metadata or one of body's: the update is made of those.
		u = &unstructured.Unstructured{Object: make(map[string]any, len(body)+3)}
		u.Object["metadata"] = runtime.DeepCopyJSONValue(w.meta)
		u.SetGroupVersionKind(f.GVK)
		for k, v := range body {
			u.Object[k] = v
			changed = changed || !sameSum(w.sums, sums, k)
		}
		for k := range w.sums {
			if _, ok := body[k]; !ok {
				changed = true
			}
		}
	} else {
		// The top level is copied, and the metadata, which setDropped
		// may change; the rest of old is replaced, never changed.
		u = &unstructured.Unstructured{Object: make(map[string]any, len(old.Object))}
		for k, v := range old.Object {
			u.Object[k] = v
		}
		if md, ok := old.Object["metadata"].(map[string]any); ok {
			u.Object["metadata"] = runtime.DeepCopyJSONValue(md)
		}
		// body's fields were encoded once for sums; old's are encoded
		// here, to the same checksums when they are the same.
		for k, v := range body {
			x, ok := checksum(old.Object[k])
			if y, has := sums[k]; !ok || !has || x != y {
				u.Object[k] = v
				changed = true
			}
		}
		if _, had := old.Object["configuration"]; had && body["configuration"] == nil {
			delete(u.Object, "configuration")
			changed = true
		}
	}
	if setDropped(u, n) {
		changed = true
	}
	if !changed {
		if w == nil {
			mem.put(f, ns, old, sums)
		}
		return n, nil
	}
	if err := c.Update(ctx, u); err != nil {
		return n, fmt.Errorf("updating %s %s/%s: %w", f, ns, ReportName, err)
	}
	mem.put(f, ns, u, sums)
	return n, nil
}

// clearReports deletes gatewarden's reports of a format it no longer writes.
func clearReports(ctx context.Context, c client.Client, existing map[string]*unstructured.Unstructured) error {
	var errs []error
	for _, old := range existing {
		if err := c.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", old.GetKind(), old.GetNamespace(), old.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// rememberedReports bounds reportMemory: the namespaces a burst of changes
// is in.
const rememberedReports = 16

// reportMemory remembers what this replica wrote last into the reports of a
// few namespaces: enough to write the next update without reading the
// report back and without comparing it field by field, not the report.
// While the audit runs on changes in a namespace (each second or so, with
// its Service's APIRules re-checked), those reads and comparisons cost more
// than the checks.
type reportMemory struct {
	c *lru.Cache[reportKey, *writtenReport]
}

type reportKey struct{ format, namespace string }

type writtenReport struct {
	// rv and meta are the report's resourceVersion and metadata as the
	// API server answered the write.
	rv   string
	meta map[string]any
	// entries are its results' first-seen times (reportEntries); sums the
	// checksums of the fields of reportFields it wrote.
	entries map[string]time.Time
	sums    map[string][sha256.Size]byte
}

func newReportMemory() *reportMemory {
	c, _ := lru.New[reportKey, *writtenReport](rememberedReports)
	return &reportMemory{c: c}
}

func (m *reportMemory) get(f ReportFormat, ns string) *writtenReport {
	if m == nil {
		return nil
	}
	w, _ := m.c.Get(reportKey{f.Resource, ns})
	return w
}

// put remembers u, which the caller no longer uses.
func (m *reportMemory) put(f ReportFormat, ns string, u *unstructured.Unstructured, sums map[string][sha256.Size]byte) {
	if m == nil {
		return
	}
	meta, _ := u.Object["metadata"].(map[string]any)
	m.c.Add(reportKey{f.Resource, ns}, &writtenReport{rv: u.GetResourceVersion(), meta: meta, entries: reportEntries(u), sums: sums})
}

func (m *reportMemory) forget(f ReportFormat, ns string) {
	if m != nil {
		m.c.Remove(reportKey{f.Resource, ns})
	}
}

// stub stands for the remembered report where the reports that exist are
// listed (stub): its identity is in the metadata the API server answered.
func (w *writtenReport) stub(f ReportFormat) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": w.meta}}
	u.SetGroupVersionKind(f.GVK)
	return stub(u)
}

// sameSum says whether a field's checksums agree; a field that did not
// encode has none, and agrees with nothing.
func sameSum(a, b map[string][sha256.Size]byte, k string) bool {
	x, ok1 := a[k]
	y, ok2 := b[k]
	return ok1 && ok2 && x == y
}

// checksums are the SHA-256 of each field's JSON, for the fields that
// encode.
func checksums(body map[string]any) map[string][sha256.Size]byte {
	out := make(map[string][sha256.Size]byte, len(body))
	for k, v := range body {
		if x, ok := checksum(v); ok {
			out[k] = x
		}
	}
	return out
}

// checksum is the SHA-256 of v's JSON; false when v does not encode.
func checksum(v any) ([sha256.Size]byte, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(b), true
}
