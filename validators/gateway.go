package validators

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
)

// Gateway checks. Istio resolves a server's credentialName lazily over SDS
// in the namespace of the gateway *pods*, so a wrong secret shows up only as
// a listener that never warms; these checks look where istiod will look
// (docs/gateways.md). By concern: gateway_tls.go (TLS settings),
// gateway_credentials.go (secrets, certificates, client CAs),
// gateway_hosts.go (hosts shared between Gateways), istio_gateway.go
// (istiod's own validation of the Gateway).

// Gateway validates an Istio Gateway (every served version decodes into v1).
func Gateway(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	gw := obj.Typed.(*networkingv1.Gateway)
	g := &gatewayCheck{ctx: ctx, gw: gw, env: env, r: r}
	servers := field.NewPath("spec", "servers")
	for i, s := range gw.Spec.Servers {
		if s == nil || s.Tls == nil {
			continue
		}
		tp := servers.Index(i).Child("tls")
		validateMutualCredential(s.Tls, tp, r)
		validateIstioMutualCertificates(s.Tls, tp, r)
		validateMinTLSVersion(s.Tls, tp, env.Settings.MinTLSVersion, r)
		g.credentials(s, servers.Index(i))
	}
	g.duplicateHosts(servers)
	// Last: it leaves out what the checks above reported on the same field.
	validateGatewayIstio(gw, r)
}

// Secret keys istiod reads (pilot/pkg/credentials/kube: detection is by key,
// never by Secret type).
const (
	gwKeyCert               = "cert"
	gwKeyKey                = "key"
	gwKeyCACert             = "cacert"
	gwKeyCRL                = "crl"
	gwKeyTLSCrt             = "tls.crt"
	gwKeyTLSKey             = "tls.key"
	gwKeyCACrt              = "ca.crt"
	gwKeyCACrl              = "ca.crl"
	gwCASecretSuffix        = "-cacert"
	gwSDSKubePrefix         = "kubernetes://"
	gwSDSConfigMapPrefix    = "configmap://"
	gwCertManagerAnnotation = "cert-manager.io/certificate-name"
)

// gatewayCheck is one Gateway's run of the checks.
type gatewayCheck struct {
	ctx context.Context
	gw  *networkingv1.Gateway
	env *core.Env
	r   *core.Report

	nsDone   bool
	ns       []string
	nsWhere  string
	nsFailed bool
}

func (g *gatewayCheck) anyEnabled(cs ...*core.Check) bool {
	for _, c := range cs {
		if g.r.Enabled(c) {
			return true
		}
	}
	return false
}
