package core

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExceptionSettings are the config file's `exceptions` section: how far
// GatewardenExceptions may reach.
type ExceptionSettings struct {
	// AllowAllChecks lets an exception name `*` (every check of its
	// target's kind). Off by default: a blanket exception is a namespace
	// exemption in disguise, and should be a decision of the operator.
	AllowAllChecks bool `json:"allowAllChecks,omitempty"`
	// MaxDuration is the longest an exception may last, from its creation
	// to its expiresAt (default 90 days).
	MaxDuration metav1.Duration `json:"maxDuration,omitempty"`
}

// DefaultExceptionMaxDuration is how long an exception may last unless the
// configuration says otherwise: a quarter, long enough for a fix to be
// planned and shipped, short enough that a forgotten one runs out.
const DefaultExceptionMaxDuration = 90 * 24 * time.Hour

// WithDefaults fills what the operator left empty.
func (s ExceptionSettings) WithDefaults() ExceptionSettings {
	if s.MaxDuration.Duration <= 0 {
		s.MaxDuration.Duration = DefaultExceptionMaxDuration
	}
	return s
}

// Except turns the findings that cover says an exception covers into
// warnings that name the exception: cover returns the exception's
// namespace/name and the note to show, or "" for a finding no exception
// covers. Violations become warnings; warnings keep their place and get the
// name and note. A check left with no violation counts as warned.
func (r *Report) Except(cover func(Finding) (exception, note string)) {
	mark := func(f *Finding, name, note string) {
		f.Exception, f.Note = name, note
		if r.excepted == nil {
			r.excepted = map[string]string{}
		}
		if r.softened == nil {
			r.softened = map[string]string{}
		}
		r.excepted[f.Check], r.softened[f.Check] = name, note
	}
	for i := range r.Warnings {
		if name, note := cover(r.Warnings[i]); name != "" && r.Warnings[i].Exception == "" {
			mark(&r.Warnings[i], name, note)
		}
	}
	kept := r.Violations[:0]
	for _, v := range r.Violations {
		if name, note := cover(v); name != "" {
			mark(&v, name, note)
			r.Warnings = append(r.Warnings, v)
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

// HasFindings reports whether any check recorded a violation or a warning.
func (r *Report) HasFindings() bool { return len(r.Violations) > 0 || len(r.Warnings) > 0 }

// WarnObject records a warning of c about the object as a whole (no field),
// unless c is off for it.
func (r *Report) WarnObject(c *Check, message string) {
	if r.policy.Action(c) == Off {
		r.mark(c, Skipped)
		return
	}
	r.Warnings = append(r.Warnings, Finding{Check: c.ID, Message: message})
	r.mark(c, Warned)
}
