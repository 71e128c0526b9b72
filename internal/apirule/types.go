// Package apirule holds gatewarden's own Go types for the Kyma APIRule
// (gateway.kyma-project.io), written from the CRD schema. The upstream module
// cannot be imported here, and the webhook only needs to read these objects:
// unknown fields are ignored on decode and never written back (mutations are
// JSON patches against the raw request).
package apirule

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const Group = "gateway.kyma-project.io"

var (
	V1beta1  = schema.GroupVersionKind{Group: Group, Version: "v1beta1", Kind: "APIRule"}
	V2alpha1 = schema.GroupVersionKind{Group: Group, Version: "v2alpha1", Kind: "APIRule"}
	V2       = schema.GroupVersionKind{Group: Group, Version: "v2", Kind: "APIRule"}
)

// APIRule is v2 and v2alpha1: the two versions are field-for-field identical.
type APIRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              Spec `json:"spec"`
	// ShortHostGateway is set on the v2 view of a v1beta1 APIRule: Kyma
	// gives its short host the domain of this gateway (namespace/name),
	// whatever spec.gateway names. Empty for v2, where a short host takes
	// the domain of spec.gateway.
	ShortHostGateway string `json:"-"`
}

type Spec struct {
	Hosts           []string    `json:"hosts,omitempty"`
	Service         *Service    `json:"service,omitempty"`
	Gateway         *string     `json:"gateway,omitempty"`
	ExternalGateway *string     `json:"externalGateway,omitempty"`
	CorsPolicy      *CorsPolicy `json:"corsPolicy,omitempty"`
	Rules           []Rule      `json:"rules,omitempty"`
	Timeout         *int64      `json:"timeout,omitempty"`
}

type Service struct {
	Name      *string `json:"name,omitempty"`
	Namespace *string `json:"namespace,omitempty"`
	Port      *int64  `json:"port,omitempty"`
	External  *bool   `json:"external,omitempty"`
}

type CorsPolicy struct {
	AllowHeaders     []string            `json:"allowHeaders,omitempty"`
	AllowMethods     []string            `json:"allowMethods,omitempty"`
	AllowOrigins     []map[string]string `json:"allowOrigins,omitempty"`
	AllowCredentials *bool               `json:"allowCredentials,omitempty"`
	ExposeHeaders    []string            `json:"exposeHeaders,omitempty"`
	MaxAge           *int64              `json:"maxAge,omitempty"`
}

type Rule struct {
	Path    string   `json:"path"`
	Service *Service `json:"service,omitempty"`
	Methods []string `json:"methods,omitempty"`
	NoAuth  *bool    `json:"noAuth,omitempty"`
	JWT     *JWT     `json:"jwt,omitempty"`
	ExtAuth *ExtAuth `json:"extAuth,omitempty"`
	Timeout *int64   `json:"timeout,omitempty"`
	Request *Request `json:"request,omitempty"`
}

type JWT struct {
	Authentications []JWTAuthentication `json:"authentications,omitempty"`
	Authorizations  []JWTAuthorization  `json:"authorizations,omitempty"`
}

type JWTAuthentication struct {
	Issuer      string      `json:"issuer"`
	JwksURI     string      `json:"jwksUri"`
	FromHeaders []JWTHeader `json:"fromHeaders,omitempty"`
	FromParams  []string    `json:"fromParams,omitempty"`
}

type JWTHeader struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"`
}

type JWTAuthorization struct {
	RequiredScopes []string `json:"requiredScopes,omitempty"`
	Audiences      []string `json:"audiences,omitempty"`
}

type ExtAuth struct {
	Authorizers  []string `json:"authorizers,omitempty"`
	Restrictions *JWT     `json:"restrictions,omitempty"`
}

type Request struct {
	Cookies map[string]string `json:"cookies,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// V1beta1APIRule is the legacy, Oathkeeper-era shape.
type V1beta1APIRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              V1beta1Spec `json:"spec"`
}

type V1beta1Spec struct {
	Host       *string          `json:"host,omitempty"`
	Service    *Service         `json:"service,omitempty"`
	Gateway    *string          `json:"gateway,omitempty"`
	CorsPolicy *json.RawMessage `json:"corsPolicy,omitempty"`
	Rules      []V1beta1Rule    `json:"rules,omitempty"`
	Timeout    *int64           `json:"timeout,omitempty"`
}

type V1beta1Rule struct {
	Path             string     `json:"path"`
	Service          *Service   `json:"service,omitempty"`
	Methods          []string   `json:"methods,omitempty"`
	AccessStrategies []*Handler `json:"accessStrategies,omitempty"`
	Mutators         []*Handler `json:"mutators,omitempty"`
	Timeout          *int64     `json:"timeout,omitempty"`
}

// Handler is an access strategy or mutator; its config is free-form and
// depends on the handler name.
type Handler struct {
	Name   string                `json:"handler"`
	Config *runtime.RawExtension `json:"config,omitempty"`
}

// OryJWTConfig is the Oathkeeper dialect of the v1beta1 jwt handler config.
type OryJWTConfig struct {
	TrustedIssuers []string `json:"trusted_issuers,omitempty"`
	JwksURLs       []string `json:"jwks_urls,omitempty"`
	RequiredScope  []string `json:"required_scope,omitempty"`
	TargetAudience []string `json:"target_audience,omitempty"`
}

// JWTConfig returns both dialects of a v1beta1 jwt handler's config; either
// may be empty. A config that is not a JSON object yields an error.
func (h *Handler) JWTConfig() (*OryJWTConfig, *JWT, error) {
	ory, ist := &OryJWTConfig{}, &JWT{}
	if h.Config == nil || len(h.Config.Raw) == 0 {
		return ory, ist, nil
	}
	if err := json.Unmarshal(h.Config.Raw, ory); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(h.Config.Raw, ist); err != nil {
		return nil, nil, err
	}
	return ory, ist, nil
}
