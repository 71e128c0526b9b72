package exception

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Ref names an exception as namespace/name.
func (e *GatewardenException) Ref() string { return e.Namespace + "/" + e.Name }

// Until is when the exception stops covering: its expiresAt, or maxDuration
// after its creation when that comes first. The webhook refuses an
// exception that reaches further, but one can be stored without it (written
// while the webhook was unavailable with failurePolicy Ignore, or before the
// limit was lowered), and it must not outlast the limit either.
func (e *GatewardenException) Until(maxDuration time.Duration) time.Time {
	until := e.Spec.ExpiresAt.Time
	if created := e.CreationTimestamp.Time; !created.IsZero() && maxDuration > 0 {
		if limit := created.Add(maxDuration); limit.Before(until) {
			until = limit
		}
	}
	return until
}

// Selects reports whether the exception's target is the object: the same
// kind, and the name and every label it gives. A target that gives neither
// a name nor labels selects nothing (the CRD refuses it).
func (e *GatewardenException) Selects(kind, name string, labels map[string]string) bool {
	t := e.Spec.Target
	if t.Kind != kind || (t.Name == "" && len(t.MatchLabels) == 0) {
		return false
	}
	if t.Name != "" && t.Name != name {
		return false
	}
	for k, v := range t.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Names reports whether the exception lists the check; `*` counts only
// where the configuration allows blanket exceptions.
func (e *GatewardenException) Names(check string, allowAll bool) bool {
	return slices.Contains(e.Spec.Checks, check) || (allowAll && slices.Contains(e.Spec.Checks, AllChecks))
}

// Note is what a covered finding carries.
func (e *GatewardenException) Note(until time.Time) string {
	return fmt.Sprintf("excepted by GatewardenException %s until %s: %s", e.Ref(), until.UTC().Format(time.RFC3339), e.Spec.Reason)
}

// Options are the configured bounds (core.ExceptionSettings, as plain
// values so this package needs nothing of the rest of gatewarden).
type Options struct {
	AllowAllChecks bool
	MaxDuration    time.Duration
}

// Cover is what the exceptions of one namespace make of one object's
// findings at one moment.
type Cover struct {
	active  []covering
	expired []covering
	opts    Options
}

type covering struct {
	e     *GatewardenException
	until time.Time
}

// For selects, among exceptions, those whose target is the object, and
// splits them into active and expired at now.
func For(exceptions []*GatewardenException, kind, name string, labels map[string]string, now time.Time, opts Options) *Cover {
	c := &Cover{opts: opts}
	for _, e := range exceptions {
		if e == nil || !e.Selects(kind, name, labels) {
			continue
		}
		cv := covering{e: e, until: e.Until(opts.MaxDuration)}
		if now.Before(cv.until) {
			c.active = append(c.active, cv)
		} else {
			c.expired = append(c.expired, cv)
		}
	}
	// Where two cover one check, the one lasting longer speaks for it, and
	// the same one every time.
	order := func(a, b covering) int {
		if !a.until.Equal(b.until) {
			return b.until.Compare(a.until)
		}
		return strings.Compare(a.e.Name, b.e.Name)
	}
	slices.SortFunc(c.active, order)
	slices.SortFunc(c.expired, order)
	return c
}

// Covering returns the active exception that covers the check and the note
// for its findings; ("", "") when none does.
func (c *Cover) Covering(check string) (ref, note string) {
	for _, a := range c.active {
		if a.e.Names(check, c.opts.AllowAllChecks) {
			return a.e.Ref(), a.e.Note(a.until)
		}
	}
	return "", ""
}

// Expired lists, for the checks given, the expired exceptions that named
// them and that no active exception replaces: a message per exception,
// naming the checks whose findings count again.
func (c *Cover) Expired(checks []string) []string {
	var out []string
	for _, x := range c.expired {
		var again []string
		for _, id := range checks {
			if ref, _ := c.Covering(id); ref == "" && x.e.Names(id, c.opts.AllowAllChecks) && !slices.Contains(again, id) {
				again = append(again, id)
			}
		}
		if len(again) == 0 {
			continue
		}
		slices.Sort(again)
		out = append(out, fmt.Sprintf("GatewardenException %s expired at %s (%s): the findings of %s count again; fix them, or have an exception author write a new exception",
			x.e.Ref(), x.until.UTC().Format(time.RFC3339), x.e.Spec.Reason, strings.Join(again, ", ")))
	}
	return out
}
