// Package core is the vocabulary every part of gatewarden shares: checks and
// their actions, the objects under review, the findings checks report and
// the report that applies the operator's policy to them, and the Env a check
// may consult (cluster state and trust). The validators and mutators
// packages are its peers' implementations; front ends (webhook, audit,
// check) speak only this vocabulary.
package core

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Action is what a finding of a check does to an admission.
type Action string

const (
	Deny Action = "deny"
	Warn Action = "warn"
	Off  Action = "off"
)

// ParseAction accepts deny, warn and off.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Deny, Warn, Off:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q: want deny, warn or off", s)
}

// Kind names as checks and policies use them.
const (
	KindAPIRule               = "APIRule"
	KindGateway               = "Gateway"
	KindRequestAuthentication = "RequestAuthentication"
	KindAuthorizationPolicy   = "AuthorizationPolicy"
	// KindException is gatewarden's own GatewardenException, checked so
	// that an exception that could not work, or would cover too much, is
	// refused when it is written.
	KindException = "GatewardenException"
)

// ExceptableKinds are the kinds a GatewardenException may name as its
// target: the exposure configuration, not exceptions themselves.
var ExceptableKinds = []string{KindAPIRule, KindGateway, KindRequestAuthentication, KindAuthorizationPolicy}

// Check describes one check: a stable ID that configuration refers to, the
// kinds it looks at, what its findings do unless configured otherwise, and
// one line for the catalogue.
type Check struct {
	ID          string
	Kinds       []string
	Default     Action
	Description string
	// Network is set for checks that fetch from issuers; `check
	// --no-network` skips them with a warning.
	Network bool
	// Runtime names the code that decides whether what the check reports
	// breaks at runtime (repository, path and function in istiod, Envoy or
	// Kyma's api-gateway), which is what its default action rests on;
	// docs/runtime.md has the reasoning.
	Runtime string
	// Source is the file that implements the check, relative to the
	// repository root (set by Register), so the catalogue leads to the code.
	Source string
}

var registry = map[string]*Check{}

// Register adds a check to the catalogue. Checks are package-level
// variables of the validators package, so an ID that is used is registered
// by construction.
func Register(c Check) *Check {
	if _, dup := registry[c.ID]; dup {
		panic("core: duplicate check ID " + c.ID)
	}
	if c.Default != Deny && c.Default != Warn && c.Default != Off {
		panic("core: check " + c.ID + " has no default action")
	}
	if _, file, _, ok := runtime.Caller(1); ok {
		c.Source = sourcePath(file)
	}
	registry[c.ID] = &c
	forKind.Clear()
	return &c
}

// sourcePath cuts a compiled-in file name down to the repository-relative
// path, with or without -trimpath.
func sourcePath(file string) string {
	file = filepath.ToSlash(file)
	if _, rel, ok := strings.Cut(file, "github.com/gatewarden/gatewarden/"); ok {
		return rel
	}
	parts := strings.Split(file, "/")
	if len(parts) >= 2 {
		return strings.Join(parts[len(parts)-2:], "/")
	}
	return file
}

// Catalog lists every check, sorted by ID.
func Catalog() []*Check {
	out := make([]*Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup finds a check by ID.
func Lookup(id string) (*Check, bool) {
	c, ok := registry[id]
	return c, ok
}

// forKind keeps ForKind's answers: every validated admission asks it.
var forKind sync.Map

// ForKind lists the checks that apply to a kind, sorted by ID. The list is
// shared: callers only read it.
func ForKind(kind string) []*Check {
	if l, ok := forKind.Load(kind); ok {
		return l.([]*Check)
	}
	var out []*Check
	for _, c := range Catalog() {
		for _, k := range c.Kinds {
			if k == kind {
				out = append(out, c)
				break
			}
		}
	}
	forKind.Store(kind, out)
	return out
}
