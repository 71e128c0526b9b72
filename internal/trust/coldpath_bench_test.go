package trust

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// coldIssuer is a loopback TLS identity provider serving any number of
// issuers: <URL>/<name> has discovery at <URL>/<name>/.well-known/... and its
// keys at <URL>/<name>/keys. It counts discovery and JWKS requests on the
// server side, and can hold answers until released.
type coldIssuer struct {
	srv        *httptest.Server
	discovery  atomic.Int64
	keys       atomic.Int64
	hold       chan struct{} // nil: answer at once
	jwks       []byte
	caFilePath string
}

func newColdIssuer(t testing.TB, hold chan struct{}) *coldIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwksDoc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "cold-1",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	ci := &coldIssuer{hold: hold, jwks: jwksDoc}
	ci.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ci.hold != nil {
			<-ci.hold
		}
		name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		base := ci.srv.URL + "/" + name
		w.Header().Set("Content-Type", "application/json")
		switch rest {
		case ".well-known/openid-configuration":
			ci.discovery.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": base, "jwks_uri": base + "/keys"})
		case "keys":
			ci.keys.Add(1)
			_, _ = w.Write(ci.jwks)
		default:
			http.NotFound(w, r)
		}
	}))
	ci.srv.StartTLS()
	t.Cleanup(ci.srv.Close)
	ci.caFilePath = filepath.Join(t.TempDir(), "cold-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ci.srv.Certificate().Raw})
	if err := os.WriteFile(ci.caFilePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return ci
}

func (ci *coldIssuer) resolver(t testing.TB, cacheSize int) *HTTPResolver {
	t.Helper()
	r, err := New(Options{AllowCIDRs: loopback, CAFile: ci.caFilePath, Timeout: 20 * time.Second, LookupIP: noDNS, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// discoverAndKeys is what an admission for an APIRule with a jwt rule does
// on a cold cache: discovery, then the key set it names.
func discoverAndKeys(ctx context.Context, r *HTTPResolver, issuer string) error {
	d, err := r.Discover(ctx, issuer)
	if err != nil {
		return err
	}
	ks, err := r.JWKS(ctx, d.JWKSURI)
	if err != nil {
		return err
	}
	if rep := ks.Inspect(); !rep.OK() {
		return &FetchError{URL: d.JWKSURI, Kind: Invalid, Err: errString(strings.Join(rep.Errors, "; "))}
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// TestColdPath500ConcurrentAdmissions: 500 admissions arrive at once for an
// issuer nobody has asked about yet. The issuer sees exactly one discovery
// request and one JWKS request; everyone gets the answer.
func TestColdPath500ConcurrentAdmissions(t *testing.T) {
	hold := make(chan struct{})
	ci := newColdIssuer(t, hold)
	r := ci.resolver(t, 0)
	issuer := ci.srv.URL + "/unseen"

	const n = 500
	var wg, started sync.WaitGroup
	errs := make(chan error, n)
	started.Add(n)
	begin := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			errs <- discoverAndKeys(context.Background(), r, issuer)
		}()
	}
	started.Wait()
	// Let the callers reach the shared fetch before the issuer answers; the
	// assertions hold either way (late callers find the cache filled).
	time.Sleep(100 * time.Millisecond)
	close(hold)
	wg.Wait()
	elapsed := time.Since(begin)
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 3 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d callers failed", failed, n)
	}
	if d, k := ci.discovery.Load(), ci.keys.Load(); d != 1 || k != 1 {
		t.Errorf("issuer received %d discovery and %d JWKS requests; want exactly 1 and 1", d, k)
	}
	if got := r.Requests(); got != 2 {
		t.Errorf("resolver started %d requests, want 2", got)
	}
	t.Logf("%d concurrent cold admissions answered in %s (100ms of it the issuer held its answer)", n, elapsed.Round(time.Millisecond))
}

// cacheManyIssuers resolves count distinct issuers (discovery and JWKS each)
// with the given cache size, two at a time (the resolver keeps two idle
// connections per host, so the fetches reuse them), and returns the resolver.
func cacheManyIssuers(t testing.TB, ci *coldIssuer, count, cacheSize int) *HTTPResolver {
	t.Helper()
	r := ci.resolver(t, cacheSize)
	ctx := context.Background()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(count) {
					return
				}
				if err := discoverAndKeys(ctx, r, ci.srv.URL+"/issuer-"+strconv.FormatInt(i, 10)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	return r
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// residentBytes is the process's resident set size (VmRSS), 0 where
// /proc is not available. It includes the test binary, the test's own TLS
// issuer and memory the Go runtime has not yet returned to the OS.
func residentBytes() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// checkBounded asserts the caches hold at most cacheSize entries each, and
// that the oldest issuers were evicted: asking for the first one again
// fetches again.
func checkBounded(t testing.TB, ci *coldIssuer, r *HTTPResolver, count, cacheSize int) {
	t.Helper()
	if n := r.good.Len(); n > cacheSize {
		t.Errorf("cache holds %d good entries, want at most %d", n, cacheSize)
	}
	if n := r.bad.Len(); n > cacheSize {
		t.Errorf("cache holds %d failure entries, want at most %d", n, cacheSize)
	}
	if d, k := ci.discovery.Load(), ci.keys.Load(); d != int64(count) || k != int64(count) {
		t.Errorf("issuer received %d discovery and %d JWKS requests for %d distinct issuers; want %d each", d, k, count, count)
	}
	before := ci.discovery.Load()
	if err := discoverAndKeys(context.Background(), r, ci.srv.URL+"/issuer-0"); err != nil {
		t.Fatal(err)
	}
	if ci.discovery.Load() != before+1 {
		t.Errorf("the first of %d issuers was still cached with CacheSize %d; want it evicted", count, cacheSize)
	}
}

// TestCacheManyIssuersIsBounded caches 10,000 distinct issuers with
// CacheSize 1024 and logs the heap in use; it asserts only the bound.
func TestCacheManyIssuersIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 loopback TLS fetches; skipped with -short")
	}
	const count, cacheSize = 10000, 1024
	ci := newColdIssuer(t, nil)
	base := heapInUse()
	begin := time.Now()
	r := cacheManyIssuers(t, ci, count, cacheSize)
	elapsed := time.Since(begin)
	after := heapInUse()
	checkBounded(t, ci, r, count, cacheSize)
	t.Logf("%d issuers resolved in %s; cache holds %d entries (CacheSize %d); heap in use %.1f MiB before, %.1f MiB after (+%.1f MiB, test server included); resident %.1f MiB",
		count, elapsed.Round(time.Millisecond), r.good.Len(), cacheSize,
		float64(base)/(1<<20), float64(after)/(1<<20), (float64(after)-float64(base))/(1<<20), float64(residentBytes())/(1<<20))
	runtime.KeepAlive(r)
}

// BenchmarkCacheManyIssuers reports the heap in use after caching 10,000
// distinct issuers with CacheSize 1024 (one iteration is the whole run; use
// -benchtime 1x).
func BenchmarkCacheManyIssuers(b *testing.B) {
	const count, cacheSize = 10000, 1024
	for b.Loop() {
		b.StopTimer()
		ci := newColdIssuer(b, nil)
		base := heapInUse()
		b.StartTimer()
		r := cacheManyIssuers(b, ci, count, cacheSize)
		b.StopTimer()
		after := heapInUse()
		checkBounded(b, ci, r, count, cacheSize)
		b.ReportMetric(float64(after), "heap-inuse-B")
		b.ReportMetric(float64(after)-float64(base), "heap-growth-B")
		b.ReportMetric(float64(r.good.Len()), "cached-entries")
		b.ReportMetric(float64(residentBytes()), "rss-B")
		runtime.KeepAlive(r)
		b.StartTimer()
	}
}
