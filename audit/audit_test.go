package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// testScheme mirrors cluster.Scheme, with the PolicyReport kinds when the
// CRD is to look installed.
func testScheme(t testing.TB, reports bool) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, networkingv1.AddToScheme, securityv1.AddToScheme, certmanagerv1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	gvks := []schema.GroupVersionKind{apirule.V2, cluster.GardenerCertificate, cluster.KymaIstio}
	if reports {
		gvks = append(gvks, PolicyReportGVK)
	}
	for _, gvk := range gvks {
		s.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
		s.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &unstructured.UnstructuredList{})
	}
	return s
}

// pki is a CA, a server certificate it signs, and an expired CA.
type testPKI struct{ ca, leaf, expiredCA *pkitest.Cert }

func newPKI(t *testing.T) *testPKI {
	ca := pkitest.New(t, pkitest.Options{CN: "client-ca", CA: true, Now: testNow})
	return &testPKI{
		ca:   ca,
		leaf: pkitest.New(t, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com"}, Parent: ca, Now: testNow}),
		expiredCA: pkitest.New(t, pkitest.Options{CN: "old-client-ca", CA: true, Now: testNow,
			NotBefore: testNow.Add(-2 * 365 * 24 * time.Hour), NotAfter: testNow.Add(-24 * time.Hour)}),
	}
}

func (p *testPKI) secret(expired bool) *corev1.Secret {
	ca := p.ca.CertPEM
	if expired {
		ca = p.expiredCA.CertPEM
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "gw-cred"},
		Data:       map[string][]byte{"cert": p.leaf.CertPEM, "key": p.leaf.KeyPEM, "cacert": ca},
	}
}

func fromYAML(t *testing.T, into client.Object, y string) client.Object {
	t.Helper()
	if err := yaml.Unmarshal([]byte(y), into); err != nil {
		t.Fatal(err)
	}
	return into
}

func mutualGateway(t *testing.T) client.Object {
	return fromYAML(t, &networkingv1.Gateway{}, `
metadata: {namespace: team, name: mtls, uid: 11111111-0000-0000-0000-000000000001}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: MUTUAL, credentialName: gw-cred}
`)
}

func plainGateway(t *testing.T) client.Object {
	return fromYAML(t, &networkingv1.Gateway{}, `
metadata: {namespace: ok, name: plain, uid: 11111111-0000-0000-0000-000000000002}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["plain.example.com"]
`)
}

// noWritesToAudited fails the test when the audit (while auditing is set)
// writes one of the kinds it checks: it only reads them.
func noWritesToAudited(t *testing.T, auditing *atomic.Bool) interceptor.Funcs {
	audited := func(obj client.Object) bool {
		if !auditing.Load() {
			return false
		}
		switch obj.(type) {
		case *networkingv1.Gateway, *securityv1.RequestAuthentication, *securityv1.AuthorizationPolicy:
			return true
		case *unstructured.Unstructured:
			return obj.GetObjectKind().GroupVersionKind().Group == apirule.Group
		}
		return false
	}
	return interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if audited(obj) {
				t.Errorf("audit updated %T %s", obj, obj.GetName())
			}
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			if audited(obj) {
				t.Errorf("audit patched %T %s", obj, obj.GetName())
			}
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if audited(obj) {
				t.Errorf("audit deleted %T %s", obj, obj.GetName())
			}
			return c.Delete(ctx, obj, opts...)
		},
	}
}

type fixture struct {
	auditing atomic.Bool
	c        client.WithWatch
	rec      *record.FakeRecorder
	a        *Auditor
}

func newFixture(t *testing.T, reports bool, rs trust.Resolver, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{}
	b := fake.NewClientBuilder().WithScheme(testScheme(t, reports)).WithObjects(objs...).
		WithInterceptorFuncs(noWritesToAudited(t, &f.auditing))
	if reports {
		// The fake client's mapper knows nothing by default: this is the
		// installed CRD.
		m := meta.NewDefaultRESTMapper(nil)
		m.Add(PolicyReportGVK, meta.RESTScopeNamespace)
		b = b.WithRESTMapper(m)
	}
	c := b.Build()
	if rs == nil {
		rs = trust.Offline{}
	}
	f.c = c
	f.a, f.rec = f.auditor(rs)
	return f
}

// auditor is a fresh Auditor over the fixture's cluster, as after a restart.
func (f *fixture) auditor(rs trust.Resolver) (*Auditor, *record.FakeRecorder) {
	rec := record.NewFakeRecorder(100)
	rv := &review.Reviewer{Config: config.Default(), Cluster: cluster.FromReader(f.c), Trust: rs, Now: func() time.Time { return testNow }}
	return &Auditor{Reviewer: rv, Reader: f.c, Client: f.c, Recorder: rec, Options: Options{Timeout: 5 * time.Second}}, rec
}

func (f *fixture) run(t *testing.T) { f.runWith(t, f.a) }

func (f *fixture) runWith(t *testing.T, a *Auditor) {
	t.Helper()
	f.auditing.Store(true)
	defer f.auditing.Store(false)
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) report(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(PolicyReportGVK)
	err := f.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: ReportName}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type reportResult struct {
	Policy     string            `json:"policy"`
	Rule       string            `json:"rule"`
	Result     string            `json:"result"`
	Message    string            `json:"message"`
	Source     string            `json:"source"`
	Properties map[string]string `json:"properties"`
	Timestamp  struct {
		Seconds int64 `json:"seconds"`
	} `json:"timestamp"`
	Resources []objectRef `json:"resources"`
}

type reportBody struct {
	Results []reportResult   `json:"results"`
	Summary map[string]int64 `json:"summary"`
}

func body(t *testing.T, u *unstructured.Unstructured) reportBody {
	t.Helper()
	raw, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var b reportBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunReportsExpiredClientCA(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, true, nil, mutualGateway(t), plainGateway(t), p.secret(true))
	gwBefore := &networkingv1.Gateway{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "mtls"}, gwBefore); err != nil {
		t.Fatal(err)
	}

	f.run(t)

	rep := f.report(t, "team")
	if rep == nil {
		t.Fatal("no PolicyReport in namespace team")
	}
	if rep.GetLabels()[ManagedByLabel] != "gatewarden" {
		t.Errorf("report labels = %v, want %s=gatewarden", rep.GetLabels(), ManagedByLabel)
	}
	b := body(t, rep)
	if len(b.Results) != 1 {
		t.Fatalf("want 1 result, got %+v", b.Results)
	}
	r := b.Results[0]
	if r.Policy != "gatewarden" || r.Source != "gatewarden" || r.Rule != "gateway-mtls-ca" || r.Result != "fail" {
		t.Errorf("result = %+v, want policy/source gatewarden, rule gateway-mtls-ca, result fail", r)
	}
	if !strings.HasPrefix(r.Message, "spec.servers[0].tls.credentialName: ") || !strings.Contains(r.Message, "expired") {
		t.Errorf("message %q should be field: message about the expired CA", r.Message)
	}
	if r.Properties["field"] != "spec.servers[0].tls.credentialName" {
		t.Errorf("properties = %v", r.Properties)
	}
	want := objectRef{APIVersion: "networking.istio.io/v1", Kind: "Gateway", Namespace: "team", Name: "mtls", UID: "11111111-0000-0000-0000-000000000001"}
	if len(r.Resources) != 1 || r.Resources[0] != want {
		t.Errorf("resources = %+v, want [%+v]", r.Resources, want)
	}
	if r.Timestamp.Seconds != testNow.Unix() && r.Timestamp.Seconds < time.Now().Add(-time.Minute).Unix() {
		t.Errorf("timestamp %d is not the run's time", r.Timestamp.Seconds)
	}
	if b.Summary["fail"] != 1 || b.Summary["warn"] != 0 || b.Summary["pass"] == 0 {
		t.Errorf("summary = %v, want fail 1, warn 0, some passes", b.Summary)
	}

	// A namespace with audited objects and no findings has an empty report.
	okRep := f.report(t, "ok")
	if okRep == nil {
		t.Fatal("no PolicyReport in namespace ok")
	}
	if ob := body(t, okRep); len(ob.Results) != 0 || ob.Summary["fail"] != 0 || ob.Summary["pass"] == 0 {
		t.Errorf("ok report = %+v, want no results and passes", ob)
	}

	events := drain(f.rec)
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning GatewardenAudit would be denied: spec.servers[0].tls.credentialName: ") ||
		!strings.Contains(events[0], "[gateway-mtls-ca]") {
		t.Errorf("events = %q, want one Warning GatewardenAudit about gateway-mtls-ca", events)
	}
	if v := gaugeValue(t, Violations.WithLabelValues("gateway-mtls-ca", "Gateway", "team")); v != 1 {
		t.Errorf("gauge gateway-mtls-ca/Gateway/team = %v, want 1", v)
	}
	if n := seriesCount(Violations); n != 1 {
		t.Errorf("gauge has %d series, want 1", n)
	}

	gwAfter := &networkingv1.Gateway{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "mtls"}, gwAfter); err != nil {
		t.Fatal(err)
	}
	if gwAfter.ResourceVersion != gwBefore.ResourceVersion {
		t.Errorf("the audited Gateway was written: resourceVersion %s -> %s", gwBefore.ResourceVersion, gwAfter.ResourceVersion)
	}

	// Nothing changed: no new events and the report is not rewritten.
	rv := rep.GetResourceVersion()
	f.run(t)
	if ev := drain(f.rec); len(ev) != 0 {
		t.Errorf("unchanged finding recorded again: %q", ev)
	}
	if got := f.report(t, "team").GetResourceVersion(); got != rv {
		t.Errorf("unchanged report was rewritten (resourceVersion %s -> %s)", rv, got)
	}

	// Fixed: the entry clears, the gauge drops, no event.
	if err := f.c.Update(context.Background(), p.secret(false)); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if b := body(t, f.report(t, "team")); len(b.Results) != 0 || b.Summary["fail"] != 0 {
		t.Errorf("fixed finding still reported: %+v", b)
	}
	if ev := drain(f.rec); len(ev) != 0 {
		t.Errorf("events after the fix: %q", ev)
	}
	if n := seriesCount(Violations); n != 0 {
		t.Errorf("gauge has %d series after the fix, want 0", n)
	}

	// Broken again: a new finding, so a new event.
	if err := f.c.Update(context.Background(), p.secret(true)); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if ev := drain(f.rec); len(ev) != 1 {
		t.Errorf("want one event for the finding that came back, got %q", ev)
	}

	// The namespace has nothing to audit any more: its report goes.
	if err := f.c.Delete(context.Background(), mutualGateway(t)); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if rep := f.report(t, "team"); rep != nil {
		t.Errorf("report of a namespace without audited objects kept: %+v", body(t, rep))
	}
	if f.report(t, "ok") == nil {
		t.Error("report of namespace ok deleted")
	}
}

func TestRestartDoesNotRepeatEvents(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, true, nil, mutualGateway(t), p.secret(true))
	f.run(t)
	if ev := drain(f.rec); len(ev) != 1 {
		t.Fatalf("first run: want 1 event, got %q", ev)
	}

	// A new leader reads the existing report: nothing new to announce.
	a2, rec2 := f.auditor(trust.Offline{})
	f.runWith(t, a2)
	if ev := drain(rec2); len(ev) != 0 {
		t.Errorf("a restarted audit repeated events: %q", ev)
	}

	// Without the report there is nothing to go by: the finding is new.
	if err := f.c.Delete(context.Background(), f.report(t, "team")); err != nil {
		t.Fatal(err)
	}
	a3, rec3 := f.auditor(trust.Offline{})
	f.runWith(t, a3)
	if ev := drain(rec3); len(ev) != 1 {
		t.Errorf("want 1 event without a prior report, got %q", ev)
	}
}

func TestWithoutPolicyReportCRD(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, false, nil, mutualGateway(t), p.secret(true))
	f.run(t) // no error: reports are optional
	if ev := drain(f.rec); len(ev) != 1 {
		t.Errorf("events still expected without the CRD, got %q", ev)
	}
	if v := gaugeValue(t, Violations.WithLabelValues("gateway-mtls-ca", "Gateway", "team")); v != 1 {
		t.Errorf("gauge = %v, want 1", v)
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(policyReportListGVK)
	if err := f.c.List(context.Background(), l); err == nil && len(l.Items) > 0 {
		t.Errorf("reports written without the CRD: %d", len(l.Items))
	}
}

// stuck is an issuer that never answers and ignores cancellation.
type stuck struct {
	release chan struct{}
}

func (s *stuck) Discover(ctx context.Context, issuer string) (*trust.Discovery, error) {
	<-s.release
	return nil, &trust.FetchError{URL: issuer, Kind: trust.Network, Err: context.DeadlineExceeded}
}

func (s *stuck) JWKS(ctx context.Context, uri string) (*trust.KeySet, error) {
	<-s.release
	return nil, &trust.FetchError{URL: uri, Kind: trust.Network, Err: context.DeadlineExceeded}
}

func TestSlowIssuerDoesNotStallTheRest(t *testing.T) {
	p := newPKI(t)
	ra := fromYAML(t, &securityv1.RequestAuthentication{}, `
metadata: {namespace: slow, name: jwt, uid: 22222222-0000-0000-0000-000000000001}
spec:
  jwtRules:
  - issuer: https://slow.example.test
`)
	rs := &stuck{release: make(chan struct{})}
	defer close(rs.release)
	f := newFixture(t, true, rs, ra, mutualGateway(t), p.secret(true))
	f.a.Options = Options{Timeout: 200 * time.Millisecond, Workers: 1}

	start := time.Now()
	f.run(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %s with a 200ms per-object timeout", d)
	}
	// The gateway after the stuck object was still checked.
	if b := body(t, f.report(t, "team")); len(b.Results) != 1 || b.Results[0].Rule != "gateway-mtls-ca" {
		t.Errorf("team report = %+v, want the gateway-mtls-ca finding", b)
	}
	b := body(t, f.report(t, "slow"))
	if len(b.Results) != 1 || b.Results[0].Result != "warn" || !strings.Contains(b.Results[0].Message, "not finished within 200ms") {
		t.Errorf("slow report = %+v, want one warning that the audit did not finish", b)
	}
}

func TestCheckOrderAndWorkers(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, true, nil, mutualGateway(t), plainGateway(t), p.secret(true))
	targets, err := List(context.Background(), f.c, "")
	if err != nil {
		t.Fatal(err)
	}
	out := Check(context.Background(), f.a.Reviewer, targets, 8, time.Second)
	if len(out) != 2 || out[0].Target.Object.GetName() != "plain" || out[1].Target.Object.GetName() != "mtls" {
		t.Fatalf("outcomes not in target order: %+v", out)
	}
	if !out[0].Result.Allowed || out[1].Result.Allowed {
		t.Errorf("allowed = %v, %v; want plain allowed, mtls denied", out[0].Result.Allowed, out[1].Result.Allowed)
	}
}

// Workers wait for admissions in flight before each object, and still check
// every object when admissions never stop.
func TestCheckYieldsToAdmissions(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, true, nil, mutualGateway(t), plainGateway(t), p.secret(true))
	targets, err := List(context.Background(), f.c, "")
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	busy := func() bool {
		asked.Add(1)
		return true // an admission is always in flight
	}
	out := check(context.Background(), f.a.Reviewer, targets, 1, 0, time.Second, busy)
	if len(out) != 2 || out[0].Result == nil || out[1].Result == nil || out[0].TimedOut || out[1].TimedOut {
		t.Fatalf("under constant load the objects were not all checked: %+v", out)
	}
	// Each object waits until MaxYield has passed: busy is asked many times
	// per object, not once.
	if asked.Load() < 2*2 {
		t.Errorf("busy asked %d times for 2 objects", asked.Load())
	}
	// A worker waits until the admissions in flight are answered: busy is
	// asked until it says no, then the object is checked.
	var calls int
	out = check(context.Background(), f.a.Reviewer, targets[:1], 1, 0, time.Second, func() bool {
		calls++
		return calls <= 3
	})
	if calls != 4 || len(out) != 1 || out[0].Result == nil {
		t.Errorf("busy asked %d times (want 4: three yes, one no), outcomes %+v", calls, out)
	}
}

func TestList(t *testing.T) {
	v2 := &unstructured.Unstructured{}
	v2.SetGroupVersionKind(apirule.V2)
	v2.SetNamespace("team")
	v2.SetName("current")
	v2.SetUID(types.UID("u1"))
	_ = unstructured.SetNestedStringSlice(v2.Object, []string{"current.example.com"}, "spec", "hosts")
	legacy := v2.DeepCopy()
	legacy.SetName("legacy")
	unstructured.RemoveNestedField(legacy.Object, "spec", "hosts")
	_ = unstructured.SetNestedField(legacy.Object, "legacy.example.com", "spec", "host")
	ap := fromYAML(t, &securityv1.AuthorizationPolicy{}, `
metadata: {namespace: other, name: allow}
spec: {action: ALLOW}
`)
	c := fake.NewClientBuilder().WithScheme(testScheme(t, false)).WithObjects(v2, legacy, ap, mutualGateway(t)).Build()

	all, err := List(context.Background(), c, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range all {
		got = append(got, tg.GVK.GroupVersion().String()+" "+tg.GVK.Kind+" "+tg.Object.GetNamespace()+"/"+tg.Object.GetName())
		if tg.Raw != nil {
			t.Errorf("%s encoded at listing: a full run would hold every object twice", tg.Object.GetName())
		}
		if tg, err = tg.load(); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(tg.Raw, &m); err != nil || m["kind"] != tg.GVK.Kind || m["apiVersion"] != tg.GVK.GroupVersion().String() {
			t.Errorf("raw of %s lacks its kind and apiVersion: %s", tg.Object.GetName(), tg.Raw)
		}
	}
	want := []string{
		"security.istio.io/v1 AuthorizationPolicy other/allow",
		"gateway.kyma-project.io/v2 APIRule team/current",
		"gateway.kyma-project.io/v1beta1 APIRule team/legacy",
		"networking.istio.io/v1 Gateway team/mtls",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("List =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	team, err := List(context.Background(), c, "team")
	if err != nil {
		t.Fatal(err)
	}
	if len(team) != 3 {
		t.Errorf("List(team) = %d targets, want 3", len(team))
	}

	// Kinds the cluster does not have are skipped, not errors.
	bare := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(bare))
	none, err := List(context.Background(), fake.NewClientBuilder().WithScheme(bare).Build(), "")
	if err != nil || len(none) != 0 {
		t.Errorf("List without the kinds = %d, %v; want none, no error", len(none), err)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 1000)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// pacerSeen records whether fetches came with the audit's pacer.
type pacerSeen struct{ paced, unpaced atomic.Int64 }

func (p *pacerSeen) note(ctx context.Context) {
	if trust.PacerFrom(ctx) != nil {
		p.paced.Add(1)
	} else {
		p.unpaced.Add(1)
	}
}

func (p *pacerSeen) Discover(ctx context.Context, issuer string) (*trust.Discovery, error) {
	p.note(ctx)
	return &trust.Discovery{Issuer: issuer, JWKSURI: issuer + "/jwks"}, nil
}

func (p *pacerSeen) JWKS(ctx context.Context, uri string) (*trust.KeySet, error) {
	p.note(ctx)
	return nil, &trust.FetchError{URL: uri, Kind: trust.Status, Err: context.Canceled}
}

func TestAuditFetchesArePaced(t *testing.T) {
	ra := fromYAML(t, &securityv1.RequestAuthentication{}, `
metadata: {namespace: team, name: jwt, uid: 22222222-0000-0000-0000-000000000002}
spec:
  jwtRules:
  - issuer: https://idp.example.test
`)
	for _, tc := range []struct {
		name      string
		rate      float64
		wantPaced bool
	}{
		{"default rate", 0, true},
		{"explicit rate", 50, true},
		{"unpaced", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &pacerSeen{}
			f := newFixture(t, true, rs, ra.DeepCopyObject().(client.Object))
			f.a.Options.FetchRate = tc.rate
			f.run(t)
			if tc.wantPaced && (rs.paced.Load() == 0 || rs.unpaced.Load() != 0) {
				t.Errorf("paced %d, unpaced %d: want every audit fetch paced", rs.paced.Load(), rs.unpaced.Load())
			}
			if !tc.wantPaced && rs.paced.Load() != 0 {
				t.Errorf("paced %d with FetchRate %v", rs.paced.Load(), tc.rate)
			}
		})
	}
	// The live check calls Check directly: an operator at a terminal is
	// not paced.
	rs := &pacerSeen{}
	f := newFixture(t, true, rs, ra)
	targets, err := List(context.Background(), f.c, "")
	if err != nil {
		t.Fatal(err)
	}
	Check(context.Background(), f.a.Reviewer, targets, 1, time.Second)
	if rs.paced.Load() != 0 || rs.unpaced.Load() == 0 {
		t.Errorf("Check: paced %d, unpaced %d; want unpaced", rs.paced.Load(), rs.unpaced.Load())
	}
}

// The audit judges a stored object as its next write would be judged: the
// webhook's defaults are computed (and returned, never written) first.
func TestCheckAppliesDefaultsFirst(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, true, nil, mutualGateway(t), p.secret(false))
	targets, err := List(context.Background(), f.c, "")
	if err != nil {
		t.Fatal(err)
	}
	out := Check(context.Background(), f.a.Reviewer, targets, 1, time.Second)
	if len(out) != 1 || !out[0].Result.Allowed {
		t.Fatalf("outcomes %+v, want the valid gateway allowed", out)
	}
	var paths []string
	for _, op := range out[0].Result.Patch {
		paths = append(paths, op.Path)
	}
	if got := strings.Join(paths, " "); !strings.Contains(got, "/spec/servers/0/tls/minProtocolVersion") {
		t.Errorf("patch paths %q, want the minProtocolVersion default", got)
	}
	f.run(t) // and the audit run writes none of it (noWritesToAudited)
}

// A namespace being deleted refuses the report: that is not an audit error,
// and the other namespaces still get theirs.
func TestTerminatingNamespaceIsNotAnError(t *testing.T) {
	p := newPKI(t)
	f := newFixture(t, true, nil, mutualGateway(t), plainGateway(t), p.secret(true))
	f.a.Client = interceptor.NewClient(f.c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if obj.GetNamespace() == "team" && obj.GetObjectKind().GroupVersionKind() == PolicyReportGVK {
				err := apierrors.NewForbidden(schema.GroupResource{Group: "wgpolicyk8s.io", Resource: "policyreports"}, obj.GetName(),
					fmt.Errorf("unable to create new content in namespace team because it is being terminated"))
				err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "team"}}
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	f.run(t) // fails the test on an error
	if f.report(t, "team") != nil {
		t.Error("report written into the terminating namespace")
	}
	if f.report(t, "ok") == nil {
		t.Error("the other namespace got no report")
	}
}

// onCPU is an issuer whose discovery stands for a check's CPU work (it
// counts how many run at once) or, with fetching, for a fetch: it calls
// trust.FetchWait and holds until want of them wait together.
type onCPU struct {
	fetching    bool
	want        int64
	inside, top atomic.Int64
	together    chan struct{}
	once        sync.Once
}

func (o *onCPU) Discover(ctx context.Context, issuer string) (*trust.Discovery, error) {
	if o.fetching {
		resumed := trust.FetchWait(ctx)
		defer resumed()
	}
	n := o.inside.Add(1)
	defer o.inside.Add(-1)
	for {
		top := o.top.Load()
		if n <= top || o.top.CompareAndSwap(top, n) {
			break
		}
	}
	if n >= o.want {
		o.once.Do(func() { close(o.together) })
	}
	select {
	case <-o.together:
	case <-time.After(300 * time.Millisecond):
	}
	return &trust.Discovery{Issuer: issuer, JWKSURI: issuer + "/jwks"}, nil
}

func (o *onCPU) JWKS(ctx context.Context, uri string) (*trust.KeySet, error) {
	return nil, &trust.FetchError{URL: uri, Kind: trust.Status, Err: context.Canceled}
}

// The audit checks at most Options.CPU objects on the CPU at once, so that
// a P stays free for admissions, and an object waiting on a fetch gives its
// slot to another.
func TestCheckBoundsCPU(t *testing.T) {
	var objs []client.Object
	for i := 0; i < 4; i++ {
		objs = append(objs, fromYAML(t, &securityv1.RequestAuthentication{}, fmt.Sprintf(`
metadata: {namespace: team, name: jwt-%d}
spec:
  jwtRules:
  - issuer: https://idp-%d.example.test
`, i, i)))
	}
	f := newFixture(t, false, nil, objs...)
	targets, err := List(context.Background(), f.c, "")
	if err != nil || len(targets) != 4 {
		t.Fatalf("targets %d, %v", len(targets), err)
	}
	for _, tc := range []struct {
		name     string
		cpu      int
		fetching bool
		wantTop  int64
	}{
		{"one slot: one at a time", 1, false, 1},
		{"unbounded: all four workers at once", 0, false, 4},
		{"one slot, waiting on fetches: all four", 1, true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &onCPU{fetching: tc.fetching, want: 4, together: make(chan struct{})}
			rv := *f.a.Reviewer
			rv.Trust = rs
			out := check(context.Background(), &rv, targets, 4, tc.cpu, 5*time.Second, nil)
			for _, o := range out {
				if o.Result == nil || o.TimedOut {
					t.Fatalf("not checked: %+v", o)
				}
			}
			if got := rs.top.Load(); got != tc.wantTop {
				t.Errorf("at most %d checks ran at once, want %d", got, tc.wantTop)
			}
		})
	}
}

// A worker rests as long as its object took, and never longer than
// MaxRest: an object that waited an hour on an issuer costs 5 ms of rest.
func TestRestFollowsTheObject(t *testing.T) {
	for _, took := range []time.Duration{2 * time.Millisecond, time.Hour} {
		start := time.Now()
		rest(context.Background(), took)
		if got := time.Since(start); got < min(took, MaxRest) {
			t.Errorf("after an object of %s, rested %s", took, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rest(ctx, time.Hour) // returns at once: the run is over
}
