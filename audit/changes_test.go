package audit

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/cluster/informertest"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// changesFixture is an audit over serve's cache (informers over objects in
// memory, with audit.Indexes), watching it as serve's does, and writing
// PolicyReports to a fake API server.
type changesFixture struct {
	cache   *informertest.Cache
	reports client.Client
	a       *Auditor
	rec     *record.FakeRecorder
}

func newChangesFixture(t *testing.T, objs ...client.Object) *changesFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := informertest.New(ctx, triggers(), Indexes(), objs...)
	if err != nil {
		t.Fatal(err)
	}
	f := newChangesFixtureOver(t, ctx, c)
	if err := f.a.Run(ctx); err != nil {
		t.Fatalf("full run: %v", err)
	}
	if f.a.last.run != runFull {
		t.Fatalf("first run was %q, want full", f.a.last.run)
	}
	return f
}

// newChangesFixtureOver is an audit over c, watching it, before its first
// run.
func newChangesFixtureOver(tb testing.TB, ctx context.Context, c *informertest.Cache) *changesFixture {
	tb.Helper()
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(PolicyReportGVK, meta.RESTScopeNamespace)
	reports := fake.NewClientBuilder().WithScheme(testScheme(tb, true)).WithRESTMapper(m).Build()
	rec := record.NewFakeRecorder(100000)
	rv := &review.Reviewer{Config: config.Default(), Cluster: cluster.FromCache(c), Trust: trust.Offline{}, Now: func() time.Time { return testNow }}
	a := &Auditor{Reviewer: rv, Reader: c, Client: reports, Recorder: rec, Options: Options{Timeout: 5 * time.Second}}
	a.Watch(ctx, c.Cache)
	return &changesFixture{cache: c, reports: reports, a: a, rec: rec}
}

// change applies do to the cache and waits until the audit has recorded
// the change, as serve's informers report it.
func (f *changesFixture) change(t testing.TB, do func(*informertest.Cache) error) {
	t.Helper()
	if err := do(f.cache); err != nil {
		t.Fatal(err)
	}
	for range 600 {
		f.a.pmu.Lock()
		seen := len(f.a.pending) > 0 || f.a.pendingFull
		f.a.pmu.Unlock()
		if seen {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the audit's handlers never saw the change")
}

// runChanges runs on the recorded changes and returns what it checked.
func (f *changesFixture) runChanges(t *testing.T) lastRun {
	t.Helper()
	if err := f.a.RunChanges(context.Background()); err != nil {
		t.Fatalf("run on changes: %v", err)
	}
	return f.a.last
}

func (f *changesFixture) report(t *testing.T, ns string) reportBody {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(PolicyReportGVK)
	if err := f.reports.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: ReportName}, u); err != nil {
		t.Fatalf("report of %s: %v", ns, err)
	}
	return body(t, u)
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func service(ns, name, app string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}, Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}}
}

// changesRule is an APIRule exposing svc with one noAuth rule, through a
// Gateway that does not exist (so every rule has a finding of its own).
func changesRule(ns, name, host, svc string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"hosts":   []any{host},
			"gateway": "kyma-system/kyma-gateway",
			"service": map[string]any{"name": svc, "port": int64(8000)},
			"rules": []any{
				map[string]any{"path": "/health", "methods": []any{"GET"}, "noAuth": true},
			},
		},
	}}
	u.SetGroupVersionKind(apirule.V2)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func changesObjects(t *testing.T, p *testPKI) []client.Object {
	return []client.Object{
		namespace("team", nil), namespace("other", nil), namespace("istio-system", nil),
		service("team", "httpbin", "httpbin"), service("team", "echo", "echo"), service("other", "httpbin", "httpbin"),
		changesRule("team", "a", "a.example.com", "httpbin"),
		changesRule("team", "b", "b.example.com", "echo"),
		changesRule("other", "c", "c.example.com", "httpbin"),
		mutualGateway(t), p.secret(false),
	}
}

func sameKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	got = slices.Sorted(slices.Values(got))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestChangedServiceRechecksTheAPIRulesNamingIt(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	svc := service("team", "httpbin", "httpbin")
	svc.Labels = map[string]string{"touched": "1"}
	f.change(t, func(c *informertest.Cache) error { return c.Modify(svc) })

	last := f.runChanges(t)
	if last.run != runChanges {
		t.Fatalf("run = %q, want changes", last.run)
	}
	// Not team/b (another Service, another workload) nor other/c (a
	// Service of the same name in another namespace).
	sameKeys(t, "checked", last.checked, objKey("APIRule", "team", "a"))
}

func TestChangedSelectorRechecksAPIRulesSharingTheWorkload(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	// echo now selects httpbin's pods: team/a and team/b share a workload.
	f.change(t, func(c *informertest.Cache) error { return c.Modify(service("team", "echo", "httpbin")) })

	last := f.runChanges(t)
	sameKeys(t, "checked", last.checked, objKey("APIRule", "team", "a"), objKey("APIRule", "team", "b"))
}

func TestUnrelatedSecretRechecksNothing(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	runs := counter(t, Runs.WithLabelValues(runChanges))
	fullRuns := counter(t, Runs.WithLabelValues(runFull))
	unused := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "unused"}, Data: map[string][]byte{"k": []byte("v")}}
	f.change(t, func(c *informertest.Cache) error { return c.Add(unused) })

	last := f.runChanges(t)
	if last.run != runChanges || len(last.checked) != 0 || len(last.gone) != 0 {
		t.Errorf("last run = %+v, want a run on changes that checked nothing", last)
	}
	if got := counter(t, Runs.WithLabelValues(runChanges)); got != runs+1 {
		t.Errorf("runs on changes %v, want %v", got, runs+1)
	}
	if got := counter(t, Runs.WithLabelValues(runFull)); got != fullRuns {
		t.Errorf("full runs %v, want %v", got, fullRuns)
	}
}

func TestChangedGatewaySecretRechecksTheGateway(t *testing.T) {
	p := newPKI(t)
	f := newChangesFixture(t, changesObjects(t, p)...)
	if b := f.report(t, "team"); b.Summary["fail"] != 2 {
		// The two APIRules' missing Gateway; the gateway is fine.
		t.Fatalf("before: summary %v, want 2 fails", b.Summary)
	}
	f.change(t, func(c *informertest.Cache) error { return c.Modify(p.secret(true)) })

	last := f.runChanges(t)
	sameKeys(t, "checked", last.checked, objKey("Gateway", "team", "mtls"))
	b := f.report(t, "team")
	var gatewayFails, ruleFails int
	for _, r := range b.Results {
		switch {
		case r.Result != ResultFail:
		case r.Rule == "gateway-mtls-ca":
			gatewayFails++
		case len(r.Resources) == 1 && r.Resources[0].Kind == "APIRule":
			ruleFails++
		}
	}
	if gatewayFails != 1 || ruleFails != 2 || b.Summary["fail"] != 3 {
		t.Errorf("after: gateway fails %d, APIRule fails %d, summary %v; want 1, 2 (kept) and fail 3", gatewayFails, ruleFails, b.Summary)
	}
}

func TestChangedCACertSecretRechecksTheGateway(t *testing.T) {
	p := newPKI(t)
	f := newChangesFixture(t, changesObjects(t, p)...)
	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "gw-cred-cacert"}, Data: map[string][]byte{"cacert": p.ca.CertPEM}}
	f.change(t, func(c *informertest.Cache) error { return c.Add(ca) })

	sameKeys(t, "checked", f.runChanges(t).checked, objKey("Gateway", "team", "mtls"))
}

func TestNamespaceLabelRechecksItsObjects(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	f.change(t, func(c *informertest.Cache) error {
		return c.Modify(namespace("team", map[string]string{"istio-injection": "enabled"}))
	})

	sameKeys(t, "checked", f.runChanges(t).checked,
		objKey("APIRule", "team", "a"), objKey("APIRule", "team", "b"), objKey("Gateway", "team", "mtls"))
}

func TestMeshConfigMapRunsInFull(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	mesh := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"},
		Data: map[string]string{"mesh": "rootNamespace: istio-system\n"}}
	f.change(t, func(c *informertest.Cache) error { return c.Add(mesh) })

	last := f.runChanges(t)
	if last.run != runFull || len(last.checked) != 4 {
		t.Errorf("run %q checked %d objects, want a full run of all 4", last.run, len(last.checked))
	}
}

func TestOtherConfigMapRechecksNothing(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	lock := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-leader"}, Data: map[string]string{"holder": "x"}}
	f.change(t, func(c *informertest.Cache) error { return c.Add(lock) })

	last := f.runChanges(t)
	if last.run != runChanges || len(last.checked) != 0 {
		t.Errorf("last run = %+v, want a run on changes that checked nothing", last)
	}
}

// After a run on changes the reports are what a full run writes: the
// untouched objects' results kept, the changed ones' replaced, a deleted
// object's gone, and a namespace left without audited objects without a
// report.
func TestReportsAfterChangesMatchAFullRun(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	before := f.report(t, "team")
	hasRule := func(b reportBody, name string) bool {
		return slices.ContainsFunc(b.Results, func(r reportResult) bool {
			return len(r.Resources) == 1 && r.Resources[0].Kind == "APIRule" && r.Resources[0].Name == name
		})
	}
	if !hasRule(before, "a") || !hasRule(before, "b") {
		t.Fatalf("before: results %+v lack APIRules a and b", before.Results)
	}

	// a's host changes: a re-checked, b kept.
	moved := changesRule("team", "a", "moved.example.com", "httpbin")
	f.change(t, func(c *informertest.Cache) error { return c.Modify(moved) })
	sameKeys(t, "checked", f.runChanges(t).checked, objKey("APIRule", "team", "a"))
	afterMove := f.report(t, "team")
	if !hasRule(afterMove, "a") || !hasRule(afterMove, "b") {
		t.Errorf("after the move: results %+v lack APIRules a or b", afterMove.Results)
	}
	if afterMove.Summary["pass"] != before.Summary["pass"] || afterMove.Summary["fail"] != before.Summary["fail"] {
		t.Errorf("after the move: summary %v, want %v", afterMove.Summary, before.Summary)
	}

	// b is deleted, then other/c, which leaves namespace other empty.
	f.change(t, func(c *informertest.Cache) error { return c.Delete(changesRule("team", "b", "b.example.com", "echo")) })
	last := f.runChanges(t)
	sameKeys(t, "gone", last.gone, objKey("APIRule", "team", "b"))
	sameKeys(t, "checked", last.checked)
	f.change(t, func(c *informertest.Cache) error {
		return c.Delete(changesRule("other", "c", "c.example.com", "httpbin"))
	})
	sameKeys(t, "gone", f.runChanges(t).gone, objKey("APIRule", "other", "c"))
	afterDelete := f.report(t, "team")
	if hasRule(afterDelete, "b") || !hasRule(afterDelete, "a") {
		t.Errorf("after deleting b: results %+v, want a's and no b's", afterDelete.Results)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(PolicyReportGVK)
	if err := f.reports.Get(context.Background(), client.ObjectKey{Namespace: "other", Name: ReportName}, u); err == nil {
		t.Error("namespace other has no audited objects left but still a report")
	}

	// A full run now writes the same.
	if err := f.a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	full := f.report(t, "team")
	if !sameJSON(full, afterDelete) {
		t.Errorf("full run's report\n%+v\ndiffers from the run on changes'\n%+v", full, afterDelete)
	}
}

// The changed audited object itself is re-checked, and only its new
// findings are announced.
func TestChangedGatewayIsRecheckedAndAnnounced(t *testing.T) {
	p := newPKI(t)
	f := newChangesFixture(t, changesObjects(t, p)...)
	drain(f.rec)
	gw := mutualGateway(t).(*networkingv1.Gateway)
	gw.Spec.Servers[0].Tls.CredentialName = "missing"
	f.change(t, func(c *informertest.Cache) error { return c.Modify(gw) })

	sameKeys(t, "checked", f.runChanges(t).checked, objKey("Gateway", "team", "mtls"))
	events := drain(f.rec)
	if len(events) == 0 {
		t.Fatal("no event for the gateway's new finding")
	}
	for _, e := range events {
		// The APIRules' findings were announced by the first run.
		if strings.Contains(e, "kyma-gateway") {
			t.Errorf("event %q repeats an APIRule's finding", e)
		}
	}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func policyObjects(t *testing.T) []client.Object {
	return []client.Object{
		namespace("team", nil), namespace("other", nil),
		fromYAML(t, &securityv1.AuthorizationPolicy{}, `
metadata: {namespace: team, name: allow}
spec:
  action: ALLOW
  rules: [{from: [{source: {requestPrincipals: ["https://issuer.example.com/*"]}}]}]
`),
		fromYAML(t, &securityv1.AuthorizationPolicy{}, `
metadata: {namespace: other, name: allow}
spec:
  action: ALLOW
  rules: [{from: [{source: {requestPrincipals: ["https://issuer.example.com/*"]}}]}]
`),
	}
}

// A RequestAuthentication concerns the policies of its namespace (and of
// the root namespace); a changed policy concerns only itself.
func TestPolicyChanges(t *testing.T) {
	f := newChangesFixture(t, policyObjects(t)...)
	ra := fromYAML(t, &securityv1.RequestAuthentication{}, `
metadata: {namespace: team, name: jwt}
spec:
  jwtRules: [{issuer: "https://issuer.example.com", jwksUri: "https://issuer.example.com/jwks"}]
`)
	f.change(t, func(c *informertest.Cache) error { return c.Add(ra) })
	sameKeys(t, "checked after a RequestAuthentication", f.runChanges(t).checked,
		objKey("RequestAuthentication", "team", "jwt"), objKey("AuthorizationPolicy", "team", "allow"))

	ap := fromYAML(t, &securityv1.AuthorizationPolicy{}, `
metadata: {namespace: other, name: allow}
spec:
  action: ALLOW
  rules: [{from: [{source: {requestPrincipals: ["https://other.example.com/*"]}}]}]
`)
	f.change(t, func(c *informertest.Cache) error { return c.Modify(ap) })
	sameKeys(t, "checked after a policy", f.runChanges(t).checked, objKey("AuthorizationPolicy", "other", "allow"))
}

// Changes the index cannot answer (here: no dependency index in the
// cache) run in full.
func TestWithoutTheIndexRunsInFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := informertest.New(ctx, triggers(), nil, changesObjects(t, newPKI(t))...)
	if err != nil {
		t.Fatal(err)
	}
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(PolicyReportGVK, meta.RESTScopeNamespace)
	reports := fake.NewClientBuilder().WithScheme(testScheme(t, true)).WithRESTMapper(m).Build()
	rv := &review.Reviewer{Config: config.Default(), Cluster: cluster.FromCache(c), Trust: trust.Offline{}, Now: func() time.Time { return testNow }}
	a := &Auditor{Reviewer: rv, Reader: c, Client: reports, Options: Options{Timeout: 5 * time.Second}}
	a.Watch(ctx, c.Cache)
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	f := &changesFixture{cache: c, reports: reports, a: a}
	f.change(t, func(c *informertest.Cache) error { return c.Modify(service("team", "httpbin", "other")) })
	if last := f.runChanges(t); last.run != runFull || len(last.checked) != 4 {
		t.Errorf("last run = %+v, want a full run of all 4 objects", last)
	}
}

// APIRules on one workload warn of each other: a changed rule concerns the
// others there, a new host only the APIRule itself.
func TestAPIRuleUpdateRechecksSharersOnlyWhenItsWorkloadUseChanges(t *testing.T) {
	objs := append(changesObjects(t, newPKI(t)), changesRule("team", "a2", "a2.example.com", "httpbin"))
	f := newChangesFixture(t, objs...)

	f.change(t, func(c *informertest.Cache) error {
		return c.Modify(changesRule("team", "a2", "moved.example.com", "httpbin"))
	})
	sameKeys(t, "checked after a new host", f.runChanges(t).checked, objKey("APIRule", "team", "a2"))

	protected := changesRule("team", "a2", "moved.example.com", "httpbin")
	rules := []any{map[string]any{"path": "/health", "methods": []any{"GET"},
		"jwt": map[string]any{"authentications": []any{map[string]any{"issuer": "https://issuer.example.com", "jwksUri": "https://issuer.example.com/jwks"}}}}}
	if err := unstructured.SetNestedSlice(protected.Object, rules, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	f.change(t, func(c *informertest.Cache) error { return c.Modify(protected) })
	sameKeys(t, "checked after a jwt rule", f.runChanges(t).checked, objKey("APIRule", "team", "a"), objKey("APIRule", "team", "a2"))
}

// reportGets counts the reads of reports.
type reportGets struct {
	client.Client
	n int
}

func (c *reportGets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.n++
	return c.Client.Get(ctx, key, obj, opts...)
}

// A run on changes updates the report it wrote last without reading it
// back, and still ends with what a full run writes when someone else
// changed or deleted the report in between.
func TestReportsWrittenFromMemory(t *testing.T) {
	f := newChangesFixture(t, changesObjects(t, newPKI(t))...)
	gets := &reportGets{Client: f.reports}
	f.a.Client = gets
	full := func() reportBody {
		t.Helper()
		if err := f.a.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return f.report(t, "team")
	}
	// a's Service changes its findings (the sidecar warning names it).
	expose := func(host, svc string) reportBody {
		t.Helper()
		f.change(t, func(c *informertest.Cache) error { return c.Modify(changesRule("team", "a", host, svc)) })
		gets.n = 0
		f.runChanges(t)
		return f.report(t, "team")
	}
	stored := func() *unstructured.Unstructured {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(PolicyReportGVK)
		if err := f.reports.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: ReportName}, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	check := func(what string, got reportBody) {
		t.Helper()
		if want := full(); !sameJSON(got, want) || len(got.Results) == 0 {
			t.Errorf("%s:\n%+v\na full run:\n%+v", what, got, want)
		}
	}

	got := expose("a.example.com", "echo")
	if gets.n != 0 {
		t.Errorf("the run read the report it wrote last %d times", gets.n)
	}
	check("from memory", got)

	// Someone else updates the report: the update from memory conflicts,
	// the run reads it and writes again, keeping their label.
	u := stored()
	u.SetLabels(map[string]string{ManagedByLabel: managedBy, "viewer": "seen"})
	_ = unstructured.SetNestedSlice(u.Object, []any{}, "results")
	if err := f.reports.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	got = expose("a.example.com", "httpbin")
	if gets.n != 1 {
		t.Errorf("after someone else's update the run read the report %d times, want once", gets.n)
	}
	if l := stored().GetLabels(); l["viewer"] != "seen" {
		t.Errorf("their label is gone: %v", l)
	}
	check("after a conflict", got)

	// Someone deletes it: the update finds nothing, the run creates it.
	if err := f.reports.Delete(context.Background(), stored()); err != nil {
		t.Fatal(err)
	}
	check("after a delete", expose("a.example.com", "echo"))

	// A change that leaves the findings as this replica wrote them writes
	// nothing, even if someone else deleted the report meanwhile: the next
	// full run, which lists the reports, writes it again.
	if err := f.reports.Delete(context.Background(), stored()); err != nil {
		t.Fatal(err)
	}
	f.change(t, func(c *informertest.Cache) error {
		return c.Modify(changesRule("team", "a", "moved.example.com", "echo"))
	})
	f.runChanges(t)
	if len(full().Results) == 0 {
		t.Error("the full run did not write the deleted report again")
	}
}
