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
	"sync"
	"sync/atomic"
	"time"
)

// Issuer is a local OIDC identity provider over TLS on loopback, with
// variants a user (or a test) can point APIRules at:
//   - <URL>/good: discovery and a JWKS with one RSA-2048 signing key;
//   - <URL>/wrong-issuer: discovery names another issuer;
//   - <URL>/broken-jwks: discovery is fine, the JWKS URL it names answers
//     404 (gatewarden denies: jwt-jwks-usable);
//   - <URL>/unreachable-jwks: discovery is fine, but the jwks_uri it names
//     (UnreachableJWKSURI) is a loopback port where nothing listens, so a
//     fetch gets "connection refused" (a network failure: gatewarden warns,
//     or denies with networkErrorAction: deny); <URL>/unreachable-jwks/jwks
//     answers 404, it is not where discovery points;
//   - <URL>/hang...: every request under a path whose first segment starts
//     with "hang" (e.g. <URL>/hang-3) never answers, until the client gives
//     up or the issuer closes; Hang(suffix) builds such an issuer URL;
//   - <URL>/flaky...: like /good (any first segment starting with "flaky"),
//     but answers 503 while FlakyDown is set, so one test can make an issuer
//     flap without disturbing others.
//
// Down switches every answer to 503, to simulate an outage. HangAll makes
// every request hang, as if the issuer accepted connections and then froze.
type Issuer struct {
	URL       string
	Down      atomic.Bool
	FlakyDown atomic.Bool
	HangAll   atomic.Bool
	requests  atomic.Int64
	hanging   atomic.Int64
	srv       *http.Server
	ln        net.Listener
	deadJWKS  string
	closed    chan struct{}
	closeOnce sync.Once
}

func (i *Issuer) Good() string        { return i.URL + "/good" }
func (i *Issuer) WrongIssuer() string { return i.URL + "/wrong-issuer" }
func (i *Issuer) BrokenJWKS() string  { return i.URL + "/broken-jwks" }

// UnreachableJWKS is an issuer whose discovery names UnreachableJWKSURI.
func (i *Issuer) UnreachableJWKS() string { return i.URL + "/unreachable-jwks" }

// UnreachableJWKSURI is where nothing listens: a port on the issuer's host
// that was free when the issuer started.
func (i *Issuer) UnreachableJWKSURI() string { return i.deadJWKS }

// Hang is an issuer that accepts connections and never answers; suffix keeps
// tests apart (resolver caches are per URL).
func (i *Issuer) Hang(suffix string) string { return i.URL + "/hang-" + suffix }

// Flaky is a good issuer that answers 503 while FlakyDown is set.
func (i *Issuer) Flaky(suffix string) string { return i.URL + "/flaky-" + suffix }

// Host is the address the issuer listens on: a dead issuer a test builds
// on the same host is reachable (and refused) the same way.
func (i *Issuer) Host() string {
	host, _, _ := net.SplitHostPort(i.ln.Addr().String())
	return host
}

// Hanging is how many requests are being held without an answer right now.
func (i *Issuer) Hanging() int64 { return i.hanging.Load() }

// Requests is how many requests the issuer has answered.
func (i *Issuer) Requests() int64 { return i.requests.Load() }

// startIssuer listens on host (an IP address) on a free port.
func startIssuer(p *PKI, host string) (*Issuer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
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
	// A port nothing listens on: bind one, note it, let it go.
	dead, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		ln.Close()
		return nil, err
	}
	dead.Close()
	is := &Issuer{URL: "https://" + ln.Addr().String(), ln: ln, closed: make(chan struct{}),
		deadJWKS: "https://" + dead.Addr().String() + "/jwks"}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		is.requests.Add(1)
		variant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if is.HangAll.Load() || strings.HasPrefix(variant, "hang") {
			// Hold the request until the client gives up or the issuer
			// closes; bounded so a forgotten client cannot pin a goroutine.
			is.hanging.Add(1)
			defer is.hanging.Add(-1)
			select {
			case <-r.Context().Done():
			case <-is.closed:
			case <-time.After(5 * time.Minute):
			}
			return
		}
		if is.Down.Load() || (strings.HasPrefix(variant, "flaky") && is.FlakyDown.Load()) {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		base := is.URL + "/" + variant
		w.Header().Set("Content-Type", "application/json")
		switch {
		case rest == ".well-known/openid-configuration":
			iss := base
			if variant == "wrong-issuer" {
				iss = is.URL + "/someone-else"
			}
			jwksURI := base + "/jwks"
			if variant == "unreachable-jwks" {
				jwksURI = is.deadJWKS
			}
			json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": jwksURI})
		case rest == "jwks" && (variant == "broken-jwks" || variant == "unreachable-jwks"):
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

func (i *Issuer) Close() {
	i.closeOnce.Do(func() { close(i.closed) })
	i.srv.Close()
}

func b64(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
