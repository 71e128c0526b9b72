package validators

import (
	"context"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var GatewayMutualCredential = register(Check{
	ID:          "gateway-mtls-credential",
	Kinds:       []string{KindGateway},
	Default:     Deny,
	Description: "a MUTUAL or OPTIONAL_MUTUAL server names a CA: credentialName(s) or caCertificates",
})

func validateGateway(ctx context.Context, gw *networkingv1.Gateway, env *Env, r *Report) {
	servers := field.NewPath("spec", "servers")
	for i, s := range gw.Spec.Servers {
		if s == nil || s.Tls == nil {
			continue
		}
		validateMutualCredential(s.Tls, servers.Index(i).Child("tls"), r)
	}
}

func isMutual(mode networkingapi.ServerTLSSettings_TLSmode) bool {
	return mode == networkingapi.ServerTLSSettings_MUTUAL || mode == networkingapi.ServerTLSSettings_OPTIONAL_MUTUAL
}

func validateMutualCredential(tls *networkingapi.ServerTLSSettings, p *field.Path, r *Report) {
	if !isMutual(tls.Mode) {
		return
	}
	if tls.CredentialName == "" && len(tls.CredentialNames) == 0 && tls.CaCertificates == "" {
		r.Deny(GatewayMutualCredential, field.Required(p.Child("credentialName"),
			tls.Mode.String()+" TLS needs a CA to verify clients: set credentialName to a secret holding the server certificate and the CA (or a <name>-cacert secret), or caCertificates"))
	}
}
