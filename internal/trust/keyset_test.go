package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	keysOnce sync.Once
	rsa2048  *rsa.PrivateKey
	rsa1024  *rsa.PrivateKey
	ecP256   *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsa2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		if ecP256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// jwk renders one key as JSON.
func jwk(t *testing.T, key any, kid, alg, use string) json.RawMessage {
	t.Helper()
	b, err := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwks renders a key set from rendered keys.
func jwks(keys ...json.RawMessage) []byte {
	if keys == nil {
		keys = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

func TestInspectKeySet(t *testing.T) {
	testKeys(t)
	rsaPub := jwk(t, &rsa2048.PublicKey, "r1", "RS256", "sig")
	tests := []struct {
		name     string
		raw      []byte
		usable   int
		errs     []string // fragments, one per expected error, in order
		warnings []string
	}{
		{name: "rsa 2048 public", raw: jwks(rsaPub), usable: 1},
		{name: "rsa without alg or use", raw: jwks(jwk(t, &rsa2048.PublicKey, "r", "", "")), usable: 1},
		{name: "ps384 rsa", raw: jwks(jwk(t, &rsa2048.PublicKey, "r", "PS384", "")), usable: 1},
		{name: "ec p-256 es256", raw: jwks(jwk(t, &ecP256.PublicKey, "e", "ES256", "sig")), usable: 1},
		{name: "ed25519 eddsa", raw: jwks(jwk(t, edKey.Public(), "o", "EdDSA", "")), usable: 1},
		{name: "not json", raw: []byte("<html>"), errs: []string{"not a JSON Web Key Set"}},
		{name: "json array", raw: []byte(`[{"kty":"RSA"}]`), errs: []string{"not a JSON Web Key Set"}},
		{name: "no keys member", raw: []byte(`{"issuer":"x"}`), errs: []string{"not a JSON Web Key Set"}},
		{name: "keys null", raw: []byte(`{"keys":null}`), errs: []string{"not a JSON Web Key Set"}},
		{name: "empty set", raw: []byte(`{"keys":[]}`), errs: []string{"key set is empty"}},
		{name: "rsa 1024", raw: jwks(jwk(t, &rsa1024.PublicKey, "small", "RS256", "sig")),
			errs: []string{`keys[0] (kid "small"): RSA key has 1024 bits; use at least 2048`, "no public signing key"}},
		{name: "rsa private key", raw: jwks(rsaPub, jwk(t, rsa2048, "leak", "RS256", "sig")), usable: 1,
			errs: []string{`keys[1] (kid "leak"): contains private key material (d, p, q, dp, dq, qi)`}},
		{name: "ec private key", raw: jwks(jwk(t, ecP256, "e", "ES256", "")),
			errs: []string{`keys[0] (kid "e"): contains private key material (d)`, "no public signing key"}},
		{name: "okp private key", raw: jwks(rsaPub, jwk(t, edKey, "o", "EdDSA", "")), usable: 1,
			errs: []string{`keys[1] (kid "o"): contains private key material (d)`}},
		{name: "symmetric key", raw: jwks(rsaPub, json.RawMessage(`{"kty":"oct","kid":"h","k":"c2VjcmV0","alg":"HS256"}`)), usable: 1,
			errs: []string{`keys[1] (kid "h"): symmetric (oct) key published`}},
		{name: "private member on a malformed key", raw: jwks(rsaPub, json.RawMessage(`{"kty":"RSA","n":"!!","e":"AQAB","d":"x"}`)), usable: 1,
			errs: []string{"keys[1]: contains private key material (d)"}},
		{name: "duplicate kid", raw: jwks(rsaPub, jwk(t, &ecP256.PublicKey, "r1", "ES256", "")), usable: 2,
			warnings: []string{`keys[0] and keys[1] share kid "r1"`}},
		{name: "encryption key only", raw: jwks(jwk(t, &rsa2048.PublicKey, "enc", "RSA-OAEP", "enc")),
			errs: []string{"no public signing key envoy can use"}},
		{name: "unsupported alg", raw: jwks(rsaPub, jwk(t, &rsa2048.PublicKey, "r2", "RS1", "")), usable: 1,
			warnings: []string{`keys[1] (kid "r2"): alg "RS1" is not supported by envoy`}},
		{name: "alg does not fit key", raw: jwks(jwk(t, &ecP256.PublicKey, "e", "ES384", "")),
			errs: []string{"no public signing key"}, warnings: []string{`alg "ES384" does not fit curve P-256`}},
		{name: "rsa alg on ec key type", raw: jwks(jwk(t, &rsa2048.PublicKey, "r", "ES256", "")),
			errs: []string{"no public signing key"}, warnings: []string{`alg "ES256" does not fit an RSA key`}},
		{name: "unknown key type", raw: jwks(rsaPub, json.RawMessage(`{"kty":"XYZ","kid":"u"}`)), usable: 1,
			warnings: []string{`keys[1] (kid "u"): key type "XYZ" is not supported`}},
		{name: "unparsable public key", raw: jwks(rsaPub, json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`)), usable: 1,
			warnings: []string{"keys[1]: cannot be parsed"}},
		{name: "key not an object", raw: jwks(rsaPub, json.RawMessage(`"abc"`)), usable: 1,
			warnings: []string{"keys[1]: not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := InspectKeySet(tt.raw)
			if rep.Usable != tt.usable {
				t.Errorf("usable = %d, want %d (errors %q, warnings %q)", rep.Usable, tt.usable, rep.Errors, rep.Warnings)
			}
			matchAll(t, "error", rep.Errors, tt.errs)
			matchAll(t, "warning", rep.Warnings, tt.warnings)
			if rep.OK() != (len(tt.errs) == 0) {
				t.Errorf("OK() = %v with errors %q", rep.OK(), rep.Errors)
			}
		})
	}
}

// TestInspectKeySetNeverEchoesKeyMaterial: a leak must not be repeated in
// admission messages.
func TestInspectKeySetNeverEchoesKeyMaterial(t *testing.T) {
	raw := []byte(`{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB","d":"SUPERSECRETVALUE"},{"kty":"oct","k":"ANOTHERSECRET"}]}`)
	rep := InspectKeySet(raw)
	for _, s := range append(rep.Errors, rep.Warnings...) {
		if strings.Contains(s, "SUPERSECRET") || strings.Contains(s, "ANOTHERSECRET") {
			t.Errorf("message echoes key material: %s", s)
		}
	}
	if len(rep.Errors) < 2 {
		t.Errorf("errors = %q, want both leaks reported", rep.Errors)
	}
}

// matchAll checks that got has exactly one entry per fragment, in order.
func matchAll(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%ss = %q, want %d matching %q", what, got, len(want), want)
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s[%d] = %q, want it to contain %q", what, i, got[i], want[i])
		}
	}
}

func TestCheckURL(t *testing.T) {
	allow := []string{"idp.cluster.local"}
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://idp.example.com", ""},
		{"https://idp.example.com:8443/realms/x/", ""},
		{"http://idp.cluster.local/keys", ""},
		{"HTTP://IDP.CLUSTER.LOCAL/keys", ""},
		{"", "must not be empty"},
		{"http://idp.example.com", `plain http is not allowed for host "idp.example.com"`},
		{"ftp://idp.example.com/keys", `scheme "ftp" is not supported`},
		{"idp.example.com/keys", "not an absolute URL"},
		{"/keys", "not an absolute URL"},
		{"https:///keys", "has no host"},
		{"https:idp.example.com", "has no host"},
		{"https://user:pw@idp.example.com/", "must not carry user info"},
		{"https://idp.example.com/keys#frag", "must not have a fragment"},
		{"https://idp.example.com/%zz", "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckURL(tt.url, allow)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error echoes a password: %v", err)
			}
		})
	}
}
