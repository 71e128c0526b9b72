package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// explainIssuer is a TLS issuer on loopback with one RSA key, kid "k1", and
// what explain needs to trust it.
type explainIssuer struct {
	url  string
	key  *rsa.PrivateKey
	args []string
}

func newExplainIssuer(t *testing.T) *explainIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return &explainIssuer{url: srv.URL, key: key, args: []string{"--ca-file", ca, "--allow-cidr", "127.0.0.1/32"}}
}

func (is *explainIssuer) mint(t *testing.T, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: is.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func explainObjects(issuer string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyma-gateway, namespace: kyma-system}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.local.kyma.dev"]
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: test}
spec:
  selector: {app: httpbin}
  ports: [{port: 8000}]
---
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: httpbin, namespace: test}
spec:
  hosts: [httpbin.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /{**}
    methods: [GET]
    jwt:
      authentications: [{issuer: %q, jwksUri: %q}]
      authorizations: [{requiredScopes: [read]}]
---
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: legacy, namespace: test}
spec:
  host: legacy.local.kyma.dev
  gateway: kyma-system/kyma-gateway
  rules: [{path: /.*, methods: [GET], accessStrategies: [{handler: noop}]}]
`, issuer, issuer+"/jwks")
}

func TestExplainCommand(t *testing.T) {
	is := newExplainIssuer(t)
	objs := writeFile(t, "objects.yaml", explainObjects(is.url))
	exp := time.Now().Add(time.Hour).Unix()
	good := is.mint(t, map[string]any{"iss": is.url, "sub": "alice", "exp": exp, "scope": "read"})
	noScope := is.mint(t, map[string]any{"iss": is.url, "sub": "alice", "exp": exp})
	wrongIss := is.mint(t, map[string]any{"iss": is.url + "/", "sub": "alice", "exp": exp, "scope": "read"})
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		want  []string
		token string
	}{
		{name: "allowed", token: good, args: []string{"--token", good, "--path", "/anything"}, code: 0,
			want: []string{`kid "k1", alg RS256: key "k1" of ` + is.url + "/jwks, fetched now; the signature verifies", "verdict: allowed",
				"APIRule test/legacy is v1beta1, which Kyma no longer reconciles: left out"}},
		{name: "403 for a missing scope", token: noScope, args: []string{"--token", noScope, "--host", "httpbin.local.kyma.dev"}, code: 1,
			want: []string{`verdict: refused with 403 "RBAC: access denied"`, "request.auth.claims[scope] [read]"}},
		{name: "401 for another issuer", token: wrongIss, args: []string{"--token", wrongIss}, code: 1,
			want: []string{`verdict: refused with 401 "Jwt issuer is not configured"`, "differ only in the trailing '/'"}},
		{name: "unknown signature offline", token: good, args: []string{"--token", good, "--no-network"}, code: 3,
			want: []string{"verdict: undetermined", "JWKS not fetched (--no-network)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"explain", "-f", objs}, tc.args...)
			if !slicesContains(tc.args, "--no-network") {
				args = append(args, is.args...)
			}
			code, out, errOut := runCaptured(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errOut, tc.token) || strings.Contains(out+errOut, tc.token[strings.LastIndex(tc.token, ".")+1:]) {
				t.Error("the output contains the token or its signature")
			}
		})
	}
}

func TestExplainTokenFileAndJSON(t *testing.T) {
	is := newExplainIssuer(t)
	objs := writeFile(t, "objects.yaml", explainObjects(is.url))
	tok := is.mint(t, map[string]any{"iss": is.url, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "scope": "read"})
	file := writeFile(t, "token", tok+"\n")
	code, out, errOut := runCaptured(t, append([]string{"explain", "-f", objs, "--token-file", file, "-o", "json"}, is.args...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var rep struct {
		Token struct {
			Iss, Sub, Kid, Alg string
		}
		Steps   []struct{ Name, Outcome string }
		Verdict struct{ Decision string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Verdict.Decision != "allowed" || rep.Token.Iss != is.url || rep.Token.Sub != "alice" || rep.Token.Kid != "k1" || rep.Token.Alg != "RS256" || len(rep.Steps) != 5 {
		t.Fatalf("report: %+v", rep)
	}
	if strings.Contains(out, tok) {
		t.Error("the JSON report contains the token")
	}
}

func TestExplainBadInputExitsTwo(t *testing.T) {
	objs := writeFile(t, "objects.yaml", explainObjects("https://idp.example.com"))
	for _, args := range [][]string{
		{"explain", "--token", "x"},
		{"explain", "-f", objs, "--token", "x", "--token-file", "y"},
		{"explain", "-f", objs, "--workload", "httpbin"},
		{"explain", "-f", objs, "--path", "anything"},
		{"explain", "-f", objs, "--token-file", "/does/not/exist"},
		{"explain", "-f", objs, "-o", "yaml"},
	} {
		if code, _, _ := runCaptured(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
