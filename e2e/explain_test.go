package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExplainLiveAPIRule stores an APIRule that trusts a local token issuer,
// and asks explain about requests with tokens that issuer mints: it reads
// the objects from the cluster and fetches the issuer's JWKS as the webhook
// does.
func TestExplainLiveAPIRule(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	iss, err := env.NewTokenIssuer()
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	c, _ := newClient(t)
	host := "explain-" + ns + ".local.kyma.dev"
	rule := obj(t, `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: explained}
spec:
  hosts: [`+host+`]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /public
    methods: [GET]
    noAuth: true
  - path: /{**}
    methods: [GET, POST]
    jwt:
      authentications: [{issuer: "`+iss.URL+`", jwksUri: "`+iss.JWKSURI()+`"}]
      authorizations: [{requiredScopes: [orders.read]}]
`)
	rule.SetNamespace(ns)
	admitted(t, eventually(func() error { return c.Create(ctx, rule.DeepCopy()) }))

	exp := time.Now().Add(time.Hour).Unix()
	mint := func(claims map[string]any) string {
		tok, err := iss.Mint(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name  string
		token string
		path  string
		code  int
		want  []string
	}{
		{name: "allowed", token: mint(map[string]any{"iss": iss.URL, "sub": "alice", "exp": exp, "scope": "openid orders.read"}), path: "/orders", code: 0,
			want: []string{"APIRule " + ns + "/explained exposes " + host, `key "e2e-token" of ` + iss.JWKSURI() + ", fetched now; the signature verifies", "verdict: allowed"}},
		{name: "missing scope", token: mint(map[string]any{"iss": iss.URL, "sub": "alice", "exp": exp, "scope": "openid"}), path: "/orders", code: 1,
			want: []string{`verdict: refused with 403 "RBAC: access denied"`, "request.auth.claims[scope] [orders.read]: the token's scope is [openid]"}},
		{name: "expired", token: mint(map[string]any{"iss": iss.URL, "sub": "alice", "exp": time.Now().Add(-time.Hour).Unix(), "scope": "orders.read"}), path: "/orders", code: 1,
			want: []string{`verdict: refused with 401 "Jwt is expired"`}},
		{name: "another issuer", token: mint(map[string]any{"iss": iss.URL + "/", "sub": "alice", "exp": exp, "scope": "orders.read"}), path: "/orders", code: 1,
			want: []string{`verdict: refused with 401 "Jwt issuer is not configured"`, "differ only in the trailing '/'"}},
		{name: "a token of another issuer fails even on a noAuth path", token: mint(map[string]any{"iss": "https://elsewhere.example.com", "exp": exp}), path: "/public", code: 1,
			want: []string{"rule 0 (path /public", `401 "Jwt issuer is not configured"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte(tc.token), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"explain", "--kubeconfig", env.Kubeconfig, "--host", host, "--path", tc.path, "--token-file", file}, trustArgs()...)
			code, out, errOut := runGatewarden(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("explain output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errOut, tc.token) {
				t.Error("explain printed the token")
			}
		})
	}
}
