package config

import (
	"github.com/gatewarden/gatewarden/mutators"
	"github.com/gatewarden/gatewarden/validators"
)

// The vocabulary of checks and defaults this package configures, named in
// one place: where the check registry and the policy types live is not this
// package's concern.
type (
	action        = validators.Action
	check         = validators.Check
	checkPolicy   = validators.Policy
	checkSettings = validators.Settings
	defaults      = mutators.Settings
)

const (
	deny = validators.Deny
	warn = validators.Warn
	off  = validators.Off
)

// checkByID finds a check in the registry.
func checkByID(id string) (*check, bool) { return validators.Lookup(id) }

// lookupCheck reports whether a check ID is in the registry.
func lookupCheck(id string) bool {
	_, ok := checkByID(id)
	return ok
}

// lookupDefault reports whether a default ID is in the catalogue.
func lookupDefault(id string) bool {
	_, ok := mutators.Lookup(id)
	return ok
}
