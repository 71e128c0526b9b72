// Package pkitest issues throw-away certificates, keys and CRLs for tests.
// Keys are ECDSA P-256, which are quick to generate.
package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Cert is an issued certificate with its key, parsed and as PEM.
type Cert struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Options describe a certificate to issue. Zero NotBefore/NotAfter mean
// "valid from a day before Now for a year"; a nil Parent means self-signed.
type Options struct {
	CN          string
	DNSNames    []string
	IPs         []net.IP
	Now         time.Time
	NotBefore   time.Time
	NotAfter    time.Time
	CA          bool
	NoCertSign  bool // a CA:true certificate without the certSign key usage
	NoCRLSign   bool // a CA without the cRLSign key usage
	Parent      *Cert
	EmptyUsages bool // leave the key usage extension out entirely
}

var serial atomic.Int64

// New issues a certificate as described.
func New(t testing.TB, o Options) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-24 * time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: o.CN},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
	}
	if o.CA {
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
		if !o.NoCertSign {
			tmpl.KeyUsage |= x509.KeyUsageCertSign
		}
		if !o.NoCRLSign {
			tmpl.KeyUsage |= x509.KeyUsageCRLSign
		}
		if tmpl.KeyUsage == 0 {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		}
	} else {
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if o.EmptyUsages {
		tmpl.KeyUsage = 0
	}
	parent, signer := tmpl, crypto.Signer(key)
	if o.Parent != nil {
		parent, signer = o.Parent.Cert, o.Parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{
		Cert:    c,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	}
}

// CRL issues a PEM CRL signed by issuer's key, with issuer's subject,
// revoking the given serial numbers.
func CRL(t testing.TB, issuer *Cert, now time.Time, revoked ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour)}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: now.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// ForgedCRL is a CRL that names issuer but is signed by another key: a bad
// signature.
func ForgedCRL(t testing.TB, issuer *Cert, now time.Time) []byte {
	t.Helper()
	impostor := New(t, Options{CN: issuer.Cert.Subject.CommonName, CA: true, Now: now})
	// Same subject name, different key: the CRL's issuer name matches the
	// real CA, its signature does not.
	return CRL(t, impostor, now)
}

// Join concatenates PEM documents into one bundle.
func Join(pems ...[]byte) []byte {
	var out []byte
	for _, p := range pems {
		out = append(out, p...)
	}
	return out
}
