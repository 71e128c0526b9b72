package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Policy decides what each check's findings do for one object (the
// configuration, softened by namespace exemptions and labels).
type Policy interface {
	Action(c *Check) Action
	// NetworkAction is what an unanswered fetch does (default warn).
	NetworkAction() Action
}

// Finding is one problem, as the JSON output and the admission response show it.
type Finding struct {
	Check   string `json:"check"`
	Field   string `json:"field"`
	Message string `json:"message"`
	// Note says why a finding that would deny only warns on this write
	// (the object is being deleted, the problem predates the update).
	Note string `json:"note,omitempty"`
	// Exception is the GatewardenException (namespace/name) that covers
	// the finding, when one does; Note then says until when and why.
	Exception string `json:"exception,omitempty"`
}

// String reads like a kubectl error line: the field, what is wrong, the check.
func (f Finding) String() string {
	var b strings.Builder
	b.Grow(len(f.Field) + len(f.Message) + len(f.Check) + len(f.Note) + 8)
	f.WriteLine(&b)
	return b.String()
}

// WriteLine appends String's line to b, for messages that join several
// findings without a string per finding.
func (f Finding) WriteLine(b *strings.Builder) {
	if f.Field != "" {
		b.WriteString(f.Field)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	b.WriteString(" [")
	b.WriteString(f.Check)
	b.WriteByte(']')
	if f.Note != "" {
		b.WriteString(" (")
		b.WriteString(f.Note)
		b.WriteByte(')')
	}
}

// Result is what a check produced for one object, for metrics.
type Result string

const (
	Pass    Result = "pass"
	Warned  Result = "warn"
	Denied  Result = "deny"
	Skipped Result = "off"
)

// Report collects findings while validators run and applies the policy as
// they arrive: a check set to off records nothing, one set to warn turns its
// violations into warnings.
type Report struct {
	policy     Policy
	Violations []Finding
	Warnings   []Finding
	results    map[string]Result
	// kept and dropped count, per check and kind of finding, the findings
	// recorded and those beyond MaxFindingsPerCheck.
	kept, dropped map[dropKey]int
	// softened holds the note of the last softened violation per check.
	softened map[string]string
	// excepted names, per check, the exception that covers its findings.
	excepted map[string]string
}

type dropKey struct {
	check     string
	violation bool
}

// MaxFindingsPerCheck bounds the violations, and separately the warnings,
// one check records for one object. An object can hold hundreds of
// thousands of list entries that each have the same problem; one answer
// naming them all would take hundreds of megabytes and be read by no one.
// Finish adds one finding per check that says how many more there were.
const MaxFindingsPerCheck = 20

func NewReport(p Policy) *Report {
	return &Report{policy: p, results: map[string]Result{}, kept: map[dropKey]int{}, dropped: map[dropKey]int{}}
}

func finding(c *Check, err *field.Error) Finding {
	return Finding{Check: c.ID, Field: err.Field, Message: err.ErrorBody()}
}

// Enabled says whether a check runs at all; validators skip expensive work
// (fetches) for checks that are off.
func (r *Report) Enabled(c *Check) bool { return r.policy.Action(c) != Off }

// Deny records violations of c, which deny unless the policy says warn.
func (r *Report) Deny(c *Check, errs ...*field.Error) {
	r.record(c, r.policy.Action(c), errs)
}

// Warn records findings that are warnings whatever the check's action.
func (r *Report) Warn(c *Check, errs ...*field.Error) {
	a := r.policy.Action(c)
	if a == Deny {
		a = Warn
	}
	r.record(c, a, errs)
}

// Unreachable records a fetch that got no answer: the configured network
// action decides, since an unknown answer is not a misconfiguration.
func (r *Report) Unreachable(c *Check, errs ...*field.Error) {
	a := r.policy.Action(c)
	if a != Off {
		a = r.policy.NetworkAction()
	}
	r.record(c, a, errs)
}

func (r *Report) record(c *Check, a Action, errs []*field.Error) {
	if len(errs) == 0 {
		return
	}
	switch a {
	case Off:
		r.mark(c, Skipped)
	case Warn:
		r.Warnings = r.keep(r.Warnings, c, false, errs)
		r.mark(c, Warned)
	default:
		r.Violations = r.keep(r.Violations, c, true, errs)
		r.mark(c, Denied)
	}
}

// keep appends the findings of errs to fs up to the check's cap and counts
// the rest.
func (r *Report) keep(fs []Finding, c *Check, violation bool, errs []*field.Error) []Finding {
	if r.kept == nil {
		r.kept, r.dropped = map[dropKey]int{}, map[dropKey]int{}
	}
	k := dropKey{c.ID, violation}
	for _, e := range errs {
		if r.kept[k] >= MaxFindingsPerCheck {
			r.dropped[k]++
			continue
		}
		r.kept[k]++
		fs = append(fs, finding(c, e))
	}
	return fs
}

// Finish adds, for each check that recorded more than MaxFindingsPerCheck
// findings of a kind, one finding saying how many more there were. A check
// whose shown violations were all softened (Soften) has its remaining ones
// softened with the same note.
func (r *Report) Finish() {
	checks := slices.SortedFunc(maps.Keys(r.dropped), func(a, b dropKey) int { return strings.Compare(a.check, b.check) })
	for _, k := range checks {
		f := Finding{Check: k.check, Message: fmt.Sprintf("and %d more like the findings above; fix those and check again to see the rest", r.dropped[k])}
		if name, ok := r.excepted[k.check]; ok {
			f.Exception, f.Note = name, r.softened[k.check]
		}
		switch note, softened := r.softened[k.check]; {
		case !k.violation:
			r.Warnings = append(r.Warnings, f)
		case softened && !slices.ContainsFunc(r.Violations, func(v Finding) bool { return v.Check == k.check }):
			f.Note = note
			r.Warnings = append(r.Warnings, f)
		default:
			r.Violations = append(r.Violations, f)
		}
	}
	r.dropped = nil
}

func (r *Report) mark(c *Check, res Result) {
	if rank(res) > rank(r.results[c.ID]) {
		r.results[c.ID] = res
	}
}

// rank orders results by how much they say: a denial outranks a warning.
func rank(res Result) int {
	switch res {
	case Skipped:
		return 1
	case Warned:
		return 2
	case Denied:
		return 3
	}
	return 0
}

// Soften turns the violations for which note returns a reason into
// warnings carrying that reason; a check left with no violation counts as
// warned.
func (r *Report) Soften(note func(Finding) string) {
	kept := r.Violations[:0]
	for _, v := range r.Violations {
		if n := note(v); n != "" {
			v.Note = n
			r.Warnings = append(r.Warnings, v)
			if r.softened == nil {
				r.softened = map[string]string{}
			}
			r.softened[v.Check] = n
			continue
		}
		kept = append(kept, v)
	}
	r.Violations = kept
	for id, res := range r.results {
		if res == Denied && !slices.ContainsFunc(kept, func(f Finding) bool { return f.Check == id }) {
			r.results[id] = Warned
		}
	}
}

// Allowed is true when nothing denies.
func (r *Report) Allowed() bool { return len(r.Violations) == 0 }

// Results gives every check of the kind its outcome: pass unless it reported.
func (r *Report) Results(kind string) map[string]Result {
	out := map[string]Result{}
	r.EachResult(kind, func(id string, res Result) { out[id] = res })
	return out
}

// EachResult calls fn with every check of the kind and its outcome, as
// Results gives them, without building a map: the webhook counts them on
// every admission.
func (r *Report) EachResult(kind string, fn func(id string, res Result)) {
	for _, c := range ForKind(kind) {
		res := r.results[c.ID]
		if res == "" {
			res = Pass
			if r.policy.Action(c) == Off {
				res = Skipped
			}
		}
		fn(c.ID, res)
	}
}

// DefaultPolicy applies every check's default action and warns on network
// failures: the behaviour without a config file.
var DefaultPolicy Policy = defaultPolicy{}

type defaultPolicy struct{}

func (defaultPolicy) Action(c *Check) Action { return c.Default }
func (defaultPolicy) NetworkAction() Action  { return Warn }
