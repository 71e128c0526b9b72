package selfcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/gatewarden/gatewarden/internal/cluster"
)

func testOptions(t *testing.T) Options {
	t.Helper()
	o := Options{
		Namespace: "gatewarden-system", SecretName: "gw-cert", ServiceName: "gw",
		ValidatingWebhook: "gw", MutatingWebhook: "gw", CertDir: t.TempDir(),
	}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	return o
}

func emptySecret(o Options) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.SecretName}}
}

func get(t *testing.T, c client.Client, o Options) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), o.key(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verify checks what the API server checks: the serving certificate chains
// to the CA that goes into caBundle, for the Service's DNS name.
func verify(t *testing.T, s *corev1.Secret, o Options, at time.Time) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data[CACertKey]) {
		t.Fatal("ca.crt is not PEM")
	}
	for _, name := range []string{"gw.gatewarden-system.svc", "gw.gatewarden-system.svc.cluster.local"} {
		if _, err := parseCert(t, s.Data[o.CertName]).Verify(x509.VerifyOptions{
			DNSName: name, Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	if _, err := tls.X509KeyPair(s.Data[o.CertName], s.Data[o.KeyName]); err != nil {
		t.Errorf("certificate and key do not match: %v", err)
	}
}

func TestBootstrapFillsEmptySecret(t *testing.T) {
	o := testOptions(t)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme).WithObjects(emptySecret(o)).Build()
	got, err := bootstrap(context.Background(), c, c, o, o.rotator())
	if err != nil {
		t.Fatal(err)
	}
	stored := get(t, c, o)
	for _, k := range []string{CACertKey, CAKeyKey, "tls.crt", "tls.key"} {
		if len(stored.Data[k]) == 0 {
			t.Errorf("Secret has no %s", k)
		}
		if !bytes.Equal(stored.Data[k], got.Data[k]) {
			t.Errorf("%s returned differs from the stored one", k)
		}
	}
	verify(t, stored, o, time.Now())
	ca := parseCert(t, stored.Data[CACertKey])
	leaf := parseCert(t, stored.Data["tls.crt"])
	if !ca.IsCA {
		t.Error("ca.crt is not a CA")
	}
	if d := time.Until(ca.NotAfter); d < DefaultCAValidity-2*time.Hour {
		t.Errorf("CA valid for %s, want about %s", d, DefaultCAValidity)
	}
	if d := time.Until(leaf.NotAfter); d < DefaultServerValidity-2*time.Hour || d > DefaultServerValidity {
		t.Errorf("serving certificate valid for %s, want about %s", d, DefaultServerValidity)
	}
}

func TestBootstrapCreatesMissingSecret(t *testing.T) {
	o := testOptions(t)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme).Build()
	if _, err := bootstrap(context.Background(), c, c, o, o.rotator()); err != nil {
		t.Fatal(err)
	}
	verify(t, get(t, c, o), o, time.Now())
}

func TestBootstrapMissingSecretForbidden(t *testing.T) {
	o := testOptions(t)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, obj.GetName(), nil)
		},
	}).Build()
	_, err := bootstrap(context.Background(), c, c, o, o.rotator())
	if err == nil || !strings.Contains(err.Error(), "create it empty") {
		t.Fatalf("want a hint to create the Secret, got %v", err)
	}
}

func TestBootstrapKeepsValidCertificates(t *testing.T) {
	o := testOptions(t)
	c := fake.NewClientBuilder().WithScheme(cluster.Scheme).WithObjects(emptySecret(o)).Build()
	if _, err := bootstrap(context.Background(), c, c, o, o.rotator()); err != nil {
		t.Fatal(err)
	}
	before := get(t, c, o)
	// A second replica, or a restart: nothing is reissued.
	if _, err := bootstrap(context.Background(), c, c, o, o.rotator()); err != nil {
		t.Fatal(err)
	}
	after := get(t, c, o)
	if after.ResourceVersion != before.ResourceVersion || !bytes.Equal(after.Data["tls.crt"], before.Data["tls.crt"]) {
		t.Error("valid certificates were replaced")
	}
}

func TestRenewsBeforeExpiry(t *testing.T) {
	o := testOptions(t)
	cr := o.rotator()
	s := emptySecret(o)
	now := time.Now()
	if _, err := ensure(s, o, cr, now); err != nil {
		t.Fatal(err)
	}
	ca, leaf := s.Data[CACertKey], s.Data["tls.crt"]

	// Well inside the validity: nothing changes.
	if changed, err := ensure(s, o, cr, now.Add(DefaultServerValidity-DefaultRenewBefore-24*time.Hour)); err != nil || changed {
		t.Fatalf("renewed too early (changed=%v, err=%v)", changed, err)
	}
	// Within RenewBefore of the serving certificate's end: a new serving
	// certificate from the same CA, so caBundle need not change.
	later := now.Add(DefaultServerValidity - DefaultRenewBefore + 24*time.Hour)
	changed, err := ensure(s, o, cr, later)
	if err != nil || !changed {
		t.Fatalf("not renewed (changed=%v, err=%v)", changed, err)
	}
	if bytes.Equal(s.Data["tls.crt"], leaf) {
		t.Error("serving certificate not replaced")
	}
	if !bytes.Equal(s.Data[CACertKey], ca) {
		t.Error("CA replaced although still valid")
	}
	verify(t, s, o, later)

	// Within RenewBefore of the CA's end: a new CA and certificate.
	later = now.Add(DefaultCAValidity - DefaultRenewBefore + 24*time.Hour)
	changed, err = ensure(s, o, cr, later)
	if err != nil || !changed {
		t.Fatalf("CA not renewed (changed=%v, err=%v)", changed, err)
	}
	if bytes.Equal(s.Data[CACertKey], ca) {
		t.Error("expiring CA kept")
	}
	verify(t, s, o, later)
}

func TestReissuesForOtherService(t *testing.T) {
	o := testOptions(t)
	s := emptySecret(o)
	if _, err := ensure(s, o, o.rotator(), time.Now()); err != nil {
		t.Fatal(err)
	}
	// The release was renamed: the old certificate does not name the new Service.
	o.ServiceName = "renamed"
	changed, err := ensure(s, o, o.rotator(), time.Now())
	if err != nil || !changed {
		t.Fatalf("certificate for the old Service name kept (changed=%v, err=%v)", changed, err)
	}
	if got := parseCert(t, s.Data["tls.crt"]).DNSNames[0]; got != "renamed.gatewarden-system.svc" {
		t.Errorf("DNS name %q", got)
	}
}

func TestReplacesGarbage(t *testing.T) {
	o := testOptions(t)
	s := emptySecret(o)
	s.Data = map[string][]byte{CACertKey: []byte("junk"), CAKeyKey: []byte("junk"), "tls.crt": []byte("junk"), "tls.key": []byte("junk")}
	if changed, err := ensure(s, o, o.rotator(), time.Now()); err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	verify(t, s, o, time.Now())
}

func TestBootstrapConflictUsesWinner(t *testing.T) {
	o := testOptions(t)
	base := fake.NewClientBuilder().WithScheme(cluster.Scheme).WithObjects(emptySecret(o)).Build()
	// The other replica's certificates, written between our read and our update.
	winner := emptySecret(o)
	if _, err := ensure(winner, o, o.rotator(), time.Now()); err != nil {
		t.Fatal(err)
	}
	updates := 0
	c := interceptor.NewClient(base, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			updates++
			if updates == 1 {
				cur := &corev1.Secret{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
					return err
				}
				cur.Data = winner.Data
				if err := c.Update(ctx, cur); err != nil {
					return err
				}
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	got, err := bootstrap(context.Background(), c, c, o, o.rotator())
	if err != nil {
		t.Fatal(err)
	}
	if updates != 1 {
		t.Errorf("%d updates, want 1 (the winner's certificate is valid)", updates)
	}
	if !bytes.Equal(got.Data["tls.crt"], winner.Data["tls.crt"]) || !bytes.Equal(get(t, base, o).Data["tls.crt"], winner.Data["tls.crt"]) {
		t.Error("the other replica's certificate was not adopted")
	}
}

func TestWriteFiles(t *testing.T) {
	o := testOptions(t)
	o.CertDir = filepath.Join(o.CertDir, "nested")
	s := emptySecret(o)
	if _, err := ensure(s, o, o.rotator(), time.Now()); err != nil {
		t.Fatal(err)
	}
	changed, err := writeFiles(o, s)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key")); err != nil {
		t.Fatalf("files are not a key pair: %v", err)
	}
	fi, err := os.Stat(filepath.Join(o.CertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("key file mode %v is readable by others", fi.Mode().Perm())
	}
	if changed, err := writeFiles(o, s); err != nil || changed {
		t.Errorf("unchanged Secret rewrote files (changed=%v err=%v)", changed, err)
	}
	entries, _ := os.ReadDir(o.CertDir)
	if len(entries) != 2 {
		t.Errorf("cert dir holds %d entries, want tls.crt and tls.key only", len(entries))
	}
	// No CA key on disk: only what the server needs.
	for _, e := range entries {
		if e.Name() == CAKeyKey {
			t.Error("CA key written to the cert dir")
		}
	}

	empty := emptySecret(o)
	if _, err := writeFiles(o, empty); err == nil {
		t.Error("empty Secret accepted")
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key")); err != nil {
		t.Errorf("a bad Secret damaged the files: %v", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"complete":       {func(*Options) {}, ""},
		"no namespace":   {func(o *Options) { o.Namespace = "" }, "namespace"},
		"no service":     {func(o *Options) { o.ServiceName = "" }, "service name"},
		"no webhooks":    {func(o *Options) { o.ValidatingWebhook, o.MutatingWebhook = "", "" }, "no webhook configuration"},
		"key is ca.key":  {func(o *Options) { o.KeyName = CAKeyKey }, "must differ"},
		"renew too late": {func(o *Options) { o.ServerValidity = time.Hour; o.RenewBefore = 2 * time.Hour }, "shorter"},
	} {
		t.Run(name, func(t *testing.T) {
			o := Options{Namespace: "ns", SecretName: "s", ServiceName: "svc", ValidatingWebhook: "v", CertDir: "/tmp/x"}
			tc.mod(&o)
			err := o.defaults()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.CertName != "tls.crt" || o.KeyName != "tls.key" || o.RenewBefore != DefaultRenewBefore || o.CheckInterval != DefaultCheckInterval {
					t.Errorf("defaults not applied: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want error with %q, got %v", tc.want, err)
			}
		})
	}
}

func TestRotatorConfig(t *testing.T) {
	o := testOptions(t)
	o.MutatingWebhook = ""
	cr := o.rotator()
	if len(cr.Webhooks) != 1 || cr.Webhooks[0].Name != "gw" {
		t.Errorf("webhooks %+v, want only the validating one", cr.Webhooks)
	}
	if cr.RequireLeaderElection {
		t.Error("rotator needs leader election; the chart grants no Lease access")
	}
	if cr.LookaheadInterval != DefaultRenewBefore || cr.CertDir != o.CertDir || cr.SecretKey != o.key() {
		t.Errorf("rotator %+v does not follow the options", cr)
	}
}

func TestReadyChecker(t *testing.T) {
	ready := make(chan struct{})
	check := ReadyChecker(ready)
	req, _ := http.NewRequest(http.MethodGet, "/readyz", nil)
	if check(req) == nil {
		t.Error("ready before injection")
	}
	close(ready)
	if err := check(req); err != nil {
		t.Errorf("not ready after injection: %v", err)
	}
}
