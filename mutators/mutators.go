// Package mutators fills in defaults before the Kyma controller acts. Each
// default is a small function that reads the typed object and returns JSON
// patch operations against the raw request, so fields gatewarden does not
// know are never touched.
package mutators

import (
	"context"
	"fmt"
	"slices"

	"gomodules.xyz/jsonpatch/v2"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
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
	// MinTLSVersion is set as minProtocolVersion on Gateway servers that
	// terminate TLS and name none (default TLSV1_2).
	MinTLSVersion string `json:"minTLSVersion,omitempty"`
	// Disabled lists default IDs that are switched off.
	Disabled []string `json:"disabled,omitempty"`
}

// WithDefaults fills what the operator left empty.
func (s Settings) WithDefaults() Settings {
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
func (s Settings) Validate() error {
	for _, id := range s.Disabled {
		if _, ok := Lookup(id); !ok {
			return fmt.Errorf("defaults.disabled: unknown default %q", id)
		}
	}
	if s.DefaultGateway != "" {
		if _, _, ok := apirule.SplitRef(s.DefaultGateway); !ok {
			return fmt.Errorf("defaults.defaultGateway: %q: want namespace/name", s.DefaultGateway)
		}
	}
	if s.MinTLSVersion != "" {
		if _, ok := tlsVersion(s.MinTLSVersion); !ok {
			return fmt.Errorf("defaults.minTLSVersion: %q: want TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3", s.MinTLSVersion)
		}
	}
	return nil
}

// Enabled says whether the default with this ID is on.
func (s Settings) Enabled(id string) bool { return !slices.Contains(s.Disabled, id) }

// Mutate returns the patch that applies every enabled default to obj, and
// warnings for defaults that could not be applied. Paths point into the raw
// request; operations only add what is missing, so applying the patch and
// calling Mutate again yields no operations.
func Mutate(ctx context.Context, obj *validators.Object, env *Env) ([]jsonpatch.JsonPatchOperation, []validators.Finding) {
	if obj == nil || env == nil || obj.Typed == nil {
		return nil, nil
	}
	if obj.Operation != "" && obj.Operation != "CREATE" && obj.Operation != "UPDATE" && obj.Operation != "CHECK" && obj.Operation != "AUDIT" {
		return nil, nil
	}
	s := env.Settings.WithDefaults()
	p := &patch{}
	switch t := obj.Typed.(type) {
	case *apirule.APIRule:
		mutateAPIRule(ctx, t, namespaceOf(obj, t), env, s, p)
	case *apirule.V1beta1APIRule:
		mutateV1beta1APIRule(ctx, t, namespaceOf(obj, t), env, s, p)
	case *networkingv1.Gateway:
		if s.Enabled(DefaultMinTLSVersion) {
			defaultMinTLS(t.Spec.Servers, s.MinTLSVersion, p)
		}
	}
	if len(p.fields) > 0 && s.Enabled(DefaultedAnnotation) {
		if m, ok := obj.Typed.(metav1.Object); ok {
			p.ops = append(p.ops, recordDefaulted(m, isZeroMeta(obj.Typed), p.fields)...)
		}
	}
	return p.ops, p.warnings
}

// namespaceOf is the object's namespace as the request names it, else as
// the object does, else "default".
func namespaceOf(obj *validators.Object, m metav1.Object) string {
	switch {
	case obj.Namespace != "":
		return obj.Namespace
	case m.GetNamespace() != "":
		return m.GetNamespace()
	}
	return "default"
}

// patch collects what the defaults decided.
type patch struct {
	ops      []jsonpatch.JsonPatchOperation
	fields   []string // field paths that were defaulted, for the annotation
	warnings []validators.Finding
}

// set adds a value at p (RFC 6902 add: creates the member, or replaces an
// explicit null or empty value the typed object could not tell from absent).
func (pt *patch) set(p path, value any) {
	pt.ops = append(pt.ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: p.Pointer(), Value: value})
	pt.fields = append(pt.fields, p.String())
}

func (pt *patch) warn(id string, p path, format string, args ...any) {
	pt.warnings = append(pt.warnings, validators.Finding{Check: id, Field: p.String(), Message: fmt.Sprintf(format, args...)})
}
