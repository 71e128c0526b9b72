package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/pki"
	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestParseCertificates(t *testing.T) {
	ca := pkitest.New(t, pkitest.Options{CN: "ca", CA: true, Now: now})
	leaf := pkitest.New(t, pkitest.Options{CN: "leaf", Parent: ca, Now: now})
	truncated := leaf.CertPEM[:len(leaf.CertPEM)/2]
	cases := []struct {
		name    string
		in      []byte
		n       int
		wantErr string
	}{
		{"one", ca.CertPEM, 1, ""},
		{"bundle", pkitest.Join(leaf.CertPEM, ca.CertPEM), 2, ""},
		{"text between blocks", pkitest.Join([]byte("subject=ca\n"), ca.CertPEM, []byte("\n# x\n"), leaf.CertPEM), 2, ""},
		{"empty", []byte("  \n"), 0, "empty"},
		{"garbage", []byte("not a certificate"), 0, "no PEM certificate found"},
		{"key in bundle", pkitest.Join(ca.CertPEM, ca.KeyPEM), 0, "PEM block 1 is a PRIVATE KEY"},
		{"truncated block", pkitest.Join(ca.CertPEM, truncated), 0, "PEM block 1 is malformed"},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), 0, "certificate 0 does not parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pki.ParseCertificates(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Fatalf("got %d certificates, err %v; want %d", len(got), err, tc.n)
			}
		})
	}
}

func TestParseCertificatesNeverQuotesInput(t *testing.T) {
	secret := "-----BEGIN CERTIFICATE-----\nc2VjcmV0LXNlY3JldC1zZWNyZXQ=\n-----END CERTIFICATE-----\n"
	_, err := pki.ParseCertificates([]byte(secret))
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("err = %v: want an error that does not quote the input", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	c := pkitest.New(t, pkitest.Options{CN: "x", Now: now})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	secDER, _ := x509.MarshalECPrivateKey(ec)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"pkcs8", c.KeyPEM, ""},
		{"sec1 after ec parameters", pkitest.Join(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: secDER})), ""},
		{"pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), ""},
		{"empty", nil, "empty"},
		{"certificate instead", c.CertPEM, "not a private key"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted"},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}}), "does not parse"},
		{"garbage", []byte("nope"), "no PEM private key found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := pki.ParsePrivateKey(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || k == nil {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := pki.ParsePrivateKey([]byte(" \n")); !errors.Is(err, pki.ErrEmpty) {
		t.Fatalf("blank key: err = %v, want ErrEmpty", err)
	}
}

func TestKeyMatches(t *testing.T) {
	a := pkitest.New(t, pkitest.Options{CN: "a", Now: now})
	b := pkitest.New(t, pkitest.Options{CN: "b", Now: now})
	if !pki.KeyMatches(a.Cert, a.Key) {
		t.Error("a's key does not match a")
	}
	if pki.KeyMatches(a.Cert, b.Key) {
		t.Error("b's key matches a")
	}
}

func TestIsCA(t *testing.T) {
	cases := []struct {
		name string
		o    pkitest.Options
		want bool
	}{
		{"ca", pkitest.Options{CA: true}, true},
		{"ca without key usage extension", pkitest.Options{CA: true, EmptyUsages: true}, true},
		{"ca without certSign", pkitest.Options{CA: true, NoCertSign: true}, false},
		{"leaf", pkitest.Options{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.CN, tc.o.Now = tc.name, now
			if got := pki.IsCA(pkitest.New(t, tc.o).Cert); got != tc.want {
				t.Fatalf("IsCA = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckValidity(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name      string
		from, to  time.Time
		want      pki.Validity
		wantShown string
	}{
		{"valid", now.Add(-day), now.Add(90 * day), pki.Valid, "valid"},
		{"expiring", now.Add(-day), now.Add(10 * day), pki.ExpiringSoon, "expiring soon"},
		{"expired", now.Add(-90 * day), now.Add(-time.Second), pki.Expired, "expired"},
		{"not yet valid", now.Add(time.Hour), now.Add(90 * day), pki.NotYetValid, "not yet valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := pkitest.New(t, pkitest.Options{CN: "x", NotBefore: tc.from, NotAfter: tc.to})
			got := pki.CheckValidity(c.Cert, now, 30*day)
			if got != tc.want || got.String() != tc.wantShown {
				t.Fatalf("CheckValidity = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIssuer(t *testing.T) {
	ca := pkitest.New(t, pkitest.Options{CN: "ca", CA: true, Now: now})
	other := pkitest.New(t, pkitest.Options{CN: "other", CA: true, Now: now})
	sameName := pkitest.New(t, pkitest.Options{CN: "ca", CA: true, Now: now})
	leaf := pkitest.New(t, pkitest.Options{CN: "leaf", Parent: ca, Now: now})
	if got := pki.Issuer(leaf.Cert, []*x509.Certificate{other.Cert, ca.Cert}); got != ca.Cert {
		t.Errorf("Issuer = %v, want ca", got)
	}
	if got := pki.Issuer(leaf.Cert, []*x509.Certificate{other.Cert, sameName.Cert}); got != nil {
		t.Errorf("Issuer = %v, want nil (same name, other key)", pki.Name(got))
	}
}

func TestCRLs(t *testing.T) {
	ca := pkitest.New(t, pkitest.Options{CN: "ca", CA: true, Now: now})
	other := pkitest.New(t, pkitest.Options{CN: "other", CA: true, Now: now})
	good := pkitest.CRL(t, ca, now)
	forged := pkitest.ForgedCRL(t, ca, now)

	crls, err := pki.ParseCRLs(pkitest.Join(good, pkitest.CRL(t, other, now)))
	if err != nil || len(crls) != 2 {
		t.Fatalf("ParseCRLs: %d, %v", len(crls), err)
	}
	if got := pki.CRLIssuer(crls[0], []*x509.Certificate{other.Cert, ca.Cert}); got != ca.Cert {
		t.Errorf("CRLIssuer(good) = %v, want ca", got)
	}
	f, err := pki.ParseCRLs(forged)
	if err != nil {
		t.Fatal(err)
	}
	if got := pki.CRLIssuer(f[0], []*x509.Certificate{ca.Cert}); got != nil {
		t.Errorf("CRLIssuer(forged) = %v, want nil", pki.Name(got))
	}
	for _, bad := range [][]byte{[]byte("garbage"), ca.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{1}})} {
		if _, err := pki.ParseCRLs(bad); err == nil {
			t.Errorf("ParseCRLs accepted %q", bad[:10])
		}
	}
	if !pki.MaySignCRL(ca.Cert) {
		t.Error("MaySignCRL(ca) = false")
	}
	if pki.MaySignCRL(pkitest.New(t, pkitest.Options{CN: "n", CA: true, NoCRLSign: true, Now: now}).Cert) {
		t.Error("MaySignCRL(ca without cRLSign) = true")
	}
}

func TestCoversHost(t *testing.T) {
	c := pkitest.New(t, pkitest.Options{CN: "ignored.example.com", Now: now,
		DNSNames: []string{"api.example.com", "*.apps.example.com", "Mixed.Example.org"},
		IPs:      []net.IP{net.ParseIP("10.0.0.1")}}).Cert
	cases := []struct {
		host string
		want bool
	}{
		{"api.example.com", true},
		{"API.example.com.", true},
		{"mixed.example.org", true},
		{"x.apps.example.com", true},
		{"*.apps.example.com", true},
		{"apps.example.com", false},
		{"a.b.apps.example.com", false},
		{"*.example.com", false},
		{"ignored.example.com", false},
		{"other.example.com", false},
		{"10.0.0.1", true},
		{"10.0.0.2", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := pki.CoversHost(c, tc.host); got != tc.want {
			t.Errorf("CoversHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
