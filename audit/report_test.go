package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

func TestReportModeFormats(t *testing.T) {
	names := func(fs []ReportFormat) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.GVK.Group)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		mode                  ReportMode
		openServed, polServed bool
		write, clear, missing string
	}{
		{ReportsAuto, true, true, "openreports.io", "wgpolicyk8s.io", ""},
		{ReportsAuto, true, false, "openreports.io", "", ""},
		{ReportsAuto, false, true, "wgpolicyk8s.io", "", ""},
		{ReportsAuto, false, false, "", "", ""},
		{ReportsOpenReports, true, true, "openreports.io", "wgpolicyk8s.io", ""},
		{ReportsOpenReports, false, true, "", "wgpolicyk8s.io", "openreports.io"},
		{ReportsPolicyReports, true, true, "wgpolicyk8s.io", "openreports.io", ""},
		{ReportsBoth, true, true, "openreports.io,wgpolicyk8s.io", "", ""},
		{ReportsBoth, false, true, "wgpolicyk8s.io", "", "openreports.io"},
		{ReportsNone, true, true, "", "openreports.io,wgpolicyk8s.io", ""},
	} {
		name := fmt.Sprintf("%s/open=%v/policy=%v", tc.mode, tc.openServed, tc.polServed)
		w, c := tc.mode.formats(tc.openServed, tc.polServed)
		if names(w) != tc.write || names(c) != tc.clear {
			t.Errorf("%s: write %q clear %q, want %q and %q", name, names(w), names(c), tc.write, tc.clear)
		}
		if m := names(tc.mode.missing(tc.openServed, tc.polServed)); m != tc.missing {
			t.Errorf("%s: missing %q, want %q", name, m, tc.missing)
		}
	}
	if _, err := ParseReportMode("openreport"); err == nil || !strings.Contains(err.Error(), "auto, openreports, policyreports, both or none") {
		t.Errorf("ParseReportMode(openreport) = %v, want the accepted values named", err)
	}
}

// newReportsFixture is newFixture with the given report kinds served.
func newReportsFixture(t *testing.T, served []schema.GroupVersionKind, rs trust.Resolver, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{}
	s := testScheme(t, false)
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{OpenReportGVK, PolicyReportGVK} {
		s.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
		s.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &unstructured.UnstructuredList{})
	}
	for _, gvk := range served {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	f.c = fake.NewClientBuilder().WithScheme(s).WithRESTMapper(m).WithObjects(objs...).
		WithInterceptorFuncs(noWritesToAudited(t, &f.auditing)).Build()
	if rs == nil {
		rs = trust.Offline{}
	}
	f.a, f.rec = f.auditor(rs)
	return f
}

func (f *fixture) reportOf(t *testing.T, gvk schema.GroupVersionKind, ns string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := f.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: ReportName}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func reportObject(gvk schema.GroupVersionKind, ns string, managed bool) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"results": []any{}, "summary": map[string]any{}}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(ReportName)
	if managed {
		u.SetLabels(map[string]string{ManagedByLabel: managedBy})
	}
	return u
}

func TestOpenReportsWhenServed(t *testing.T) {
	p := newPKI(t)
	stale := reportObject(PolicyReportGVK, "team", true)
	foreign := reportObject(PolicyReportGVK, "ok", false)
	f := newReportsFixture(t, []schema.GroupVersionKind{OpenReportGVK, PolicyReportGVK}, nil,
		mutualGateway(t), plainGateway(t), p.secret(true), stale, foreign)

	f.run(t)

	rep := f.reportOf(t, OpenReportGVK, "team")
	if rep == nil {
		t.Fatal("no OpenReports Report in namespace team")
	}
	if rep.GetLabels()[ManagedByLabel] != managedBy {
		t.Errorf("labels %v", rep.GetLabels())
	}
	if src, _, _ := unstructured.NestedString(rep.Object, "source"); src != Source {
		t.Errorf("report source %q, want %q", src, Source)
	}
	if n, _, _ := unstructured.NestedInt64(rep.Object, "configuration", "limits", "maxResults"); n != DefaultMaxResults {
		t.Errorf("configuration.limits.maxResults = %d, want %d", n, DefaultMaxResults)
	}
	results, _, _ := unstructured.NestedSlice(rep.Object, "results")
	if len(results) != 1 {
		t.Fatalf("results %v, want the one gateway-mtls-ca finding", results)
	}
	r := results[0].(map[string]any)
	if r["rule"] != "gateway-mtls-ca" || r["result"] != "fail" || r["severity"] != SeverityHigh || r["category"] != CategoryGateway {
		t.Errorf("result %v: want rule gateway-mtls-ca, fail, severity high, category gateway", r)
	}
	// The stale PolicyReport of gatewarden's goes; someone else's stays.
	if f.reportOf(t, PolicyReportGVK, "team") != nil {
		t.Error("gatewarden's PolicyReport kept although only OpenReports are written")
	}
	if f.reportOf(t, PolicyReportGVK, "ok") == nil {
		t.Error("a PolicyReport gatewarden does not manage was deleted")
	}

	// A second run over the same state writes nothing.
	rv := rep.GetResourceVersion()
	f.run(t)
	if got := f.reportOf(t, OpenReportGVK, "team").GetResourceVersion(); got != rv {
		t.Errorf("unchanged Report rewritten (%s -> %s)", rv, got)
	}
}

func TestPolicyReportsWhenOnlyThoseServed(t *testing.T) {
	p := newPKI(t)
	f := newReportsFixture(t, []schema.GroupVersionKind{PolicyReportGVK}, nil, mutualGateway(t), p.secret(true))
	f.run(t)
	rep := f.reportOf(t, PolicyReportGVK, "team")
	if rep == nil {
		t.Fatal("no PolicyReport")
	}
	b := body(t, rep)
	if len(b.Results) != 1 || b.Results[0].Rule != "gateway-mtls-ca" {
		t.Fatalf("results %+v", b.Results)
	}
	results, _, _ := unstructured.NestedSlice(rep.Object, "results")
	if r := results[0].(map[string]any); r["severity"] != SeverityHigh || r["category"] != CategoryGateway {
		t.Errorf("result %v lacks severity high and category gateway", r)
	}
	// OpenReports-only fields stay out of the Policy WG's format.
	if _, ok := rep.Object["source"]; ok {
		t.Errorf("PolicyReport has a report-level source: %v", rep.Object["source"])
	}
	if _, ok := rep.Object["configuration"]; ok {
		t.Errorf("PolicyReport has a configuration: %v", rep.Object["configuration"])
	}
}

func TestBothFormatsAndNone(t *testing.T) {
	p := newPKI(t)
	served := []schema.GroupVersionKind{OpenReportGVK, PolicyReportGVK}
	f := newReportsFixture(t, served, nil, mutualGateway(t), p.secret(true))
	f.a.Options.Reports = ReportsBoth
	f.run(t)
	or, pr := f.reportOf(t, OpenReportGVK, "team"), f.reportOf(t, PolicyReportGVK, "team")
	if or == nil || pr == nil {
		t.Fatalf("both: OpenReports %v, PolicyReport %v; want both", or != nil, pr != nil)
	}
	if !sameJSON(or.Object["results"], pr.Object["results"]) || !sameJSON(or.Object["summary"], pr.Object["summary"]) {
		t.Errorf("the formats differ:\n%v\n%v", or.Object["results"], pr.Object["results"])
	}
	if ev := drain(f.rec); len(ev) != 1 {
		t.Errorf("events %q, want one for the finding, however many formats", ev)
	}

	// none: gatewarden's reports are removed, the audit still runs.
	f.a.Options.Reports = ReportsNone
	f.run(t)
	if f.reportOf(t, OpenReportGVK, "team") != nil || f.reportOf(t, PolicyReportGVK, "team") != nil {
		t.Error("reports kept with --reports=none")
	}
	if v := gaugeValue(t, Violations.WithLabelValues("gateway-mtls-ca", "Gateway", "team")); v != 1 {
		t.Errorf("violations gauge %v with --reports=none, want 1", v)
	}
}

func TestExplicitModeWithoutCRDIsAnError(t *testing.T) {
	p := newPKI(t)
	f := newReportsFixture(t, []schema.GroupVersionKind{PolicyReportGVK}, nil, mutualGateway(t), p.secret(true))
	f.a.Options.Reports = ReportsOpenReports
	err := f.a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "openreports.io/v1alpha1, Kind=Report") || !strings.Contains(err.Error(), "install its CRD") {
		t.Errorf("Run = %v, want an error naming the missing Report kind and what to do", err)
	}
	// The rest of the run happened.
	if ev := drain(f.rec); len(ev) != 1 {
		t.Errorf("events %q, want the finding announced", ev)
	}
}

// authPolicies are n AuthorizationPolicies that each warn (allow-all).
func authPolicies(t *testing.T, n int) []client.Object {
	var out []client.Object
	for i := range n {
		out = append(out, fromYAML(t, &securityv1.AuthorizationPolicy{}, fmt.Sprintf(`
metadata: {namespace: team, name: allow-%02d, uid: 33333333-0000-0000-0000-0000000000%02d}
spec: {action: ALLOW, rules: [{}]}
`, i, i)))
	}
	return out
}

func TestResultsCap(t *testing.T) {
	p := newPKI(t)
	objs := append(authPolicies(t, 4), mutualGateway(t), p.secret(true))
	f := newReportsFixture(t, []schema.GroupVersionKind{OpenReportGVK}, nil, objs...)
	f.a.Options.MaxResults = 2
	f.run(t)

	rep := f.reportOf(t, OpenReportGVK, "team")
	results, _, _ := unstructured.NestedSlice(rep.Object, "results")
	summary, _, _ := unstructured.NestedMap(rep.Object, "summary")
	if len(results) != 2 {
		t.Fatalf("%d results with a cap of 2", len(results))
	}
	// The denial survives the cap: the most severe results are kept.
	first := results[0].(map[string]any)
	if first["rule"] != "gateway-mtls-ca" || first["severity"] != SeverityHigh {
		t.Errorf("first result %v, want the gateway-mtls-ca denial", first)
	}
	warn, _ := asInt64(summary["warn"])
	fail, _ := asInt64(summary["fail"])
	if fail != 1 || warn < 4 {
		t.Errorf("summary %v: want every finding counted (fail 1, warn at least 4)", summary)
	}
	dropped := int(fail+warn) - 2
	if got := rep.GetAnnotations()[DroppedAnnotation]; got != fmt.Sprint(dropped) {
		t.Errorf("annotation %s = %q, want %d", DroppedAnnotation, got, dropped)
	}
	if n, _, _ := unstructured.NestedInt64(rep.Object, "configuration", "limits", "maxResults"); n != 2 {
		t.Errorf("configuration.limits.maxResults = %d, want 2", n)
	}
	if v := gaugeValue(t, Dropped.WithLabelValues("team")); int(v) != dropped {
		t.Errorf("dropped gauge %v, want %d", v, dropped)
	}

	// Room for everything again: the annotation and the series go.
	f.a.Options.MaxResults = 100
	f.run(t)
	rep = f.reportOf(t, OpenReportGVK, "team")
	if _, ok := rep.GetAnnotations()[DroppedAnnotation]; ok {
		t.Errorf("annotation kept without a drop: %v", rep.GetAnnotations())
	}
	if results, _, _ := unstructured.NestedSlice(rep.Object, "results"); len(results) != int(fail+warn) {
		t.Errorf("%d results, want all %d", len(results), fail+warn)
	}
	if n := seriesCount(Dropped); n != 0 {
		t.Errorf("dropped gauge has %d series, want 0", n)
	}
}

// secretsUnreadable makes every Secret read fail as an unreachable API
// server would.
func secretsUnreadable() interceptor.Funcs {
	fail := errors.New("connection refused")
	return interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				return fail
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
			if _, ok := l.(*corev1.SecretList); ok {
				return fail
			}
			return c.List(ctx, l, opts...)
		},
	}
}

// unanswered is an issuer that never answers.
type unanswered struct{}

func (unanswered) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	return nil, &trust.FetchError{URL: issuer, Kind: trust.Network, Err: errors.New("connection refused")}
}

func (unanswered) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	return nil, &trust.FetchError{URL: uri, Kind: trust.Network, Err: errors.New("connection refused")}
}

// The severity of each class of finding, from what the validators really
// report: the conventions Classify reads are held to here.
func TestSeverityFromRealFindings(t *testing.T) {
	p := newPKI(t)
	ra := func() client.Object {
		return fromYAML(t, &securityv1.RequestAuthentication{}, `
metadata: {namespace: team, name: jwt, uid: 22222222-0000-0000-0000-000000000009}
spec:
  jwtRules:
  - issuer: https://idp.example.test
`)
	}
	type want struct{ check, result, severity, category string }
	for _, tc := range []struct {
		name  string
		rs    trust.Resolver
		objs  []client.Object
		funcs *interceptor.Funcs
		want  want
	}{
		{"denied", nil, []client.Object{mutualGateway(t), p.secret(true)}, nil,
			want{"gateway-mtls-ca", ResultFail, SeverityHigh, CategoryGateway}},
		{"warned", nil, authPolicies(t, 1), nil,
			want{"authorizationpolicy-allow-all", ResultWarn, SeverityMedium, CategoryAuthorization}},
		{"secret unreadable", nil, []client.Object{mutualGateway(t)}, ptr(secretsUnreadable()),
			want{"gateway-tls-secret", ResultWarn, SeverityLow, CategoryGateway}},
		{"issuer unanswered", unanswered{}, []client.Object{ra()}, nil,
			want{"jwt-issuer-discovery", ResultWarn, SeverityLow, CategoryTrust}},
		{"network checks off", trust.Offline{}, []client.Object{ra()}, nil,
			want{"jwt-issuer-discovery", ResultWarn, SeverityInfo, CategoryTrust}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReportsFixture(t, []schema.GroupVersionKind{OpenReportGVK}, tc.rs, tc.objs...)
			if tc.funcs != nil {
				f.a.Reader = interceptor.NewClient(f.c, *tc.funcs)
				f.a.Reviewer.Cluster = cluster.FromReader(f.a.Reader)
			}
			f.run(t)
			rep := f.reportOf(t, OpenReportGVK, "team")
			results, _, _ := unstructured.NestedSlice(rep.Object, "results")
			var got []string
			for _, r := range results {
				m := r.(map[string]any)
				line := fmt.Sprintf("%s %s %s %s", m["rule"], m["result"], m["severity"], m["category"])
				got = append(got, line+": "+fmt.Sprint(m["message"]))
				if line == fmt.Sprintf("%s %s %s %s", tc.want.check, tc.want.result, tc.want.severity, tc.want.category) {
					return
				}
			}
			t.Errorf("no result %+v among\n%s", tc.want, strings.Join(got, "\n"))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSeverityOfInternalFindings(t *testing.T) {
	timedOut := timedOut("not finished within 1s").Warnings[0]
	if got := Severity(timedOut, false); got != SeverityInfo {
		t.Errorf("audit timeout: severity %q, want info", got)
	}
	if got := Category(timedOut.Check, core.KindRequestAuthentication); got != CategoryAuthorization {
		t.Errorf("category of an internal finding on a RequestAuthentication = %q, want authorization (by kind)", got)
	}
	if got := Category(timedOut.Check, "APIRule"); got != CategoryAPIRule {
		t.Errorf("category of an internal finding on an APIRule = %q", got)
	}
}

// Every check in the catalogue has a category of its own by its ID: a new
// ID prefix must be given one on purpose, not fall through to the kind.
func TestEveryCheckHasACategory(t *testing.T) {
	for _, c := range core.Catalog() {
		got := Category(c.ID, "")
		prefix, _, _ := strings.Cut(c.ID, "-")
		byPrefix := map[string]string{"jwt": CategoryTrust, "gateway": CategoryGateway, "apirule": CategoryAPIRule,
			"authorizationpolicy": CategoryAuthorization, "requestauthentication": CategoryAuthorization,
			"exception": CategoryException}
		want, ok := byPrefix[prefix]
		if !ok {
			t.Errorf("check %s: prefix %q has no category", c.ID, prefix)
			continue
		}
		if got != want {
			t.Errorf("check %s: category %q, want %q", c.ID, got, want)
		}
	}
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
