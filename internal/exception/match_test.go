package exception

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func ex(name string, target Target, checks ...string) *GatewardenException {
	return &GatewardenException{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec: Spec{Checks: checks, Target: target, Reason: "why", ExpiresAt: metav1.NewTime(now.Add(time.Hour))}}
}

func TestSelects(t *testing.T) {
	labels := map[string]string{"team": "a", "tier": "web"}
	for _, tc := range []struct {
		target Target
		want   bool
	}{
		{Target{Kind: "APIRule", Name: "r"}, true},
		{Target{Kind: "Gateway", Name: "r"}, false},
		{Target{Kind: "APIRule", Name: "s"}, false},
		{Target{Kind: "APIRule", MatchLabels: map[string]string{"team": "a"}}, true},
		{Target{Kind: "APIRule", MatchLabels: map[string]string{"team": "a", "tier": "db"}}, false},
		{Target{Kind: "APIRule", MatchLabels: map[string]string{"owner": ""}}, false},
		{Target{Kind: "APIRule", Name: "r", MatchLabels: map[string]string{"team": "b"}}, false},
		{Target{Kind: "APIRule"}, false},
	} {
		if got := ex("e", tc.target).Selects("APIRule", "r", labels); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.target, got, tc.want)
		}
	}
}

func TestUntilCappedByMaxDuration(t *testing.T) {
	e := ex("e", Target{Kind: "APIRule", Name: "r"})
	e.Spec.ExpiresAt = metav1.NewTime(now.Add(365 * 24 * time.Hour))
	if got, want := e.Until(24*time.Hour), now.Add(23*time.Hour); !got.Equal(want) {
		t.Errorf("until %v, want creation + max %v", got, want)
	}
	e.CreationTimestamp = metav1.Time{}
	if got := e.Until(24 * time.Hour); !got.Equal(e.Spec.ExpiresAt.Time) {
		t.Errorf("without a creation time: %v", got)
	}
}

func TestCoverAndExpired(t *testing.T) {
	old := ex("old", Target{Kind: "APIRule", Name: "r"}, "a", "b")
	old.Spec.ExpiresAt = metav1.NewTime(now.Add(-time.Minute))
	active := ex("new", Target{Kind: "APIRule", Name: "r"}, "a")
	blanket := ex("all", Target{Kind: "APIRule", Name: "r"}, AllChecks)
	c := For([]*GatewardenException{old, active, blanket, nil}, "APIRule", "r", nil, now, Options{MaxDuration: 24 * time.Hour})
	if ref, note := c.Covering("a"); ref != "ns/new" || !strings.HasPrefix(note, "excepted by GatewardenException ns/new until ") {
		t.Errorf("a: %q %q", ref, note)
	}
	if ref, _ := c.Covering("b"); ref != "" {
		t.Errorf("b is covered only by an expired exception and a blanket one not allowed; got %q", ref)
	}
	msgs := c.Expired([]string{"a", "b", "c"})
	if len(msgs) != 1 || !strings.Contains(msgs[0], "ns/old expired at ") || !strings.Contains(msgs[0], "the findings of b count again") {
		t.Errorf("expired: %q", msgs)
	}
	c = For([]*GatewardenException{blanket}, "APIRule", "r", nil, now, Options{AllowAllChecks: true})
	if ref, _ := c.Covering("b"); ref != "ns/all" {
		t.Errorf("blanket allowed: %q", ref)
	}
}

// The scheme's deep copy leaves nothing shared with the original.
func TestDeepCopy(t *testing.T) {
	e := ex("e", Target{Kind: "APIRule", MatchLabels: map[string]string{"a": "b"}}, "x")
	c := e.DeepCopy()
	c.Spec.Checks[0] = "y"
	c.Spec.Target.MatchLabels["a"] = "c"
	if e.Spec.Checks[0] != "x" || e.Spec.Target.MatchLabels["a"] != "b" {
		t.Errorf("copy shares with the original: %+v", e.Spec)
	}
}
