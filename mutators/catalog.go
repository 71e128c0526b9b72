package mutators

import "slices"

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

// Default describes one default for the catalogue.
type Default struct {
	ID          string   `json:"id"`
	Kinds       []string `json:"kinds"`
	Description string   `json:"description"`
}

var catalog = []Default{
	{ID: DefaultGateway, Kinds: []string{"APIRule"},
		Description: "APIRule v2/v2alpha1 without gateway and externalGateway: gateway is set to defaults.defaultGateway (kyma-system/kyma-gateway)"},
	{ID: DefaultServicePort, Kinds: []string{"APIRule"},
		Description: "APIRule service (spec or rule level) without port: the port of the Service when it has exactly one"},
	{ID: DefaultJWKSURI, Kinds: []string{"APIRule"},
		Description: "APIRule JWT authentication with an issuer and no jwksUri (v1beta1 jwt handler: trusted_issuers without jwks_urls): the jwks_uri of the issuer's OIDC discovery document"},
	{ID: DefaultMinTLSVersion, Kinds: []string{"Gateway"},
		Description: "Gateway server terminating TLS (SIMPLE, MUTUAL, OPTIONAL_MUTUAL) without minProtocolVersion: defaults.minTLSVersion (TLSV1_2)"},
	{ID: DefaultedAnnotation, Kinds: []string{"APIRule", "Gateway"},
		Description: "the annotation " + AnnotationDefaulted + " lists the fields that were defaulted"},
}

// Catalog lists every default, in the order they are applied.
func Catalog() []Default {
	out := make([]Default, len(catalog))
	for i, d := range catalog {
		d.Kinds = slices.Clone(d.Kinds)
		out[i] = d
	}
	return out
}

// Lookup finds a default by ID.
func Lookup(id string) (Default, bool) {
	for _, d := range catalog {
		if d.ID == id {
			return d, true
		}
	}
	return Default{}, false
}
