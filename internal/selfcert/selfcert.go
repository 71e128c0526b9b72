// Package selfcert lets gatewarden run without cert-manager: it keeps its own
// CA and serving certificate in a Secret, writes them into the webhook
// server's certificate directory and puts the CA into its webhook
// configurations' caBundle, renewing both well before they expire.
//
// Rotation and caBundle injection are done by open-policy-agent/cert-controller
// (the rotator Gatekeeper embeds). This package adds what that rotator leaves
// to its users:
//
//   - a synchronous bootstrap in Add, before the manager starts: the webhook
//     server reads its certificate files when it starts, before any cache or
//     controller runs, so they must exist by then;
//   - copying the Secret into --cert-dir whenever it changes, so a renewed
//     certificate is served within seconds (certwatcher reloads it) instead
//     of after the kubelet's Secret volume refresh.
package selfcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Keys of the Secret. ca.crt and ca.key are fixed by cert-controller.
const (
	CACertKey = "ca.crt"
	CAKeyKey  = "ca.key"
)

// Defaults, the same as Gatekeeper's: a long-lived CA and a one-year serving
// certificate, both renewed 90 days before they expire, checked twice a day.
const (
	DefaultCAValidity     = 10 * 365 * 24 * time.Hour
	DefaultServerValidity = 365 * 24 * time.Hour
	DefaultRenewBefore    = 90 * 24 * time.Hour
	DefaultCheckInterval  = 12 * time.Hour
)

// Options configure the self-managed certificates.
type Options struct {
	// Namespace and SecretName locate the Secret holding the CA and the
	// serving certificate (the release namespace).
	Namespace  string
	SecretName string
	// ServiceName is the webhook Service; the certificate is issued for
	// <ServiceName>.<Namespace>.svc (and .svc.cluster.local).
	ServiceName string
	// ValidatingWebhook and MutatingWebhook are the names of the webhook
	// configurations whose caBundle is kept current; empty: none of that kind.
	ValidatingWebhook string
	MutatingWebhook   string
	// CertDir, CertName and KeyName are where the webhook server reads its
	// certificate (--cert-dir, --cert-name, --key-name).
	CertDir  string
	CertName string
	KeyName  string

	// Zero values take the defaults above.
	CAValidity     time.Duration
	ServerValidity time.Duration
	RenewBefore    time.Duration
	CheckInterval  time.Duration
}

// DNSName is the name the API server verifies: the Service's cluster DNS name.
func (o Options) DNSName() string { return fmt.Sprintf("%s.%s.svc", o.ServiceName, o.Namespace) }

func (o *Options) defaults() error {
	var missing []string
	for name, v := range map[string]string{"namespace": o.Namespace, "secret name": o.SecretName, "service name": o.ServiceName, "cert dir": o.CertDir} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("selfcert: missing %v", missing)
	}
	if o.ValidatingWebhook == "" && o.MutatingWebhook == "" {
		return errors.New("selfcert: no webhook configuration to inject the CA into")
	}
	if o.CertName == "" {
		o.CertName = "tls.crt"
	}
	if o.KeyName == "" {
		o.KeyName = "tls.key"
	}
	if o.CertName == CACertKey || o.CertName == CAKeyKey || o.KeyName == CACertKey || o.KeyName == CAKeyKey || o.CertName == o.KeyName {
		return fmt.Errorf("selfcert: cert name %q and key name %q must differ from each other and from %s, %s", o.CertName, o.KeyName, CACertKey, CAKeyKey)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.CAValidity, DefaultCAValidity)
	def(&o.ServerValidity, DefaultServerValidity)
	def(&o.RenewBefore, DefaultRenewBefore)
	def(&o.CheckInterval, DefaultCheckInterval)
	if o.RenewBefore >= o.ServerValidity || o.RenewBefore >= o.CAValidity {
		return fmt.Errorf("selfcert: renew-before %s must be shorter than the certificate validity (%s, CA %s)", o.RenewBefore, o.ServerValidity, o.CAValidity)
	}
	return nil
}

func (o Options) key() types.NamespacedName {
	return types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
}

// rotator is the cert-controller configuration for o. The same value issues
// the bootstrap certificates, so both agree on names, usages and lifetimes.
func (o Options) rotator() *rotator.CertRotator {
	var hooks []rotator.WebhookInfo
	if o.ValidatingWebhook != "" {
		hooks = append(hooks, rotator.WebhookInfo{Name: o.ValidatingWebhook, Type: rotator.Validating})
	}
	if o.MutatingWebhook != "" {
		hooks = append(hooks, rotator.WebhookInfo{Name: o.MutatingWebhook, Type: rotator.Mutating})
	}
	return &rotator.CertRotator{
		SecretKey:      o.key(),
		CertDir:        o.CertDir,
		CertName:       o.CertName,
		KeyName:        o.KeyName,
		CAName:         o.ServiceName + "-ca",
		CAOrganization: "gatewarden",
		DNSName:        o.DNSName(),
		ExtraDNSNames:  []string{o.DNSName() + ".cluster.local"},
		Webhooks:       hooks,
		ExtKeyUsages:   &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsReady:        make(chan struct{}),
		FieldOwner:     "gatewarden-selfcert",
		// Every replica rotates, as in Gatekeeper: writes race on the
		// Secret's resourceVersion and the loser rereads the winner's
		// certificate. No leader election, so no Lease permissions.
		RequireLeaderElection:  false,
		CaCertDuration:         o.CAValidity,
		ServerCertDuration:     o.ServerValidity,
		LookaheadInterval:      o.RenewBefore,
		RotationCheckFrequency: o.CheckInterval,
	}
}

// Add bootstraps the certificates (the Secret is filled if it holds none
// valid for RenewBefore, the files are written to CertDir) and adds to mgr
// the rotator, the Secret-to-files sync and a readiness check "certs" that
// passes once the CA is in the webhook configurations.
//
// Call it before mgr.Start: the webhook server needs the files when it starts.
// Permissions: get, list, watch and update on Secrets in Namespace (create
// too if the Secret does not exist yet; the chart creates it empty);
// get, list, watch on Validating/MutatingWebhookConfigurations and update on
// the two named ones.
func Add(mgr manager.Manager, opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	log := ctrl.Log.WithName("selfcert")
	cr := opts.rotator()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	secret, err := bootstrap(ctx, mgr.GetAPIReader(), mgr.GetClient(), opts, cr)
	if err != nil {
		return err
	}
	if _, err := writeFiles(opts, secret); err != nil {
		return err
	}
	log.Info("serving certificate ready", "secret", opts.key().String(), "dnsName", opts.DNSName(), "certDir", opts.CertDir)

	if err := rotator.AddRotator(mgr, cr); err != nil {
		return fmt.Errorf("selfcert: adding cert rotator: %w", err)
	}
	if err := mgr.Add(&fileSync{opts: opts, mgr: mgr, log: log}); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("certs", ReadyChecker(cr.IsReady))
}

// ReadyChecker fails until ready is closed.
func ReadyChecker(ready <-chan struct{}) func(*http.Request) error {
	return func(*http.Request) error {
		select {
		case <-ready:
			return nil
		default:
			return errors.New("CA not yet injected into the webhook configurations")
		}
	}
}

// bootstrap makes sure the Secret holds a CA and a serving certificate valid
// for at least opts.RenewBefore and returns it. It creates the Secret if it
// does not exist; when another replica wrote it first, that one wins and is
// returned.
func bootstrap(ctx context.Context, r client.Reader, w client.Writer, opts Options, cr *rotator.CertRotator) (*corev1.Secret, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("selfcert: %w (last error: %v)", ctx.Err(), lastErr)
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		secret := &corev1.Secret{}
		err := r.Get(ctx, opts.key(), secret)
		notFound := apierrors.IsNotFound(err)
		if err != nil && !notFound {
			return nil, fmt.Errorf("selfcert: reading Secret %s: %w", opts.key(), err)
		}
		if notFound {
			secret = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.SecretName,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "gatewarden"}},
				Type: corev1.SecretTypeOpaque,
			}
		}
		changed, err := ensure(secret, opts, cr, time.Now())
		if err != nil {
			return nil, err
		}
		if !changed {
			return secret, nil
		}
		switch {
		case notFound:
			err = w.Create(ctx, secret)
		default:
			err = w.Update(ctx, secret)
		}
		if err == nil {
			return secret, nil
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			lastErr = err // another replica was faster: use its certificates
			continue
		}
		if notFound && apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("selfcert: Secret %s does not exist and cannot be created (%v): create it empty, as the chart does", opts.key(), err)
		}
		return nil, fmt.Errorf("selfcert: writing Secret %s: %w", opts.key(), err)
	}
	return nil, fmt.Errorf("selfcert: Secret %s kept changing: %v", opts.key(), lastErr)
}

// ensure fills secret with a new CA and serving certificate when the ones it
// holds are missing, invalid or expire within RenewBefore of now, keeping a
// still-valid CA. It reports whether it changed anything.
func ensure(secret *corev1.Secret, opts Options, cr *rotator.CertRotator, now time.Time) (bool, error) {
	d := secret.Data
	at := now.Add(opts.RenewBefore)
	caOK, _ := rotator.ValidCert(d[CACertKey], d[CACertKey], d[CAKeyKey], cr.CAName, nil, at)
	if caOK {
		if ok, _ := rotator.ValidCert(d[CACertKey], d[opts.CertName], d[opts.KeyName], cr.DNSName, cr.ExtKeyUsages, at); ok {
			return false, nil
		}
	}
	begin := now.Add(-time.Hour)
	var ca *rotator.KeyPairArtifacts
	if caOK {
		ca = parseCA(d[CACertKey], d[CAKeyKey])
	}
	if ca == nil {
		var err error
		if ca, err = cr.CreateCACert(begin, now.Add(opts.CAValidity)); err != nil {
			return false, fmt.Errorf("selfcert: CA: %w", err)
		}
	}
	cert, key, err := cr.CreateCertPEM(ca, begin, now.Add(opts.ServerValidity))
	if err != nil {
		return false, fmt.Errorf("selfcert: serving certificate: %w", err)
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	secret.Data[CACertKey] = ca.CertPEM
	secret.Data[CAKeyKey] = ca.KeyPEM
	secret.Data[opts.CertName] = cert
	secret.Data[opts.KeyName] = key
	return true, nil
}

// parseCA reads a CA in cert-controller's format (PKCS#1 RSA key); nil if it
// is in another one, and a new CA is issued.
func parseCA(certPEM, keyPEM []byte) *rotator.KeyPairArtifacts {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		return nil
	}
	return &rotator.KeyPairArtifacts{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}
}

// writeFiles copies the serving certificate and key from the Secret into
// CertDir (key first, each through a rename, so certwatcher never reads a
// half-written file) and reports whether either changed.
func writeFiles(opts Options, secret *corev1.Secret) (bool, error) {
	cert, key := secret.Data[opts.CertName], secret.Data[opts.KeyName]
	if len(cert) == 0 || len(key) == 0 {
		return false, fmt.Errorf("selfcert: Secret %s has no %s or %s", opts.key(), opts.CertName, opts.KeyName)
	}
	if err := os.MkdirAll(opts.CertDir, 0o700); err != nil {
		return false, fmt.Errorf("selfcert: %w", err)
	}
	changed := false
	for _, f := range []struct {
		name string
		data []byte
	}{{opts.KeyName, key}, {opts.CertName, cert}} {
		path := filepath.Join(opts.CertDir, f.name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		tmp, err := os.CreateTemp(opts.CertDir, "."+f.name+".*")
		if err != nil {
			return changed, fmt.Errorf("selfcert: %w", err)
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return changed, fmt.Errorf("selfcert: writing %s: %w", path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return changed, fmt.Errorf("selfcert: %w", err)
		}
		changed = true
	}
	return changed, nil
}

// fileSync watches the one Secret and rewrites the files when it changes.
type fileSync struct {
	opts Options
	mgr  manager.Manager
	log  logr.Logger
}

// NeedLeaderElection is false: every replica serves, so every replica needs
// the current files.
func (s *fileSync) NeedLeaderElection() bool { return false }

func (s *fileSync) Start(ctx context.Context) error {
	c, err := cache.New(s.mgr.GetConfig(), cache.Options{
		Scheme: s.mgr.GetScheme(),
		Mapper: s.mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{s.opts.Namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", s.opts.SecretName),
		}},
	})
	if err != nil {
		return fmt.Errorf("selfcert: %w", err)
	}
	inf, err := c.GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return fmt.Errorf("selfcert: %w", err)
	}
	onChange := func(obj any) {
		secret, ok := obj.(*corev1.Secret)
		if !ok || secret.Name != s.opts.SecretName {
			return
		}
		changed, err := writeFiles(s.opts, secret)
		switch {
		case err != nil:
			// Keep serving the previous files; the rotator refills the Secret.
			s.log.Error(err, "cannot update the serving certificate files")
		case changed:
			s.log.Info("serving certificate files updated", "certDir", s.opts.CertDir)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    onChange,
		UpdateFunc: func(_, obj any) { onChange(obj) },
	}); err != nil {
		return fmt.Errorf("selfcert: %w", err)
	}
	return c.Start(ctx)
}
