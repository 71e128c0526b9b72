package core

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// Env is everything a check or a default may consult besides the object
// itself: the two interfaces to the world, and the operator's settings.
type Env struct {
	Cluster  cluster.State
	Trust    trust.Resolver
	Settings Settings
	Defaults DefaultSettings
	// Exceptions bound what a GatewardenException may cover.
	Exceptions ExceptionSettings
	Now        func() time.Time
}

// Settings tune individual checks; the config file's `settings` section.
type Settings struct {
	// GatewaySecretNamespace is where istiod's gateway reads credentialName
	// secrets when no gateway pods are visible.
	GatewaySecretNamespace string `json:"gatewaySecretNamespace,omitempty"`
	// CertExpiryWarning: certificates expiring sooner than this are warned.
	CertExpiryWarning metav1.Duration `json:"certExpiryWarning,omitempty"`
	// MinTLSVersion is the lowest Gateway minProtocolVersion allowed.
	MinTLSVersion string `json:"minTLSVersion,omitempty"`
	// AllowHTTPHosts may serve issuers and JWKS over plain http.
	AllowHTTPHosts []string `json:"allowHTTPHosts,omitempty"`
	// TrustedIssuers, when set, is the allowlist of issuers (exact URLs, or
	// prefixes ending in `*`).
	TrustedIssuers []string `json:"trustedIssuers,omitempty"`
	// RequireAuthLabel names the namespace label that forbids noAuth rules.
	RequireAuthLabel string `json:"requireAuthLabel,omitempty"`
}

// WithDefaults fills what the operator left empty.
func (s Settings) WithDefaults() Settings {
	if s.GatewaySecretNamespace == "" {
		s.GatewaySecretNamespace = "istio-system"
	}
	if s.CertExpiryWarning.Duration == 0 {
		s.CertExpiryWarning.Duration = 30 * 24 * time.Hour
	}
	if s.MinTLSVersion == "" {
		s.MinTLSVersion = "TLSV1_2"
	}
	if s.RequireAuthLabel == "" {
		s.RequireAuthLabel = "gatewarden.io/require-auth"
	}
	return s
}

// Object is one admitted object, decoded.
type Object struct {
	GVK schema.GroupVersionKind
	// Kind is the kind as checks name it (KindAPIRule...).
	Kind      string
	Namespace string
	Name      string
	// Operation is CREATE or UPDATE, CHECK offline, AUDIT in the audit.
	Operation string
	// Typed is the decoded object, of the Go type of its version.
	Typed any
}
