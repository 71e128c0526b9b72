package trust

// FuzzInspectKeySet: any bytes (a JWKS as an issuer might serve it) give a
// report, never a panic; the report is deterministic, counts are sane, and
// it never echoes key material (the value of "d" or "k" in the input).
//
//	go test -run '^$' -fuzz '^FuzzInspectKeySet$' -fuzztime 30s ./internal/trust/

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func FuzzInspectKeySet(f *testing.F) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(set(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "r", Algorithm: "RS256", Use: "sig"}))
	f.Add(set(jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "e", Algorithm: "ES256", Use: "sig"},
		jose.JSONWebKey{Key: edPub, KeyID: "e", Algorithm: "EdDSA"}))
	f.Add(set(jose.JSONWebKey{Key: rsaKey, KeyID: "leak", Algorithm: "RS256"}))
	f.Add(set(jose.JSONWebKey{Key: edPriv, KeyID: "leak"}, jose.JSONWebKey{Key: ecKey, KeyID: "leak2", Algorithm: "ES384"}))
	f.Add(set(jose.JSONWebKey{Key: &smallRSA.PublicKey, KeyID: "small", Algorithm: "PS256", Use: "enc"}))
	for _, s := range []string{
		`{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}`,
		`{"keys":[]}`, `{"keys":null}`, `{"keys":{}}`, `{"keys":[null,1,"x",[],{}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA","alg":"ES256"}]}`,
		`{"keys":[{"kty":"OKP","crv":"X25519","x":"AA"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","x5c":["MIIB"]},{"kty":"RSA","kid":"a"}]}`,
		`{"kty":"RSA","n":"x","e":"AQAB"}`,
		`[]`, `null`, ``, `{"keys":[{"kty":"RSA","n":"` + strings.Repeat("A", 2000) + `","e":"AQAB","d":"secret"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep := InspectKeySet(raw)
		if rep.Keys < 0 || rep.Usable < 0 || rep.Usable > rep.Keys {
			t.Fatalf("counts: keys %d, usable %d", rep.Keys, rep.Usable)
		}
		if again := InspectKeySet(raw); !reflect.DeepEqual(rep, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", rep, again)
		}
		if rep.OK() && rep.Usable == 0 {
			t.Fatalf("OK without a usable key: %+v", rep)
		}
		if n, max := len(rep.Errors)+len(rep.Warnings), int(numProblems)*(MaxMessagesPerProblem+1)+2; n > max {
			t.Fatalf("%d messages, at most %d expected", n, max)
		}
		// Secret material in the input never appears in the report.
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if json.Unmarshal(raw, &doc) == nil {
			// Public members may be quoted (kid, alg...); a secret the
			// fuzzer copied into one of them is not a leak.
			var public []string
			for _, k := range doc.Keys {
				for m, v := range k {
					if s, ok := v.(string); ok && !isPrivateMember(m) {
						public = append(public, s)
					}
				}
			}
			for _, k := range doc.Keys {
				for _, m := range privateMembers {
					s, _ := k[m].(string)
					if len(s) < 8 || containedIn(s, public) {
						continue
					}
					for _, msg := range append(append([]string(nil), rep.Errors...), rep.Warnings...) {
						if strings.Contains(msg, s) {
							t.Fatalf("report echoes the private member %q: %s", m, msg)
						}
					}
				}
			}
		}
	})
}

func isPrivateMember(m string) bool {
	for _, p := range privateMembers {
		if m == p {
			return true
		}
	}
	return false
}

func containedIn(s string, in []string) bool {
	for _, v := range in {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}
