package core

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	testDeny = &Check{ID: "test-deny", Default: Deny}
	testWarn = &Check{ID: "test-warn", Default: Warn}
)

func errs(n int, what string) []*field.Error {
	out := make([]*field.Error, n)
	for i := range out {
		out[i] = field.Invalid(field.NewPath("spec", "keys").Index(i), i, what)
	}
	return out
}

// One check reporting every entry of a huge list keeps the first few and
// says how many more there were, for violations and warnings apart.
func TestReportCapsFindingsPerCheck(t *testing.T) {
	r := NewReport(DefaultPolicy)
	r.Deny(testDeny, errs(400000, "bad")...)
	r.Warn(testWarn, errs(3, "meh")...)
	r.Warn(testDeny, errs(MaxFindingsPerCheck+1, "soft")...)
	r.Finish()
	if got := len(r.Violations); got != MaxFindingsPerCheck+1 {
		t.Fatalf("violations: %d, want %d shown and one summary", got, MaxFindingsPerCheck)
	}
	last := r.Violations[len(r.Violations)-1]
	if last.Check != testDeny.ID || !strings.Contains(last.Message, fmt.Sprintf("and %d more", 400000-MaxFindingsPerCheck)) {
		t.Errorf("summary = %+v", last)
	}
	// 3 warnings of test-warn, 20 of test-deny and its summary.
	if got := len(r.Warnings); got != 3+MaxFindingsPerCheck+1 || !strings.Contains(r.Warnings[len(r.Warnings)-1].Message, "and 1 more") {
		t.Errorf("warnings: %d %+v", got, r.Warnings[len(r.Warnings)-1])
	}
	r.Finish()
	if len(r.Violations) != MaxFindingsPerCheck+1 {
		t.Error("a second Finish added summaries again")
	}
}

// When every shown violation of a check was softened (the write did not
// introduce them), the ones beyond the cap are softened too.
func TestReportSoftenedSummary(t *testing.T) {
	r := NewReport(DefaultPolicy)
	r.Deny(testDeny, errs(MaxFindingsPerCheck+5, "bad")...)
	r.Soften(func(Finding) string { return "old" })
	r.Finish()
	if !r.Allowed() {
		t.Fatalf("still denied: %v", r.Violations)
	}
	last := r.Warnings[len(r.Warnings)-1]
	if last.Note != "old" || !strings.Contains(last.Message, "and 5 more") {
		t.Errorf("summary = %+v", last)
	}
	if r.results[testDeny.ID] != Warned {
		t.Errorf("result %v, want warned", r.results[testDeny.ID])
	}
}

// Findings an exception covers become warnings that name it, violations and
// warnings alike, with the summary of the ones beyond the cap too; others
// keep denying.
func TestReportExcept(t *testing.T) {
	r := NewReport(DefaultPolicy)
	other := &Check{ID: "test-other", Default: Deny}
	r.Deny(testDeny, errs(MaxFindingsPerCheck+2, "bad")...)
	r.Warn(testWarn, errs(1, "meh")...)
	r.Deny(other, errs(1, "worse")...)
	r.Except(func(f Finding) (string, string) {
		if f.Check == other.ID {
			return "", ""
		}
		return "ns/ex", "excepted by ns/ex"
	})
	r.Finish()
	if len(r.Violations) != 1 || r.Violations[0].Check != other.ID || r.Violations[0].Exception != "" {
		t.Fatalf("violations %+v, want only test-other's", r.Violations)
	}
	for _, w := range r.Warnings {
		if w.Exception != "ns/ex" || w.Note != "excepted by ns/ex" {
			t.Errorf("warning %+v does not name the exception", w)
		}
	}
	last := r.Warnings[len(r.Warnings)-1]
	if !strings.Contains(last.Message, "and 2 more") {
		t.Errorf("last warning %+v, want the summary", last)
	}
	if r.results[testDeny.ID] != Warned || r.results[other.ID] != Denied {
		t.Errorf("results %v", r.results)
	}
}
