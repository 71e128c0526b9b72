// Package pki parses and checks the certificates, keys, CA bundles and CRLs
// that Istio gateways read from credential secrets. Every function is pure:
// bytes and a clock in, facts out. Errors never quote the input, so callers
// may pass them on to users without leaking secret material.
package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ErrEmpty is returned for input that holds nothing but white space.
var ErrEmpty = errors.New("empty")

// ParseCertificates parses a PEM bundle in which every block must be a
// CERTIFICATE, in order. Text between blocks is ignored, as Envoy does, but a
// block that starts and never ends is an error.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	return parseBlocks(data, "CERTIFICATE", "certificate", x509.ParseCertificate)
}

// parseBlocks parses a PEM bundle in which every block is of one type.
func parseBlocks[T any](data []byte, blockType, what string, parse func([]byte) (T, error)) ([]T, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	var out []T
	rest := data
	for i := 0; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != blockType {
			return nil, fmt.Errorf("PEM block %d is a %s, not %s %s", i, b.Type, article(blockType), blockType)
		}
		v, err := parse(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s %d does not parse: %v", what, i, err)
		}
		out = append(out, v)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("PEM block %d is malformed", len(out))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM %s found", what)
	}
	return out, nil
}

func article(word string) string {
	if strings.ContainsRune("AEIOUX", rune(word[0])) {
		return "an"
	}
	return "a"
}

// ParsePrivateKey parses one PEM private key: PKCS#8, PKCS#1 (RSA) or SEC 1
// (EC). An "EC PARAMETERS" block before the key, as openssl writes it, is
// skipped. Encrypted keys are rejected: Envoy cannot use them.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			if _, enc := b.Headers["DEK-Info"]; enc {
				return nil, errors.New("the private key is encrypted; envoy needs it unencrypted")
			}
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			if _, enc := b.Headers["DEK-Info"]; enc {
				return nil, errors.New("the private key is encrypted; envoy needs it unencrypted")
			}
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; envoy needs it unencrypted")
		default:
			return nil, fmt.Errorf("PEM block is a %s, not a private key", b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("private key does not parse: %v", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return s, nil
	}
}

// KeyMatches reports whether key is the private half of cert's public key.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// IsCA reports whether c may issue certificates: basic constraints CA:true,
// and the certSign key usage when the key usage extension is present.
func IsCA(c *x509.Certificate) bool {
	if !c.BasicConstraintsValid || !c.IsCA {
		return false
	}
	return c.KeyUsage == 0 || c.KeyUsage&x509.KeyUsageCertSign != 0
}

// Validity is where now falls in a certificate's lifetime.
type Validity int

const (
	Valid Validity = iota
	// ExpiringSoon: valid now, but not for the whole warning window.
	ExpiringSoon
	Expired
	NotYetValid
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case ExpiringSoon:
		return "expiring soon"
	case Expired:
		return "expired"
	case NotYetValid:
		return "not yet valid"
	}
	return fmt.Sprintf("Validity(%d)", int(v))
}

// CheckValidity places now in c's validity period; a certificate whose
// NotAfter is less than within away is ExpiringSoon.
func CheckValidity(c *x509.Certificate, now time.Time, within time.Duration) Validity {
	switch {
	case now.Before(c.NotBefore):
		return NotYetValid
	case now.After(c.NotAfter):
		return Expired
	case c.NotAfter.Sub(now) < within:
		return ExpiringSoon
	}
	return Valid
}

// Name is a short public description of a certificate for messages: its
// subject common name, or the whole subject when there is none.
func Name(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if s := c.Subject.String(); s != "" {
		return s
	}
	return "serial " + c.SerialNumber.String()
}

// Issuer returns the certificate in cas whose key signed c, or nil. It
// compares names and checks the signature only; whether the issuer may act
// as a CA is IsCA's question.
func Issuer(c *x509.Certificate, cas []*x509.Certificate) *x509.Certificate {
	for _, ca := range cas {
		if !bytes.Equal(c.RawIssuer, ca.RawSubject) {
			continue
		}
		if ca.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return ca
		}
	}
	return nil
}

// ParseCRLs parses a PEM bundle of X509 CRL blocks, as Envoy reads the crl
// and ca.crl keys.
func ParseCRLs(data []byte) ([]*x509.RevocationList, error) {
	return parseBlocks(data, "X509 CRL", "CRL", x509.ParseRevocationList)
}

// CRLIssuer returns the certificate in cas that signed crl, or nil. Like
// Issuer it checks names and the signature, not the key usage.
func CRLIssuer(crl *x509.RevocationList, cas []*x509.Certificate) *x509.Certificate {
	for _, ca := range cas {
		if !bytes.Equal(crl.RawIssuer, ca.RawSubject) {
			continue
		}
		if ca.CheckSignature(crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature) == nil {
			return ca
		}
	}
	return nil
}

// MaySignCRL reports whether ca's key usage, when present, allows cRLSign.
func MaySignCRL(ca *x509.Certificate) bool {
	return ca.KeyUsage == 0 || ca.KeyUsage&x509.KeyUsageCRLSign != 0
}

// CoversHost reports whether c's subject alternative names cover host the way
// a TLS client checks them: DNS names case-insensitively, a "*." wildcard
// standing for exactly one leftmost label, IP addresses against IP SANs.
// host may itself be a wildcard ("*.example.com"), which only a SAN with the
// same wildcard covers. The common name is ignored, as by current clients.
func CoversHost(c *x509.Certificate, host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		for _, san := range c.IPAddresses {
			if san.Equal(ip) {
				return true
			}
		}
		return false
	}
	for _, san := range c.DNSNames {
		if MatchName(san, host) {
			return true
		}
	}
	return false
}

// MatchName reports whether the DNS name pattern (possibly "*.suffix")
// matches host (possibly "*.suffix" too).
func MatchName(pattern, host string) bool {
	pattern = strings.TrimSuffix(strings.ToLower(pattern), ".")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if pattern == "" || host == "" {
		return false
	}
	if pattern == host {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*.")
	if !ok || suffix == "" {
		return false
	}
	first, rest, ok := strings.Cut(host, ".")
	return ok && first != "" && first != "*" && rest == suffix
}
