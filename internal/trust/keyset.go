package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// MinRSABits is the smallest RSA modulus a signing key may have.
const MinRSABits = 2048

// KeySetReport is what InspectKeySet found in a JWKS document. Errors make
// the set unusable or dangerous; warnings are worth fixing.
type KeySetReport struct {
	// Keys is the number of entries in "keys".
	Keys int
	// Usable counts public signing keys Envoy can verify tokens with.
	Usable   int
	Errors   []string
	Warnings []string
}

// OK is true when the set has no errors.
func (r KeySetReport) OK() bool { return len(r.Errors) == 0 }

// envoyAlgs are the JWS algorithms Envoy's jwt_authn verifies with
// asymmetric keys, by the key type they need.
var envoyAlgs = map[string]string{
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "EC", "ES384": "EC", "ES512": "EC",
	"EdDSA": "OKP",
}

// ecAlgCurve pairs each ECDSA algorithm with its curve.
var ecAlgCurve = map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

// privateMembers are JWK members that only private (or secret) keys carry.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// InspectKeySet judges a JWKS document: it must be {"keys": [...]} with at
// least one public signing key Envoy supports; RSA keys must have at least
// 2048 bits; private or symmetric key material anywhere is an error (it has
// leaked); duplicate kids are a warning. It never echoes key material.
func InspectKeySet(raw []byte) KeySetReport {
	var rep KeySetReport
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		rep.Errors = append(rep.Errors, `not a JSON Web Key Set: want a JSON object with a "keys" array`)
		return rep
	}
	keysRaw, ok := doc["keys"]
	var keys []json.RawMessage
	if !ok || json.Unmarshal(keysRaw, &keys) != nil || bytes.Equal(bytes.TrimSpace(keysRaw), []byte("null")) {
		rep.Errors = append(rep.Errors, `not a JSON Web Key Set: want a JSON object with a "keys" array`)
		return rep
	}
	rep.Keys = len(keys)
	if len(keys) == 0 {
		rep.Errors = append(rep.Errors, "key set is empty; publish at least one public signing key")
		return rep
	}
	kids := map[string]int{}
	for i, kr := range keys {
		inspectKey(i, kr, kids, &rep)
	}
	if rep.Usable == 0 {
		rep.Errors = append(rep.Errors, "no public signing key envoy can use; want RSA (at least 2048 bits), EC P-256/P-384/P-521 or Ed25519 keys with alg RS/PS/ES 256/384/512 or EdDSA")
	}
	return rep
}

func inspectKey(i int, kr json.RawMessage, kids map[string]int, rep *KeySetReport) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(kr, &m); err != nil || m == nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("keys[%d]: not a JSON object; ignored", i))
		return
	}
	str := func(name string) string {
		var s string
		if v, ok := m[name]; ok {
			_ = json.Unmarshal(v, &s)
		}
		return s
	}
	kty, kid, alg, use := str("kty"), str("kid"), str("alg"), str("use")
	label := fmt.Sprintf("keys[%d]", i)
	if kid != "" {
		label += fmt.Sprintf(" (kid %q)", kid)
	}
	if _, has := m["kid"]; has {
		if first, dup := kids[kid]; dup {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("keys[%d] and keys[%d] share kid %q; tokens may be checked against the wrong key", first, i, kid))
		} else {
			kids[kid] = i
		}
	}

	// Private material is judged on the raw members, so a key go-jose would
	// refuse to parse is still caught.
	if kty == "oct" {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: symmetric (oct) key published; the secret has leaked: remove it and rotate it", label))
		return
	}
	var priv []string
	for _, name := range privateMembers {
		if _, has := m[name]; has {
			priv = append(priv, name)
		}
	}
	if len(priv) > 0 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: contains private key material (%s); the key has leaked: publish only the public part and rotate the key", label, strings.Join(priv, ", ")))
		return
	}
	if use == "enc" {
		return // an encryption key: not for signatures, and harmless
	}

	var k jose.JSONWebKey
	if err := json.Unmarshal(kr, &k); err != nil {
		if errors.Is(err, jose.ErrUnsupportedKeyType) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: key type %q is not supported by envoy; ignored", label, kty))
		} else {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: cannot be parsed (%s); ignored", label, strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")))
		}
		return
	}
	wantKty, known := envoyAlgs[alg]
	if alg != "" && !known {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: alg %q is not supported by envoy; ignored", label, alg))
		return
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: RSA key has %d bits; use at least %d", label, bits, MinRSABits))
			return
		}
		if alg != "" && wantKty != "RSA" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: alg %q does not fit an RSA key; ignored", label, alg))
			return
		}
	case *ecdsa.PublicKey:
		curve := pub.Curve.Params().Name
		if _, ok := map[string]bool{"P-256": true, "P-384": true, "P-521": true}[curve]; !ok {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: curve %q is not supported by envoy; ignored", label, curve))
			return
		}
		if alg != "" && ecAlgCurve[alg] != curve {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: alg %q does not fit curve %s; ignored", label, alg, curve))
			return
		}
	case ed25519.PublicKey:
		if alg != "" && wantKty != "OKP" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: alg %q does not fit an Ed25519 key; ignored", label, alg))
			return
		}
	default:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: key type %q is not supported by envoy; ignored", label, kty))
		return
	}
	rep.Usable++
}
