package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// PKI is a throw-away CA and a serving certificate for 127.0.0.1 and
// localhost, used by both the webhook and the test issuers.
type PKI struct {
	CAPEM    []byte
	CertPEM  []byte
	KeyPEM   []byte
	CAFile   string
	CertDir  string // holds tls.crt and tls.key
	certPair tls.Certificate

	// extraIPs are served besides loopback: in kind mode the issuer
	// listens on the host's address on the kind network.
	extraIPs []net.IP

	mu     sync.Mutex
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newPKI(dir string, extraIPs ...net.IP) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatewarden-e2e-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &PKI{ca: ca, caKey: caKey, serial: 2, extraIPs: extraIPs}
	certPEM, keyPEM, err := p.issueServing(big.NewInt(p.serial))
	if err != nil {
		return nil, err
	}
	p.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	p.CertPEM, p.KeyPEM = certPEM, keyPEM
	p.CAFile = filepath.Join(dir, "ca.crt")
	p.CertDir = filepath.Join(dir, "serving-certs")
	if p.certPair, err = tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.CertDir, 0o700); err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{
		p.CAFile: p.CAPEM, filepath.Join(p.CertDir, "tls.crt"): p.CertPEM, filepath.Join(p.CertDir, "tls.key"): p.KeyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// issueServing signs a fresh key for 127.0.0.1, ::1, localhost and the extra
// addresses with the CA.
func (p *PKI) issueServing(serial *big.Int) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, p.extraIPs...), DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// RotateServing re-issues the webhook's serving certificate, signed by the
// same CA (so the webhook configurations' caBundle stays valid) with a new
// key and the next serial number, and replaces tls.crt and tls.key in
// CertDir the way a kubelet secret volume or cert-manager does: each file is
// written next to its target and renamed over it, so a reader never sees a
// half-written file. The key is renamed first; a reader that catches the new
// key with the old certificate gets a mismatch and must keep its current pair
// until the certificate follows. It returns the new serial number. The test
// issuer keeps serving the original certificate.
func (p *PKI) RotateServing() (*big.Int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serial++
	serial := big.NewInt(p.serial)
	certPEM, keyPEM, err := p.issueServing(serial)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.key", keyPEM}, {"tls.crt", certPEM}} {
		tmp := filepath.Join(p.CertDir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, filepath.Join(p.CertDir, f.name)); err != nil {
			return nil, err
		}
	}
	p.CertPEM, p.KeyPEM = certPEM, keyPEM
	return serial, nil
}

// ServingSerial is the serial number of the leaf certificate the server at
// addr (host:port, or an https:// URL) presents, verified against the CA.
func (p *PKI) ServingSerial(addr string) (*big.Int, error) {
	addr = strings.TrimPrefix(addr, "https://")
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr = addr[:i]
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return certs[0].SerialNumber, nil
}
