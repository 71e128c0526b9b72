// Package mutators fills in defaults before the Kyma controller acts. Each
// default is a small function that reads the typed object and returns JSON
// patch operations against the raw request, so fields gatewarden does not
// know are never touched.
package mutators

import (
	"context"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/validators"
)

// Env is what defaults may consult: the same two interfaces as validators.
type Env struct {
	Cluster  cluster.State
	Trust    trust.Resolver
	Settings Settings
}

// Settings are the config file's `defaults` section.
type Settings struct {
	// DefaultGateway is set on APIRules that name no gateway.
	DefaultGateway string `json:"defaultGateway,omitempty"`
	// Disabled lists default IDs that are switched off.
	Disabled []string `json:"disabled,omitempty"`
}

// WithDefaults fills what the operator left empty.
func (s Settings) WithDefaults() Settings {
	if s.DefaultGateway == "" {
		s.DefaultGateway = "kyma-system/kyma-gateway"
	}
	return s
}

// Mutate returns the patch that applies every enabled default to obj, and
// warnings for defaults that could not be applied.
func Mutate(ctx context.Context, obj *validators.Object, env *Env) ([]jsonpatch.JsonPatchOperation, []validators.Finding) {
	return nil, nil
}
