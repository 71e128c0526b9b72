package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
)

// The certificate edge cases of the mTLS and TLS Gateway checks, through the
// real kube-apiserver with real Secrets in the gateway pods' namespace and a
// real cert-manager Certificate: a not yet valid client CA, CRLs (signed,
// forged, garbage), certificates expiring soon or expired, the issuer of a
// certificate-managed server certificate used as the client CA,
// caCertificates file paths, and a failed Certificate for a missing secret.
func TestGatewayCertificateEdgeCases(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	gatewayPods(t, "edge")
	const (
		day   = 24 * time.Hour
		gwNS  = "istio-system" // where the gw=edge pods run
		cred  = "spec.servers[0].tls.credentialName"
		caCrt = "spec.servers[0].tls.caCertificates"
	)
	now := time.Now()

	serverCA := pkitest.New(t, pkitest.Options{CN: "edge-server-ca", CA: true})
	server := pkitest.New(t, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com"}, Parent: serverCA})
	expiringServer := pkitest.New(t, pkitest.Options{CN: "edge-api-ending", DNSNames: []string{"api.example.com"}, Parent: serverCA,
		NotBefore: now.Add(-100 * day), NotAfter: now.Add(5 * day)})
	expiredServer := pkitest.New(t, pkitest.Options{CN: "edge-api-old", DNSNames: []string{"api.example.com"}, Parent: serverCA,
		NotBefore: now.Add(-100 * day), NotAfter: now.Add(-time.Hour)})
	clientCA := pkitest.New(t, pkitest.Options{CN: "edge-client-ca", CA: true})
	futureCA := pkitest.New(t, pkitest.Options{CN: "edge-future-ca", CA: true, NotBefore: now.Add(day), NotAfter: now.Add(400 * day)})
	expiringCA := pkitest.New(t, pkitest.Options{CN: "edge-ending-ca", CA: true, NotBefore: now.Add(-400 * day), NotAfter: now.Add(10 * day)})
	client1 := pkitest.New(t, pkitest.Options{CN: "edge-client", Parent: clientCA})
	goodCRL := pkitest.CRL(t, clientCA, now, client1.Cert.SerialNumber)
	forgedCRL := pkitest.ForgedCRL(t, clientCA, now)

	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gwNS}, Data: data}
	}
	serving := func(c *pkitest.Cert) map[string][]byte {
		return map[string][]byte{"tls.crt": c.CertPEM, "tls.key": c.KeyPEM}
	}
	issuerAsCA := secret("edge-issuer", map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM, "ca.crt": serverCA.CertPEM})
	issuerAsCA.Annotations = map[string]string{"cert-manager.io/certificate-name": "edge-issuer"}
	objs := []client.Object{
		secret("edge-good", serving(server)), secret("edge-good-cacert", map[string][]byte{"cacert": clientCA.CertPEM}),
		secret("edge-future", serving(server)), secret("edge-future-cacert", map[string][]byte{"cacert": futureCA.CertPEM}),
		secret("edge-crl", serving(server)), secret("edge-crl-cacert", map[string][]byte{"cacert": clientCA.CertPEM, "crl": goodCRL}),
		secret("edge-cacrl", serving(server)), secret("edge-cacrl-cacert", map[string][]byte{"ca.crt": clientCA.CertPEM, "ca.crl": goodCRL}),
		secret("edge-forged", serving(server)), secret("edge-forged-cacert", map[string][]byte{"cacert": clientCA.CertPEM, "crl": forgedCRL}),
		// No -cacert secret: CA and CRL come from the certificate secret.
		secret("edge-junkcrl", map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM,
			"ca.crt": clientCA.CertPEM, "ca.crl": []byte("not a revocation list")}),
		secret("edge-ending-ca", serving(server)), secret("edge-ending-ca-cacert", map[string][]byte{"cacert": expiringCA.CertPEM}),
		secret("edge-ending", serving(expiringServer)), secret("edge-ending-cacert", map[string][]byte{"cacert": clientCA.CertPEM}),
		secret("edge-expired", serving(expiredServer)), secret("edge-expired-cacert", map[string][]byte{"cacert": clientCA.CertPEM}),
		issuerAsCA,
	}
	mustCreate(t, objs...)
	t.Cleanup(func() {
		for _, o := range objs {
			_ = env.Client.Delete(context.Background(), o)
		}
	})

	// A cert-manager Certificate that would write the missing secret
	// edge-failed-tls, but whose issuance failed.
	crt := &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "edge-failed", Namespace: gwNS},
		Spec: certmanagerv1.CertificateSpec{SecretName: "edge-failed-tls", DNSNames: []string{"api.example.com"},
			IssuerRef: cmmeta.IssuerReference{Name: "edge-ca", Kind: "ClusterIssuer"}}}
	mustCreate(t, crt)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), crt) })
	const failure = "edge-ca ClusterIssuer not found"
	crt.Status.Conditions = []certmanagerv1.CertificateCondition{
		{Type: certmanagerv1.CertificateConditionReady, Status: cmmeta.ConditionFalse, Reason: "Failed", Message: "Issuing certificate as Secret does not exist"},
		{Type: certmanagerv1.CertificateConditionIssuing, Status: cmmeta.ConditionFalse, Reason: "Failed", Message: failure},
	}
	if err := env.Client.Status().Update(ctx, crt); err != nil {
		t.Fatal(err)
	}

	mutual := func(name string) string {
		return fmt.Sprintf("{mode: MUTUAL, credentialName: %s, minProtocolVersion: TLSV1_2}", name)
	}
	// Everything in order first, so the cache has the pods and secrets.
	c, _ := newClient(t)
	admitted(t, eventually(func() error {
		return c.Create(ctx, gatewayWithTLS(t, ns, "edge-good", "edge", "api.example.com", mutual("edge-good")), client.DryRunAll)
	}))

	for _, tc := range []struct {
		name, tls string
		// deny: the one violation "check field"; warn: a warning "check
		// field" (admitted); neither: admitted without gateway warnings.
		deny, warn []string
		fragments  []string // in the denial or the warning
	}{
		{name: "not-yet-valid-ca", tls: mutual("edge-future"),
			deny: []string{"gateway-mtls-ca", cred}, fragments: []string{`"edge-future-ca"`, "not valid before", "edge-future-cacert"}},
		{name: "good-crl", tls: mutual("edge-crl")},
		{name: "good-ca-crl", tls: mutual("edge-cacrl")},
		{name: "forged-crl", tls: mutual("edge-forged"),
			deny: []string{"gateway-mtls-ca", cred}, fragments: []string{`CRL 1 of 1 in "crl"`, "not signed by a CA"}},
		{name: "garbage-crl", tls: mutual("edge-junkcrl"),
			deny: []string{"gateway-mtls-ca", cred}, fragments: []string{`key "ca.crl"`, `secret "edge-junkcrl"`, "not a PEM CRL"}},
		{name: "expiring-ca", tls: mutual("edge-ending-ca"),
			warn: []string{"gateway-mtls-ca", cred}, fragments: []string{`"edge-ending-ca"`, "in less than 30 days"}},
		{name: "expiring-server-certificate", tls: mutual("edge-ending"),
			warn: []string{"gateway-tls-server-certificate", cred}, fragments: []string{`"edge-api-ending"`, "in less than 30 days"}},
		{name: "expired-server-certificate", tls: mutual("edge-expired"),
			deny: []string{"gateway-tls-server-certificate", cred}, fragments: []string{`"edge-api-old"`, "expired on"}},
		{name: "issuer-as-client-ca", tls: mutual("edge-issuer"),
			warn: []string{"gateway-mtls-issuer-as-client-ca", cred}, fragments: []string{`"ca.crt"`, "issuer of the server certificate", `"edge-issuer-cacert"`}},
		{name: "ca-certificates-file", tls: "{mode: MUTUAL, serverCertificate: /etc/istio/edge/tls.crt, privateKey: /etc/istio/edge/tls.key, caCertificates: /etc/istio/edge/ca.crt, minProtocolVersion: TLSV1_2}",
			warn: []string{"gateway-mtls-credential", caCrt}, fragments: []string{"cannot be verified"}},
		{name: "failed-certificate", tls: mutual("edge-failed-tls"),
			deny: []string{"gateway-tls-secret", cred}, fragments: []string{`cert-manager Certificate "edge-failed" failed`, failure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			create := func(c client.Client) error {
				return c.Create(ctx, gatewayWithTLS(t, ns, tc.name, "edge", "api.example.com", tc.tls), client.DryRunAll)
			}
			switch {
			case tc.deny != nil:
				_, err := edgeUntil(t, create, func(err error, _ *warnings) bool { return edgeCause(err, tc.deny[0], tc.deny[1]) })
				denied(t, err, append([]string{tc.deny[1] + ": ", "[" + tc.deny[0] + "]"}, tc.fragments...)...)
				edgeOnlyCause(t, err, tc.deny[0], tc.deny[1])
			case tc.warn != nil:
				w, err := edgeUntil(t, create, func(err error, w *warnings) bool {
					return err == nil && w.has(tc.warn[1]+": ", "["+tc.warn[0]+"]")
				})
				admitted(t, err)
				warned(t, w, append([]string{tc.warn[1] + ": ", "[" + tc.warn[0] + "]"}, tc.fragments...)...)
			default:
				w, err := edgeUntil(t, create, func(err error, _ *warnings) bool { return err == nil })
				admitted(t, err)
				notWarned(t, w, "[gateway-")
			}
		})
	}
}

// edgeUntil runs create with a fresh client until done accepts the answer
// (the webhook's cache may lag behind the objects just created) and returns
// the last answer.
func edgeUntil(t *testing.T, create func(client.Client) error, done func(error, *warnings) bool) (*warnings, error) {
	t.Helper()
	var (
		err error
		w   *warnings
	)
	for i := 0; i < 100; i++ {
		var c client.Client
		c, w = newClient(t)
		if err = create(c); done(err, w) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return w, err
}

// edgeCauses are the field causes of a webhook denial.
func edgeCauses(err error) []metav1.StatusCause {
	var st apierrors.APIStatus
	if err == nil || !errors.As(err, &st) || st.Status().Details == nil {
		return nil
	}
	return st.Status().Details.Causes
}

// edgeCause reports whether the denial has a cause for check on field.
func edgeCause(err error, check, field string) bool {
	for _, c := range edgeCauses(err) {
		if c.Field == field && strings.HasSuffix(c.Message, "["+check+"]") {
			return true
		}
	}
	return false
}

// edgeOnlyCause asserts the denial has exactly one cause: check on field.
func edgeOnlyCause(t *testing.T, err error, check, field string) {
	t.Helper()
	cs := edgeCauses(err)
	if len(cs) != 1 || !edgeCause(err, check, field) {
		t.Errorf("want exactly one cause %s on %s, got %+v", check, field, cs)
	}
}
