package trust

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
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
)

// issuer is a TLS identity provider on loopback whose answers a test sets,
// counting the requests each path receives.
type issuer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]*atomic.Int64
	last   *http.Request
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{routes: map[string]http.HandlerFunc{}, hits: map[string]*atomic.Int64{}}
	is.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		h := is.routes[r.URL.Path]
		if is.hits[r.URL.Path] == nil {
			is.hits[r.URL.Path] = &atomic.Int64{}
		}
		c := is.hits[r.URL.Path]
		is.last = r.Clone(context.Background())
		is.mu.Unlock()
		c.Add(1)
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) handle(path string, h http.HandlerFunc) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.routes[path] = h
}

func (is *issuer) count(path string) int64 {
	is.mu.Lock()
	defer is.mu.Unlock()
	if c := is.hits[path]; c != nil {
		return c.Load()
	}
	return 0
}

// standard serves a discovery document naming the server itself (plus
// suffix) and a good key set.
func (is *issuer) standard(t *testing.T, issuerSuffix string) {
	testKeys(t)
	is.handle("/.well-known/openid-configuration", jsonHandler(map[string]string{
		"issuer":   is.srv.URL + issuerSuffix,
		"jwks_uri": is.srv.URL + "/keys",
	}))
	is.handle("/keys", rawHandler("application/json", jwks(jwk(t, &rsa2048.PublicKey, "k1", "RS256", "sig"))))
}

func jsonHandler(v any) http.HandlerFunc {
	b, _ := json.Marshal(v)
	return rawHandler("application/json", b)
}

func rawHandler(ct string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(body)
	}
}

func statusHandler(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", code) }
}

func redirectHandler(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
}

// caFile writes the test server's certificate as a PEM bundle.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// noDNS fails every name lookup, so no test ever asks a real resolver.
func noDNS(_ context.Context, host string) ([]netip.Addr, error) {
	return nil, fmt.Errorf("no such host %s (test resolver)", host)
}

// newTestResolver trusts the issuer's CA and allows loopback; mod adjusts.
func newTestResolver(t *testing.T, is *issuer, mod func(*Options)) *HTTPResolver {
	t.Helper()
	o := Options{AllowCIDRs: loopback, CAFile: caFile(t, is.srv), Timeout: 5 * time.Second, LookupIP: noDNS}
	if mod != nil {
		mod(&o)
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantFetchError checks kind and message fragments.
func wantFetchError(t *testing.T, err error, kind Kind, fragments ...string) *FetchError {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want a *FetchError of kind %d", err, err, kind)
	}
	if fe.Kind != kind {
		t.Errorf("kind = %d, want %d (%v)", fe.Kind, kind, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
	return fe
}

func TestDiscoverGoodIssuer(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	r := newTestResolver(t, is, func(o *Options) { o.UserAgent = "gatewarden/test" })
	d, err := r.Discover(context.Background(), is.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if d.Issuer != is.srv.URL || d.JWKSURI != is.srv.URL+"/keys" || d.Stale {
		t.Errorf("discovery = %+v", d)
	}
	ks, err := r.JWKS(context.Background(), d.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	if rep := ks.Inspect(); !rep.OK() || rep.Usable != 1 {
		t.Errorf("key set report = %+v", rep)
	}
	req := is.last
	if req.Method != http.MethodGet || req.Header.Get("User-Agent") != "gatewarden/test" ||
		req.Header.Get("Accept") != "application/json" || req.Header.Get("Cookie") != "" || req.Header.Get("Authorization") != "" {
		t.Errorf("request = %s %v", req.Method, req.Header)
	}
}

func TestDiscoverIssuerValues(t *testing.T) {
	tests := []struct {
		name       string
		configured func(base string) string
		served     func(base string) string
	}{
		{"wrong issuer", func(b string) string { return b }, func(string) string { return "https://other.example.com" }},
		{"trailing slash configured", func(b string) string { return b + "/" }, func(b string) string { return b }},
		{"trailing slash served", func(b string) string { return b }, func(b string) string { return b + "/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t)
			is.handle("/.well-known/openid-configuration", jsonHandler(map[string]string{"issuer": tt.served(is.srv.URL), "jwks_uri": is.srv.URL + "/keys"}))
			r := newTestResolver(t, is, nil)
			d, err := r.Discover(context.Background(), tt.configured(is.srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			// The resolver reports what the issuer says; the check compares.
			if d.Issuer != tt.served(is.srv.URL) {
				t.Errorf("issuer = %q, want %q", d.Issuer, tt.served(is.srv.URL))
			}
			if d.Issuer == tt.configured(is.srv.URL) {
				t.Errorf("case does not differ: %q", d.Issuer)
			}
			if n := is.count("/.well-known/openid-configuration"); n != 1 {
				t.Errorf("discovery path hit %d times, want 1 (no double slash)", n)
			}
		})
	}
}

func TestFetchFailures(t *testing.T) {
	big := `{"keys":[],"pad":"` + strings.Repeat("x", 4096) + `"}`
	tests := []struct {
		name     string
		routes   map[string]http.HandlerFunc
		opts     func(*Options)
		discover bool   // Discover(base) instead of JWKS(base+path)
		path     string // for JWKS
		kind     Kind
		status   int
		frags    []string
		hidden   string // must not appear in the error
	}{
		{name: "discovery 404", discover: true, kind: Status, status: 404, frags: []string{"answered HTTP 404"}},
		{name: "jwks 500", routes: map[string]http.HandlerFunc{"/keys": statusHandler(500)}, path: "/keys", kind: Status, status: 500},
		{name: "html instead of json", routes: map[string]http.HandlerFunc{"/keys": rawHandler("text/html; charset=utf-8", []byte("<html>login</html>"))},
			path: "/keys", kind: Invalid, frags: []string{"not JSON", `"text/html"`}},
		{name: "discovery without issuer", discover: true, kind: Invalid, frags: []string{`no "issuer"`},
			routes: map[string]http.HandlerFunc{"/.well-known/openid-configuration": rawHandler("application/json", []byte(`{"jwks_uri":"https://x/keys"}`))}},
		{name: "discovery not an object", discover: true, kind: Invalid, frags: []string{"not an OIDC discovery document"},
			routes: map[string]http.HandlerFunc{"/.well-known/openid-configuration": rawHandler("application/json", []byte(`["a"]`))}},
		{name: "oversized body with length", routes: map[string]http.HandlerFunc{"/keys": rawHandler("application/json", []byte(big))},
			opts: func(o *Options) { o.MaxBodyBytes = 1024 }, path: "/keys", kind: Invalid, frags: []string{"exceeds the limit of 1024 bytes"}},
		{name: "oversized body streamed", routes: map[string]http.HandlerFunc{"/keys": func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < 8; i++ {
				_, _ = w.Write([]byte(strings.Repeat(" ", 512)))
				w.(http.Flusher).Flush()
			}
		}}, opts: func(o *Options) { o.MaxBodyBytes = 1024 }, path: "/keys", kind: Invalid, frags: []string{"exceeds the limit of 1024 bytes"}},
		{name: "hanging server", routes: map[string]http.HandlerFunc{"/keys": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
			opts: func(o *Options) { o.Timeout = 200 * time.Millisecond }, path: "/keys", kind: Network, frags: []string{"timed out after 200ms"}},
		{name: "redirect loop", routes: map[string]http.HandlerFunc{"/a": redirectHandler("/b"), "/b": redirectHandler("/a")},
			path: "/a", kind: Invalid, frags: []string{"redirect loop"}},
		{name: "too many redirects", routes: map[string]http.HandlerFunc{"/r1": redirectHandler("/r2"), "/r2": redirectHandler("/r3"),
			"/r3": redirectHandler("/r4"), "/r4": redirectHandler("/r5"), "/r5": rawHandler("application/json", []byte(`{"keys":[]}`))},
			path: "/r1", kind: Invalid, frags: []string{"too many redirects (at most 3"}},
		{name: "redirect to plain http", routes: map[string]http.HandlerFunc{"/keys": redirectHandler("http://127.0.0.1:1/keys")},
			path: "/keys", kind: Invalid, frags: []string{"redirect to http://127.0.0.1:1/keys refused", "plain http"}},
		{name: "redirect to a blocked address", routes: map[string]http.HandlerFunc{"/keys": redirectHandler("https://169.254.169.254/latest/meta-data")},
			path: "/keys", kind: Blocked, frags: []string{"address 169.254.169.254 is in a blocked address range (link-local)", "--allow-cidr 169.254.169.254/32"}},
		{name: "redirect to a name resolving to a private address", routes: map[string]http.HandlerFunc{"/keys": redirectHandler("https://idp.internal.test/keys")},
			opts: func(o *Options) { o.LookupIP = fixedDNS("idp.internal.test", "10.1.2.3") },
			path: "/keys", kind: Blocked, frags: []string{"host idp.internal.test resolves to a blocked address range (private)", "--allow-cidr"}, hidden: "10.1.2.3"},
		{name: "untrusted certificate", routes: map[string]http.HandlerFunc{"/keys": rawHandler("application/json", []byte(`{}`))},
			opts: func(o *Options) { o.CAFile = "" }, path: "/keys", kind: Network, frags: []string{"tls certificate not trusted", "--ca-file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t)
			for p, h := range tt.routes {
				is.handle(p, h)
			}
			r := newTestResolver(t, is, tt.opts)
			var err error
			if tt.discover {
				_, err = r.Discover(context.Background(), is.srv.URL)
			} else {
				_, err = r.JWKS(context.Background(), is.srv.URL+tt.path)
			}
			fe := wantFetchError(t, err, tt.kind, tt.frags...)
			if fe.Status != tt.status {
				t.Errorf("status = %d, want %d", fe.Status, tt.status)
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q tells the address %s the name resolved to", err, tt.hidden)
			}
		})
	}
}

func fixedDNS(name, addr string) LookupFunc {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == name {
			return []netip.Addr{netip.MustParseAddr(addr)}, nil
		}
		return noDNS(ctx, host)
	}
}

func TestRedirectWithinLimitIsFollowed(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	is.handle("/old", redirectHandler("/older"))
	is.handle("/older", redirectHandler("/keys"))
	r := newTestResolver(t, is, nil)
	ks, err := r.JWKS(context.Background(), is.srv.URL+"/old")
	if err != nil {
		t.Fatal(err)
	}
	if !ks.Inspect().OK() {
		t.Errorf("key set not usable: %+v", ks.Inspect())
	}
}

func TestSSRF(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	port := is.srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name   string
		url    string
		opts   func(*Options)
		kind   Kind
		frags  []string
		hidden string // the address a name resolved to: never in the message
	}{
		{name: "loopback blocked unless allowlisted", url: is.srv.URL + "/keys", opts: func(o *Options) { o.AllowCIDRs = nil },
			kind: Blocked, frags: []string{"address 127.0.0.1 is in a blocked address range (loopback)", "--allow-cidr 127.0.0.1/32"}},
		{name: "allowlist for another range does not open loopback", url: is.srv.URL + "/keys",
			opts: func(o *Options) { o.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
			kind: Blocked, frags: []string{"127.0.0.1"}},
		{name: "name resolving to a private address", url: "https://idp.internal.test/keys",
			opts: func(o *Options) { o.LookupIP = fixedDNS("idp.internal.test", "192.168.7.7") },
			kind: Blocked, frags: []string{"host idp.internal.test resolves to a blocked address range (private)", "--allow-cidr"}, hidden: "192.168"},
		{name: "name resolving to the metadata address", url: "https://metadata.test/",
			opts: func(o *Options) { o.LookupIP = fixedDNS("metadata.test", "169.254.169.254") },
			kind: Blocked, frags: []string{"resolves to a blocked address range (link-local)"}, hidden: "169.254"},
		{name: "name resolving to CGNAT", url: "https://cgnat.test/",
			opts: func(o *Options) { o.LookupIP = fixedDNS("cgnat.test", "100.64.1.1") }, kind: Blocked, frags: []string{"(shared (carrier-grade NAT))"}, hidden: "100.64"},
		{name: "name resolving to an IPv6 unique local address", url: "https://ula.test/",
			opts: func(o *Options) { o.LookupIP = fixedDNS("ula.test", "fd00::1") }, kind: Blocked, frags: []string{"host ula.test resolves to a blocked address range (private)"}, hidden: "fd00"},
		{name: "name resolving to an IPv4-mapped IPv6 address", url: "https://mapped.test/",
			opts: func(o *Options) {
				o.AllowCIDRs = nil
				o.LookupIP = fixedDNS("mapped.test", "::ffff:10.0.0.1")
			}, kind: Blocked, frags: []string{"host mapped.test resolves to a blocked address range"}, hidden: "10.0.0.1"},
		{name: "name resolving to a multicast address", url: "https://multicast.test/",
			opts: func(o *Options) { o.LookupIP = fixedDNS("multicast.test", "239.1.2.3") }, kind: Blocked, frags: []string{"(multicast)"}, hidden: "239.1"},
		{name: "name resolving to an IPv6 multicast address", url: "https://multicast6.test/",
			opts: func(o *Options) { o.LookupIP = fixedDNS("multicast6.test", "ff02::1") }, kind: Blocked, frags: []string{"(multicast)"}, hidden: "ff02"},
		{name: "unspecified address", url: fmt.Sprintf("https://0.0.0.0:%d/keys", port), kind: Blocked, frags: []string{"address 0.0.0.0 is in a blocked address range (unspecified)"}},
		{name: "dns failure", url: "https://nowhere.test/keys", kind: Network, frags: []string{"dns lookup of nowhere.test failed"}},
		{name: "http refused for a host not allowlisted", url: fmt.Sprintf("http://127.0.0.1:%d/keys", port), kind: Invalid, frags: []string{"plain http"}},
		{name: "user info refused", url: fmt.Sprintf("https://u:p@127.0.0.1:%d/keys", port), kind: Invalid, frags: []string{"user info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestResolver(t, is, tt.opts)
			_, err := r.JWKS(context.Background(), tt.url)
			wantFetchError(t, err, tt.kind, tt.frags...)
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q tells the address (%s...) the name resolved to", err, tt.hidden)
			}
		})
	}
	if n := is.count("/keys"); n != 0 {
		t.Errorf("the issuer was reached %d times by refused requests", n)
	}
}

func TestNameResolvedByHookIsFetched(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	port := is.srv.Listener.Addr().(*net.TCPAddr).Port
	// httptest certificates name example.com; resolve it to loopback.
	r := newTestResolver(t, is, func(o *Options) { o.LookupIP = fixedDNS("example.com", "127.0.0.1") })
	if _, err := r.JWKS(context.Background(), fmt.Sprintf("https://example.com:%d/keys", port)); err != nil {
		t.Fatal(err)
	}
	if n := is.count("/keys"); n != 1 {
		t.Errorf("keys fetched %d times, want 1", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, err := New(Options{AllowCIDRs: loopback, LookupIP: noDNS})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.JWKS(context.Background(), "https://"+addr+"/keys")
	wantFetchError(t, err, Network, "connection refused")
}

func TestPlainHTTPForAllowedHost(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	r, err := New(Options{AllowCIDRs: loopback, AllowHTTPHosts: []string{"127.0.0.1"}, LookupIP: noDNS})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := r.JWKS(context.Background(), srv.URL+"/keys")
	if err != nil || ks.Report == nil || ks.Report.Keys != 0 || hits.Load() != 1 {
		t.Errorf("JWKS = %v, %v; hits %d", ks, err, hits.Load())
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	gate := make(chan struct{})
	disc := is.routes["/.well-known/openid-configuration"]
	// Hold the discovery answer until every caller is waiting.
	is.handle("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		disc(w, r)
	})
	r := newTestResolver(t, is, nil)
	const n = 100
	var wg, started sync.WaitGroup
	errs := make(chan error, n)
	started.Add(n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			d, err := r.Discover(context.Background(), is.srv.URL)
			if err != nil {
				errs <- err
				return
			}
			ks, err := r.JWKS(context.Background(), d.JWKSURI)
			if err != nil {
				errs <- err
				return
			}
			if !ks.Inspect().OK() {
				errs <- fmt.Errorf("bad key set")
			}
		}()
	}
	started.Wait()
	// Give the callers a moment to reach the shared fetch; correctness does
	// not depend on it, the counts below do not either.
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d, k := is.count("/.well-known/openid-configuration"), is.count("/keys"); d != 1 || k != 1 {
		t.Errorf("discovery fetched %d times, JWKS %d times; want 1 and 1", d, k)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCacheAndLastKnownGood(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	r := newTestResolver(t, is, func(o *Options) {
		o.PositiveTTL, o.NegativeTTL, o.StaleFor = time.Minute, 10*time.Second, time.Hour
	})
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.now = clock.Now
	ctx := context.Background()
	const path = "/.well-known/openid-configuration"

	if _, err := r.Discover(ctx, is.srv.URL); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	if d, err := r.Discover(ctx, is.srv.URL); err != nil || d.Stale {
		t.Fatalf("cached answer = %+v, %v", d, err)
	}
	if n := is.count(path); n != 1 {
		t.Errorf("fetched %d times within the positive TTL, want 1", n)
	}

	// The issuer goes down; after the TTL the refresh fails and the last
	// good copy is served, marked stale.
	is.handle(path, statusHandler(http.StatusServiceUnavailable))
	clock.Advance(time.Minute)
	d, err := r.Discover(ctx, is.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Stale || !strings.Contains(d.StaleReason, "HTTP 503") || d.Issuer != is.srv.URL {
		t.Errorf("stale answer = %+v", d)
	}
	// The failure is cached: no new request within the negative TTL.
	if d, err := r.Discover(ctx, is.srv.URL); err != nil || !d.Stale {
		t.Errorf("second stale answer = %+v, %v", d, err)
	}
	if n := is.count(path); n != 2 {
		t.Errorf("fetched %d times, want 2 (failure cached)", n)
	}
	// After the negative TTL it tries again.
	clock.Advance(11 * time.Second)
	_, _ = r.Discover(ctx, is.srv.URL)
	if n := is.count(path); n != 3 {
		t.Errorf("fetched %d times, want 3 (negative TTL over)", n)
	}
	// Older than StaleFor, the error itself is returned.
	clock.Advance(2 * time.Hour)
	_, err = r.Discover(ctx, is.srv.URL)
	wantFetchError(t, err, Status, "HTTP 503")

	// Recovery replaces the stale copy.
	is.standard(t, "")
	clock.Advance(time.Minute)
	if d, err := r.Discover(ctx, is.srv.URL); err != nil || d.Stale {
		t.Errorf("after recovery = %+v, %v", d, err)
	}
}

func TestLastKnownGoodAfterIssuerVanishes(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	r := newTestResolver(t, is, func(o *Options) { o.PositiveTTL = time.Minute })
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.now = clock.Now
	url := is.srv.URL + "/keys"
	if _, err := r.JWKS(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	is.srv.Close()
	clock.Advance(2 * time.Minute)
	ks, err := r.JWKS(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if !ks.Stale || !strings.Contains(ks.StaleReason, "connection refused") || !ks.Inspect().OK() {
		t.Errorf("stale key set = stale %v, reason %q", ks.Stale, ks.StaleReason)
	}
}

func TestCallerDeadlineDoesNotPoisonCache(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	release, started := make(chan struct{}), make(chan struct{}, 1)
	keys := is.routes["/keys"]
	is.handle("/keys", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		keys(w, r)
	})
	r := newTestResolver(t, is, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := r.JWKS(ctx, is.srv.URL+"/keys")
	wantFetchError(t, err, Network, "gave up waiting")
	close(release)
	if _, err := r.JWKS(context.Background(), is.srv.URL+"/keys"); err != nil {
		t.Errorf("after a caller gave up: %v", err)
	}
	if n := is.count("/keys"); n != 1 {
		t.Errorf("fetched %d times, want 1 (the abandoned fetch is shared)", n)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.Timeout != 2*time.Second || o.MaxBodyBytes != 512<<10 || o.MaxRedirects != 3 || o.CacheSize != 1024 ||
		o.PositiveTTL != 5*time.Minute || o.NegativeTTL != 30*time.Second || o.StaleFor != time.Hour ||
		!strings.HasPrefix(o.UserAgent, "gatewarden/") || o.LookupIP == nil {
		t.Errorf("defaults = %+v", o)
	}
	if _, err := New(Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("a missing CA file was accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(empty, []byte("not pem"), 0o600)
	if _, err := New(Options{CAFile: empty}); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("CA file without certificates: %v", err)
	}
}
