package selfcert

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ExpiryMetric is the name of the serving certificate's expiry gauge.
const ExpiryMetric = "gatewarden_serving_certificate_expiry_timestamp_seconds"

// servingExpiry is when the certificate the webhook serves right now
// expires. A webhook whose certificate expires is refused by the API server
// with a TLS error that nobody sees until admissions fail, so the time is
// exported for an alert well before.
var servingExpiry = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: ExpiryMetric,
	Help: "Unix time the webhook's serving certificate (the one served now, reloaded when its files change) expires.",
})

func init() {
	metrics.Registry.MustRegister(servingExpiry)
}

// ServingCert is the webhook server's certificate: controller-runtime's
// certwatcher over the files in the certificate directory, which both
// certificate modes keep current (gatewarden writes them from its Secret,
// or the kubelet from cert-manager's). The expiry gauge is set from the
// certificate the watcher hands to TLS handshakes, so it follows every
// reload.
type ServingCert struct {
	CertPath, KeyPath string

	// pollEvery overrides the watcher's re-read interval (tests).
	pollEvery time.Duration
	w         atomic.Pointer[certwatcher.CertWatcher]
}

// TLSConfig makes the server take its certificate from the watcher. It is
// applied when the webhook server starts, after Add has loaded the files.
func (s *ServingCert) TLSConfig(c *tls.Config) {
	c.GetCertificate = s.getCertificate
}

func (s *ServingCert) getCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	w := s.w.Load()
	if w == nil {
		return nil, errors.New("serving certificate not loaded yet")
	}
	return w.GetCertificate(h)
}

// Add reads the certificate and key now (an unusable pair fails here, before
// the manager starts, as controller-runtime's own watcher would when the
// server starts), sets the gauge, and adds the watcher to mgr. Call it after
// the files exist: in self-managed mode after selfcert.Add.
func (s *ServingCert) Add(mgr manager.Manager) error {
	w, err := s.load()
	if err != nil {
		return err
	}
	return mgr.Add(w)
}

// load reads the files into a new watcher, which the caller starts.
func (s *ServingCert) load() (*certwatcher.CertWatcher, error) {
	w, err := certwatcher.New(s.CertPath, s.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("serving certificate %s: %w", s.CertPath, err)
	}
	if s.pollEvery > 0 {
		w = w.WithWatchInterval(s.pollEvery)
	}
	if err := recordExpiry(w.GetCertificate(nil)); err != nil {
		return nil, fmt.Errorf("serving certificate %s: %w", s.CertPath, err)
	}
	w.RegisterCallback(func(c tls.Certificate) { _ = recordExpiry(&c, nil) })
	s.w.Store(w)
	return w, nil
}

func recordExpiry(c *tls.Certificate, err error) error {
	if err != nil {
		return err
	}
	if c == nil || len(c.Certificate) == 0 {
		return errors.New("no certificate")
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return err
		}
	}
	servingExpiry.Set(float64(leaf.NotAfter.Unix()))
	return nil
}
