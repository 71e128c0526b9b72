package framework

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// Issuer is a local OIDC identity provider over TLS on loopback, with
// variants a user (or a test) can point APIRules at:
//   - <URL>/good: discovery and a JWKS with one RSA-2048 signing key;
//   - <URL>/wrong-issuer: discovery names another issuer;
//   - <URL>/broken-jwks: discovery is fine, the JWKS URL answers 404.
//
// Down switches every answer to 503, to simulate an outage.
type Issuer struct {
	URL      string
	Down     atomic.Bool
	requests atomic.Int64
	srv      *http.Server
	ln       net.Listener
}

func (i *Issuer) Good() string        { return i.URL + "/good" }
func (i *Issuer) WrongIssuer() string { return i.URL + "/wrong-issuer" }
func (i *Issuer) BrokenJWKS() string  { return i.URL + "/broken-jwks" }

// Requests is how many requests the issuer has answered.
func (i *Issuer) Requests() int64 { return i.requests.Load() }

func startIssuer(p *PKI) (*Issuer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "e2e-1",
		"n": b64(key.N), "e": b64(big.NewInt(int64(key.E))),
	}}})
	is := &Issuer{URL: "https://" + ln.Addr().String(), ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		is.requests.Add(1)
		if is.Down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		variant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		base := is.URL + "/" + variant
		w.Header().Set("Content-Type", "application/json")
		switch {
		case rest == ".well-known/openid-configuration":
			iss := base
			if variant == "wrong-issuer" {
				iss = is.URL + "/someone-else"
			}
			json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": base + "/jwks"})
		case rest == "jwks" && variant == "broken-jwks":
			http.NotFound(w, r)
		case rest == "jwks":
			w.Write(jwks)
		default:
			http.NotFound(w, r)
		}
	})
	is.srv = &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.certPair}, MinVersion: tls.VersionTLS12}}
	go is.srv.ServeTLS(ln, "", "")
	return is, nil
}

func (i *Issuer) Close() { i.srv.Close() }

func b64(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
