package explain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// envoyAlgs are the algorithms Envoy's JWT library implements; a token with
// another alg fails before anything else.
var envoyAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.HS256, jose.HS384, jose.HS512,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// Status texts of Envoy's JWT library, which Envoy sends as the body of its
// 401.
const (
	stMissing         = "Jwt is missing"
	stBadFormat       = "Jwt is not in the form of Header.Payload.Signature"
	stHeaderParse     = "Jwt header is an invalid Base64url input or an invalid JSON"
	stHeaderBadAlg    = "Jwt header [alg] field is not a string"
	stHeaderAlgNotImp = "Jwt header [alg] field value is invalid"
	stHeaderBadKid    = "Jwt header [kid] field is not a string"
	stPayloadParse    = "Jwt payload is an invalid Base64 or an invalid JSON"
	stSignatureParse  = "Jwt signature is an invalid Base64"
	stUnknownIssuer   = "Jwt issuer is not configured"
	stNotYetValid     = "Jwt not yet valid"
	stExpired         = "Jwt is expired"
	stAudience        = "Audiences in Jwt are not allowed"
	stKidAlg          = "Jwks doesn't have key to match kid or alg from Jwt"
	stVerification    = "Jwt verification fails"
	stNoValidKeys     = "Jwks doesn't have any valid public key"
)

// clockSkew is Envoy's default clock skew in seconds, which Istio keeps.
const clockSkew = 60

// Token is what a token says about itself, read without trusting it. It
// never holds the raw token or its signature.
type Token struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Iss string `json:"iss,omitempty"`
	Sub string `json:"sub,omitempty"`
	// HasIss/HasSub tell an empty claim from a missing one.
	HasIss bool     `json:"-"`
	HasSub bool     `json:"-"`
	Aud    []string `json:"aud,omitempty"`
	Azp    string   `json:"azp,omitempty"`
	Exp    int64    `json:"exp,omitempty"`
	Nbf    int64    `json:"nbf,omitempty"`
	Iat    int64    `json:"iat,omitempty"`
	// Scopes are the scp, scope and scopes claims as lists.
	Scopes map[string][]string `json:"scopes,omitempty"`

	claims map[string]any
	jws    *jwt.JSONWebToken
	// sigErr: go-jose could not read the token for signature checks,
	// although Envoy's parser accepts it.
	sigErr error
}

// ParseToken reads a JWT the way Envoy does, in its order; the error text
// is Envoy's status for the first problem.
func ParseToken(raw string) (*Token, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%s", stBadFormat)
	}
	parts := strings.Split(raw, ".")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%s", stBadFormat)
		}
	}
	hdrJSON, err := b64(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%s", stHeaderParse)
	}
	var hdr map[string]any
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil || hdr == nil {
		return nil, fmt.Errorf("%s", stHeaderParse)
	}
	t := &Token{}
	alg, ok := hdr["alg"].(string)
	if !ok {
		return nil, fmt.Errorf("%s", stHeaderBadAlg)
	}
	t.Alg = alg
	implemented := false
	for _, a := range envoyAlgs {
		implemented = implemented || string(a) == alg
	}
	if !implemented {
		return nil, fmt.Errorf("%s (%q)", stHeaderAlgNotImp, alg)
	}
	if k, found := hdr["kid"]; found {
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%s", stHeaderBadKid)
		}
		t.Kid = s
	}
	payload, err := b64(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%s", stPayloadParse)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&t.claims); err != nil || t.claims == nil {
		return nil, fmt.Errorf("%s", stPayloadParse)
	}
	if err := t.readClaims(); err != nil {
		return nil, err
	}
	if _, err := b64(parts[2]); err != nil {
		return nil, fmt.Errorf("%s", stSignatureParse)
	}
	t.jws, t.sigErr = jwt.ParseSigned(raw, envoyAlgs)
	return t, nil
}

func b64(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

// readClaims applies Envoy's type rules: iss, sub and jti are
// strings, iat, nbf and exp numbers, aud a string or a list of strings.
func (t *Token) readClaims() error {
	str := func(name string) (string, bool, error) {
		v, found := t.claims[name]
		if !found {
			return "", false, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", true, envoyError(fmt.Sprintf("Jwt payload [%s] field is not a string", name))
		}
		return s, true, nil
	}
	num := func(name string) (int64, error) {
		v, found := t.claims[name]
		if !found {
			return 0, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, envoyError(fmt.Sprintf("Jwt payload [%s] field is not an integer", name))
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return 0, envoyError(fmt.Sprintf("Jwt payload [%s] field is not an integer", name))
		}
		return int64(f), nil
	}
	var err error
	if t.Iss, t.HasIss, err = str("iss"); err != nil {
		return err
	}
	if t.Sub, t.HasSub, err = str("sub"); err != nil {
		return err
	}
	if _, _, err = str("jti"); err != nil {
		return err
	}
	t.Azp, _, _ = str("azp")
	for name, dst := range map[string]*int64{"iat": &t.Iat, "nbf": &t.Nbf, "exp": &t.Exp} {
		if *dst, err = num(name); err != nil {
			return err
		}
	}
	switch a := t.claims["aud"].(type) {
	case nil:
	case string:
		t.Aud = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return envoyError("Jwt payload [aud] field is not a string or string list")
			}
			t.Aud = append(t.Aud, s)
		}
	default:
		return envoyError("Jwt payload [aud] field is not a string or string list")
	}
	for _, name := range []string{"scp", "scope", "scopes"} {
		if v, found := t.claims[name]; found {
			if t.Scopes == nil {
				t.Scopes = map[string][]string{}
			}
			t.Scopes[name] = claimStrings(v, true)
		}
	}
	return nil
}

// claimStrings renders a claim as strings for messages; split breaks a
// string at spaces.
func claimStrings(v any, split bool) []string {
	switch x := v.(type) {
	case string:
		if split {
			return strings.Fields(x)
		}
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// payload is the claims as Envoy's metadata holds them after verification:
// claims named as space-delimited (scope and permission, plus the jwtRule's
// spaceDelimitedClaims, as istiod sets them)
// become lists when they are strings.
func (t *Token) payload(spaceDelimited []string) map[string]any {
	out := make(map[string]any, len(t.claims))
	for k, v := range t.claims {
		out[k] = v
	}
	for _, name := range spaceDelimited {
		if s, ok := out[name].(string); ok {
			var l []any
			for _, f := range strings.Fields(s) {
				l = append(l, f)
			}
			out[name] = l
		}
	}
	return out
}

// verify checks the signature with one key.
func (t *Token) verify(key any) bool {
	if t.jws == nil {
		return false
	}
	var out map[string]any
	return t.jws.Claims(key, &out) == nil
}

func sortedScopeNames(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// envoyError is an error whose text is Envoy's own jwt_authn status message,
// capitalised as Envoy writes it, so users can match what they see.
type envoyError string

func (e envoyError) Error() string { return string(e) }
