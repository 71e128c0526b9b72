package review

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// TestColdPath500ConcurrentReviews: 500 admissions (mutate, then validate,
// as the two webhooks see them) of APIRules naming one issuer nobody has
// seen, at once, through the real resolver: the issuer receives exactly one
// discovery and one JWKS request, and every admission gets the defaulted
// jwksUri and no trust finding. internal/trust's test of the same name
// covers the resolver alone; this one the whole review path on top of it.
func TestColdPath500ConcurrentReviews(t *testing.T) {
	var discovery, keys atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // hold the answer so callers pile up
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/idp/.well-known/openid-configuration":
			discovery.Add(1)
			_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + `/idp","jwks_uri":"` + srv.URL + `/idp/jwks"}`))
		case "/idp/jwks":
			keys.Add(1)
			_, _ = w.Write(benchJWKS)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := trust.New(trust.Options{CAFile: caFile, AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reviewer{Config: config.Default(), Cluster: benchState(t), Trust: res}
	issuer := srv.URL + "/idp"
	doc := []byte(`{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":{"name":"a","namespace":"default"},
		"spec":{"hosts":["a.example.com"],"gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8000},
		"rules":[{"path":"/api/{**}","methods":["GET"],"jwt":{"authentications":[{"issuer":"` + issuer + `"}]}}]}}`)

	const n = 500
	results := make([]*Result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			results[i] = rv.Review(ctx, &Request{GVK: apirule.V2, Namespace: "default", Name: "a", Operation: "CREATE", Object: doc})
		}()
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(begin)

	if d, k := discovery.Load(), keys.Load(); d != 1 || k != 1 {
		t.Errorf("issuer received %d discovery and %d JWKS requests for %d admissions; want exactly 1 and 1", d, k, n)
	}
	bad := 0
	for _, r := range results {
		defaulted := false
		for _, op := range r.Patch {
			if strings.HasSuffix(op.Path, "/jwksUri") && op.Value == issuer+"/jwks" {
				defaulted = true
			}
		}
		trustFinding := false
		for _, f := range append(r.Violations, r.Warnings...) {
			trustFinding = trustFinding || strings.HasPrefix(f.Check, "jwt-")
		}
		if !r.Allowed || !defaulted || trustFinding {
			if bad++; bad <= 3 {
				t.Errorf("admission: allowed %v, jwksUri defaulted %v, violations %v, warnings %v", r.Allowed, defaulted, r.Violations, r.Warnings)
			}
		}
	}
	t.Logf("%d concurrent cold admissions (mutate + validate) answered in %s (100ms per fetch of it the issuer held its answers)", n, elapsed.Round(time.Millisecond))
}
