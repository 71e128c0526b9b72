package config

import "github.com/gatewarden/gatewarden/internal/core"

// The vocabulary of checks and defaults this package configures, with the
// short names this package's code uses.
type (
	action            = core.Action
	check             = core.Check
	checkPolicy       = core.Policy
	checkSettings     = core.Settings
	defaults          = core.DefaultSettings
	exceptionSettings = core.ExceptionSettings
)

const (
	deny = core.Deny
	warn = core.Warn
	off  = core.Off
)

// checkByID finds a check in the registry.
func checkByID(id string) (*check, bool) { return core.Lookup(id) }

// lookupCheck reports whether a check ID is in the registry.
func lookupCheck(id string) bool {
	_, ok := checkByID(id)
	return ok
}

// lookupDefault reports whether a default ID is in the catalogue.
func lookupDefault(id string) bool {
	_, ok := core.LookupDefault(id)
	return ok
}
