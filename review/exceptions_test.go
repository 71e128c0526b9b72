package review

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
	"github.com/gatewarden/gatewarden/internal/trust"
)

var exceptionNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func gwException(name string, checks []string, target exception.Target, created time.Time, expires time.Time) *exception.GatewardenException {
	return &exception.GatewardenException{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", CreationTimestamp: metav1.NewTime(created)},
		Spec: exception.Spec{Checks: checks, Target: target, Reason: "service moves next sprint",
			ExpiresAt: metav1.NewTime(expires)},
	}
}

func exceptionReviewer(t testing.TB, cfg *config.Config, objs ...runtime.Object) *Reviewer {
	t.Helper()
	gw := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "kyma-gateway", Namespace: "kyma-system"},
		Spec: networkingapi.Gateway{Servers: []*networkingapi.Server{{
			Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"*.example.com"},
			Tls: &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, CredentialName: "kyma-gateway-certs"}}}}}
	objs = append(objs, gw, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"istio-injection": "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Labels: map[string]string{config.DefaultNamespaceLabel: "off"}}})
	st, err := cluster.FromObjects(objs...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = config.Default()
	}
	return &Reviewer{Config: cfg, Cluster: st, Trust: trust.Offline{}, Now: func() time.Time { return exceptionNow }}
}

func findingWith(fs []core.Finding, check string) *core.Finding {
	i := slices.IndexFunc(fs, func(f core.Finding) bool { return f.Check == check })
	if i < 0 {
		return nil
	}
	return &fs[i]
}

// The APIRule r (ruleNoService) is denied by apirule-service; exceptions
// in its namespace decide what becomes of that finding.
func TestExceptionsApply(t *testing.T) {
	week := 7 * 24 * time.Hour
	byName := exception.Target{Kind: core.KindAPIRule, Name: "r"}
	blanketCfg, err := config.Parse([]byte("exceptions: {allowAllChecks: true}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cfg        *config.Config
		exceptions []runtime.Object
		edits      []func(map[string]any)
		// covered names the exception that must cover apirule-service; ""
		// means the finding still denies.
		covered string
		expired string // an exception the exception-expired warning must name
	}{
		{name: "none"},
		{name: "by name", exceptions: []runtime.Object{gwException("svc", []string{"apirule-service"}, byName, exceptionNow.Add(-week), exceptionNow.Add(week))},
			covered: "app/svc"},
		{name: "by labels", edits: []func(map[string]any){labelled},
			exceptions: []runtime.Object{gwException("team", []string{"apirule-service"}, exception.Target{Kind: core.KindAPIRule, MatchLabels: map[string]string{"team": "a"}}, exceptionNow.Add(-week), exceptionNow.Add(week))},
			covered:    "app/team"},
		{name: "labels the object lacks",
			exceptions: []runtime.Object{gwException("team", []string{"apirule-service"}, exception.Target{Kind: core.KindAPIRule, MatchLabels: map[string]string{"team": "a"}}, exceptionNow.Add(-week), exceptionNow.Add(week))}},
		{name: "another object", exceptions: []runtime.Object{gwException("other", []string{"apirule-service"}, exception.Target{Kind: core.KindAPIRule, Name: "s"}, exceptionNow.Add(-week), exceptionNow.Add(week))}},
		{name: "another kind", exceptions: []runtime.Object{gwException("gw", []string{"apirule-service"}, exception.Target{Kind: core.KindGateway, Name: "r"}, exceptionNow.Add(-week), exceptionNow.Add(week))}},
		{name: "another check", exceptions: []runtime.Object{gwException("gwc", []string{"apirule-gateway"}, byName, exceptionNow.Add(-week), exceptionNow.Add(week))}},
		{name: "expired", exceptions: []runtime.Object{gwException("old", []string{"apirule-service"}, byName, exceptionNow.Add(-2*week), exceptionNow.Add(-time.Minute))},
			expired: "app/old"},
		{name: "beyond maxDuration from creation", exceptions: []runtime.Object{gwException("long", []string{"apirule-service"}, byName, exceptionNow.Add(-100*24*time.Hour), exceptionNow.Add(week))},
			expired: "app/long"},
		{name: "expired beside an active one", exceptions: []runtime.Object{
			gwException("old", []string{"apirule-service"}, byName, exceptionNow.Add(-2*week), exceptionNow.Add(-time.Minute)),
			gwException("new", []string{"apirule-service"}, byName, exceptionNow.Add(-time.Hour), exceptionNow.Add(week))},
			covered: "app/new"},
		{name: "blanket without allowAllChecks", exceptions: []runtime.Object{gwException("all", []string{"*"}, byName, exceptionNow.Add(-week), exceptionNow.Add(week))}},
		{name: "blanket with allowAllChecks", cfg: blanketCfg, exceptions: []runtime.Object{gwException("all", []string{"*"}, byName, exceptionNow.Add(-week), exceptionNow.Add(week))},
			covered: "app/all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv := exceptionReviewer(t, tc.cfg, tc.exceptions...)
			res := rv.Validate(context.Background(), &Request{GVK: apirule.V2, Namespace: "app", Name: "r", Operation: "CREATE", Object: doc(t, ruleNoService, tc.edits...)})
			if tc.covered == "" {
				if res.Allowed || findingWith(res.Violations, "apirule-service") == nil {
					t.Fatalf("want apirule-service to deny; violations %v warnings %v", res.Violations, res.Warnings)
				}
			} else {
				if !res.Allowed {
					t.Fatalf("denied: %v", res.Violations)
				}
				w := findingWith(res.Warnings, "apirule-service")
				if w == nil || w.Exception != tc.covered {
					t.Fatalf("apirule-service warning %+v, want one covered by %s", w, tc.covered)
				}
				_, name, _ := strings.Cut(tc.covered, "/")
				wantNote := "excepted by GatewardenException " + tc.covered + " until "
				if !strings.HasPrefix(w.Note, wantNote) || !strings.HasSuffix(w.Note, ": service moves next sprint") || !strings.Contains(w.String(), name) {
					t.Errorf("note %q, want %q...: service moves next sprint", w.Note, wantNote)
				}
				if got := res.Check("apirule-service"); got != core.Warned {
					t.Errorf("apirule-service counted %s, want warn", got)
				}
			}
			x := findingWith(res.Warnings, "exception-expired")
			switch {
			case tc.expired == "" && x != nil:
				t.Errorf("unexpected exception-expired warning %v", x)
			case tc.expired != "" && (x == nil || !strings.Contains(x.Message, "GatewardenException "+tc.expired+" expired at ") || !strings.Contains(x.Message, "apirule-service")):
				t.Errorf("exception-expired warning %+v, want one naming %s and apirule-service", x, tc.expired)
			}
		})
	}
}

// The exception that lasts longer covers a check two exceptions name, the
// same one every time; its expiry is in the note.
func TestExceptionsLongestWins(t *testing.T) {
	target := exception.Target{Kind: core.KindAPIRule, Name: "r"}
	rv := exceptionReviewer(t, nil,
		gwException("short", []string{"apirule-service"}, target, exceptionNow, exceptionNow.Add(24*time.Hour)),
		gwException("long", []string{"apirule-service"}, target, exceptionNow, exceptionNow.Add(48*time.Hour)))
	res := rv.Validate(context.Background(), &Request{GVK: apirule.V2, Namespace: "app", Name: "r", Operation: "CREATE", Object: doc(t, ruleNoService)})
	w := findingWith(res.Warnings, "apirule-service")
	if w == nil || w.Exception != "app/long" || !strings.Contains(w.Note, exceptionNow.Add(48*time.Hour).Format(time.RFC3339)) {
		t.Fatalf("warning %+v, want app/long with its expiry", w)
	}
}

// An exempt namespace's objects are reviewed by no check, and the result
// says why, for the audit to list them.
func TestExemptReason(t *testing.T) {
	cfg, err := config.Parse([]byte("exemptNamespaces: [old]"))
	if err != nil {
		t.Fatal(err)
	}
	rv := exceptionReviewer(t, cfg)
	for ns, want := range map[string]string{
		"legacy": "not checked: namespace legacy is labelled gatewarden.io/enforcement=off",
		"old":    "not checked: namespace old is in the configuration's exemptNamespaces",
		"app":    "",
	} {
		res := rv.Validate(context.Background(), &Request{GVK: apirule.V2, Namespace: ns, Name: "r", Operation: "AUDIT", Object: doc(t, ruleNoService)})
		if res.Exempt != want {
			t.Errorf("%s: Exempt %q, want %q", ns, res.Exempt, want)
		}
		if want != "" && (len(res.Violations)+len(res.Warnings) > 0 || !res.Allowed) {
			t.Errorf("%s: exempt, yet findings %v %v", ns, res.Violations, res.Warnings)
		}
	}
}

// An object with no findings never reads the exceptions: the state here
// fails every exception read, and the clean review must not notice.
func TestExceptionsReadOnlyWithFindings(t *testing.T) {
	rv := exceptionReviewer(t, nil)
	rv.Cluster = failingExceptions{rv.Cluster}
	clean := doc(t, ruleNoService, set("spec.service.name", "httpbin"))
	rv2 := exceptionReviewer(t, nil, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: "app"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}, Selector: map[string]string{"app": "httpbin"}}})
	rv2.Cluster = failingExceptions{rv2.Cluster}
	res := rv2.Validate(context.Background(), &Request{GVK: apirule.V2, Namespace: "app", Name: "r", Operation: "CREATE", Object: clean})
	if len(res.Warnings)+len(res.Violations) > 0 {
		t.Errorf("a clean object read the exceptions, or is not clean: %v %v", res.Violations, res.Warnings)
	}
	res = rv.Validate(context.Background(), &Request{GVK: apirule.V2, Namespace: "app", Name: "r", Operation: "CREATE", Object: doc(t, ruleNoService)})
	if f := findingWith(res.Warnings, "gatewarden"); f == nil || !strings.Contains(f.Message, "could not read the GatewardenExceptions of namespace app") {
		t.Errorf("a failed read should be a warning; warnings %v", res.Warnings)
	}
	if res.Allowed {
		t.Error("an unreadable exception list must not admit a denied object")
	}
}

type failingExceptions struct{ cluster.State }

func (failingExceptions) Exceptions(context.Context, string) ([]*exception.GatewardenException, error) {
	return nil, context.DeadlineExceeded
}
