package validators

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// istioOnly keeps the findings of one check, as "check field" lines.
func istioOnly(fs []core.Finding, id string) []string {
	var out []core.Finding
	for _, f := range fs {
		if f.Check == id {
			out = append(out, f)
		}
	}
	return summary(out)
}

// gwServer is a Gateway "gw" in istio-system with the servers given.
func gwServers(servers ...*networkingapi.Server) *networkingv1.Gateway {
	return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "istio-system"},
		Spec: networkingapi.Gateway{Selector: gwIngressLabels, Servers: servers}}
}

func gwHTTP(hosts ...string) *networkingapi.Server {
	return &networkingapi.Server{Port: &networkingapi.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: hosts}
}

func gwHTTPS(tls *networkingapi.ServerTLSSettings, hosts ...string) *networkingapi.Server {
	if len(hosts) == 0 {
		hosts = []string{"api.example.com"}
	}
	return &networkingapi.Server{Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: hosts, Tls: tls}
}

// gwFiles is SIMPLE TLS from files on the gateway pod: nothing for the
// secret checks to read.
func gwFiles() *networkingapi.ServerTLSSettings {
	return &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, ServerCertificate: "/etc/certs/tls.crt", PrivateKey: "/etc/certs/tls.key"}
}

func TestGatewayIstioValidation(t *testing.T) {
	const id = "gateway-istio-validation"
	s0 := "spec.servers[0]"
	withName := func(gw *networkingv1.Gateway, name string) *networkingv1.Gateway {
		gw.Name = name
		return gw
	}
	withAnnotations := func(gw *networkingv1.Gateway, kv ...string) *networkingv1.Gateway {
		gw.Annotations = authzKV(kv...)
		return gw
	}
	port := func(s *networkingapi.Server, p *networkingapi.Port) *networkingapi.Server {
		s.Port = p
		return s
	}
	bind := func(s *networkingapi.Server, b string) *networkingapi.Server {
		s.Bind = b
		return s
	}
	tlsWith := func(mod func(*networkingapi.ServerTLSSettings)) *networkingapi.ServerTLSSettings {
		t := gwFiles()
		mod(t)
		return t
	}
	cases := []struct {
		name string
		gw   *networkingv1.Gateway
		deny []string
		warn []string
		// frag must be in the message of the first finding
		frag string
	}{
		{name: "plain HTTP", gw: gwServers(gwHTTP("api.example.com", "*.apps.example.com", "ns/a.example.com", "*/b.example.com", "./c.example.com", "*"))},
		{name: "HTTPS from files", gw: gwServers(gwHTTPS(gwFiles()))},
		{name: "httpsRedirect on HTTP", gw: gwServers(&networkingapi.Server{Port: &networkingapi.Port{Number: 80, Name: "http", Protocol: "HTTP"},
			Hosts: []string{"api.example.com"}, Tls: &networkingapi.ServerTLSSettings{HttpsRedirect: true}})},
		{name: "IP host", gw: gwServers(gwHTTP("10.0.0.1"))},

		// ValidateGateway
		{name: "name with dots", gw: withName(gwServers(gwHTTP("api.example.com")), "my.gateway"), deny: []string{id + " metadata.name"}, frag: "DNS label"},
		{name: "name with dots under gateway semantics", gw: withAnnotations(withName(gwServers(gwHTTP("api.example.com")), "my.gateway"), istioGatewaySemantics, "gateway")},
		{name: "no servers", gw: gwServers(), deny: []string{id + " spec.servers"}},
		{name: "nil server", gw: gwServers(nil), deny: []string{id + " " + s0}},
		{name: "duplicate port names", gw: gwServers(gwHTTPS(gwFiles()), port(gwHTTPS(gwFiles(), "b.example.com"), &networkingapi.Port{Number: 8443, Name: "https", Protocol: "HTTPS"})),
			deny: []string{id + " spec.servers[1].port.name"}, frag: "server 0 already uses this port name"},
		{name: "httpsRedirect on HTTPS", gw: gwServers(gwHTTPS(tlsWith(func(t *networkingapi.ServerTLSSettings) { t.HttpsRedirect = true }))),
			warn: []string{id + " " + s0 + ".tls.httpsRedirect"}, frag: "protocol is HTTPS"},

		// validateServer
		{name: "no hosts", gw: gwServers(gwHTTP()), deny: []string{id + " " + s0 + ".hosts"}},
		{name: "host with a port", gw: gwServers(gwHTTP("bookinfo.192.168.1.70:31382")), deny: []string{id + " " + s0 + ".hosts[0]"}, frag: `label "70:31382"`},
		{name: "short host", gw: gwServers(gwHTTP("httpbin")), deny: []string{id + " " + s0 + ".hosts[0]"}, frag: "short name"},
		{name: "partial wildcard", gw: gwServers(gwHTTP("*api.example.com")), deny: []string{id + " " + s0 + ".hosts[0]"}, frag: "partial wildcard"},
		{name: "numeric top-level domain", gw: gwServers(gwHTTP("api.123")), deny: []string{id + " " + s0 + ".hosts[0]"}, frag: "all digits"},
		{name: "bad namespace part", gw: gwServers(gwHTTP("my_ns/api.example.com")), deny: []string{id + " " + s0 + ".hosts[0]"}, frag: `namespace "my_ns"`},
		{name: "empty host after the namespace", gw: gwServers(gwHTTP("ns/")), deny: []string{id + " " + s0 + ".hosts[0]", id + " " + s0 + ".hosts[0]", id + " " + s0 + ".hosts[0]"}},
		{name: "no port", gw: gwServers(port(gwHTTP("api.example.com"), nil)), deny: []string{id + " " + s0 + ".port"}},
		//lint:ignore SA1019 a stored Gateway may still carry the deprecated targetPort
		{name: "port fields", gw: gwServers(port(gwHTTP("api.example.com"), &networkingapi.Port{Number: 70000, Protocol: "QUIC", TargetPort: 8080})),
			deny: []string{id + " " + s0 + ".port.name", id + " " + s0 + ".port.number", id + " " + s0 + ".port.protocol", id + " " + s0 + ".port.targetPort"}},
		{name: "bind not an IP", gw: gwServers(bind(gwHTTP("api.example.com"), "localhost")), deny: []string{id + " " + s0 + ".bind"}},
		{name: "unix bind with a port", gw: gwServers(bind(gwHTTP("api.example.com"), "unix://relative/sock")),
			deny: []string{id + " " + s0 + ".bind", id + " " + s0 + ".port.number"}},
		{name: "unix bind", gw: gwServers(bind(port(gwHTTP("api.example.com"), &networkingapi.Port{Number: 0, Name: "uds", Protocol: "HTTP"}), "unix:///var/run/gw.sock"))},
		{name: "HTTPS without tls", gw: gwServers(gwHTTPS(nil)), deny: []string{id + " " + s0 + ".tls"}, frag: "needs tls settings"},
		{name: "TLS protocol without tls", gw: gwServers(port(gwHTTPS(nil), &networkingapi.Port{Number: 443, Name: "tls", Protocol: "tls"})), deny: []string{id + " " + s0 + ".tls"}},
		{name: "SIMPLE on an HTTP port", gw: gwServers(port(gwHTTPS(gwFiles()), &networkingapi.Port{Number: 80, Name: "http", Protocol: "HTTP"})),
			deny: []string{id + " " + s0 + ".tls"}, frag: "may set only tls.httpsRedirect"},
		{name: "tls on a TCP port", gw: gwServers(port(gwHTTPS(&networkingapi.ServerTLSSettings{}), &networkingapi.Port{Number: 3306, Name: "mysql", Protocol: "TCP"})),
			deny: []string{id + " " + s0 + ".tls"}, frag: "TLS settings on a TCP server"},

		// validateTLSOptions
		{name: "credentialName and files", gw: gwServers(gwHTTPS(tlsWith(func(t *networkingapi.ServerTLSSettings) { t.CredentialName = "api" }))),
			deny: []string{id + " " + s0 + ".tls"}, frag: "serverCertificate/privateKey and credentialName"},
		{name: "credentialName and tlsCertificates", gw: gwServers(gwHTTPS(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, CredentialName: "api",
			TlsCertificates: []*networkingapi.ServerTLSSettings_TLSCertificate{{ServerCertificate: "/c", PrivateKey: "/k"}}})),
			deny: []string{id + " " + s0 + ".tls"}},
		{name: "SIMPLE without certificate", gw: gwServers(gwHTTPS(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE})),
			deny: []string{id + " " + s0 + ".tls.privateKey", id + " " + s0 + ".tls.serverCertificate"}},
		{name: "tlsCertificates entry without key", gw: gwServers(gwHTTPS(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE,
			TlsCertificates: []*networkingapi.ServerTLSSettings_TLSCertificate{{ServerCertificate: "/c", PrivateKey: "/k"}, {ServerCertificate: "/c2"}}})),
			deny: []string{id + " " + s0 + ".tls.tlsCertificates[1].privateKey"}},
		{name: "three tlsCertificates", gw: gwServers(gwHTTPS(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE,
			TlsCertificates: []*networkingapi.ServerTLSSettings_TLSCertificate{{ServerCertificate: "/a", PrivateKey: "/a"}, {ServerCertificate: "/b", PrivateKey: "/b"}, {ServerCertificate: "/c", PrivateKey: "/c"}}})),
			warn: []string{id + " " + s0 + ".tls.tlsCertificates"}},
		{name: "MUTUAL from files with CA", gw: gwServers(gwHTTPS(tlsWith(func(t *networkingapi.ServerTLSSettings) {
			t.Mode, t.CaCertificates, t.CaCrl = networkingapi.ServerTLSSettings_MUTUAL, "/ca.pem", "/crl.pem"
		})))},
		{name: "CRL on SIMPLE", gw: gwServers(gwHTTPS(tlsWith(func(t *networkingapi.ServerTLSSettings) { t.CaCrl = "/crl.pem" }))),
			deny: []string{id + " " + s0 + ".tls.caCrl"}},
		{name: "PASSTHROUGH with credentialName", gw: gwServers(port(gwHTTPS(&networkingapi.ServerTLSSettings{CredentialName: "api"}), &networkingapi.Port{Number: 443, Name: "tls", Protocol: "TLS"})),
			warn: []string{id + " " + s0 + ".tls.mode"}, frag: "ignores credentialName"},
		{name: "PASSTHROUGH with credentialName and a CRL", gw: gwServers(port(gwHTTPS(&networkingapi.ServerTLSSettings{CredentialName: "api", CaCrl: "/crl"}), &networkingapi.Port{Number: 443, Name: "tls", Protocol: "TLS"})),
			deny: []string{id + " " + s0 + ".tls.caCrl"}, warn: []string{id + " " + s0 + ".tls.mode"}},
		{name: "cipher suites", gw: gwServers(gwHTTPS(tlsWith(func(t *networkingapi.ServerTLSSettings) {
			t.CipherSuites = []string{"ECDHE-RSA-AES128-GCM-SHA256", "RC4-MD5", "ECDHE-RSA-AES128-GCM-SHA256", "-AES128-SHA"}
		}))), warn: []string{id + " " + s0 + ".tls.cipherSuites[1]", id + " " + s0 + ".tls.cipherSuites[2]"}},

		// metadata
		{name: "dry-run annotation", gw: withAnnotations(gwServers(gwHTTP("api.example.com")), "istio.io/dry-run", "true"),
			deny: []string{id + " metadata.annotations[istio.io/dry-run]"}},
		{name: "internal annotation", gw: withAnnotations(gwServers(gwHTTP("api.example.com")), "internal.istio.io/parents", "x"),
			deny: []string{id + " metadata.annotations[internal.istio.io/parents]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.gw, nil)
			if got := istioOnly(r.Violations, id); !gwEqualLines(got, tc.deny) {
				t.Errorf("violations %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if got := istioOnly(r.Warnings, id); !gwEqualLines(got, tc.warn) {
				t.Errorf("warnings %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			if tc.frag != "" {
				all := append(append([]core.Finding{}, r.Violations...), r.Warnings...)
				found := false
				for _, f := range all {
					found = found || (f.Check == id && strings.Contains(f.Message, tc.frag))
				}
				if !found {
					t.Errorf("no %s finding says %q: %v", id, tc.frag, all)
				}
			}
			for _, f := range append(r.Violations, r.Warnings...) {
				if f.Check == id && !strings.Contains(f.Message, "istiod") {
					t.Errorf("message does not say it is istiod's rule: %s", f)
				}
			}
		})
	}
}

// A finding a dedicated check made on the same field is not repeated; with
// that check off, the istiod rule reports it.
func TestGatewayIstioValidationCoverage(t *testing.T) {
	const id = "gateway-istio-validation"
	tp := "spec.servers[0].tls."
	cases := []struct {
		name      string
		tls       *networkingapi.ServerTLSSettings
		dedicated string
		field     string
		warn      bool
	}{
		{"MUTUAL without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_MUTUAL, ServerCertificate: "/c", PrivateKey: "/k"},
			"gateway-mtls-credential", tp + "credentialName", false},
		{"ISTIO_MUTUAL with credentialName", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_ISTIO_MUTUAL, CredentialName: "api"},
			"gateway-istio-mutual-certificates", tp + "credentialName", false},
		{"TLS 1.0 without ciphers", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, ServerCertificate: "/c", PrivateKey: "/k",
			MinProtocolVersion: networkingapi.ServerTLSSettings_TLSV1_0}, "gateway-tls-min-version", tp + "minProtocolVersion", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := gwServers(gwHTTPS(tc.tls))
			on := run(t, gw, nil)
			all := append(append([]core.Finding{}, on.Violations...), on.Warnings...)
			if !hasFinding(all, tc.dedicated, tc.field) {
				t.Fatalf("the dedicated check %s did not report %s: %v", tc.dedicated, tc.field, all)
			}
			if hasFinding(all, id, tc.field) {
				t.Errorf("%s repeated the finding of %s: %v", id, tc.dedicated, all)
			}
			st, err := cluster.FromObjects()
			if err != nil {
				t.Fatal(err)
			}
			off := core.NewReport(offPolicy{tc.dedicated: true})
			Validate(context.Background(), &core.Object{Namespace: "istio-system", Name: "gw", Operation: "CREATE", Typed: gw},
				&core.Env{Cluster: st, Trust: trust.Offline{}, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return testNow }}, off)
			fs := off.Violations
			if tc.warn {
				fs = off.Warnings
			}
			if !hasFinding(fs, id, tc.field, "istiod") {
				t.Errorf("with %s off, %s does not report %s: %v %v", tc.dedicated, id, tc.field, off.Violations, off.Warnings)
			}
		})
	}
}
