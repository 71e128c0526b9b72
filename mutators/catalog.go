package mutators

import "github.com/gatewarden/gatewarden/internal/core"

// IDs of the defaults. They are stable: configuration (`defaults.disabled`)
// and warnings refer to them.
const (
	DefaultGateway       = "default-gateway"
	DefaultServicePort   = "default-service-port"
	DefaultJWKSURI       = "default-jwks-uri"
	DefaultMinTLSVersion = "default-min-tls-version"
	DefaultedAnnotation  = "defaulted-annotation"
)

// AnnotationDefaulted lists, comma-separated, the field paths gatewarden
// has defaulted on the object.
const AnnotationDefaulted = "gatewarden.io/defaulted"

var _ = core.RegisterDefaults(
	core.Default{ID: DefaultGateway, Kinds: []string{core.KindAPIRule},
		Description: "APIRule v2/v2alpha1 without gateway and externalGateway: gateway is set to defaults.defaultGateway (kyma-system/kyma-gateway)"},
	core.Default{ID: DefaultServicePort, Kinds: []string{core.KindAPIRule},
		Description: "APIRule service (spec or rule level) without port: the port of the Service when it has exactly one"},
	core.Default{ID: DefaultJWKSURI, Kinds: []string{core.KindAPIRule},
		Description: "APIRule JWT authentication with an issuer and no jwksUri (v1beta1 jwt handler: trusted_issuers without jwks_urls): the jwks_uri of the issuer's OIDC discovery document"},
	core.Default{ID: DefaultMinTLSVersion, Kinds: []string{core.KindGateway},
		Description: "Gateway server terminating TLS with its own settings (SIMPLE, MUTUAL, OPTIONAL_MUTUAL) without minProtocolVersion: defaults.minTLSVersion (TLSV1_2)"},
	core.Default{ID: DefaultedAnnotation, Kinds: []string{core.KindAPIRule, core.KindGateway},
		Description: "the annotation " + AnnotationDefaulted + " lists the fields that were defaulted"},
)
