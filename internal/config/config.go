// Package config reads the operator's configuration file and turns it into
// the policy for one object: which checks deny, warn or are off, given the
// object's namespace and that namespace's labels.
package config

import (
	"fmt"
	"os"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/core"
)

// Config is the file given with --config. Every field is optional.
type Config struct {
	// Checks overrides the default action of checks, by ID.
	Checks map[string]core.Action `json:"checks,omitempty"`
	// NetworkErrorAction is what a fetch that got no answer does: warn
	// (default) or deny.
	NetworkErrorAction core.Action `json:"networkErrorAction,omitempty"`
	// ExemptNamespaces are neither mutated nor validated.
	ExemptNamespaces []string `json:"exemptNamespaces,omitempty"`
	// NamespaceLabel softens enforcement per namespace: value "warn" turns
	// denials into warnings, "off" exempts the namespace.
	NamespaceLabel string               `json:"namespaceLabel,omitempty"`
	Settings       core.Settings        `json:"settings,omitempty"`
	Defaults       core.DefaultSettings `json:"defaults,omitempty"`
}

const DefaultNamespaceLabel = "gatewarden.io/enforcement"

// Default is the configuration without a file.
func Default() *Config {
	c := &Config{}
	c.fill()
	return c
}

// Load reads and checks a config file. Unknown keys, unknown check IDs and
// unknown actions are errors: a typo must not silently keep a check on.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse reads a config document.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	for id, a := range c.Checks {
		if _, ok := core.Lookup(id); !ok {
			return nil, fmt.Errorf("config: checks: unknown check %q (see `gatewarden checks`)", id)
		}
		if _, err := core.ParseAction(string(a)); err != nil {
			return nil, fmt.Errorf("config: checks.%s: %w", id, err)
		}
	}
	switch c.NetworkErrorAction {
	case "", core.Warn, core.Deny:
	default:
		return nil, fmt.Errorf("config: networkErrorAction: %q: want warn or deny", c.NetworkErrorAction)
	}
	c.fill()
	if err := c.Defaults.Validate(); err != nil {
		return nil, fmt.Errorf("config: defaults: %w", err)
	}
	return c, nil
}

func (c *Config) fill() {
	if c.NetworkErrorAction == "" {
		c.NetworkErrorAction = core.Warn
	}
	if c.NamespaceLabel == "" {
		c.NamespaceLabel = DefaultNamespaceLabel
	}
	c.Settings = c.Settings.WithDefaults()
	c.Defaults = c.Defaults.WithDefaults()
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

// Policy is the core.Policy for a namespace's enforcement.
func (c *Config) Policy(e Enforcement) core.Policy { return policy{c: c, e: e} }

type policy struct {
	c *Config
	e Enforcement
}

func (p policy) Action(chk *core.Check) core.Action {
	if p.e == Exempt {
		return core.Off
	}
	a := chk.Default
	if o, ok := p.c.Checks[chk.ID]; ok {
		a = o
	}
	if p.e == WarnOnly && a == core.Deny {
		a = core.Warn
	}
	return a
}

func (p policy) NetworkAction() core.Action {
	if p.e == WarnOnly {
		return core.Warn
	}
	return p.c.NetworkErrorAction
}
