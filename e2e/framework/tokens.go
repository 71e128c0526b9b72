package framework

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenIssuer is an OIDC issuer whose tokens tests mint: discovery at
// <URL>/.well-known/openid-configuration, one RSA-2048 key (kid "e2e-token")
// at <URL>/jwks. It listens on the address of the suite's issuer, so the
// webhook reaches and trusts it as it does that one.
type TokenIssuer struct {
	URL string
	key *rsa.PrivateKey
	srv *http.Server
}

// TokenKeyID is the kid of the key of every TokenIssuer.
const TokenKeyID = "e2e-token"

// NewTokenIssuer starts a token issuer; Close stops it.
func (c *Cluster) NewTokenIssuer() (*TokenIssuer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(c.Issuer.Host(), "0"))
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ti := &TokenIssuer{URL: "https://" + ln.Addr().String(), key: key}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: TokenKeyID, Algorithm: "RS256", Use: "sig"}}})
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": ti.URL, "jwks_uri": ti.JWKSURI()})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	})
	ti.srv = &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{c.PKI.certPair}, MinVersion: tls.VersionTLS12}}
	go ti.srv.ServeTLS(ln, "", "")
	return ti, nil
}

// JWKSURI is where the issuer's key set is.
func (t *TokenIssuer) JWKSURI() string { return t.URL + "/jwks" }

// Mint signs claims with the issuer's key (RS256, kid TokenKeyID).
func (t *TokenIssuer) Mint(claims map[string]any) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: t.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", TokenKeyID))
	if err != nil {
		return "", err
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}

func (t *TokenIssuer) Close() { t.srv.Close() }
