package mutators

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// policyIssuer is a loopback TLS issuer whose discovery document names
// jwksURI, and a real resolver that may fetch it (loopback allowlisted),
// with host names resolved by a table.
func policyIssuer(t *testing.T, jwksURI string, dns map[string]string) (*httptest.Server, *trust.HTTPResolver) {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": jwksURI})
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := trust.New(trust.Options{
		CAFile:     ca,
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		LookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			if a, ok := dns[host]; ok {
				return []netip.Addr{netip.MustParseAddr(a)}, nil
			}
			return nil, fmt.Errorf("no such host %s", host)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r
}

// TestDefaultJWKSURIAppliesTheFetchPolicy: the jwks_uri an issuer's
// discovery names is written into the object only when gatewarden would
// fetch it (the report saw https://169.254.169.254/... patched in).
func TestDefaultJWKSURIAppliesTheFetchPolicy(t *testing.T) {
	dns := map[string]string{"keys.internal.test": "10.20.30.40", "keys.public.test": "8.8.8.8"}
	cases := []struct {
		name, jwksURI string
		defaulted     bool
		fragment      string // in the warning when not defaulted
		hidden        string // never in the warning
	}{
		{"metadata address", "https://169.254.169.254/latest/meta-data/keys", false, "blocked address range (link-local)", ""},
		{"name resolving to a private address", "https://keys.internal.test/keys", false,
			"host keys.internal.test resolves to a blocked address range (private)", "10.20.30.40"},
		{"plain http", "http://keys.public.test/keys", false, "plain http is not allowed", ""},
		{"user info", "https://u:p@keys.public.test/keys", false, "user info", "u:p@"},
		{"public name", "https://keys.public.test/keys", true, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, r := policyIssuer(t, tc.jwksURI, dns)
			spec := `{"gateway":"x/y","hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"jwt":{"authentications":[{"issuer":"` + srv.URL + `"}]}}]}`
			ops, warns := mutate(t, apirule.V2, v2(spec), &core.Env{Trust: r})
			got := specOps(t, ops)
			if tc.defaulted {
				if len(got) != 1 || !strings.Contains(got[0], tc.jwksURI) || len(warns) != 0 {
					t.Errorf("ops %q, warnings %v; want %s defaulted", got, warns, tc.jwksURI)
				}
				return
			}
			if len(got) != 0 {
				t.Errorf("ops %q: a URL the fetch policy refuses was written", got)
			}
			if len(warns) != 1 || !strings.Contains(warns[0].Message, tc.fragment) || !strings.Contains(warns[0].Message, "which the fetch policy refuses") {
				t.Errorf("warnings %v, want one containing %q", warns, tc.fragment)
			}
			if tc.hidden != "" && len(warns) > 0 && strings.Contains(warns[0].Message, tc.hidden) {
				t.Errorf("warning %q contains %q", warns[0].Message, tc.hidden)
			}
		})
	}
}

// TestDefaultJWKSURLsV1beta1AppliesTheFetchPolicy: the Ory form's list is
// all or nothing, so one refused URL leaves jwks_urls unset.
func TestDefaultJWKSURLsV1beta1AppliesTheFetchPolicy(t *testing.T) {
	tr := newFakeTrust(map[string]*trust.Discovery{
		"https://idp.example.com": discovery("https://idp.example.com"),
		"https://old.example.com": {Issuer: "https://old.example.com", JWKSURI: "http://old.example.com/keys"},
	})
	raw := v1beta1(`{"host":"a","gateway":"kyma-system/kyma-gateway","rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[` +
		`{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com","https://old.example.com"]}}]}]}`)
	ops, warns := mutate(t, apirule.V1beta1, raw, &core.Env{Trust: tr})
	if got := specOps(t, ops); len(got) != 0 {
		t.Errorf("ops %q, want none", got)
	}
	if len(warns) != 1 || warns[0].Field != "spec.rules[0].accessStrategies[0].config.jwks_urls" || !strings.Contains(warns[0].Message, "plain http") {
		t.Errorf("warnings %v", warns)
	}
}
