package validators

import (
	"fmt"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
)

var GatewayIstioValidation = core.Register(core.Check{
	ID:          "gateway-istio-validation",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "what istiod's Gateway validation refuses is denied (servers, hosts, ports, binds, TLS settings), what it warns about is a warning; findings a dedicated check made on the same field are not repeated",
	Runtime:     "istio/istio pkg/config/validation/validation.go ValidateGateway, validateServer, validateTLSOptions",
})

// istioProtocol is a port protocol as istiod parses it (pkg/config/protocol
// Parse, case-insensitive); "" is a protocol istiod does not support.
func istioProtocol(s string) string {
	switch p := strings.ToLower(s); p {
	case "tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql":
		return p
	}
	return ""
}

func istioProtocolIsHTTP(p string) bool {
	switch p {
	case "http", "http2", "http_proxy", "grpc", "grpc-web":
		return true
	}
	return false
}

func istioProtocolIsTLS(p string) bool { return p == "https" || p == "tls" }

const istioUnixPrefix = "unix://"

// validateGatewayIstio runs istiod's ValidateGateway on gw.
func validateGatewayIstio(gw *networkingv1.Gateway, r *core.Report) {
	v := istioRun{c: GatewayIstioValidation, r: r}
	if !r.Enabled(v.c) {
		return
	}
	v.metadata(&gw.ObjectMeta, core.KindGateway, "")
	gatewaySemantics := gw.Annotations[istioGatewaySemantics] == istioGatewaySemanticsGW
	if gw.Name != "" && !gatewaySemantics && !isIstioDNSLabel(gw.Name) {
		v.deny(field.Invalid(field.NewPath("metadata", "name"), gw.Name,
			"istiod refuses a Gateway whose name is not a DNS label (letters, digits and '-', at most 63 characters, no dots): rename it"))
	}
	servers := field.NewPath("spec", "servers")
	if len(gw.Spec.Servers) == 0 {
		v.deny(field.Required(servers, "istiod refuses a Gateway without servers: add a server with port, hosts and, for HTTPS, tls"))
		return
	}
	portNames := map[string]int{}
	for i, s := range gw.Spec.Servers {
		sp := servers.Index(i)
		if s == nil {
			v.deny(field.Required(sp, "istiod refuses an empty server: remove it or give it a port and hosts"))
			continue
		}
		v.server(s, sp, gatewaySemantics)
		if s.Port == nil {
			continue
		}
		if first, dup := portNames[s.Port.Name]; dup {
			v.deny(duplicate(sp.Child("port", "name"), s.Port.Name, fmt.Sprintf(
				"server %d already uses this port name, and istiod refuses a Gateway whose port names repeat: give each server its own port name", first)))
		} else {
			portNames[s.Port.Name] = i
		}
		if s.GetTls().GetHttpsRedirect() && !istioProtocolIsHTTP(istioProtocol(s.Port.Protocol)) {
			v.warn(field.Invalid(sp.Child("tls", "httpsRedirect"), true, fmt.Sprintf(
				"httpsRedirect redirects plain HTTP requests, but this server's protocol is %s; istiod warns: remove it here and set it on the port 80 HTTP server", s.Port.Protocol)))
		}
	}
}

// server is istiod's validateServer.
func (v istioRun) server(s *networkingapi.Server, sp *field.Path, gatewaySemantics bool) {
	if len(s.Hosts) == 0 {
		v.deny(field.Required(sp.Child("hosts"), "istiod refuses a server without hosts: list the hosts it serves, such as \"*.example.com\" or \"namespace/api.example.com\""))
	}
	for j, h := range s.Hosts {
		for _, why := range istioGatewayHostProblems(h, gatewaySemantics) {
			v.deny(field.Invalid(sp.Child("hosts").Index(j), h, why+"; istiod refuses the Gateway: write a host name such as api.example.com or *.example.com, optionally after namespace/"))
		}
	}
	portOK := v.serverPort(s.Port, s.Bind, sp.Child("port"))
	v.serverBind(s.Port, s.Bind, sp)
	v.tlsOptions(s.Tls, sp.Child("tls"))
	if !portOK {
		return
	}
	p := istioProtocol(s.Port.Protocol)
	tp := sp.Child("tls")
	switch {
	case istioProtocolIsTLS(p) && s.Tls == nil:
		v.deny(field.Required(tp, fmt.Sprintf(
			"a %s server needs tls settings and istiod refuses it without: set tls.mode SIMPLE with credentialName to terminate TLS, or PASSTHROUGH", s.Port.Protocol)))
	case !istioProtocolIsTLS(p) && s.Tls != nil && istioProtocolIsHTTP(p):
		passthrough := s.Tls.Mode == networkingapi.ServerTLSSettings_PASSTHROUGH || s.Tls.Mode == networkingapi.ServerTLSSettings_AUTO_PASSTHROUGH
		if !passthrough || s.Tls.CaCertificates != "" || s.Tls.PrivateKey != "" || s.Tls.ServerCertificate != "" {
			v.deny(field.Forbidden(tp, fmt.Sprintf(
				"a plain %s server may set only tls.httpsRedirect, and istiod refuses other TLS settings on it: set port.protocol HTTPS to terminate TLS, or keep only httpsRedirect", s.Port.Protocol)))
		}
	case !istioProtocolIsTLS(p) && s.Tls != nil:
		v.deny(field.Forbidden(tp, fmt.Sprintf(
			"istiod refuses TLS settings on a %s server: set port.protocol TLS (or HTTPS), or remove tls", s.Port.Protocol)))
	}
}

// istioGatewayHostProblems is agent.ValidateNamespaceSlashWildcardHostname
// for a Gateway host: [namespace/]host, namespace one of *, . or a DNS
// label, host an FQDN, an IP, *, or a name under a leading *. wildcard.
func istioGatewayHostProblems(h string, gatewaySemantics bool) []string {
	ns, host, namespaced := strings.Cut(h, "/")
	if !namespaced {
		return istioGatewayHostnameProblems(h)
	}
	var out []string
	if ns == "" || host == "" {
		out = append(out, "namespace and host of namespace/host must not be empty")
	}
	if ns != "*" && ns != "." && !(ns == "~" && gatewaySemantics) && !isIstioDNSLabel(ns) {
		out = append(out, fmt.Sprintf("namespace %q is neither *, . nor a namespace name", ns))
	}
	return append(out, istioGatewayHostnameProblems(host)...)
}

func istioGatewayHostnameProblems(h string) []string {
	var out []string
	if h != "*" && !strings.Contains(h, ".") {
		out = append(out, "a short name (no dot) is not a host istiod accepts")
	}
	if why := istioWildcardDomain(h); why != "" && !isIstioIP(h) {
		out = append(out, "host name "+why)
	}
	if strings.Contains(h, "*") && h != "*" && !strings.HasPrefix(h, "*.") {
		out = append(out, "a partial wildcard is not allowed, only a whole first label *.")
	}
	return out
}

// serverPort is validateServerPort; it says whether the port is valid, as
// the protocol checks of validateServer need one.
func (v istioRun) serverPort(port *networkingapi.Port, bind string, pp *field.Path) bool {
	if port == nil {
		v.deny(field.Required(pp, "istiod refuses a server without port: set number, name and protocol"))
		return false
	}
	ok := true
	if istioProtocol(port.Protocol) == "" {
		ok = false
		v.deny(field.Invalid(pp.Child("protocol"), port.Protocol,
			"istiod does not know this protocol and refuses the Gateway: use HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, MYSQL or REDIS"))
	}
	if port.Number > 0 || !strings.HasPrefix(bind, istioUnixPrefix) {
		if port.Number < 1 || port.Number > 65535 {
			ok = false
			v.deny(field.Invalid(pp.Child("number"), port.Number, "istiod refuses a port number outside 1..65535: set the port the gateway listens on"))
		}
	}
	//lint:ignore SA1019 the field is deprecated because it does nothing on Gateways, which is why istiod refuses it
	if port.TargetPort > 0 {
		ok = false
		v.deny(field.Forbidden(pp.Child("targetPort"), "targetPort has no effect on Gateways and istiod refuses it: remove it"))
	}
	if port.Name == "" {
		ok = false
		v.deny(field.Required(pp.Child("name"), "istiod refuses a server port without name: name it, such as https-api"))
	}
	return ok
}

// serverBind is validateServerBind: an IP address, or unix:// with an
// absolute path and port number 0.
func (v istioRun) serverBind(port *networkingapi.Port, bind string, sp *field.Path) {
	if rest, unix := strings.CutPrefix(bind, istioUnixPrefix); unix {
		if why := istioUnixAddress(rest); why != "" {
			v.deny(field.Invalid(sp.Child("bind"), bind, why+"; istiod refuses it: write unix:///absolute/path or unix://@name"))
		}
		if port != nil && port.Number != 0 {
			v.deny(field.Invalid(sp.Child("port", "number"), port.Number, "a server bound to a unix socket has port number 0, and istiod refuses any other: set 0"))
		}
		return
	}
	if bind != "" && !isIstioIP(bind) {
		v.deny(field.Invalid(sp.Child("bind"), bind, "not an IP address, and istiod refuses it: bind to an IP address of the gateway pod, or remove bind"))
	}
}

// istioCipherSuites are the cipher suite names istiod accepts
// (pkg/config/security ValidCipherSuites).
var istioCipherSuites = map[string]bool{
	"ECDHE-ECDSA-AES128-GCM-SHA256": true, "ECDHE-RSA-AES128-GCM-SHA256": true,
	"ECDHE-ECDSA-AES256-GCM-SHA384": true, "ECDHE-RSA-AES256-GCM-SHA384": true,
	"ECDHE-ECDSA-CHACHA20-POLY1305": true, "ECDHE-RSA-CHACHA20-POLY1305": true,
	"ECDHE-ECDSA-AES128-SHA": true, "ECDHE-RSA-AES128-SHA": true,
	"ECDHE-ECDSA-AES256-SHA": true, "ECDHE-RSA-AES256-SHA": true,
	"AES128-GCM-SHA256": true, "AES256-GCM-SHA384": true, "AES128-SHA": true, "AES256-SHA": true,
	"DES-CBC3-SHA": true,
}

// istioValidCipherSuite is IsValidCipherSuite: names that do not start
// with a letter or digit are expressions (-X, +X) istiod lets through.
func istioValidCipherSuite(cs string) bool {
	if cs == "" || cs == "ALL" {
		return true
	}
	c := cs[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return true
	}
	return istioCipherSuites[cs]
}

// tlsOptions is istiod's validateTLSOptions.
func (v istioRun) tlsOptions(tls *networkingapi.ServerTLSSettings, tp *field.Path) {
	if tls == nil {
		return
	}
	if (tls.MinProtocolVersion == networkingapi.ServerTLSSettings_TLSV1_0 || tls.MinProtocolVersion == networkingapi.ServerTLSSettings_TLSV1_1) && len(tls.CipherSuites) == 0 {
		v.warn(field.Invalid(tp.Child("minProtocolVersion"), tls.MinProtocolVersion.String(),
			"envoy's default cipher suites no longer include ones TLS 1.0 and 1.1 clients can use; istiod warns: set cipherSuites those clients support, or raise the version"),
			GatewayTLSMinVersion)
	}
	seen := map[string]bool{}
	for k, cs := range tls.CipherSuites {
		cp := tp.Child("cipherSuites").Index(k)
		switch {
		case !istioValidCipherSuite(cs):
			v.warn(field.Invalid(cp, cs, "not a cipher suite envoy supports, so istiod ignores it: use one such as ECDHE-RSA-AES128-GCM-SHA256, or remove it"))
		case seen[cs]:
			v.warn(duplicate(cp, cs, "listed before, so istiod ignores it: remove it"))
		}
		seen[cs] = true
	}

	mode := tls.Mode
	if mode == networkingapi.ServerTLSSettings_ISTIO_MUTUAL {
		const why = "ISTIO_MUTUAL uses the mesh's workload certificates, and istiod refuses certificate settings with it: remove it, or use MUTUAL to serve your own certificate"
		for _, f := range istioCertFields(tls) {
			if f != "caCrl" {
				v.deny(field.Forbidden(tp.Child(f), why), GatewayIstioMutualCertificates)
			}
		}
		return
	}
	if mode == networkingapi.ServerTLSSettings_PASSTHROUGH || mode == networkingapi.ServerTLSSettings_AUTO_PASSTHROUGH {
		if set := istioCertFields(tls); len(set) > 0 {
			v.warn(field.Invalid(tp.Child("mode"), mode.String(), fmt.Sprintf(
				"%s hands the TLS handshake to the backend, so istiod ignores %s and warns: remove them, or set mode SIMPLE to terminate TLS here (PASSTHROUGH is also what an unset mode means)",
				mode, strings.Join(set, ", "))))
		}
	}

	var sources []string
	if tls.ServerCertificate != "" && tls.PrivateKey != "" {
		sources = append(sources, "serverCertificate/privateKey")
	}
	if tls.CredentialName != "" {
		sources = append(sources, "credentialName")
	}
	if len(tls.CredentialNames) > 0 {
		sources = append(sources, "credentialNames")
	}
	if len(tls.TlsCertificates) > 0 {
		sources = append(sources, "tlsCertificates")
	}
	if len(sources) > 1 {
		v.deny(field.Forbidden(tp, fmt.Sprintf(
			"sets %s; istiod refuses more than one certificate source: keep only one (credentialName, with the certificate in a Secret, is the usual)", strings.Join(sources, " and "))))
	}

	terminates := mode == networkingapi.ServerTLSSettings_SIMPLE || mode == networkingapi.ServerTLSSettings_MUTUAL || mode == networkingapi.ServerTLSSettings_OPTIONAL_MUTUAL
	if terminates && (tls.CredentialName != "" || len(tls.CredentialNames) > 0) {
		return // the certificates come over SDS
	}
	if terminates {
		mutual := mode != networkingapi.ServerTLSSettings_SIMPLE
		if mutual && tls.CaCertificates == "" {
			v.deny(field.Required(tp.Child("credentialName"), mode.String()+
				" TLS needs a CA to verify clients and istiod refuses it without one: set credentialName to a secret holding the server certificate and the CA (or a <name>-cacert secret), or caCertificates"),
				GatewayMutualCredential)
		}
		if len(tls.TlsCertificates) > 2 {
			v.warn(field.Invalid(tp.Child("tlsCertificates"), len(tls.TlsCertificates),
				"envoy serves at most two server certificates (one RSA, one ECDSA), and istiod warns about more: keep two"))
		}
		certs := tls.TlsCertificates
		paths := make([]*field.Path, len(certs))
		for k := range certs {
			paths[k] = tp.Child("tlsCertificates").Index(k)
		}
		if len(certs) == 0 {
			certs = []*networkingapi.ServerTLSSettings_TLSCertificate{{ServerCertificate: tls.ServerCertificate, PrivateKey: tls.PrivateKey}}
			paths = []*field.Path{tp}
		}
		for k, c := range certs {
			if c == nil {
				c = &networkingapi.ServerTLSSettings_TLSCertificate{}
			}
			if c.ServerCertificate == "" {
				v.deny(field.Required(paths[k].Child("serverCertificate"), mode.String()+
					" TLS needs a server certificate and istiod refuses it without one: set credentialName to the Secret holding certificate and key (or the file paths serverCertificate and privateKey)"))
			}
			if c.PrivateKey == "" {
				v.deny(field.Required(paths[k].Child("privateKey"), mode.String()+
					" TLS needs a private key and istiod refuses it without one: set credentialName to the Secret holding certificate and key (or the file paths serverCertificate and privateKey)"))
			}
		}
	}
	if tls.CaCrl != "" {
		if tls.CredentialName != "" {
			v.deny(field.Forbidden(tp.Child("caCrl"), "istiod refuses caCrl with credentialName: put the CRL into the credential's secret (key crl, or ca.crl beside ca.crt)"))
		}
		if mode == networkingapi.ServerTLSSettings_SIMPLE {
			v.deny(field.Forbidden(tp.Child("caCrl"), "a SIMPLE server verifies no client certificates, and istiod refuses a CRL on it: remove caCrl, or use MUTUAL"))
		}
	}
}

// istioCertFields lists the certificate fields a tls block sets.
func istioCertFields(tls *networkingapi.ServerTLSSettings) []string {
	var out []string
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
		{"caCrl", tls.CaCrl != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}
