package audit

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// newExceptionFixture is newFixture with the GatewardenException CRD
// installed.
func newExceptionFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{}
	s := testScheme(t, true)
	if err := exception.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(PolicyReportGVK, meta.RESTScopeNamespace)
	f.c = fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithRESTMapper(m).
		WithInterceptorFuncs(noWritesToAudited(t, &f.auditing)).Build()
	f.a, f.rec = f.auditor(trust.Offline{})
	return f
}

func resultsOf(t *testing.T, f *fixture, ns string) reportBody {
	t.Helper()
	rep := f.report(t, ns)
	if rep == nil {
		t.Fatalf("no report in %s", ns)
	}
	return body(t, rep)
}

// A finding an exception covers is a skip result naming the exception and
// its expiry, with no Event; once the exception has expired it is a fail
// again, announced, with a warning that the exception expired.
func TestAuditExceptedFinding(t *testing.T) {
	p := newPKI(t)
	ex := &exception.GatewardenException{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "rotate-ca", CreationTimestamp: metav1.NewTime(testNow.Add(-24 * time.Hour))},
		Spec: exception.Spec{Checks: []string{"gateway-mtls-ca"}, Target: exception.Target{Kind: core.KindGateway, Name: "mtls"},
			Reason: "new CA ships on Friday", ExpiresAt: metav1.NewTime(testNow.Add(7 * 24 * time.Hour))},
	}
	f := newExceptionFixture(t, mutualGateway(t), p.secret(true), ex)
	f.run(t)

	b := resultsOf(t, f, "team")
	i := slices.IndexFunc(b.Results, func(r reportResult) bool { return r.Rule == "gateway-mtls-ca" })
	if i < 0 {
		t.Fatalf("no gateway-mtls-ca result: %+v", b.Results)
	}
	r := b.Results[i]
	until := testNow.Add(7 * 24 * time.Hour).Format(time.RFC3339)
	if r.Result != ResultSkip || r.Properties["exception"] != "team/rotate-ca" ||
		!strings.Contains(r.Message, "excepted by GatewardenException team/rotate-ca until "+until+": new CA ships on Friday") {
		t.Errorf("result %+v, want skip naming team/rotate-ca until %s", r, until)
	}
	if b.Summary["fail"] != 0 || b.Summary["skip"] < 1 {
		t.Errorf("summary %v, want no fail and the skip counted", b.Summary)
	}
	if ev := drain(f.rec); len(ev) != 0 {
		t.Errorf("events for an excepted finding: %q", ev)
	}
	// The exception itself is audited too, and is fine.
	for _, r := range b.Results {
		if strings.HasPrefix(r.Rule, "exception-") {
			t.Errorf("exception finding while it is valid: %+v", r)
		}
	}

	// A week and a day later.
	f.a.Reviewer.Now = func() time.Time { return testNow.Add(8 * 24 * time.Hour) }
	f.run(t)
	b = resultsOf(t, f, "team")
	byRule := map[string]reportResult{}
	for _, r := range b.Results {
		if len(r.Resources) == 1 && r.Resources[0].Kind == "Gateway" {
			byRule[r.Rule] = r
		}
	}
	if r := byRule["gateway-mtls-ca"]; r.Result != ResultFail || r.Properties["exception"] != "" {
		t.Errorf("after expiry: %+v, want fail", r)
	}
	if r := byRule["exception-expired"]; r.Result != ResultWarn || !strings.Contains(r.Message, "GatewardenException team/rotate-ca expired at "+until) {
		t.Errorf("after expiry: exception-expired %+v", r)
	}
	ev := drain(f.rec)
	if !slices.ContainsFunc(ev, func(e string) bool {
		return strings.Contains(e, "gateway-mtls-ca") && strings.Contains(e, "would be denied")
	}) {
		t.Errorf("after expiry the finding is new and announced; events %q", ev)
	}
	// The stale exception is reported on itself as a warning, not a fail.
	for _, r := range b.Results {
		if len(r.Resources) == 1 && r.Resources[0].Kind == core.KindException {
			if r.Rule != "exception-expiry" || r.Result != ResultWarn {
				t.Errorf("expired exception: %+v, want an exception-expiry warning", r)
			}
		}
	}
}

// Objects in a namespace labelled off are listed with one skip result each,
// saying why, instead of vanishing from the report.
func TestAuditExemptNamespace(t *testing.T) {
	off := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"gatewarden.io/enforcement": "off"}}}
	p := newPKI(t)
	f := newExceptionFixture(t, off, mutualGateway(t), p.secret(true))
	f.run(t)
	b := resultsOf(t, f, "team")
	if len(b.Results) != 1 {
		t.Fatalf("want one result, got %+v", b.Results)
	}
	r := b.Results[0]
	if r.Result != ResultSkip || r.Rule != InternalCheck || r.Message != "not checked: namespace team is labelled gatewarden.io/enforcement=off" ||
		len(r.Resources) != 1 || r.Resources[0].Name != "mtls" {
		t.Errorf("result %+v", r)
	}
	if b.Summary["skip"] != 1 || b.Summary["fail"] != 0 || b.Summary["pass"] != 0 {
		t.Errorf("summary %v, want skip 1 and nothing else", b.Summary)
	}
	if ev := drain(f.rec); len(ev) != 0 {
		t.Errorf("events for an exempt object: %q", ev)
	}
}
