package trust

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile input: what a tenant can put into an object (an inline jwks, a
// jwksUri, issuers by the thousand) or serve from an issuer it runs must
// cost gatewarden bounded memory, CPU, messages and outbound requests.

// manyEntries is {"keys":[e,e,...]} with n copies of entry.
func manyEntries(entry string, n int) []byte {
	var b bytes.Buffer
	b.Grow(len(entry)*n + 16)
	b.WriteString(`{"keys":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// upTo repeats entry until the document is about size bytes.
func upTo(entry string, size int) []byte {
	return manyEntries(entry, size/(len(entry)+1))
}

// inspectAllocs runs InspectKeySet once and says how many bytes it
// allocated in all (an upper bound of what it can have held at any moment)
// and how many the report keeps after a collection.
func inspectAllocs(raw []byte) (rep KeySetReport, total, retained uint64) {
	var before, after, kept runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep = InspectKeySet(raw)
	runtime.ReadMemStats(&after)
	runtime.GC()
	runtime.ReadMemStats(&kept)
	runtime.KeepAlive(rep)
	total = after.TotalAlloc - before.TotalAlloc
	if kept.HeapAlloc > before.HeapAlloc {
		retained = kept.HeapAlloc - before.HeapAlloc
	}
	return rep, total, retained
}

func messageBytes(rep KeySetReport) int {
	n := 0
	for _, m := range append(append([]string(nil), rep.Errors...), rep.Warnings...) {
		n += len(m)
	}
	return n
}

// TestInspectKeySetHostileSizes: the key sets of the report that found
// one admission using 301 MB (400,000 entries, 800 KB) and 864 MB (2 MB).
// Each is inspected with a bounded report and bounded allocation: every
// byte the walk allocates is counted, garbage included, so the figure
// bounds what it can hold at any moment.
func TestInspectKeySetHostileSizes(t *testing.T) {
	testKeys(t)
	pub := string(jwk(t, &rsa2048.PublicKey, "same", "RS256", "sig"))
	const allocBound = 48 << 20
	tests := []struct {
		name      string
		raw       []byte
		keys      int
		errFrag   string // in some error
		warnFrag  string // in some warning
		wantUsble int
	}{
		{name: "400k numbers (800 KB)", raw: manyEntries("1", 400000), keys: 400000,
			errFrag: "among the first 100 of 400000 keys", warnFrag: "and 399997 more keys are not JSON objects"},
		{name: "400k empty objects (1.2 MB)", raw: manyEntries("{}", 400000), keys: 400000,
			errFrag: "among the first 100 of 400000 keys", warnFrag: "and 97 more keys cannot be parsed"},
		{name: "2 MB of symmetric keys", raw: upTo(`{"kty":"oct","k":"c2VjcmV0"}`, 2<<20),
			errFrag: "more symmetric (oct) keys are published"},
		{name: "2 MB of private members", raw: upTo(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"c2VjcmV0"}`, 2<<20),
			errFrag: "more places hold private key material"},
		{name: "2 MB of one public key with one kid", raw: upTo(pub, 2<<20), wantUsble: MaxAnalysedKeys,
			warnFrag: "more keys share a kid with an earlier key"},
		{name: "2 MB of nested arrays", raw: []byte(`{"keys":[` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `],"x":"` + strings.Repeat("y", 2<<20) + `"}`),
			keys: 1, errFrag: "no public signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, total, retained := inspectAllocs(tt.raw)
			n := len(rep.Errors) + len(rep.Warnings)
			t.Logf("%d bytes, %d keys: %d messages (%d bytes), %.1f MiB allocated in all, %d bytes retained",
				len(tt.raw), rep.Keys, n, messageBytes(rep), float64(total)/(1<<20), retained)
			if tt.keys != 0 && rep.Keys != tt.keys {
				t.Errorf("keys = %d, want %d", rep.Keys, tt.keys)
			}
			if rep.Usable != tt.wantUsble {
				t.Errorf("usable = %d, want %d", rep.Usable, tt.wantUsble)
			}
			if max := int(numProblems)*(MaxMessagesPerProblem+1) + 2; n > max {
				t.Errorf("%d messages, want at most %d", n, max)
			}
			if mb := messageBytes(rep); mb > 8<<10 {
				t.Errorf("messages total %d bytes, want at most 8 KiB", mb)
			}
			if total > allocBound {
				t.Errorf("allocated %d bytes in all, want at most %d", total, allocBound)
			}
			if retained > 64<<10 {
				t.Errorf("the report retains %d bytes, want at most 64 KiB", retained)
			}
			if tt.errFrag != "" && !containedIn(tt.errFrag, rep.Errors) {
				t.Errorf("no error mentions %q: %q", tt.errFrag, rep.Errors)
			}
			if tt.warnFrag != "" && !containedIn(tt.warnFrag, rep.Warnings) {
				t.Errorf("no warning mentions %q: %q", tt.warnFrag, rep.Warnings)
			}
		})
	}
}

func TestInspectKeySetPrivateMaterialAnywhere(t *testing.T) {
	testKeys(t)
	pub := string(jwk(t, &rsa2048.PublicKey, "pub", "RS256", "sig"))
	priv := string(jwk(t, rsa2048, "leak", "RS256", "sig"))
	tests := []struct {
		name   string
		raw    string
		errs   []string // fragments, each in some error
		warns  []string
		usable int
	}{
		{name: "private key in the first of two keys members", raw: `{"keys":[` + priv + `],"keys":[` + pub + `]}`, usable: 1,
			errs:  []string{`keys[0] (kid "leak"): contains private key material (d, p, q, dp, dq, qi)`},
			warns: []string{`more than one "keys" member`}},
		{name: "private key in the last of two keys members", raw: `{"keys":[` + pub + `],"keys":[` + priv + `]}`,
			errs: []string{`keys(2)[0] (kid "leak"): contains private key material`, "no public signing key"}},
		{name: "private key in another top-level member", raw: `{"keys":[` + pub + `],"backup":[` + priv + `]}`, usable: 1,
			errs: []string{"backup[0]: contains private key material (d, p, q, dp, dq, qi)"}},
		{name: "symmetric key in another top-level member", raw: `{"keys":[` + pub + `],"old":{"kty":"oct","k":"c2VjcmV0"}}`, usable: 1,
			errs: []string{"old: symmetric (oct) key published"}},
		{name: "private member nested in a public key", raw: `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","ext":{"d":"c2VjcmV0"}},` + pub + `]}`, usable: 1,
			errs: []string{"keys[0].ext: contains private key material (d)"}},
		{name: "escaped member name", raw: `{"keys":[` + pub + `,{"kty":"EC","\u0064":"c2VjcmV0"}]}`, usable: 1,
			errs: []string{"keys[1]: contains private key material (d)"}},
		{name: "member name in another case", raw: `{"keys":[` + pub + `,{"kty":"RSA","D":"c2VjcmV0"}]}`, usable: 1,
			errs: []string{"keys[1]: contains private key material (d)"}},
		{name: "a private JWK instead of a set", raw: priv,
			errs: []string{"the key set's top level: contains private key material", "not a JSON Web Key Set"}},
		{name: "an array of private JWKs", raw: `[` + priv + `]`,
			errs: []string{"[0]: contains private key material", "not a JSON Web Key Set"}},
		{name: "private key after the analysed ones", raw: string(manyEntries(pub, MaxAnalysedKeys+20)[:len(manyEntries(pub, MaxAnalysedKeys+20))-2]) + `,` + priv + `]}`,
			usable: MaxAnalysedKeys, errs: []string{fmt.Sprintf("keys[%d] (kid \"leak\"): contains private key material", MaxAnalysedKeys+20)}},
		{name: "member names that could forge a message", raw: `{"keys":[` + pub + `],"a\nb":{"d":"c2VjcmV0"},"":{"k":"c2VjcmV0"}}`, usable: 1,
			errs: []string{`a\nb: contains private key material (d)`, `"": contains private key material (k)`}},
		{name: "names of private members as values are not private", raw: `{"keys":[` + pub + `],"note":"d","list":["k","p"]}`, usable: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := InspectKeySet([]byte(tt.raw))
			if rep.Usable != tt.usable {
				t.Errorf("usable = %d, want %d (errors %q)", rep.Usable, tt.usable, rep.Errors)
			}
			if len(tt.errs) == 0 && len(rep.Errors) > 0 {
				t.Errorf("errors %q, want none", rep.Errors)
			}
			for _, f := range tt.errs {
				if !containedIn(f, rep.Errors) {
					t.Errorf("no error mentions %q: %q", f, rep.Errors)
				}
			}
			for _, f := range tt.warns {
				if !containedIn(f, rep.Warnings) {
					t.Errorf("no warning mentions %q: %q", f, rep.Warnings)
				}
			}
			for _, m := range append(rep.Errors, rep.Warnings...) {
				if strings.Contains(m, "c2VjcmV0") || strings.Contains(m, base64.RawURLEncoding.EncodeToString(rsa2048.D.Bytes())[:16]) {
					t.Errorf("message echoes key material: %s", m)
				}
			}
		})
	}
}

func TestInspectKeySetEchoesShortValues(t *testing.T) {
	kid := strings.Repeat("k", 100000)
	raw := manyEntries(`{"kty":"oct","kid":"`+kid+`","k":"c2VjcmV0"}`, 10)
	rep := InspectKeySet(raw)
	if mb := messageBytes(rep); mb > 4<<10 {
		t.Errorf("messages total %d bytes for a 100 KB kid; want the kid shortened", mb)
	}
	if !containedIn(`(kid "`+strings.Repeat("k", maxEcho)+`…")`, rep.Errors) {
		t.Errorf("errors do not name the kid's start: %q", rep.Errors)
	}
}

func TestInspectKeySetAnalysesFirstKeysOnly(t *testing.T) {
	testKeys(t)
	pub := string(jwk(t, &rsa2048.PublicKey, "late", "RS256", "sig"))
	raw := []byte(strings.TrimSuffix(string(manyEntries(`{"kty":"XYZ"}`, MaxAnalysedKeys+10)), "]}") + "," + pub + "]}")
	rep := InspectKeySet(raw)
	if rep.Usable != 0 || !containedIn(fmt.Sprintf("among the first %d of %d keys", MaxAnalysedKeys, MaxAnalysedKeys+11), rep.Errors) {
		t.Errorf("a usable key after %d unusable ones: usable %d, errors %q", MaxAnalysedKeys, rep.Usable, rep.Errors)
	}
	if !containedIn(fmt.Sprintf("and %d more keys have a key type", MaxAnalysedKeys-MaxMessagesPerProblem), rep.Warnings) {
		t.Errorf("warnings %q", rep.Warnings)
	}
}

// slowIssuer answers every path after delay (or when the client gives up,
// for delay < 0) with a good discovery document or key set, counting the
// requests and the most it held at once.
type slowIssuer struct {
	*issuer
	delay    time.Duration
	started  atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func newSlowIssuer(t *testing.T, delay time.Duration) *slowIssuer {
	testKeys(t)
	si := &slowIssuer{issuer: &issuer{}, delay: delay}
	keys := jwks(jwk(t, &rsa2048.PublicKey, "k1", "RS256", "sig"))
	si.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		si.started.Add(1)
		n := si.inFlight.Add(1)
		defer si.inFlight.Add(-1)
		for {
			m := si.maxIn.Load()
			if n <= m || si.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		if si.delay < 0 {
			<-r.Context().Done()
			return
		}
		time.Sleep(si.delay)
		if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			iss := si.srv.URL + strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": iss + "/keys"})
			return
		}
		_, _ = w.Write(keys)
	}))
	t.Cleanup(si.srv.Close)
	return si
}

// drained waits until the issuer holds no request: detached fetches of
// callers that gave up have ended, so no late request can still arrive.
func (si *slowIssuer) drained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for si.inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still held", si.inFlight.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFetchBudgetPerObject: 1,500 issuers of one object, asked from 1,500
// goroutines at once: at most the budget's total is fetched, never more
// than its concurrency at a time, and every other URL is answered at once
// with a Budget error that says so.
func TestFetchBudgetPerObject(t *testing.T) {
	const issuers, total, concurrent = 1500, 16, 4
	si := newSlowIssuer(t, 20*time.Millisecond)
	r := newTestResolver(t, si.issuer, nil)
	ctx := WithFetchBudget(context.Background(), total, concurrent)
	var wg sync.WaitGroup
	var ok, budget, other atomic.Int64
	var firstBudget atomic.Value
	var mu sync.Mutex
	var fetched []int
	for i := range issuers {
		wg.Go(func() {
			_, err := r.Discover(ctx, fmt.Sprintf("%s/i-%d", si.srv.URL, i))
			var fe *FetchError
			switch {
			case err == nil:
				ok.Add(1)
				mu.Lock()
				fetched = append(fetched, i)
				mu.Unlock()
			case errors.As(err, &fe) && fe.Kind == Budget:
				budget.Add(1)
				firstBudget.CompareAndSwap(nil, err.Error())
			default:
				other.Add(1)
				t.Errorf("issuer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	si.drained(t)
	t.Logf("%d issuers: %d fetched, %d refused by the budget; the issuer saw %d requests, at most %d at once",
		issuers, ok.Load(), budget.Load(), si.started.Load(), si.maxIn.Load())
	if n := si.started.Load(); n > total {
		t.Errorf("issuer received %d requests, want at most the budget of %d", n, total)
	}
	if n := si.maxIn.Load(); n > concurrent {
		t.Errorf("issuer held %d requests at once, want at most %d", n, concurrent)
	}
	if ok.Load() != total || budget.Load() != issuers-total {
		t.Errorf("%d answered and %d refused, want %d and %d", ok.Load(), budget.Load(), total, issuers-total)
	}
	if msg, _ := firstBudget.Load().(string); !strings.Contains(msg, "not fetched: the fetch budget of 16 per object is spent") {
		t.Errorf("budget error %q", msg)
	}
	// The cache answers without spending a new object's budget.
	again := WithFetchBudget(context.Background(), 1, 1)
	for _, i := range fetched[:3] {
		if _, err := r.Discover(again, fmt.Sprintf("%s/i-%d", si.srv.URL, i)); err != nil {
			t.Errorf("cached answer %d refused by the budget: %v", i, err)
		}
	}
}

// TestNoFetchStartsAfterTheDeadline: an object's issuers all hang. The
// first fetch holds until the object's deadline; after that nothing more is
// requested, however many issuers remain (the report found 1,500 started).
func TestNoFetchStartsAfterTheDeadline(t *testing.T) {
	si := newSlowIssuer(t, -1)
	r := newTestResolver(t, si.issuer, func(o *Options) { o.Timeout = 2 * time.Second })
	ctx, cancel := context.WithTimeout(WithFetchBudget(context.Background(), 0, 0), 200*time.Millisecond)
	defer cancel()
	kinds := map[Kind]int{}
	for i := range 1500 {
		_, err := r.Discover(ctx, fmt.Sprintf("%s/hang-%d", si.srv.URL, i))
		kinds[KindOf(err)]++
	}
	si.drained(t)
	if n := si.started.Load(); n != 1 {
		t.Errorf("the issuer received %d requests, want 1: none may start after the deadline", n)
	}
	if kinds[Network] != 1 || kinds[Budget] != 1499 {
		t.Errorf("kinds of the answers %v, want 1 network (gave up waiting) and 1499 budget", kinds)
	}
	// A context already done fetches nothing.
	done, stop := context.WithCancel(context.Background())
	stop()
	_, err := r.JWKS(done, si.srv.URL+"/never/keys")
	wantFetchError(t, err, Budget, "not fetched", "time budget")
	if n := si.started.Load(); n != 1 {
		t.Errorf("a done context started a request (%d in all)", n)
	}
}

// TestCacheHoldsReportsNotBodies: the report's case, 200 jwksUri of 512
// KiB each (it put 100 MiB into the cache). The cache now holds each key
// set's report, and is bounded in bytes.
func TestCacheHoldsReportsNotBodies(t *testing.T) {
	testKeys(t)
	body := jwks(jwk(t, &rsa2048.PublicKey, "k1", "RS256", "sig"))
	body = append(body[:len(body)-1], []byte(`,"pad":"`+strings.Repeat("x", 500<<10)+`"}`)...)
	is := newIssuer(t)
	r := newTestResolver(t, is, nil)
	base := heapInUse()
	for i := range 200 {
		is.handle(fmt.Sprintf("/keys-%d", i), rawHandler("application/json", body))
		ks, err := r.JWKS(context.Background(), fmt.Sprintf("%s/keys-%d", is.srv.URL, i))
		if err != nil || !ks.Inspect().OK() {
			t.Fatalf("key set %d: %v %+v", i, err, ks)
		}
		if ks.Raw != nil {
			t.Fatal("a fetched key set carries its body")
		}
	}
	growth := int64(heapInUse()) - int64(base)
	t.Logf("200 key sets of %d KiB: cache %d entries, %d bytes (estimated); heap in use grew %.1f MiB",
		len(body)>>10, r.good.Len(), r.CacheBytes(), float64(growth)/(1<<20))
	if r.good.Len() != 200 {
		t.Errorf("cache holds %d entries, want all 200", r.good.Len())
	}
	if b := r.CacheBytes(); b > 200<<10 {
		t.Errorf("cache holds an estimated %d bytes for 200 small reports", b)
	}
	if growth > 16<<20 {
		t.Errorf("heap grew by %d bytes for 200 cached key sets, want far under their 100 MiB of bodies", growth)
	}
	runtime.KeepAlive(r)
}

func TestCacheBoundedInBytes(t *testing.T) {
	c := newSizedLRU[string](100, 4096, time.Hour)
	for i := range 50 {
		c.Add(fmt.Sprintf("k%02d", i), "v", 300)
	}
	if c.Bytes() > 4096 {
		t.Errorf("%d bytes cached, bound 4096", c.Bytes())
	}
	if _, ok := c.Peek("k00"); ok {
		t.Error("the oldest entry survived the byte bound")
	}
	if _, ok := c.Peek("k49"); !ok {
		t.Error("the newest entry was evicted")
	}
	n, b := c.Len(), c.Bytes()
	if want := int64(n) * (300 + 3 + entryOverhead); b != want {
		t.Errorf("%d entries account for %d bytes, want %d", n, b, want)
	}
	// Replacing a value accounts for the old one; a value larger than the
	// bound is not stored and leaves the rest alone.
	c.Add("k49", "v", 100)
	if c.Bytes() != b-200 {
		t.Errorf("after replacing: %d bytes, want %d", c.Bytes(), b-200)
	}
	c.Add("huge", "v", 1<<20)
	if _, ok := c.Peek("huge"); ok || c.Len() != n {
		t.Errorf("an entry over the whole bound was stored (len %d, was %d)", c.Len(), n)
	}
	c.Remove("k49")
	if c.Bytes() != int64(n-1)*(300+3+entryOverhead) {
		t.Errorf("after a remove: %d bytes", c.Bytes())
	}
}

func TestAllowed(t *testing.T) {
	is := newIssuer(t)
	r := newTestResolver(t, is, func(o *Options) {
		o.AllowHTTPHosts = []string{"plain.test"}
		o.LookupIP = func(_ context.Context, host string) ([]netip.Addr, error) {
			switch host {
			case "private.test":
				return []netip.Addr{netip.MustParseAddr("8.8.4.4"), netip.MustParseAddr("10.1.2.3")}, nil
			case "public.test", "plain.test":
				return []netip.Addr{netip.MustParseAddr("8.8.8.8")}, nil
			}
			return nil, fmt.Errorf("no such host %s", host)
		}
	})
	tests := []struct {
		url    string
		kind   Kind // -1: allowed
		frag   string
		hidden string
	}{
		{url: "https://169.254.169.254/latest/meta-data", kind: Blocked, frag: "address 169.254.169.254 is in a blocked address range (link-local)"},
		{url: "https://[::ffff:169.254.169.254]/keys", kind: Blocked, frag: "blocked address range"},
		{url: "https://private.test/keys", kind: Blocked, frag: "host private.test resolves to a blocked address range (private)", hidden: "10.1.2.3"},
		{url: "https://nowhere.test/keys", kind: Network, frag: "dns lookup of nowhere.test failed"},
		{url: "http://public.test/keys", kind: Invalid, frag: "plain http is not allowed"},
		{url: "https://u:p@public.test/keys", kind: Invalid, frag: "user info"},
		{url: "https://public.test/keys", kind: -1},
		{url: "http://plain.test/keys", kind: -1},
		{url: is.srv.URL + "/keys", kind: -1}, // loopback, allowed by AllowCIDRs
	}
	for _, tt := range tests {
		err := Allowed(context.Background(), r, tt.url, nil)
		if tt.kind == -1 {
			if err != nil {
				t.Errorf("%s: %v, want allowed", tt.url, err)
			}
			continue
		}
		var fe *FetchError
		if !errors.As(err, &fe) || fe.Kind != tt.kind || !strings.Contains(err.Error(), tt.frag) {
			t.Errorf("%s: %v, want kind %d mentioning %q", tt.url, err, tt.kind, tt.frag)
		}
		if tt.hidden != "" && err != nil && strings.Contains(err.Error(), tt.hidden) {
			t.Errorf("%s: %v tells the address", tt.url, err)
		}
	}
	if n := is.count("/keys"); n != 0 {
		t.Errorf("Allowed fetched %d times", n)
	}
	// A resolver without a policy of its own: the URL form only.
	if err := Allowed(context.Background(), Offline{}, "http://x.test/keys", nil); err == nil {
		t.Error("Offline allowed plain http")
	}
	if err := Allowed(context.Background(), Offline{}, "https://x.test/keys", nil); err != nil {
		t.Errorf("Offline: %v", err)
	}
}

// BenchmarkInspectKeySetHostile: time and allocation of one inspection of
// the hostile key sets (docs/benchmarks.md, "Hostile input").
func BenchmarkInspectKeySetHostile(b *testing.B) {
	for _, bc := range []struct {
		name string
		raw  []byte
	}{
		{"400k-numbers-800KB", manyEntries("1", 400000)},
		{"400k-empty-objects-1.2MB", manyEntries("{}", 400000)},
		{"2MB-symmetric-keys", upTo(`{"kty":"oct","k":"c2VjcmV0"}`, 2<<20)},
		{"2MB-private-members", upTo(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"c2VjcmV0"}`, 2<<20)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.raw)))
			for b.Loop() {
				InspectKeySet(bc.raw)
			}
		})
	}
}
