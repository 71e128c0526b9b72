package pki

// FuzzPKI: what a Secret's tls.crt, tls.key, ca.crt or ca.crl may hold,
// arbitrary bytes, through every parser and every function the gateway
// checks call on what parses. Never a panic; a parse gives a result or an
// error, not both empty.
//
//	go test -run '^$' -fuzz '^FuzzPKI$' -fuzztime 30s ./internal/pki/

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
)

var fuzzNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func FuzzPKI(f *testing.F) {
	ca := pkitest.New(f, pkitest.Options{CN: "fuzz-ca", CA: true, Now: fuzzNow})
	noCRL := pkitest.New(f, pkitest.Options{CN: "no-crl-ca", CA: true, NoCRLSign: true, Now: fuzzNow})
	leaf := pkitest.New(f, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com", "*.apps.example.com"},
		IPs: []net.IP{net.ParseIP("10.0.0.1")}, Parent: ca, Now: fuzzNow})
	expired := pkitest.New(f, pkitest.Options{CN: "old", Parent: ca, Now: fuzzNow, NotBefore: fuzzNow.Add(-48 * time.Hour), NotAfter: fuzzNow.Add(-time.Hour)})
	crl := pkitest.CRL(f, ca, fuzzNow, leaf.Cert.SerialNumber)
	forged := pkitest.ForgedCRL(f, ca, fuzzNow)
	bundle := pkitest.Join(leaf.CertPEM, ca.CertPEM)

	f.Add(leaf.CertPEM, leaf.KeyPEM, "api.example.com")
	f.Add(bundle, ca.KeyPEM, "x.apps.example.com")
	f.Add(pkitest.Join(ca.CertPEM, crl), leaf.KeyPEM, "*.apps.example.com")
	f.Add(pkitest.Join(noCRL.CertPEM, forged), expired.KeyPEM, "10.0.0.1")
	f.Add(crl, pkitest.Join([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), leaf.KeyPEM), "")
	f.Add(expired.CertPEM, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), "old")
	f.Add(bytes.Replace(leaf.CertPEM, []byte("CERTIFICATE"), []byte("X509 CRL"), -1), bytes.Replace(leaf.KeyPEM, []byte("EC "), []byte("RSA "), -1), ".")
	f.Add(leaf.CertPEM[:len(leaf.CertPEM)/2], leaf.KeyPEM[:40], "api.example.com.")
	f.Add([]byte("text\n"+string(leaf.CertPEM)+"text\n-----BEGIN CERTIFICATE-----\n"), []byte{}, "*")
	f.Add([]byte{}, []byte("   \n"), "*.example.com")

	f.Fuzz(func(t *testing.T, data, keyData []byte, host string) {
		defer watchdog(fmt.Sprintf("data %q key %q host %q", data, keyData, host))()
		certs, cerr := ParseCertificates(data)
		if cerr == nil && len(certs) == 0 {
			t.Fatal("ParseCertificates: no certificates and no error")
		}
		crls, lerr := ParseCRLs(data)
		if lerr == nil && len(crls) == 0 {
			t.Fatal("ParseCRLs: no CRLs and no error")
		}
		key, kerr := ParsePrivateKey(keyData)
		if kerr == nil && key == nil {
			t.Fatal("ParsePrivateKey: no key and no error")
		}
		// The CA bundle of a check is typically the same data.
		cas, _ := ParseCertificates(keyData)
		cas = append(cas, certs...)
		for _, c := range certs {
			_ = IsCA(c)
			_ = MaySignCRL(c)
			_ = Name(c)
			_ = CheckValidity(c, fuzzNow, 30*24*time.Hour).String()
			_ = CoversHost(c, host)
			_ = Issuer(c, cas)
			if key != nil {
				_ = KeyMatches(c, key)
			}
		}
		for _, l := range crls {
			_ = CRLIssuer(l, cas)
		}
		if MatchName(host, host) != (normName(host) != "") {
			// A name matches itself exactly when it is not empty.
			t.Fatalf("MatchName(%q, itself) = %v", host, MatchName(host, host))
		}
	})
}

func normName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// watchdog crashes the fuzz worker when one input takes longer than 10s,
// so the fuzzer records it as a finding instead of stalling silently: a
// parser that hangs would hold an admission past the API server's timeout.
func watchdog(input string) (stop func()) {
	t := time.AfterFunc(10*time.Second, func() { panic("input took longer than 10s: " + input) })
	return func() { t.Stop() }
}
