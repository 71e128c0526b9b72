package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
)

// gatewayPods creates a gateway workload (pods only: there is no kubelet)
// labelled with sel in istio-system, where istiod's gateway reads secrets.
func gatewayPods(t *testing.T, sel string) {
	t.Helper()
	mustCreate(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gw-" + sel, Namespace: "istio-system", Labels: map[string]string{"gw": sel}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "proxy", Image: "istio/proxyv2"}}},
	})
}

func mtlsGateway(t *testing.T, ns, name, sel, credential string) *unstructured.Unstructured {
	return gatewayWithTLS(t, ns, name, sel, "api.example.com", fmt.Sprintf("{mode: MUTUAL, credentialName: %s, minProtocolVersion: TLSV1_2}", credential))
}

func TestGatewayCredentialsWhereIstioLooks(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	gatewayPods(t, "partner")
	c, w := newClient(t)

	ca := pkitest.New(t, pkitest.Options{CN: "partner-ca", CA: true})
	server := pkitest.New(t, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com"}, Parent: ca})
	clientCA := pkitest.New(t, pkitest.Options{CN: "client-ca", CA: true})
	expiredCA := pkitest.New(t, pkitest.Options{CN: "old-ca", CA: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	// The secret in the Gateway's namespace is not where the gateway pods
	// read it: denied, naming where gatewarden looked.
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "partner-tls", Namespace: ns},
		Data: map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM, "ca.crt": clientCA.CertPEM}})
	denied(t, c.Create(ctx, mtlsGateway(t, ns, "wrong-ns", "partner", "partner-tls"), client.DryRunAll),
		"spec.servers[0].tls.credentialName", "istio-system", "partner-tls")

	// In istio-system, with a valid server certificate and a client CA in
	// the -cacert secret: admitted.
	mustCreate(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "partner-tls", Namespace: "istio-system"},
			Data: map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "partner-tls-cacert", Namespace: "istio-system"},
			Data: map[string][]byte{"cacert": clientCA.CertPEM}},
	)
	admitted(t, eventually(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "good", "partner", "partner-tls"), client.DryRunAll)
	}))

	// An expired client CA is denied.
	mustCreate(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "stale-tls", Namespace: "istio-system"},
			Data: map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "stale-tls-cacert", Namespace: "istio-system"},
			Data: map[string][]byte{"cacert": expiredCA.CertPEM}},
	)
	denied(t, eventuallyDenied(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "stale", "partner", "stale-tls"), client.DryRunAll)
	}),
		"gateway-mtls-ca", "spec.servers[0].tls")

	// A gateway workload in kyma-system reads its secrets there: the one in
	// istio-system (the fallback when no pods are visible) does not count,
	// and the Secret's type does not matter.
	mustCreate(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gw-kyma-partner", Namespace: "kyma-system", Labels: map[string]string{"gw": "kyma-partner"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "proxy", Image: "istio/proxyv2"}}},
	})
	denied(t, eventuallyDenied(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "kyma-ns", "kyma-partner", "partner-tls"), client.DryRunAll)
	}), "spec.servers[0].tls.credentialName", "kyma-system", "partner-tls")
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "partner-tls", Namespace: "kyma-system"},
		Type: "example.com/any-type",
		Data: map[string][]byte{"cert": server.CertPEM, "key": server.KeyPEM, "cacert": clientCA.CertPEM}})
	admitted(t, eventually(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "kyma-ns", "kyma-partner", "partner-tls"), client.DryRunAll)
	}))
	_ = w
}

func TestGatewayPendingCertificates(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	gatewayPods(t, "pending")
	c, w := newClient(t)

	// cert-manager Certificate still issuing: a warning, not a denial.
	crt := &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "cm-pending", Namespace: "istio-system"},
		Spec: certmanagerv1.CertificateSpec{SecretName: "cm-pending-tls", DNSNames: []string{"api.example.com"},
			IssuerRef: cmmeta.IssuerReference{Name: "ca", Kind: "ClusterIssuer"}}}
	mustCreate(t, crt)
	admitted(t, eventually(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "cm", "pending", "cm-pending-tls"), client.DryRunAll)
	}))
	warned(t, w, "cm-pending-tls", "pending")

	// Gardener Certificate in state Pending: the same warning.
	gardener := func(name, state, msg string) *unstructured.Unstructured {
		u := obj(t, fmt.Sprintf(`
apiVersion: cert.gardener.cloud/v1alpha1
kind: Certificate
metadata: {name: %s, namespace: istio-system}
spec: {secretName: %s-tls, commonName: api.example.com}
`, name, name))
		mustCreate(t, u)
		u.Object["status"] = map[string]any{"state": state, "message": msg}
		if err := env.Client.Status().Update(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	gardener("g-pending", "Pending", "")
	admitted(t, eventually(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "gp", "pending", "g-pending-tls"), client.DryRunAll)
	}))
	warned(t, w, "g-pending-tls", "pending")

	// Gardener Certificate in state Error: denied, quoting its message.
	gardener("g-error", "Error", "ACME: rate limit exceeded")
	denied(t, eventuallyDenied(func() error {
		return c.Create(ctx, mtlsGateway(t, ns, "ge", "pending", "g-error-tls"), client.DryRunAll)
	}), "rate limit exceeded")
}

// eventually retries while the webhook's cache catches up with objects the
// test just created; it returns the last error.
func eventually(f func() error) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// eventuallyDenied retries until f returns an error mentioning gatewarden's
// check; used when the expected denial depends on objects just created.
func eventuallyDenied(f func() error) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = f(); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// gatewayWithTLS is a Gateway with one HTTPS server on port 443 for host,
// selecting the pods labelled gw=sel, with the given tls block (flow YAML).
func gatewayWithTLS(t *testing.T, ns, name, sel, host, tls string) *unstructured.Unstructured {
	return obj(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %s, namespace: %s}
spec:
  selector: {gw: %s}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [%q]
    tls: %s
`, name, ns, sel, host, tls))
}

// What istiod would load from real Secrets, through the real API server: a
// leaf posing as CA, garbage PEM, a key that does not match, a certificate
// for other hosts, several credentialNames, ISTIO_MUTUAL with certificate
// fields, an old TLS version, and a host two Gateways serve on one workload.
func TestGatewayCertificateContents(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	gatewayPods(t, "contents")
	c, w := newClient(t)

	ca := pkitest.New(t, pkitest.Options{CN: "contents-ca", CA: true})
	server := pkitest.New(t, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com"}, Parent: ca})
	stranger := pkitest.New(t, pkitest.Options{CN: "stranger", DNSNames: []string{"api.example.com"}, Parent: ca})
	clientCA := pkitest.New(t, pkitest.Options{CN: "clients", CA: true})
	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"}, Data: data}
	}
	serving := map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM}
	mustCreate(t,
		secret("c-good", serving), secret("c-good-cacert", map[string][]byte{"cacert": clientCA.CertPEM}),
		secret("c-leaf", serving), secret("c-leaf-cacert", map[string][]byte{"cacert": server.CertPEM}),
		secret("c-junk", serving), secret("c-junk-cacert", map[string][]byte{"cacert": []byte("not a certificate")}),
		secret("c-mismatch", map[string][]byte{"tls.crt": server.CertPEM, "tls.key": stranger.KeyPEM}),
		secret("c-mismatch-cacert", map[string][]byte{"cacert": clientCA.CertPEM}),
	)
	mutual := func(cred string) string {
		return fmt.Sprintf("{mode: MUTUAL, credentialName: %s, minProtocolVersion: TLSV1_2}", cred)
	}
	// Everything in order first, so the cache has caught up before the
	// denials below are judged.
	admitted(t, eventually(func() error {
		return c.Create(ctx, gatewayWithTLS(t, ns, "good", "contents", "api.example.com", mutual("c-good")), client.DryRunAll)
	}))

	for _, tc := range []struct {
		name, host, tls string
		fragments       []string
	}{
		{"leaf-as-ca", "api.example.com", mutual("c-leaf"), []string{"gateway-mtls-ca", "spec.servers[0].tls"}},
		{"garbage-ca", "api.example.com", mutual("c-junk"), []string{"gateway-mtls-ca", "c-junk-cacert"}},
		{"key-mismatch", "api.example.com", mutual("c-mismatch"), []string{"gateway-tls-server-certificate", "key"}},
		{"credential-names", "api.example.com", "{mode: MUTUAL, credentialNames: [c-good, c-absent], minProtocolVersion: TLSV1_2}",
			[]string{"gateway-tls-secret", "c-absent", "istio-system"}},
		{"istio-mutual", "api.example.com", "{mode: ISTIO_MUTUAL, credentialName: c-good}", []string{"gateway-istio-mutual-certificates"}},
		{"old-tls", "api.example.com", "{mode: SIMPLE, credentialName: c-good, minProtocolVersion: TLSV1_1}",
			[]string{"gateway-tls-min-version", "spec.servers[0].tls.minProtocolVersion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			denied(t, c.Create(ctx, gatewayWithTLS(t, ns, tc.name, "contents", tc.host, tc.tls), client.DryRunAll), tc.fragments...)
		})
	}

	// A server certificate that does not cover the host: a warning only.
	admitted(t, c.Create(ctx, gatewayWithTLS(t, ns, "other-host", "contents", "www.example.com",
		"{mode: SIMPLE, credentialName: c-good, minProtocolVersion: TLSV1_2}"), client.DryRunAll))
	warned(t, w, "gateway-tls-server-certificate", "www.example.com")

	// A stored Gateway already serves api.example.com:443 on this workload;
	// a second one for the same host and port is warned about.
	mustCreate(t, gatewayWithTLS(t, ns, "first", "contents", "api.example.com", "{mode: SIMPLE, credentialName: c-good, minProtocolVersion: TLSV1_2}"))
	var err error
	for i := 0; i < 50; i++ {
		c2, w2 := newClient(t)
		err = c2.Create(ctx, gatewayWithTLS(t, ns, "second", "contents", "api.example.com", "{mode: SIMPLE, credentialName: c-good, minProtocolVersion: TLSV1_2}"), client.DryRunAll)
		admitted(t, err)
		for _, msg := range w2.all() {
			if strings.Contains(msg, "gateway-duplicate-host") && strings.Contains(msg, ns+"/first") {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("no gateway-duplicate-host warning naming %s/first", ns)
}
