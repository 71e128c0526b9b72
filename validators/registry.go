// Package validators holds every check gatewarden runs: a registry of check
// IDs with their default actions, and one validation function per kind that
// reports findings against those IDs. Checks are pure functions of the object
// and the two interfaces in Env; they never touch the network or the API
// server themselves.
package validators

import (
	"fmt"
	"sort"
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
)

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
}

var registry = map[string]*Check{}

// register adds a check to the catalogue. Checks are package-level variables,
// so an ID that is used is registered by construction.
func register(c Check) *Check {
	if _, dup := registry[c.ID]; dup {
		panic("validators: duplicate check ID " + c.ID)
	}
	if c.Default != Deny && c.Default != Warn && c.Default != Off {
		panic("validators: check " + c.ID + " has no default action")
	}
	registry[c.ID] = &c
	return &c
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

// ForKind lists the checks that apply to a kind.
func ForKind(kind string) []*Check {
	var out []*Check
	for _, c := range Catalog() {
		for _, k := range c.Kinds {
			if k == kind {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
