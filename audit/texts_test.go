package audit

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"github.com/gatewarden/gatewarden/internal/cluster/informertest"
)

// The findings' repeated strings are held once: every APIRule naming the
// missing Gateway says the same, after a full run and after a run on
// changes that re-checked one of them.
func TestFindingsShareTheirTexts(t *testing.T) {
	objs := changesObjects(t, newPKI(t))
	objs = append(objs, changesRule("team", "a2", "a2.example.com", "httpbin"))
	f := newChangesFixture(t, objs...)

	shared := func(when string) {
		t.Helper()
		a := f.a.state["team"][objKey("APIRule", "team", "a")]
		a2 := f.a.state["team"][objKey("APIRule", "team", "a2")]
		if a == nil || a2 == nil {
			t.Fatalf("%s: no findings of team/a or team/a2", when)
		}
		same := 0
		for _, x := range a.entries {
			for _, y := range a2.entries {
				if x.Check != y.Check || x.Message != y.Message {
					continue
				}
				same++
				if unsafe.StringData(x.Message) != unsafe.StringData(y.Message) || unsafe.StringData(x.Field) != unsafe.StringData(y.Field) ||
					unsafe.StringData(x.Ref.APIVersion) != unsafe.StringData(y.Ref.APIVersion) {
					t.Errorf("%s: %s's finding on %s is held twice", when, x.Check, x.Field)
				}
			}
		}
		if same == 0 {
			t.Fatalf("%s: team/a and team/a2 have no finding in common: %+v, %+v", when, a.entries, a2.entries)
		}
	}
	shared("after the full run")

	svc := service("team", "httpbin", "httpbin")
	svc.Labels = map[string]string{"touched": "1"}
	f.change(t, func(c *informertest.Cache) error { return c.Modify(svc) })
	if last := f.runChanges(t); len(last.checked) < 2 {
		t.Fatalf("the run on changes checked %q, want team/a and team/a2", last.checked)
	}
	shared("after a run on changes")

	if err := f.a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	shared("after the next full run")
}

// texts is bounded: past maxTexts it starts over, and still answers.
func TestTextsBounded(t *testing.T) {
	var tx texts
	for i := range maxTexts + 10 {
		s := fmt.Sprint("message ", i)
		if got := tx.get(s); got != s {
			t.Fatalf("get(%q) = %q", s, got)
		}
	}
	if n := len(tx.m); n != 10 {
		t.Errorf("texts holds %d strings after %d, want 10 (started over at %d)", n, maxTexts+10, maxTexts)
	}
	a := tx.get(fmt.Sprint("message ", maxTexts+1))
	if b := tx.get(fmt.Sprint("message ", maxTexts+1)); unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("a string asked for twice is not the same copy")
	}
}
