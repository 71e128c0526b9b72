package validators

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
	"github.com/gatewarden/gatewarden/internal/trust"
)

func TestGatewayMutualCredential(t *testing.T) {
	gw := func(tls *networkingapi.ServerTLSSettings) *networkingv1.Gateway {
		return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "default"},
			Spec: networkingapi.Gateway{Servers: []*networkingapi.Server{{
				Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"a.example.com"}, Tls: tls}}}}
	}
	cases := []struct {
		name string
		tls  *networkingapi.ServerTLSSettings
		deny bool
		warn bool
	}{
		{"mutual without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_MUTUAL}, true, false},
		{"optional mutual without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_OPTIONAL_MUTUAL}, true, false},
		{"mutual with caCertificates", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_MUTUAL, CaCertificates: "/etc/ca.pem"}, false, true},
		{"simple without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, gw(tc.tls), nil)
			got := hasFinding(r.Violations, GatewayMutualCredential.ID, "spec.servers[0].tls.credentialName")
			if got != tc.deny {
				t.Fatalf("denied=%v, want %v: %v", got, tc.deny, r.Violations)
			}
			warned := hasFinding(r.Warnings, GatewayMutualCredential.ID, "spec.servers[0].tls.caCertificates", "cannot be verified")
			if warned != tc.warn {
				t.Fatalf("warned=%v, want %v: %v", warned, tc.warn, r.Warnings)
			}
		})
	}
}

func TestGatewayIstioMutualCertificates(t *testing.T) {
	const p = "spec.servers[0].tls."
	cases := []struct {
		name string
		tls  *networkingapi.ServerTLSSettings
		deny []string
	}{
		{"plain", &networkingapi.ServerTLSSettings{}, nil},
		{"credentialName", &networkingapi.ServerTLSSettings{CredentialName: "c"}, []string{p + "credentialName"}},
		{"credentialNames", &networkingapi.ServerTLSSettings{CredentialNames: []string{"a", "b"}}, []string{p + "credentialNames"}},
		{"files", &networkingapi.ServerTLSSettings{ServerCertificate: "/c", PrivateKey: "/k", CaCertificates: "/ca"},
			[]string{p + "caCertificates", p + "privateKey", p + "serverCertificate"}},
		{"tlsCertificates", &networkingapi.ServerTLSSettings{TlsCertificates: []*networkingapi.ServerTLSSettings_TLSCertificate{{}}}, []string{p + "tlsCertificates"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.tls.Mode = networkingapi.ServerTLSSettings_ISTIO_MUTUAL
			r := run(t, gwWith(tc.tls), nil)
			var want []string
			for _, f := range tc.deny {
				want = append(want, GatewayIstioMutualCertificates.ID+" "+f)
			}
			if got := summary(r.Violations); !gwEqualLines(got, want) {
				t.Fatalf("violations %q, want %q", got, want)
			}
		})
	}
}

func TestGatewayMinTLSVersion(t *testing.T) {
	const f = "gateway-tls-min-version spec.servers[0].tls.minProtocolVersion"
	cases := []struct {
		name    string
		setting string
		mode    networkingapi.ServerTLSSettings_TLSmode
		min     networkingapi.ServerTLSSettings_TLSProtocol
		deny    bool
	}{
		{"auto", "", networkingapi.ServerTLSSettings_SIMPLE, networkingapi.ServerTLSSettings_TLS_AUTO, false},
		{"1.0", "", networkingapi.ServerTLSSettings_SIMPLE, networkingapi.ServerTLSSettings_TLSV1_0, true},
		{"1.1 mutual", "", networkingapi.ServerTLSSettings_MUTUAL, networkingapi.ServerTLSSettings_TLSV1_1, true},
		{"istio mutual takes the mesh's TLS settings", "", networkingapi.ServerTLSSettings_ISTIO_MUTUAL, networkingapi.ServerTLSSettings_TLSV1_1, false},
		{"1.2", "", networkingapi.ServerTLSSettings_SIMPLE, networkingapi.ServerTLSSettings_TLSV1_2, false},
		{"1.3", "", networkingapi.ServerTLSSettings_SIMPLE, networkingapi.ServerTLSSettings_TLSV1_3, false},
		{"1.2 when 1.3 is required", "TLSV1_3", networkingapi.ServerTLSSettings_SIMPLE, networkingapi.ServerTLSSettings_TLSV1_2, true},
		{"passthrough is not terminated", "", networkingapi.ServerTLSSettings_PASSTHROUGH, networkingapi.ServerTLSSettings_TLSV1_0, false},
		{"unknown setting means 1.2", "ssl3", networkingapi.ServerTLSSettings_SIMPLE, networkingapi.ServerTLSSettings_TLSV1_1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tls := &networkingapi.ServerTLSSettings{Mode: tc.mode, MinProtocolVersion: tc.min}
			if tc.mode == networkingapi.ServerTLSSettings_MUTUAL {
				tls.CaCertificates = "/ca.pem"
			}
			r := gwRunSettings(t, core.Settings{MinTLSVersion: tc.setting}, gwWith(tls))
			got := false
			for _, l := range summary(r.Violations) {
				got = got || l == f
			}
			if got != tc.deny {
				t.Fatalf("denied=%v, want %v: %v", got, tc.deny, r.Violations)
			}
			if got && !hasFinding(r.Violations, GatewayTLSMinVersion.ID, "spec.servers[0].tls.minProtocolVersion", "istiod would accept it", "on purpose") {
				t.Fatalf("the denial does not say it is stricter than istiod on purpose: %v", r.Violations)
			}
		})
	}
}

// gwCerts is the certificate material of the credential tests, issued once.
type gwCerts struct {
	serverCA, clientCA, expiredCA, futureCA, expiringCA *pkitest.Cert
	server, wildcard, otherHost, expired, expiring      *pkitest.Cert
	leaf                                                *pkitest.Cert // a client certificate, not a CA
	crl, forgedCRL                                      []byte
}

var (
	gwCertsOnce sync.Once
	gwCertsVal  *gwCerts
)

func testGatewayCerts(t *testing.T) *gwCerts {
	gwCertsOnce.Do(func() {
		day := 24 * time.Hour
		n := testNow
		c := &gwCerts{}
		c.serverCA = pkitest.New(t, pkitest.Options{CN: "server-ca", CA: true, Now: n})
		c.clientCA = pkitest.New(t, pkitest.Options{CN: "client-ca", CA: true, Now: n})
		c.expiredCA = pkitest.New(t, pkitest.Options{CN: "old-ca", CA: true, NotBefore: n.Add(-400 * day), NotAfter: n.Add(-day)})
		c.futureCA = pkitest.New(t, pkitest.Options{CN: "future-ca", CA: true, NotBefore: n.Add(day), NotAfter: n.Add(400 * day)})
		c.expiringCA = pkitest.New(t, pkitest.Options{CN: "ending-ca", CA: true, NotBefore: n.Add(-400 * day), NotAfter: n.Add(10 * day)})
		c.server = pkitest.New(t, pkitest.Options{CN: "api", DNSNames: []string{"api.example.com"}, Parent: c.serverCA, Now: n})
		c.wildcard = pkitest.New(t, pkitest.Options{CN: "apps", DNSNames: []string{"*.apps.example.com"}, Parent: c.serverCA, Now: n})
		c.otherHost = pkitest.New(t, pkitest.Options{CN: "other", DNSNames: []string{"other.example.com"}, Parent: c.serverCA, Now: n})
		c.expired = pkitest.New(t, pkitest.Options{CN: "api-old", DNSNames: []string{"api.example.com"}, Parent: c.serverCA,
			NotBefore: n.Add(-100 * day), NotAfter: n.Add(-time.Hour)})
		c.expiring = pkitest.New(t, pkitest.Options{CN: "api-ending", DNSNames: []string{"api.example.com"}, Parent: c.serverCA,
			NotBefore: n.Add(-100 * day), NotAfter: n.Add(5 * day)})
		c.leaf = pkitest.New(t, pkitest.Options{CN: "client", Parent: c.clientCA, Now: n})
		c.crl = pkitest.CRL(t, c.clientCA, n, c.leaf.Cert.SerialNumber)
		c.forgedCRL = pkitest.ForgedCRL(t, c.clientCA, n)
		gwCertsVal = c
	})
	if gwCertsVal == nil {
		t.Fatal("issuing test certificates failed")
	}
	return gwCertsVal
}

var gwIngressLabels = map[string]string{"istio": "ingressgateway"}

func gwWith(tls *networkingapi.ServerTLSSettings, hosts ...string) *networkingv1.Gateway {
	if len(hosts) == 0 {
		hosts = []string{"api.example.com"}
	}
	return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "mtls", Namespace: "kyma-system"},
		Spec: networkingapi.Gateway{Selector: gwIngressLabels, Servers: []*networkingapi.Server{{
			Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: hosts, Tls: tls}}}}
}

func gwMutual(name string) *networkingapi.ServerTLSSettings {
	return &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_MUTUAL, CredentialName: name}
}

// gwMutualCA is a MUTUAL server whose client CA is named explicitly.
func gwMutualCA(name, ca string) *networkingapi.ServerTLSSettings {
	t := gwMutual(name)
	t.CaCertCredentialName = ca
	return t
}

func gwConfigMap(ns, name string, kv ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		cm.Data[kv[i]] = kv[i+1]
	}
	return cm
}

func gwPod(ns string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gw-" + ns, Namespace: ns, Labels: labels}}
}

func gwSecret(ns, name string, kv ...any) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Data[kv[i].(string)] = kv[i+1].([]byte)
	}
	return s
}

func gwWithAnnotation(s *corev1.Secret, k, v string) *corev1.Secret {
	s.Annotations = map[string]string{k: v}
	return s
}

func gwTLSSecret(ns, name string, c *pkitest.Cert, ca []byte) *corev1.Secret {
	s := gwSecret(ns, name, "tls.crt", c.CertPEM, "tls.key", c.KeyPEM)
	if ca != nil {
		s.Data["ca.crt"] = ca
	}
	return s
}

func gwCMCertificate(ns, name, secret string, ready cmmeta.ConditionStatus, failed string) *certmanagerv1.Certificate {
	c := &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: certmanagerv1.CertificateSpec{SecretName: secret}}
	c.Status.Conditions = append(c.Status.Conditions, certmanagerv1.CertificateCondition{
		Type: certmanagerv1.CertificateConditionReady, Status: ready, Message: "Issuing certificate as Secret does not exist"})
	if failed != "" {
		c.Status.Conditions = append(c.Status.Conditions, certmanagerv1.CertificateCondition{
			Type: certmanagerv1.CertificateConditionIssuing, Status: cmmeta.ConditionFalse, Reason: "Failed", Message: failed})
	}
	return c
}

func gwGardenerCertificate(ns, name, secret, state, message string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec":   map[string]any{"secretName": secret, "commonName": "api.example.com"},
		"status": map[string]any{"state": state, "message": message},
	}}
	u.SetGroupVersionKind(cluster.GardenerCertificate)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestGatewayCredentials(t *testing.T) {
	c := testGatewayCerts(t)
	const (
		ns     = "istio-system"
		cred   = "spec.servers[0].tls.credentialName"
		caCred = "spec.servers[0].tls.caCertCredentialName"
	)
	pod := gwPod(ns, gwIngressLabels)
	goodCA := gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM)
	type msg struct {
		check, field string
		frags        []string
	}
	cases := []struct {
		name string
		gw   *networkingv1.Gateway
		objs []runtime.Object
		deny []string // "check field", sorted
		warn []string
		msgs []msg // each must be among violations or warnings
	}{
		{name: "valid chain, CA in -cacert",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), goodCA}},
		{name: "valid chain, CA in the secret itself",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)}},
		{name: "generic keys cert, key, cacert",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwSecret(ns, "api-cred", "cert", c.server.CertPEM, "key", c.server.KeyPEM, "cacert", c.clientCA.CertPEM)}},
		{name: "-cacert wins over ca.crt in the secret",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.expiredCA.CertPEM), goodCA}},
		{name: "-cacert without a CA key does not fall back",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM), gwSecret(ns, "api-cred-cacert", "tls.crt", c.clientCA.CertPEM)},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`secret "api-cred-cacert"`, "has no cacert or ca.crt", "does not fall back"}}}},
		{name: "no CA anywhere",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil)},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{"no client CA", `"api-cred-cacert"`}}}},
		{name: "expired CA",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.expiredCA.CertPEM)},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`"old-ca"`, "expired on", "renew"}}}},
		{name: "not yet valid CA",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.futureCA.CertPEM)},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`"future-ca"`, "not valid before"}}}},
		{name: "expiring CA in a bundle",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", pkitest.Join(c.clientCA.CertPEM, c.expiringCA.CertPEM))},
			warn: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`"ending-ca" (2 of 2`, "in less than 30 days"}}}},
		{name: "leaf used as CA",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.leaf.CertPEM)},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{"is a CA", `"cacert"`}}}},
		{name: "garbage CA PEM",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", []byte("hello"))},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{"not a PEM CA bundle"}}}},
		{name: "key in the CA bundle",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", pkitest.Join(c.clientCA.CertPEM, c.clientCA.KeyPEM))},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{"PEM block 1 is a PRIVATE KEY"}}}},
		{name: "good CRL",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM, "crl", c.crl)}},
		{name: "CRL with a bad signature",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM, "crl", c.forgedCRL)},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`CRL 1 of 1 in "crl"`, "not signed by a CA"}}}},
		{name: "issuer as client CA in a secret no controller manages",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM)}},
		{name: "garbage CRL",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM), gwSecret(ns, "api-cred-cacert", "ca.crt", c.clientCA.CertPEM, "ca.crl", []byte("nope"))},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`key "ca.crl"`, "not a PEM CRL"}}}},
		{name: "CRL under the key istiod ignores",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM, "ca.crl", c.crl)},
			warn: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`CRL in "ca.crl"`, `reads it from "crl"`}}}},
		{name: "garbage server certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwSecret(ns, "api-cred", "tls.crt", []byte("garbage"), "tls.key", c.server.KeyPEM), goodCA},
			deny: []string{"gateway-tls-server-certificate " + cred},
			msgs: []msg{{"gateway-tls-server-certificate", cred, []string{`key "tls.crt"`, "not a PEM certificate chain"}}}},
		{name: "secret without certificate keys",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwSecret(ns, "api-cred", "tls.crt", c.server.CertPEM, "private.key", c.server.KeyPEM), goodCA},
			deny: []string{"gateway-tls-server-certificate " + cred},
			msgs: []msg{{"gateway-tls-server-certificate", cred, []string{"neither cert and key nor tls.crt and tls.key"}}}},
		{name: "key does not match the certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwSecret(ns, "api-cred", "tls.crt", c.server.CertPEM, "tls.key", c.otherHost.KeyPEM), goodCA},
			deny: []string{"gateway-tls-server-certificate " + cred},
			msgs: []msg{{"gateway-tls-server-certificate", cred, []string{`private key in "tls.key"`, "does not belong"}}}},
		{name: "SAN mismatch",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.otherHost, nil), goodCA},
			warn: []string{"gateway-tls-server-certificate spec.servers[0].hosts[0]"},
			msgs: []msg{{"gateway-tls-server-certificate", "spec.servers[0].hosts[0]", []string{`does not cover host "api.example.com"`, `["other.example.com"]`}}}},
		{name: "namespaced hosts and a wildcard SAN",
			gw:   gwWith(gwMutual("api-cred"), "kyma-system/x.apps.example.com", "./*.apps.example.com", "*/y.apps.example.com", "*"),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.wildcard, nil), goodCA}},
		{name: "wildcard SAN does not cover two labels",
			gw:   gwWith(gwMutual("api-cred"), "ns/a.b.apps.example.com"),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.wildcard, nil), goodCA},
			warn: []string{"gateway-tls-server-certificate spec.servers[0].hosts[0]"}},
		{name: "expired server certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.expired, nil), goodCA},
			deny: []string{"gateway-tls-server-certificate " + cred},
			msgs: []msg{{"gateway-tls-server-certificate", cred, []string{`server certificate "api-old"`, "expired on"}}}},
		{name: "expiring server certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.expiring, nil), goodCA},
			warn: []string{"gateway-tls-server-certificate " + cred}},
		{name: "secret missing",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`secret "api-cred" not found in namespace "istio-system"`, "where the gateway pods run", `"api-cred-cacert" (client CA)`}}}},
		{name: "secret in the Gateway's namespace instead of the pods'",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret("kyma-system", "api-cred", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`not found in namespace "istio-system"`, `in the Gateway's namespace "kyma-system", move it to "istio-system"`}}}},
		{name: "pending cert-manager Certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwCMCertificate(ns, "api", "api-cred", cmmeta.ConditionFalse, "")},
			warn: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{"certificate pending", `cert-manager Certificate "api" is not ready ("Issuing certificate as Secret does not exist")`}}}},
		{name: "failed cert-manager Certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwCMCertificate(ns, "api", "api-cred", cmmeta.ConditionFalse, "issuer letsencrypt not found")},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`cert-manager Certificate "api" failed`, `"issuer letsencrypt not found"`}}}},
		{name: "ready Certificate but no secret",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwCMCertificate(ns, "api", "api-cred", cmmeta.ConditionTrue, "")},
			deny: []string{"gateway-tls-secret " + cred}},
		{name: "Certificate in another namespace does not count",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwCMCertificate("kyma-system", "api", "api-cred", cmmeta.ConditionFalse, "")},
			deny: []string{"gateway-tls-secret " + cred}},
		{name: "pending Gardener Certificate",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwGardenerCertificate(ns, "api", "api-cred", "Pending", "")},
			warn: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{"certificate pending", `gardener Certificate "api" is not ready;`}}}},
		{name: "Ready Gardener Certificate with its secret: nothing to say",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), goodCA, gwGardenerCertificate(ns, "api", "api-cred", "Ready", "")}},
		{name: "Ready Gardener Certificate but no secret",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwGardenerCertificate(ns, "api", "api-cred", "Ready", "")},
			deny: []string{"gateway-tls-secret " + cred}},
		{name: "Gardener Certificate in Error",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwGardenerCertificate(ns, "api", "api-cred", "Error", "domain api.example.com is not allowed\nby the issuer")},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`gardener Certificate "api" failed`, `"domain api.example.com is not allowed by the issuer"`}}}},
		{name: "gateway pods in istio-system, Gateway in kyma-system",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{gwPod(ns, gwIngressLabels), gwPod("kyma-system", map[string]string{"app": "other"}), gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)}},
		{name: "pods in a custom namespace",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{gwPod("edge", gwIngressLabels), gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`not found in namespace "edge"`}}}},
		{name: "no pods: the configured namespace",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)}},
		{name: "no pods and no secret",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{gwTLSSecret("kyma-system", "other", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`namespace "istio-system"`, "no pods match the selector"}}}},
		{name: "pods in two namespaces, secret in one",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{gwPod(ns, gwIngressLabels), gwPod("edge", gwIngressLabels), gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`not found in namespace "edge"`}}}},
		{name: "kubernetes:// prefix",
			gw:   gwWith(gwMutual("kubernetes://api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)}},
		{name: "kubernetes:// with the pods' namespace",
			gw:   gwWith(gwMutual("kubernetes://istio-system/api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)}},
		{name: "cross-namespace reference",
			gw:   gwWith(gwMutual("kubernetes://kyma-system/api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret("kyma-system", "api-cred", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`pods' namespace "istio-system", not "kyma-system"`}}}},
		{name: "cert-manager annotation: issuer used as client CA",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwWithAnnotation(gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), "cert-manager.io/certificate-name", "api")},
			warn: []string{"gateway-mtls-issuer-as-client-ca " + cred},
			msgs: []msg{{"gateway-mtls-issuer-as-client-ca", cred, []string{`"ca.crt"`, "issuer of the server certificate", `secret "api-cred-cacert"`}}}},
		{name: "cert-manager Certificate: issuer used as client CA",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), gwCMCertificate(ns, "api", "api-cred", cmmeta.ConditionTrue, "")},
			warn: []string{"gateway-mtls-issuer-as-client-ca " + cred}},
		{name: "cert-manager secret with a separate -cacert",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwWithAnnotation(gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), "cert-manager.io/certificate-name", "api"), goodCA}},
		{name: "cert-manager secret with the issuer in -cacert on purpose",
			gw: gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwWithAnnotation(gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), "cert-manager.io/certificate-name", "api"),
				gwSecret(ns, "api-cred-cacert", "cacert", c.serverCA.CertPEM)}},
		{name: "cert-manager secret whose ca.crt is not the issuer",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwWithAnnotation(gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM), "cert-manager.io/certificate-name", "api")}},
		{name: "SIMPLE: secret missing",
			gw:   gwWith(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, CredentialName: "api-cred"}),
			objs: []runtime.Object{pod},
			deny: []string{"gateway-tls-secret " + cred},
			msgs: []msg{{"gateway-tls-secret", cred, []string{`looks for secret "api-cred" there`}}}},
		{name: "SIMPLE: no CA needed, certificate checked",
			gw:   gwWith(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, CredentialName: "api-cred"}),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.expired, []byte("not checked for SIMPLE"))},
			deny: []string{"gateway-tls-server-certificate " + cred}},
		{name: "credentialNames: each checked, CA from the first",
			gw: gwWith(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_OPTIONAL_MUTUAL,
				CredentialNames: []string{"api-cred", "api-ec", "api-missing"}}),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), goodCA, gwTLSSecret(ns, "api-ec", c.otherHost, nil)},
			deny: []string{"gateway-tls-secret spec.servers[0].tls.credentialNames[2]"},
			warn: []string{"gateway-tls-server-certificate spec.servers[0].hosts[0]"},
			msgs: []msg{{"gateway-tls-secret", "spec.servers[0].tls.credentialNames[2]", []string{`secret "api-missing"`}}}},

		// istiod takes a key only when it has a value (hasValue)
		{name: "empty cacert beside a valid ca.crt",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", []byte{}, "ca.crt", c.clientCA.CertPEM)}},
		{name: "empty cacert only",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", []byte{})},
			deny: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`key "cacert" of secret "api-cred-cacert"`, "is empty and no other CA key has a value"}}}},
		{name: "empty CRL is no CRL",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM, "crl", []byte{})}},
		{name: "empty cert and key beside valid tls.crt and tls.key",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwSecret(ns, "api-cred", "cert", []byte{}, "key", []byte{}, "tls.crt", c.server.CertPEM, "tls.key", c.server.KeyPEM), goodCA}},
		{name: "certificate keys present but empty",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwSecret(ns, "api-cred", "tls.crt", []byte{}, "tls.key", []byte{}), goodCA},
			deny: []string{"gateway-tls-server-certificate " + cred},
			msgs: []msg{{"gateway-tls-server-certificate", cred, []string{"has keys tls.crt and tls.key, but they are empty"}}}},

		// envoy trusts every CA of a bundle
		{name: "expired CA beside a current one",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", pkitest.Join(c.expiredCA.CertPEM, c.clientCA.CertPEM))},
			warn: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`"old-ca" (1 of 2`, "expired on", "envoy still trusts the other CAs"}}}},
		{name: "not yet valid CA beside a current one",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", pkitest.Join(c.clientCA.CertPEM, c.futureCA.CertPEM))},
			warn: []string{"gateway-mtls-ca " + cred},
			msgs: []msg{{"gateway-mtls-ca", cred, []string{`"future-ca" (2 of 2`, "not valid before"}}}},
		{name: "expired and not yet valid CAs only",
			gw:   gwWith(gwMutual("api-cred")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", pkitest.Join(c.expiredCA.CertPEM, c.futureCA.CertPEM))},
			deny: []string{"gateway-mtls-ca " + cred, "gateway-mtls-ca " + cred}},

		// tls.caCertCredentialName replaces <credentialName>-cacert
		{name: "caCertCredentialName secret",
			gw:   gwWith(gwMutualCA("api-cred", "partner-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "partner-cacert", "ca.crt", c.clientCA.CertPEM)}},
		{name: "caCertCredentialName falls back to the name without -cacert",
			gw:   gwWith(gwMutualCA("api-cred", "kubernetes://partner-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "partner", "cacert", c.clientCA.CertPEM)}},
		{name: "caCertCredentialName wins over a broken -cacert of the credential",
			gw:   gwWith(gwMutualCA("api-cred", "partner-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", []byte("broken")), gwSecret(ns, "partner-cacert", "ca.crt", c.clientCA.CertPEM)}},
		{name: "caCertCredentialName broken beside a valid ca.crt of the credential",
			gw:   gwWith(gwMutualCA("api-cred", "partner-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM), gwSecret(ns, "partner-cacert", "ca.crt", []byte("broken"))},
			deny: []string{"gateway-mtls-ca " + caCred},
			msgs: []msg{{"gateway-mtls-ca", caCred, []string{`key "ca.crt" of secret "partner-cacert"`, "not a PEM CA bundle"}}}},
		{name: "caCertCredentialName secret missing",
			gw:   gwWith(gwMutualCA("api-cred", "partner-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-mtls-ca " + caCred},
			msgs: []msg{{"gateway-mtls-ca", caCred, []string{`neither secret "partner-cacert" nor "partner" found in namespace "istio-system"`}}}},
		{name: "caCertCredentialName without -cacert is fetched as a certificate",
			gw:   gwWith(gwMutualCA("api-cred", "partner")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "partner", "ca.crt", c.clientCA.CertPEM)},
			deny: []string{"gateway-mtls-ca " + caCred},
			msgs: []msg{{"gateway-mtls-ca", caCred, []string{"names ending in -cacert", `set "partner-cacert"`}}}},
		{name: "caCertCredentialName in another namespace",
			gw:   gwWith(gwMutualCA("api-cred", "kyma-system/partner-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret("kyma-system", "partner-cacert", "ca.crt", c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-secret " + caCred}},
		{name: "caCertCredentialName ConfigMap",
			gw:   gwWith(gwMutualCA("api-cred", "configmap://istio-system/partner-ca")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwConfigMap("istio-system", "partner-ca", "ca.crt", string(c.clientCA.CertPEM))}},
		{name: "caCertCredentialName ConfigMap named with -cacert",
			gw:   gwWith(gwMutualCA("api-cred", "configmap://istio-system/partner-ca-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwConfigMap("istio-system", "partner-ca", "cacert", string(c.clientCA.CertPEM))}},
		{name: "caCertCredentialName ConfigMap missing",
			gw:   gwWith(gwMutualCA("api-cred", "configmap://istio-system/no-such-ca")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-mtls-ca " + caCred},
			msgs: []msg{{"gateway-mtls-ca", caCred, []string{`ConfigMap "no-such-ca" not found in namespace "istio-system"`}}}},
		{name: "caCertCredentialName ConfigMap with an expired CA",
			gw:   gwWith(gwMutualCA("api-cred", "configmap://istio-system/partner-ca")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil), gwConfigMap("istio-system", "partner-ca", "ca.crt", string(c.expiredCA.CertPEM))},
			deny: []string{"gateway-mtls-ca " + caCred},
			msgs: []msg{{"gateway-mtls-ca", caCred, []string{`ConfigMap "partner-ca" in namespace "istio-system"`, "expired on"}}}},
		{name: "caCertCredentialName ConfigMap without a name",
			gw:   gwWith(gwMutualCA("api-cred", "configmap://partner-ca")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil)},
			deny: []string{"gateway-mtls-ca " + caCred},
			msgs: []msg{{"gateway-mtls-ca", caCred, []string{"configmap://<namespace>/<name>"}}}},

		// names istiod serves as a CA only
		{name: "SIMPLE credential ending in -cacert",
			gw:   gwWith(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, CredentialName: "api-cacert"}),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cacert", c.server, nil)},
			deny: []string{"gateway-tls-cacert-name " + cred},
			msgs: []msg{{"gateway-tls-cacert-name", cred, []string{"only as a CA", `for example to "api"`}}}},
		{name: "MUTUAL credential ending in -cacert with a namespace",
			gw:   gwWith(gwMutual("kubernetes://istio-system/api-cacert")),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cacert", c.server, c.clientCA.CertPEM)},
			deny: []string{"gateway-tls-cacert-name " + cred}},
		{name: "credentialNames entry from a ConfigMap",
			gw: gwWith(&networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE,
				CredentialNames: []string{"api-cred", "configmap://istio-system/api"}}),
			objs: []runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, nil)},
			deny: []string{"gateway-tls-cacert-name spec.servers[0].tls.credentialNames[1]"},
			msgs: []msg{{"gateway-tls-cacert-name", "spec.servers[0].tls.credentialNames[1]", []string{"configmap:// name only as a CA"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.gw, nil, tc.objs...)
			if got := summary(r.Violations); !gwEqualLines(got, tc.deny) {
				t.Errorf("violations %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if got := summary(r.Warnings); !gwEqualLines(got, tc.warn) {
				t.Errorf("warnings %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			all := append(append([]core.Finding{}, r.Violations...), r.Warnings...)
			for _, m := range tc.msgs {
				if !hasFinding(all, m.check, m.field, m.frags...) {
					t.Errorf("no %s finding on %s containing %q in %v", m.check, m.field, m.frags, all)
				}
			}
			gwAssertNoSecretMaterial(t, all, tc.objs)
			for _, f := range all {
				t.Log(f.String())
			}
		})
	}
}

// gwAssertNoSecretMaterial fails if any message quotes a line of a secret.
func gwAssertNoSecretMaterial(t *testing.T, fs []core.Finding, objs []runtime.Object) {
	t.Helper()
	for _, o := range objs {
		s, ok := o.(*corev1.Secret)
		if !ok {
			continue
		}
		for k, v := range s.Data {
			for _, line := range strings.Split(string(v), "\n") {
				if len(line) < 16 {
					continue
				}
				for _, f := range fs {
					if strings.Contains(f.Message, line) {
						t.Errorf("message of %s quotes key %q of secret %s: %s", f.Check, k, s.Name, f.Message)
					}
				}
			}
		}
		for _, f := range fs {
			if strings.Contains(f.Message, "-----BEGIN") {
				t.Errorf("message of %s contains PEM: %s", f.Check, f.Message)
			}
		}
	}
}

func TestGatewayDuplicateHost(t *testing.T) {
	other := func(ns, name string, sel map[string]string, port uint32, hosts ...string) *networkingv1.Gateway {
		return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networkingapi.Gateway{Selector: sel, Servers: []*networkingapi.Server{{
				Port: &networkingapi.Port{Number: port, Name: "https", Protocol: "HTTPS"}, Hosts: hosts}}}}
	}
	simple := &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, ServerCertificate: "/etc/certs/tls.crt", PrivateKey: "/etc/certs/tls.key"}
	const h0 = "gateway-duplicate-host spec.servers[0].hosts[0]"
	cases := []struct {
		name  string
		hosts []string
		objs  []runtime.Object
		warn  []string
	}{
		{"same selector, host and port", nil, []runtime.Object{other("default", "g2", gwIngressLabels, 443, "api.example.com")}, []string{h0}},
		{"namespace part ignored", []string{"kyma-system/api.example.com"}, []runtime.Object{other("default", "g2", gwIngressLabels, 443, "*/API.example.com")}, []string{h0}},
		{"itself is skipped", nil, []runtime.Object{other("kyma-system", "mtls", gwIngressLabels, 443, "api.example.com")}, nil},
		{"other port", nil, []runtime.Object{other("default", "g2", gwIngressLabels, 8443, "api.example.com")}, nil},
		{"other selector", nil, []runtime.Object{other("default", "g2", map[string]string{"istio": "egress"}, 443, "api.example.com")}, nil},
		{"superset selector, no pod has both labels", nil, []runtime.Object{other("default", "g2", map[string]string{"istio": "ingressgateway", "x": "y"}, 443, "api.example.com"),
			gwPod("istio-system", gwIngressLabels)}, nil},
		{"superset selector matching a pod both select", nil, []runtime.Object{other("default", "g2", map[string]string{"istio": "ingressgateway", "x": "y"}, 443, "api.example.com"),
			gwPod("istio-system", map[string]string{"istio": "ingressgateway", "x": "y"})}, []string{h0}},
		{"subset selector matching a pod both select", nil, []runtime.Object{other("default", "g2", map[string]string{}, 443, "api.example.com"),
			gwPod("istio-system", gwIngressLabels)}, []string{h0}},
		{"selectors differ in a value", nil, []runtime.Object{other("default", "g2", map[string]string{"istio": "ingressgateway-2"}, 443, "api.example.com"),
			gwPod("istio-system", gwIngressLabels)}, nil},
		{"other host", nil, []runtime.Object{other("default", "g2", gwIngressLabels, 443, "www.example.com")}, nil},
		{"two others", []string{"www.example.com", "api.example.com"}, []runtime.Object{
			other("a", "g2", gwIngressLabels, 443, "api.example.com"), other("b", "g3", gwIngressLabels, 443, "api.example.com", "www.example.com")},
			[]string{h0, "gateway-duplicate-host spec.servers[0].hosts[1]", "gateway-duplicate-host spec.servers[0].hosts[1]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, gwWith(simple, tc.hosts...), nil, tc.objs...)
			if len(r.Violations) != 0 {
				t.Errorf("violations: %v", r.Violations)
			}
			if got := summary(r.Warnings); !gwEqualLines(got, tc.warn) {
				t.Fatalf("warnings %q, want %q", got, tc.warn)
			}
			if tc.warn != nil && !hasFinding(r.Warnings, GatewayDuplicateHost.ID, "spec.servers[0].hosts[0]", "port 443", "selects the same workload") {
				t.Fatalf("message: %v", r.Warnings)
			}
		})
	}
}

// gwFailingState answers like st but fails the calls named in fail.
type gwFailingState struct {
	cluster.State
	fail string
}

var errGwCacheNotReady = errors.New("cache not ready")

func (f gwFailingState) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if f.fail == "secret" {
		return nil, errGwCacheNotReady
	}
	return f.State.Secret(ctx, ns, name)
}

func (f gwFailingState) PodNamespaces(ctx context.Context, ns string, sel map[string]string) ([]string, error) {
	if f.fail == "pods" {
		return nil, errGwCacheNotReady
	}
	return f.State.PodNamespaces(ctx, ns, sel)
}

func (f gwFailingState) Certificates(ctx context.Context, ns string) ([]cluster.Certificate, error) {
	if f.fail == "certificates" {
		return nil, errGwCacheNotReady
	}
	return f.State.Certificates(ctx, ns)
}

func (f gwFailingState) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if f.fail == "configmap" {
		return nil, errGwCacheNotReady
	}
	return f.State.ConfigMap(ctx, ns, name)
}

func (f gwFailingState) Gateways(ctx context.Context, ns string) ([]*networkingv1.Gateway, error) {
	if f.fail == "gateways" {
		return nil, errGwCacheNotReady
	}
	return f.State.Gateways(ctx, ns)
}

func TestGatewayClusterErrorsWarn(t *testing.T) {
	c := testGatewayCerts(t)
	pod := gwPod("istio-system", gwIngressLabels)
	good := gwTLSSecret("istio-system", "api-cred", c.server, c.clientCA.CertPEM)
	cases := []struct {
		fail string
		tls  *networkingapi.ServerTLSSettings
		objs []runtime.Object
		warn []string
	}{
		{"pods", nil, []runtime.Object{pod}, []string{"gateway-tls-secret spec.selector"}},
		{"secret", nil, []runtime.Object{pod, good}, []string{"gateway-mtls-ca spec.servers[0].tls.credentialName", "gateway-tls-secret spec.servers[0].tls.credentialName"}},
		{"certificates", nil, []runtime.Object{pod}, []string{"gateway-tls-secret spec.servers[0].tls.credentialName"}},
		{"gateways", nil, []runtime.Object{pod, good}, []string{"gateway-duplicate-host spec.servers"}},
		{"configmap", gwMutualCA("api-cred", "configmap://istio-system/ca"), []runtime.Object{pod, good}, []string{"gateway-mtls-ca spec.servers[0].tls.caCertCredentialName"}},
	}
	for _, tc := range cases {
		t.Run(tc.fail, func(t *testing.T) {
			st, err := cluster.FromObjects(tc.objs...)
			if err != nil {
				t.Fatal(err)
			}
			r := core.NewReport(core.DefaultPolicy)
			tls := tc.tls
			if tls == nil {
				tls = gwMutual("api-cred")
			}
			Validate(context.Background(), &core.Object{Namespace: "kyma-system", Name: "mtls", Operation: "CREATE", Typed: gwWith(tls)},
				&core.Env{Cluster: gwFailingState{st, tc.fail}, Trust: trust.Offline{}, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return testNow }}, r)
			if len(r.Violations) != 0 {
				t.Errorf("a read error denied: %v", r.Violations)
			}
			if got := summary(r.Warnings); !gwEqualLines(got, tc.warn) {
				t.Errorf("warnings %q, want %q", got, tc.warn)
			}
			for _, w := range r.Warnings {
				if !strings.Contains(w.Message, "cache not ready") {
					t.Errorf("warning does not say why: %v", w)
				}
			}
		})
	}
}

func TestGatewayChecksOffSkipReads(t *testing.T) {
	// With every credential check off, a failing cluster is never asked.
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	off := map[string]bool{GatewayTLSSecret.ID: true, GatewayServerCertificate.ID: true, GatewayMutualCA.ID: true,
		GatewayMutualIssuerAsClientCA.ID: true, GatewayDuplicateHost.ID: true}
	r := core.NewReport(gwPolicy{off})
	Validate(context.Background(), &core.Object{Namespace: "kyma-system", Name: "mtls", Operation: "CREATE", Typed: gwWith(gwMutual("api-cred"))},
		&core.Env{Cluster: gwFailingState{st, "pods"}, Trust: trust.Offline{}, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return testNow }}, r)
	if len(r.Violations)+len(r.Warnings) != 0 {
		t.Fatalf("findings with checks off: %v %v", r.Violations, r.Warnings)
	}
	if got := r.Results(core.KindGateway)[GatewayTLSSecret.ID]; got != core.Skipped {
		t.Fatalf("result %q, want off", got)
	}
}

type gwPolicy struct{ off map[string]bool }

func (p gwPolicy) Action(c *core.Check) core.Action {
	if p.off[c.ID] {
		return core.Off
	}
	return c.Default
}
func (gwPolicy) NetworkAction() core.Action { return core.Warn }

func TestGatewayCheckCatalog(t *testing.T) {
	want := map[string]core.Action{
		"gateway-mtls-credential": core.Deny, "gateway-istio-mutual-certificates": core.Deny, "gateway-tls-secret": core.Deny,
		"gateway-mtls-ca": core.Deny, "gateway-tls-server-certificate": core.Deny, "gateway-mtls-issuer-as-client-ca": core.Warn,
		"gateway-tls-min-version": core.Deny, "gateway-duplicate-host": core.Warn,
	}
	for id, a := range want {
		c, ok := core.Lookup(id)
		if !ok || c.Default != a || !reflect.DeepEqual(c.Kinds, []string{core.KindGateway}) || c.Description == "" {
			t.Errorf("check %s: %+v, want default %s for Gateway", id, c, a)
		}
	}
}

// gwRunSettings is run with settings other than the defaults.
func gwRunSettings(t *testing.T, s core.Settings, typed any, objs ...runtime.Object) *core.Report {
	t.Helper()
	st, err := cluster.FromObjects(objs...)
	if err != nil {
		t.Fatal(err)
	}
	r := core.NewReport(core.DefaultPolicy)
	Validate(context.Background(), &core.Object{Namespace: "default", Name: "x", Operation: "CREATE", Typed: typed},
		&core.Env{Cluster: st, Trust: trust.Offline{}, Settings: s.WithDefaults(), Now: func() time.Time { return testNow }}, r)
	return r
}

// gwEqualLines compares two sorted string lists, nil and empty alike.
func gwEqualLines(got, want []string) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

// The gateway settings with other than their default values, and a Gateway
// without a selector.
func TestGatewaySettings(t *testing.T) {
	c := testGatewayCerts(t)
	cred := "spec.servers[0].tls.credentialName"
	good := func(ns string) []runtime.Object {
		return []runtime.Object{gwTLSSecret(ns, "api-cred", c.server, nil), gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM)}
	}
	noSelector := gwWith(gwMutual("api-cred"))
	noSelector.Spec.Selector = nil
	expiringCA := []runtime.Object{gwPod("istio-system", gwIngressLabels), gwTLSSecret("istio-system", "api-cred", c.server, nil),
		gwSecret("istio-system", "api-cred-cacert", "cacert", c.expiringCA.CertPEM)}
	tests := []struct {
		name     string
		settings core.Settings
		gw       *networkingv1.Gateway
		objs     []runtime.Object
		deny     []string // "check field fragment"
		warn     []string
	}{
		{"CA expiring in 10 days, default 30-day window: warned", core.Settings{}, gwWith(gwMutual("api-cred")), expiringCA,
			nil, []string{"gateway-mtls-ca " + cred + " in less than 30 days"}},
		{"CA expiring in 10 days, 7-day window: quiet", core.Settings{CertExpiryWarning: metav1.Duration{Duration: 7 * 24 * time.Hour}},
			gwWith(gwMutual("api-cred")), expiringCA, nil, nil},
		{"no pods: the configured gateway namespace", core.Settings{GatewaySecretNamespace: "edge"}, gwWith(gwMutual("api-cred")), good("edge"), nil, nil},
		{"no pods: not in istio-system when another namespace is configured", core.Settings{GatewaySecretNamespace: "edge"},
			gwWith(gwMutual("api-cred")), good("istio-system"), []string{"gateway-tls-secret " + cred + " edge"}, nil},
		{"no selector: the configured gateway namespace", core.Settings{GatewaySecretNamespace: "edge"}, noSelector,
			append(good("edge"), gwPod("istio-system", gwIngressLabels)), nil, nil},
		{"no selector: pods elsewhere do not count", core.Settings{}, noSelector,
			append(good("kyma-system"), gwPod("kyma-system", gwIngressLabels)), []string{"gateway-tls-secret " + cred + " no selector"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := gwRunSettings(t, tc.settings, tc.gw, tc.objs...)
			for _, f := range [][2]any{{"violations", tc.deny}, {"warnings", tc.warn}} {
				got := r.Violations
				if f[0] == "warnings" {
					got = r.Warnings
				}
				want := f[1].([]string)
				if len(got) != len(want) {
					t.Errorf("%s: got %v, want %d matching %q", f[0], got, len(want), want)
					continue
				}
				for i, w := range want {
					parts := strings.SplitN(w, " ", 3)
					if got[i].Check != parts[0] || got[i].Field != parts[1] || !strings.Contains(got[i].String(), parts[2]) {
						t.Errorf("%s[%d] = %s, want %q", f[0], i, got[i], w)
					}
				}
			}
		})
	}
}

// gateway-mtls-issuer-as-client-ca for Gardener-managed secrets: the secret
// carries no cert-manager annotation, a Gardener Certificate in the secret's
// namespace names it.
func TestGatewayIssuerAsClientCAGardener(t *testing.T) {
	c := testGatewayCerts(t)
	const (
		ns   = "istio-system"
		cred = "spec.servers[0].tls.credentialName"
	)
	pod := gwPod(ns, gwIngressLabels)
	secretRef := gwGardenerCertificate(ns, "api", "", "Ready", "")
	secretRef.Object["spec"] = map[string]any{"secretRef": map[string]any{"name": "api-cred", "namespace": ns}, "commonName": "api.example.com"}
	cases := []struct {
		name string
		objs []runtime.Object
		warn []string
	}{
		{"Ready Gardener Certificate: issuer used as client CA",
			[]runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), gwGardenerCertificate(ns, "api", "api-cred", "Ready", "")},
			[]string{"gateway-mtls-issuer-as-client-ca " + cred}},
		{"Gardener Certificate with spec.secretRef.name: issuer used as client CA",
			[]runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), secretRef},
			[]string{"gateway-mtls-issuer-as-client-ca " + cred}},
		{"Gardener Certificate in another namespace does not count",
			[]runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), gwGardenerCertificate("kyma-system", "api", "api-cred", "Ready", "")},
			nil},
		{"Gardener Certificate for another secret does not count",
			[]runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), gwGardenerCertificate(ns, "api", "other-cred", "Ready", "")},
			nil},
		{"Gardener secret with a separate -cacert",
			[]runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.serverCA.CertPEM), gwSecret(ns, "api-cred-cacert", "cacert", c.clientCA.CertPEM),
				gwGardenerCertificate(ns, "api", "api-cred", "Ready", "")},
			nil},
		{"Gardener secret whose ca.crt is not the issuer",
			[]runtime.Object{pod, gwTLSSecret(ns, "api-cred", c.server, c.clientCA.CertPEM), gwGardenerCertificate(ns, "api", "api-cred", "Ready", "")},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, gwWith(gwMutual("api-cred")), nil, tc.objs...)
			if len(r.Violations) != 0 {
				t.Errorf("violations: %v", r.Violations)
			}
			if got := summary(r.Warnings); !gwEqualLines(got, tc.warn) {
				t.Errorf("warnings %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			if tc.warn != nil && !hasFinding(r.Warnings, GatewayMutualIssuerAsClientCA.ID, cred,
				`"ca.crt"`, `certificate-managed secret "api-cred" in namespace "istio-system"`, "issuer of the server certificate", `secret "api-cred-cacert"`) {
				t.Errorf("message: %v", r.Warnings)
			}
		})
	}
}
