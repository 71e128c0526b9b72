package validators

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
)

func TestException(t *testing.T) {
	day := 24 * time.Hour
	valid := func() *exception.GatewardenException {
		return &exception.GatewardenException{
			ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default", CreationTimestamp: metav1.NewTime(testNow)},
			Spec: exception.Spec{Checks: []string{"apirule-service"}, Target: exception.Target{Kind: core.KindAPIRule, Name: "r"},
				Reason: "migrating the service", ExpiresAt: metav1.NewTime(testNow.Add(30 * day))},
		}
	}
	for _, tc := range []struct {
		name     string
		edit     func(*exception.GatewardenException)
		settings core.ExceptionSettings
		op       string
		want     []string // "check field" of the violations
		warn     []string // of the warnings
	}{
		{name: "valid", edit: func(*exception.GatewardenException) {}},
		{name: "valid by labels", edit: func(e *exception.GatewardenException) {
			e.Spec.Target = exception.Target{Kind: core.KindGateway, MatchLabels: map[string]string{"team": "a"}}
			e.Spec.Checks = []string{"gateway-mtls-credential", "gateway-tls-min-version"}
		}},
		{name: "unknown check", edit: func(e *exception.GatewardenException) { e.Spec.Checks = []string{"apirule-servce"} },
			want: []string{"exception-checks spec.checks[0]"}},
		{name: "check of another kind", edit: func(e *exception.GatewardenException) { e.Spec.Checks = []string{"gateway-mtls-credential"} },
			want: []string{"exception-checks spec.checks[0]"}},
		{name: "check of exceptions", edit: func(e *exception.GatewardenException) {
			e.Spec.Checks = []string{"apirule-service", "exception-expired", "exception-expiry"}
		}, want: []string{"exception-checks spec.checks[1]", "exception-checks spec.checks[2]"}},
		{name: "duplicate check", edit: func(e *exception.GatewardenException) { e.Spec.Checks = []string{"apirule-service", "apirule-service"} },
			want: []string{"exception-checks spec.checks[1]"}},
		{name: "no checks", edit: func(e *exception.GatewardenException) { e.Spec.Checks = nil },
			want: []string{"exception-checks spec.checks"}},
		{name: "blanket", edit: func(e *exception.GatewardenException) { e.Spec.Checks = []string{"*"} },
			want: []string{"exception-checks spec.checks[0]"}},
		{name: "blanket allowed", edit: func(e *exception.GatewardenException) { e.Spec.Checks = []string{"*"} },
			settings: core.ExceptionSettings{AllowAllChecks: true}},
		{name: "unknown kind", edit: func(e *exception.GatewardenException) { e.Spec.Target.Kind = "VirtualService" },
			want: []string{"exception-target spec.target.kind"}},
		{name: "no name nor labels", edit: func(e *exception.GatewardenException) { e.Spec.Target.Name = "" },
			want: []string{"exception-target spec.target"}},
		{name: "bad name and label", edit: func(e *exception.GatewardenException) {
			e.Spec.Target.Name = "Not_A_Name"
			e.Spec.Target.MatchLabels = map[string]string{"bad key!": "v"}
		}, want: []string{"exception-target spec.target.matchLabels", "exception-target spec.target.name"}},
		{name: "blank reason", edit: func(e *exception.GatewardenException) { e.Spec.Reason = "  " },
			want: []string{"exception-target spec.reason"}},
		{name: "no expiry", edit: func(e *exception.GatewardenException) { e.Spec.ExpiresAt = metav1.Time{} },
			want: []string{"exception-expiry spec.expiresAt"}},
		{name: "expired", edit: func(e *exception.GatewardenException) { e.Spec.ExpiresAt = metav1.NewTime(testNow.Add(-time.Second)) },
			want: []string{"exception-expiry spec.expiresAt"}},
		{name: "expired, audited", op: "AUDIT", edit: func(e *exception.GatewardenException) { e.Spec.ExpiresAt = metav1.NewTime(testNow.Add(-time.Second)) },
			warn: []string{"exception-expiry spec.expiresAt"}},
		{name: "too long", edit: func(e *exception.GatewardenException) { e.Spec.ExpiresAt = metav1.NewTime(testNow.Add(91 * day)) },
			want: []string{"exception-expiry spec.expiresAt"}},
		{name: "exactly the limit", edit: func(e *exception.GatewardenException) { e.Spec.ExpiresAt = metav1.NewTime(testNow.Add(90 * day)) }},
		{name: "limit counted from creation", edit: func(e *exception.GatewardenException) {
			e.CreationTimestamp = metav1.NewTime(testNow.Add(-80 * day))
			e.Spec.ExpiresAt = metav1.NewTime(testNow.Add(20 * day))
		}, want: []string{"exception-expiry spec.expiresAt"}},
		{name: "no creation yet: counted from now", edit: func(e *exception.GatewardenException) {
			e.CreationTimestamp = metav1.Time{}
			e.Spec.ExpiresAt = metav1.NewTime(testNow.Add(89 * day))
		}},
		{name: "configured limit", settings: core.ExceptionSettings{MaxDuration: metav1.Duration{Duration: 7 * day}},
			edit: func(*exception.GatewardenException) {}, want: []string{"exception-expiry spec.expiresAt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.edit(e)
			st, err := cluster.FromObjects()
			if err != nil {
				t.Fatal(err)
			}
			op := tc.op
			if op == "" {
				op = "CREATE"
			}
			r := core.NewReport(core.DefaultPolicy)
			Exception(context.Background(), &core.Object{Kind: core.KindException, Namespace: "default", Name: "e", Operation: op, Typed: e},
				&core.Env{Cluster: st, Exceptions: tc.settings, Now: func() time.Time { return testNow }}, r)
			if got := summary(r.Violations); !slices.Equal(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
				t.Errorf("violations %v, want %v: %v", got, tc.want, r.Violations)
			}
			if got := summary(r.Warnings); !slices.Equal(got, tc.warn) && (len(got) > 0 || len(tc.warn) > 0) {
				t.Errorf("warnings %v, want %v: %v", got, tc.warn, r.Warnings)
			}
		})
	}
}

// The expiry errors say what to set: the latest allowed time.
func TestExceptionExpiryMessage(t *testing.T) {
	e := &exception.GatewardenException{
		ObjectMeta: metav1.ObjectMeta{Name: "e", CreationTimestamp: metav1.NewTime(testNow)},
		Spec: exception.Spec{Checks: []string{"apirule-service"}, Target: exception.Target{Kind: core.KindAPIRule, Name: "r"},
			Reason: "x", ExpiresAt: metav1.NewTime(testNow.Add(365 * 24 * time.Hour))},
	}
	r := core.NewReport(core.DefaultPolicy)
	Exception(context.Background(), &core.Object{Kind: core.KindException, Operation: "CREATE", Typed: e},
		&core.Env{Now: func() time.Time { return testNow }}, r)
	if !hasFinding(r.Violations, "exception-expiry", "spec.expiresAt", "365 days after the exception's creation", "at most 90 days",
		"set "+testNow.Add(90*24*time.Hour).Format(time.RFC3339)+" or earlier") {
		t.Errorf("violations %v", r.Violations)
	}
}
