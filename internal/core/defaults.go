package core

import (
	"fmt"
	"slices"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/istio"
)

// Default describes one default the mutators apply, for the catalogue and
// for configuration (`defaults.disabled` names them).
type Default struct {
	ID          string   `json:"id"`
	Kinds       []string `json:"kinds"`
	Description string   `json:"description"`
}

var defaults []Default

// RegisterDefaults adds defaults to the catalogue, in the order they apply.
func RegisterDefaults(ds ...Default) struct{} {
	for _, d := range ds {
		if _, dup := LookupDefault(d.ID); dup {
			panic("core: duplicate default ID " + d.ID)
		}
		defaults = append(defaults, d)
	}
	return struct{}{}
}

// Defaults lists every default, in the order they are applied.
func Defaults() []Default {
	out := make([]Default, len(defaults))
	for i, d := range defaults {
		d.Kinds = slices.Clone(d.Kinds)
		out[i] = d
	}
	return out
}

// LookupDefault finds a default by ID.
func LookupDefault(id string) (Default, bool) {
	for _, d := range defaults {
		if d.ID == id {
			return d, true
		}
	}
	return Default{}, false
}

// DefaultSettings are the config file's `defaults` section.
type DefaultSettings struct {
	// DefaultGateway is set on APIRules that name no gateway.
	DefaultGateway string `json:"defaultGateway,omitempty"`
	// MinTLSVersion is set as minProtocolVersion on Gateway servers that
	// terminate TLS and name none (default TLSV1_2).
	MinTLSVersion string `json:"minTLSVersion,omitempty"`
	// Disabled lists default IDs that are switched off.
	Disabled []string `json:"disabled,omitempty"`
}

// WithDefaults fills what the operator left empty.
func (s DefaultSettings) WithDefaults() DefaultSettings {
	if s.DefaultGateway == "" {
		s.DefaultGateway = "kyma-system/kyma-gateway"
	}
	if s.MinTLSVersion == "" {
		s.MinTLSVersion = "TLSV1_2"
	}
	return s
}

// Validate rejects what would silently do nothing or produce objects the API
// server refuses: unknown default IDs, a gateway not in namespace/name form,
// an unknown TLS version. Empty fields are valid (WithDefaults fills them).
func (s DefaultSettings) Validate() error {
	for _, id := range s.Disabled {
		if _, ok := LookupDefault(id); !ok {
			return fmt.Errorf("defaults.disabled: unknown default %q", id)
		}
	}
	if s.DefaultGateway != "" {
		if _, _, ok := apirule.SplitRef(s.DefaultGateway); !ok {
			return fmt.Errorf("defaults.defaultGateway: %q: want namespace/name", s.DefaultGateway)
		}
	}
	if s.MinTLSVersion != "" {
		if _, ok := istio.ParseTLSVersion(s.MinTLSVersion); !ok {
			return fmt.Errorf("defaults.minTLSVersion: %q: want TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3", s.MinTLSVersion)
		}
	}
	return nil
}

// Enabled says whether the default with this ID is on.
func (s DefaultSettings) Enabled(id string) bool { return !slices.Contains(s.Disabled, id) }
