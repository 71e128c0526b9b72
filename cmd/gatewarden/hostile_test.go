package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// The `check` half of the hostile-input suite: what a tenant can put into
// a manifest gets a bounded answer, and input check cannot judge is refused
// instead of skipped.

func TestCheckRefusesObjectsItCannotJudge(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"no apiVersion", plainGatewayYAML + "---\nkind: RequestAuthentication\nmetadata: {name: r}\n",
			[]string{":10 (document 2): no apiVersion"}},
		{"kind misspelt", plainGatewayYAML + "---\napiVersion: security.istio.io/v1\nkind: RequestAuthenticaton\nmetadata: {name: r}\n",
			[]string{":10 (document 2): kind RequestAuthenticaton does not exist in security.istio.io; did you mean RequestAuthentication?"}},
		{"group misspelt", "apiVersion: gateway.kyma-projekt.io/v2\nkind: APIRule\nmetadata: {name: r}\n",
			[]string{":1 (document 1): apiVersion gateway.kyma-projekt.io/v2: no such API group; did you mean gateway.kyma-project.io/v2?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "in.yaml", tc.doc)
			code, out, errOut := runCaptured(t, "check", "--no-network", "-f", p)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing printed", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, p+w) {
					t.Errorf("stderr %q lacks %q", errOut, p+w)
				}
			}
		})
	}
}

// inlineJWKSRule is a RequestAuthentication whose inline jwks has n
// entries of entry.
func inlineJWKSRule(entry string, n int) string {
	var b strings.Builder
	b.WriteString(`{"keys":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry)
	}
	b.WriteString(`]}`)
	jwks, _ := json.Marshal(b.String())
	return fmt.Sprintf(`{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":"big","namespace":"team"},
"spec":{"jwtRules":[{"issuer":"team@example.com","jwks":%s}]}}`, jwks)
}

// TestCheckHostileInlineJWKS: the report's 400,000-entry inline jwks made
// check use 498 MB and print 80 MB. The answer is now a short denial, and
// everything check allocated for it, garbage included, is counted.
func TestCheckHostileInlineJWKS(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		n           int
		want        string
	}{
		{"400k entries", "1", 400000, "and 399997 more keys are not JSON objects"},
		{"2 MB of symmetric keys", `{"kty":"oct","k":"c2VjcmV0"}`, 2 << 20 / 29, "more symmetric (oct) keys are published"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "big.json", inlineJWKSRule(tc.entry, tc.n))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			code, out, errOut := runCaptured(t, "check", "--no-network", "-f", p)
			runtime.ReadMemStats(&after)
			total := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: exit %d, %d bytes of output, %.1f MiB allocated in all", tc.name, code, len(out), float64(total)/(1<<20))
			if code != 1 {
				t.Fatalf("exit %d, want 1 (denied); stderr %q", code, errOut)
			}
			if !strings.Contains(out, "jwt-inline-jwks-usable") || !strings.Contains(out, tc.want) {
				t.Errorf("output lacks the capped finding %q:\n%s", tc.want, out)
			}
			if len(out) > 16<<10 {
				t.Errorf("%d bytes of output, want at most 16 KiB", len(out))
			}
			if total > 256<<20 {
				t.Errorf("check allocated %d bytes in all, want at most 256 MiB", total)
			}
		})
	}
}

// TestCheckManyIssuersFetchBudget: one object naming 1,500 issuers gets
// its first few fetched and the rest reported once as not checked.
func TestCheckManyIssuersFetchBudget(t *testing.T) {
	var requests atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		time.Sleep(10 * time.Millisecond)
		if strings.HasSuffix(r.URL.Path, "/jwks") {
			fmt.Fprint(w, `{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"k","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`)
			return
		}
		iss := srv.URL + strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss, iss+"/jwks")
	}))
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	var b strings.Builder
	b.WriteString("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: many, namespace: team}\nspec:\n  jwtRules:\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "  - issuer: %s/i-%d\n", srv.URL, i)
	}
	p := writeFile(t, "many.yaml", b.String())
	code, out, errOut := runCaptured(t, "check", "--ca-file", ca, "--allow-cidr", "127.0.0.1/32", "-f", p)
	t.Logf("1,500 issuers: exit %d, %d requests, %d bytes of output", code, requests.Load(), len(out))
	if code != 0 {
		t.Fatalf("exit %d, want 0 (budget warnings never deny); stderr %q\n%s", code, errOut, out)
	}
	if n := requests.Load(); n > trust.DefaultObjectFetches {
		t.Errorf("the issuers received %d requests, want at most %d", n, trust.DefaultObjectFetches)
	}
	if !strings.Contains(out, fmt.Sprintf("not checked: the fetch budget of %d per object is spent", trust.DefaultObjectFetches)) {
		t.Errorf("output does not say what was not checked:\n%s", out)
	}
	if len(out) > 16<<10 {
		t.Errorf("%d bytes of output for one spent budget", len(out))
	}
}

// TestSecretCacheLeavesOutIstiodCASecrets: the selectors the Secret
// informers send with their list and watch.
func TestSecretCacheLeavesOutIstiodCASecrets(t *testing.T) {
	cfg := secretCacheNamespaces([]string{"istio-system", "kyma-system"})
	if len(cfg) != 2 {
		t.Fatalf("namespaces %v", cfg)
	}
	for ns, c := range cfg {
		for name, want := range map[string]bool{"istio-ca-secret": false, "cacerts": false, "kyma-gateway-certs": true, "cacerts-backup": true} {
			if got := c.FieldSelector.Matches(fields.Set{"metadata.name": name}); got != want {
				t.Errorf("%s: Secret %s cached %v, want %v (selector %s)", ns, name, got, want, c.FieldSelector)
			}
		}
		if c.LabelSelector.Matches(labels.Set{"istio/multiCluster": "true"}) {
			t.Errorf("%s: remote-cluster secrets cached (selector %s)", ns, c.LabelSelector)
		}
		if !c.LabelSelector.Matches(labels.Set{}) {
			t.Errorf("%s: unlabelled secrets not cached (selector %s)", ns, c.LabelSelector)
		}
	}
}

func TestTrustCacheMaxBytesFlag(t *testing.T) {
	for in, want := range map[string]int64{"32Mi": 32 << 20, "1048576": 1 << 20, "64M": 64e6} {
		f := &commonFlags{}
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		f.add(fs)
		if f.cacheBytes != trust.DefaultCacheMaxBytes {
			t.Errorf("default %d", f.cacheBytes)
		}
		if err := fs.Parse([]string{"--trust-cache-max-bytes", in}); err != nil || f.cacheBytes != want {
			t.Errorf("%s: %d, %v; want %d", in, f.cacheBytes, err, want)
		}
		opts, err := f.trustOptions(config.Default())
		if err != nil || opts.CacheMaxBytes != want {
			t.Errorf("%s: options carry %d, %v", in, opts.CacheMaxBytes, err)
		}
	}
	for _, bad := range []string{"0", "-1Mi", "lots"} {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		(&commonFlags{}).add(fs)
		if err := fs.Parse([]string{"--trust-cache-max-bytes", bad}); err == nil || !strings.Contains(err.Error(), "byte count") {
			t.Errorf("%s: %v, want a refusal naming a byte count", bad, err)
		}
	}
}
