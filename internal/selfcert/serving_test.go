package selfcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
)

func expiryGauge(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := servingExpiry.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func writePair(t *testing.T, dir string, c *pkitest.Cert) {
	t.Helper()
	// Key first, then the certificate, each through a rename, as the
	// certificate modes write them.
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.key", c.KeyPEM}, {"tls.crt", c.CertPEM}} {
		tmp := filepath.Join(dir, "."+f.name)
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
}

// served is the certificate a TLS client gets from a server configured by sc.
func served(t *testing.T, sc *ServingCert) *x509.Certificate {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	sc.TLSConfig(cfg)
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err == nil {
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the presented certificate is read
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func TestServingCertExpiryFollowsTheServedCertificate(t *testing.T) {
	dir := t.TempDir()
	first := pkitest.New(t, pkitest.Options{CN: "gatewarden.gatewarden-system.svc", NotAfter: time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)})
	writePair(t, dir, first)
	sc := &ServingCert{CertPath: filepath.Join(dir, "tls.crt"), KeyPath: filepath.Join(dir, "tls.key"), pollEvery: 100 * time.Millisecond}

	// Before the files are loaded a handshake fails instead of serving nothing.
	cfg := &tls.Config{}
	sc.TLSConfig(cfg)
	if _, err := cfg.GetCertificate(nil); err == nil {
		t.Error("a certificate was handed out before load")
	}

	w, err := sc.load()
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, sc); !got.NotAfter.Equal(first.Cert.NotAfter) {
		t.Fatalf("served certificate expires %s, want %s", got.NotAfter, first.Cert.NotAfter)
	}
	if got := expiryGauge(t); got != float64(first.Cert.NotAfter.Unix()) {
		t.Errorf("gauge %v, want %d", got, first.Cert.NotAfter.Unix())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()

	// A renewed certificate replaces the files: the gauge follows what is
	// served, not what was there at start.
	second := pkitest.New(t, pkitest.Options{CN: "gatewarden.gatewarden-system.svc", NotAfter: time.Now().Add(365 * 24 * time.Hour).Truncate(time.Second)})
	writePair(t, dir, second)
	deadline := time.Now().Add(30 * time.Second)
	for expiryGauge(t) != float64(second.Cert.NotAfter.Unix()) {
		if time.Now().After(deadline) {
			t.Fatalf("gauge %v after the renewal, want %d", expiryGauge(t), second.Cert.NotAfter.Unix())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := served(t, sc); !got.NotAfter.Equal(second.Cert.NotAfter) {
		t.Errorf("served certificate expires %s after the renewal, want %s", got.NotAfter, second.Cert.NotAfter)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watcher: %v", err)
	}
}

func TestServingCertRefusesAnUnusablePair(t *testing.T) {
	dir := t.TempDir()
	c := pkitest.New(t, pkitest.Options{CN: "a"})
	other := pkitest.New(t, pkitest.Options{CN: "b"})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	sc := &ServingCert{CertPath: filepath.Join(dir, "tls.crt"), KeyPath: filepath.Join(dir, "tls.key")}
	if _, err := sc.load(); err == nil {
		t.Error("a certificate with another certificate's key was accepted")
	}
	if _, err := (&ServingCert{CertPath: filepath.Join(dir, "missing.crt"), KeyPath: sc.KeyPath}).load(); err == nil {
		t.Error("a missing certificate file was accepted")
	}
}
