package e2e

import (
	"context"
	"fmt"
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
	return obj(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %s, namespace: %s}
spec:
  selector: {gw: %s}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: MUTUAL, credentialName: %s, minProtocolVersion: TLSV1_2}
`, name, ns, sel, credential))
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
