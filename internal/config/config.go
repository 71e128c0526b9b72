// Package config reads the operator's configuration file and turns it into
// the policy for one object: which checks deny, warn or are off, given the
// object's namespace and that namespace's labels.
package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// Config is the file given with --config. Every field is optional.
type Config struct {
	// Checks overrides the default action of checks, by ID. After Parse the
	// keys are current check IDs: renamed ones are rewritten.
	Checks map[string]action `json:"checks,omitempty"`
	// NetworkErrorAction is what a fetch that got no answer does: warn
	// (default) or deny.
	NetworkErrorAction action `json:"networkErrorAction,omitempty"`
	// ExemptNamespaces are neither mutated nor validated.
	ExemptNamespaces []string `json:"exemptNamespaces,omitempty"`
	// NamespaceLabel softens enforcement per namespace: value "warn" turns
	// denials into warnings, "off" exempts the namespace.
	NamespaceLabel string        `json:"namespaceLabel,omitempty"`
	Settings       checkSettings `json:"settings,omitempty"`
	Defaults       defaults      `json:"defaults,omitempty"`
	// Exceptions bound what GatewardenExceptions may cover
	// (docs/exceptions.md).
	Exceptions exceptionSettings `json:"exceptions,omitempty"`

	// Warnings are what Parse accepted but the operator should change
	// (renamed check IDs); serve and check print them. Not a file key.
	Warnings []string `json:"-"`
}

const DefaultNamespaceLabel = "gatewarden.io/enforcement"

// Default is the configuration without a file.
func Default() *Config {
	c := &Config{}
	c.fill()
	return c
}

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse reads a config document and checks every key: unknown keys, check
// IDs, default IDs and actions, values a check would misread (a TLS version
// typo, a host with a scheme) and settings that contradict each other are
// errors, all reported at once with their paths, because a typo must not
// silently keep a check on or weaken it.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	errs, warnings := c.validate()
	if len(errs) > 0 {
		return nil, &Error{Errs: errs}
	}
	c.fill()
	c.Warnings = warnings
	return c, nil
}

// Error is every problem found in a config document.
type Error struct {
	Errs field.ErrorList
}

func (e *Error) Error() string {
	if len(e.Errs) == 1 {
		return "config: " + e.Errs[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n* " + err.Error())
	}
	return b.String()
}

func (c *Config) fill() {
	if c.NetworkErrorAction == "" {
		c.NetworkErrorAction = warn
	}
	if c.NamespaceLabel == "" {
		c.NamespaceLabel = DefaultNamespaceLabel
	}
	// A default below the policy would be denied by the policy's own check
	// on the object it was applied to; unset, the default follows the policy.
	if c.Defaults.MinTLSVersion == "" && tlsVersionOrder(c.Settings.MinTLSVersion) > tlsVersionOrder(defaultMinTLSVersion) {
		c.Defaults.MinTLSVersion = c.Settings.MinTLSVersion
	}
	c.Settings = c.Settings.WithDefaults()
	c.Defaults = c.Defaults.WithDefaults()
	c.Exceptions = c.Exceptions.WithDefaults()
}

// Enforcement is what applies to one namespace.
type Enforcement string

const (
	Enforce  Enforcement = "enforce"
	WarnOnly Enforcement = "warn"
	Exempt   Enforcement = "off"
)

// EnforcementFor decides from the namespace's name and labels.
func (c *Config) EnforcementFor(namespace string, labels map[string]string) Enforcement {
	if slices.Contains(c.ExemptNamespaces, namespace) {
		return Exempt
	}
	switch labels[c.NamespaceLabel] {
	case "off":
		return Exempt
	case "warn":
		return WarnOnly
	}
	return Enforce
}

// Policy is the check policy for a namespace's enforcement.
func (c *Config) Policy(e Enforcement) checkPolicy { return policy{c: c, e: e} }

type policy struct {
	c *Config
	e Enforcement
}

func (p policy) Action(chk *check) action {
	if p.e == Exempt {
		return off
	}
	a := chk.Default
	// A check still registered under a renamed ID follows the entry of
	// the ID it was renamed to: one entry covers every APIRule version.
	if o, ok := p.c.Checks[currentCheckID(chk.ID)]; ok {
		a = o
	}
	if p.e == WarnOnly && a == deny {
		a = warn
	}
	return a
}

func (p policy) NetworkAction() action {
	if p.e == WarnOnly {
		return warn
	}
	return p.c.NetworkErrorAction
}
