package validators

import (
	"fmt"

	networkingapi "istio.io/api/networking/v1alpha3"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/istio"
)

var GatewayMutualCredential = core.Register(core.Check{
	ID:          "gateway-mtls-credential",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "a MUTUAL or OPTIONAL_MUTUAL server names a CA: credentialName(s) or caCertificates",
	Runtime:     "istio/istio pkg/config/validation/validation.go validateTLSOptions",
})

var GatewayIstioMutualCertificates = core.Register(core.Check{
	ID:          "gateway-istio-mutual-certificates",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "an ISTIO_MUTUAL server sets no certificate fields: it uses the mesh certificates",
	Runtime:     "istio/istio pkg/config/validation/validation.go validateTLSOptions",
})

var GatewayTLSMinVersion = core.Register(core.Check{
	ID:          "gateway-tls-min-version",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "tls.minProtocolVersion is not below settings.minTLSVersion",
	Runtime:     "istio/istio pkg/config/validation/validation.go validateTLSOptions (only warns; TLS 1.0/1.1 refused on purpose, RFC 8996)",
})

func validateMutualCredential(tls *networkingapi.ServerTLSSettings, p *field.Path, r *core.Report) {
	if !istio.IsMutual(tls.Mode) {
		return
	}
	if tls.CredentialName == "" && len(tls.CredentialNames) == 0 && tls.CaCertificates == "" {
		r.Deny(GatewayMutualCredential, field.Required(p.Child("credentialName"),
			tls.Mode.String()+" TLS needs a CA to verify clients: set credentialName to a secret holding the server certificate and the CA (or a <name>-cacert secret), or caCertificates"))
	}
	if tls.CaCertificates != "" {
		r.Warn(GatewayMutualCredential, field.Invalid(p.Child("caCertificates"), tls.CaCertificates,
			"a file on the gateway pod that cannot be verified from the API; if it is not mounted the listener fails, so prefer credentialName with a <name>-cacert secret"))
	}
}

func validateIstioMutualCertificates(tls *networkingapi.ServerTLSSettings, p *field.Path, r *core.Report) {
	if tls.Mode != networkingapi.ServerTLSSettings_ISTIO_MUTUAL {
		return
	}
	const why = "ISTIO_MUTUAL uses the mesh's workload certificates; remove it, or use MUTUAL to serve your own certificate"
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"credentialName", tls.CredentialName != ""},
		{"credentialNames", len(tls.CredentialNames) > 0},
		{"serverCertificate", tls.ServerCertificate != ""},
		{"privateKey", tls.PrivateKey != ""},
		{"caCertificates", tls.CaCertificates != ""},
		{"tlsCertificates", len(tls.TlsCertificates) > 0},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), why))
		}
	}
	r.Deny(GatewayIstioMutualCertificates, errs...)
}

func validateMinTLSVersion(tls *networkingapi.ServerTLSSettings, p *field.Path, setting string, r *core.Report) {
	got := tls.MinProtocolVersion
	if got == networkingapi.ServerTLSSettings_TLS_AUTO || !istio.OwnTLS(tls.Mode) {
		return // TLS_AUTO is Envoy's server default, TLS 1.2
	}
	// config.Parse accepts only Istio's spelling of a version; an empty
	// setting is the default.
	min, ok := istio.ParseTLSVersion(setting)
	if !ok {
		min = networkingapi.ServerTLSSettings_TLSV1_2
	}
	if got < min {
		r.Deny(GatewayTLSMinVersion, field.Invalid(p.Child("minProtocolVersion"), got.String(),
			fmt.Sprintf("below the minimum %s allowed here (settings.minTLSVersion); istiod would accept it, gatewarden refuses it on purpose as older TLS versions are insecure (RFC 8996 deprecates 1.0 and 1.1): set %s or higher, or leave it unset", min, min)))
	}
}
