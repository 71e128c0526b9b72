package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// fakeWebhook is an AdmissionReview server on loopback TLS: it denies
// Gateways and allows everything else, echoing the UID, and counts requests
// and connections.
type fakeWebhook struct {
	srv      *httptest.Server
	requests atomic.Int64
	conns    atomic.Int64
	delay    time.Duration
	protoErr atomic.Value // first non-HTTP/1.1 request
	mu       sync.Mutex
	uids     map[string]bool
	dupUIDs  int
	// wrongUID answers with another UID.
	wrongUID atomic.Bool
}

func newFakeWebhook(t *testing.T, delay time.Duration) *fakeWebhook {
	t.Helper()
	fw := &fakeWebhook{delay: delay, uids: map[string]bool{}}
	fw.srv = httptest.NewUnstartedServer(http.HandlerFunc(fw.serve))
	fw.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			fw.conns.Add(1)
		}
	}
	fw.srv.StartTLS()
	t.Cleanup(fw.srv.Close)
	return fw
}

func (fw *fakeWebhook) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fw.srv.Certificate().Raw})
}

func (fw *fakeWebhook) serve(w http.ResponseWriter, r *http.Request) {
	fw.requests.Add(1)
	if r.ProtoMajor != 1 {
		fw.protoErr.CompareAndSwap(nil, r.Proto)
	}
	if fw.delay > 0 {
		time.Sleep(fw.delay)
	}
	if r.URL.Path == "/broken" {
		http.Error(w, "broken", http.StatusInternalServerError)
		return
	}
	var rev admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&rev); err != nil || rev.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	uid := string(rev.Request.UID)
	fw.mu.Lock()
	if fw.uids[uid] {
		fw.dupUIDs++
	}
	fw.uids[uid] = true
	fw.mu.Unlock()
	if fw.wrongUID.Load() {
		uid = "someone-else"
	}
	resp := map[string]any{"uid": uid, "allowed": rev.Request.Kind.Kind != "Gateway"}
	if rev.Request.Kind.Kind == "AuthorizationPolicy" {
		resp["warnings"] = []string{"selector matches no pod"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
}

func mix(t *testing.T) []Request {
	t.Helper()
	reqs, err := Mix("https://127.0.0.1:1/good")
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

func TestRunCountsAndSplit(t *testing.T) {
	fw := newFakeWebhook(t, 0)
	const total, conc = 300, 4
	res, err := Run(context.Background(), Options{
		URL: fw.srv.URL, CAPEM: fw.caPEM(), Requests: mix(t),
		Concurrency: conc, MaxRequests: total, MaxDuration: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("errors: %d (%s)", res.Errors, res.FirstError)
	}
	if res.Requests != total || fw.requests.Load() != total {
		t.Errorf("result counts %d requests, server saw %d; want %d", res.Requests, fw.requests.Load(), total)
	}
	if res.Allowed+res.Denied != total || len(res.Latencies) != total {
		t.Errorf("allowed %d + denied %d (latencies %d), want %d", res.Allowed, res.Denied, len(res.Latencies), total)
	}
	sumByName := 0
	for name, s := range res.ByRequest {
		sumByName += s.Allowed + s.Denied + s.Errors
		gw := strings.HasPrefix(name, "Gateway")
		if gw && s.Allowed != 0 || !gw && s.Denied != 0 {
			t.Errorf("%s: %+v; want Gateways denied and the rest allowed", name, s)
		}
	}
	if sumByName != total || len(res.ByRequest) != 6 {
		t.Errorf("by request: %v", res.ByRequest)
	}
	var gwDenied int
	for name, s := range res.ByRequest {
		if strings.HasPrefix(name, "Gateway") {
			gwDenied += s.Denied
		}
	}
	if res.Denied != gwDenied || res.Warned == 0 {
		t.Errorf("denied %d (want %d, the Gateways), warned %d (want >0, the policies)", res.Denied, gwDenied, res.Warned)
	}
	// Round-robin: each of 6 requests gets about a sixth.
	for name, s := range res.ByRequest {
		if n := s.Allowed + s.Denied; n < total/6-conc || n > total/6+conc {
			t.Errorf("%s sent %d times, want about %d", name, n, total/6)
		}
	}
	if c := fw.conns.Load(); c > conc {
		t.Errorf("server saw %d connections for %d workers; want keep-alive (at most %d)", c, conc, conc)
	}
	if p := fw.protoErr.Load(); p != nil {
		t.Errorf("request over %v, want HTTP/1.1", p)
	}
	fw.mu.Lock()
	if fw.dupUIDs != 0 || len(fw.uids) != total {
		t.Errorf("%d distinct UIDs, %d duplicates; want %d distinct", len(fw.uids), fw.dupUIDs, total)
	}
	fw.mu.Unlock()
	if res.Throughput <= 0 || res.P50 <= 0 || res.P50 > res.P90 || res.P90 > res.P99 || res.P99 > res.Max {
		t.Errorf("figures out of order: %s", res)
	}
}

func TestRunBoundedByDuration(t *testing.T) {
	const delay, maxDur, conc = 20 * time.Millisecond, 300 * time.Millisecond, 4
	fw := newFakeWebhook(t, delay)
	start := time.Now()
	res, err := Run(context.Background(), Options{
		URL: fw.srv.URL, CAPEM: fw.caPEM(), Requests: mix(t),
		Concurrency: conc, MaxRequests: 1_000_000, MaxDuration: maxDur,
	})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("errors: %d (%s)", res.Errors, res.FirstError)
	}
	// A request in flight at the deadline completes: allow one more delay
	// plus scheduling slack on a busy machine.
	if took > maxDur+delay+500*time.Millisecond {
		t.Errorf("run took %s with MaxDuration %s", took, maxDur)
	}
	if limit := int(conc * (maxDur/delay + 1)); res.Requests > limit || res.Requests < conc {
		t.Errorf("%d requests; want between %d and %d", res.Requests, conc, limit)
	}
	if int64(res.Requests) != fw.requests.Load() {
		t.Errorf("result counts %d, server saw %d", res.Requests, fw.requests.Load())
	}
	if res.P50 < delay {
		t.Errorf("p50 %s below the server's delay %s", res.P50, delay)
	}
}

func TestRunBoundedByContextAndDefaults(t *testing.T) {
	fw := newFakeWebhook(t, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// No bounds given: the defaults apply, the context ends the run.
	res, err := Run(ctx, Options{URL: fw.srv.URL, CAPEM: fw.caPEM(), Requests: mix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests == 0 || res.Elapsed > time.Second {
		t.Errorf("%s (%s)", res, res.FirstError)
	}
}

func TestRunErrors(t *testing.T) {
	fw := newFakeWebhook(t, 0)
	reqs := mix(t)
	broken := Request{Name: "broken", Path: "/broken", Body: reqs[0].Body}
	res, err := Run(context.Background(), Options{
		URL: fw.srv.URL, CAPEM: fw.caPEM(), Requests: []Request{reqs[0], broken},
		Concurrency: 1, MaxRequests: 10, MaxDuration: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.Errors != 5 || res.Allowed != 5 || res.ByRequest["broken"].Errors != 5 ||
		!strings.Contains(res.FirstError, "HTTP 500") {
		t.Errorf("got %s, by request %v, first error %q; want 5 errors (HTTP 500) and 5 allowed", res, res.ByRequest, res.FirstError)
	}

	fw.wrongUID.Store(true)
	res, err = Run(context.Background(), Options{URL: fw.srv.URL, CAPEM: fw.caPEM(), Requests: reqs[:1], Concurrency: 1, MaxRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || !strings.Contains(res.FirstError, "uid") {
		t.Errorf("wrong UID answers: %s, first error %q", res, res.FirstError)
	}
	fw.wrongUID.Store(false)

	if _, err := Run(context.Background(), Options{URL: fw.srv.URL, CAPEM: []byte("nope"), Requests: reqs}); err == nil {
		t.Error("a CA bundle without certificates was accepted")
	}
	if _, err := Run(context.Background(), Options{URL: fw.srv.URL, CAPEM: fw.caPEM(), Requests: []Request{{Name: "x", Body: []byte("{}")}}}); err == nil {
		t.Error("a body without the UID placeholder was accepted")
	}
	if _, err := Run(context.Background(), Options{URL: fw.srv.URL, CAPEM: fw.caPEM()}); err == nil {
		t.Error("a run without requests was accepted")
	}
}

func TestRunRefusesUntrustedCA(t *testing.T) {
	fw := newFakeWebhook(t, 0)
	// A CA that did not sign the server's certificate: only the given CA is
	// trusted, never the system roots.
	ca := testCA(t)
	res, err := Run(context.Background(), Options{URL: fw.srv.URL, CAPEM: ca, Requests: mix(t)[:1], Concurrency: 2, MaxRequests: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 4 || !strings.Contains(res.FirstError, "certificate") || fw.requests.Load() != 0 {
		t.Errorf("untrusted server: %s, first error %q, server saw %d", res, res.FirstError, fw.requests.Load())
	}
}

func TestPercentileKnownData(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, ms(i))
	}
	for _, tc := range []struct {
		data []time.Duration
		p    float64
		want time.Duration
	}{
		{hundred, 50, ms(50)}, {hundred, 90, ms(90)}, {hundred, 99, ms(99)}, {hundred, 100, ms(100)},
		{hundred, 99.5, ms(100)}, {hundred, 1, ms(1)}, {hundred, 0, ms(1)},
		{hundred[:10], 50, ms(5)}, {hundred[:10], 90, ms(9)}, {hundred[:10], 99, ms(10)},
		{hundred[:1], 50, ms(1)}, {hundred[:1], 99, ms(1)},
		{hundred[:3], 50, ms(2)}, {nil, 99, 0},
	} {
		if got := Percentile(tc.data, tc.p); got != tc.want {
			t.Errorf("p%v of %d values = %s, want %s", tc.p, len(tc.data), got, tc.want)
		}
	}
}

func TestSummarizeAndMerge(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var a, b []outcome
	// a: 1..50 ms allowed; b: 51..100 ms, every tenth an error, the rest
	// denied. Given out of order to check the sort.
	for i := 50; i >= 1; i-- {
		a = append(a, outcome{latency: ms(i), name: "x", allowed: true})
	}
	for i := 51; i <= 100; i++ {
		o := outcome{latency: ms(i), name: "y"}
		if i%10 == 0 {
			o.err = errString("boom")
		}
		b = append(b, o)
	}
	ra, rb := summarize(a, time.Second), summarize(b, 2*time.Second)
	if ra.Requests != 50 || ra.Allowed != 50 || ra.P50 != ms(25) || ra.P99 != ms(50) || ra.Throughput != 50 || ra.Mean != 25500*time.Microsecond {
		t.Errorf("a: %s mean %s", ra, ra.Mean)
	}
	if rb.Errors != 5 || rb.Denied != 45 || rb.FirstError != "boom" || rb.Throughput != 25 {
		t.Errorf("b: %s", rb)
	}
	m := Merge(ra, rb)
	if m.Requests != 100 || m.Allowed != 50 || m.Denied != 45 || m.Errors != 5 || m.Elapsed != 3*time.Second ||
		m.P50 != ms(50) || m.P90 != ms(90) || m.P99 != ms(99) || m.Max != ms(100) ||
		m.ByRequest["x"].Allowed != 50 || m.ByRequest["y"].Errors != 5 || m.ByRequest["y"].Denied != 45 {
		t.Errorf("merged: %s %v", m, m.ByRequest)
	}
	if want := 100.0 / 3; m.Throughput < want-0.001 || m.Throughput > want+0.001 {
		t.Errorf("merged throughput %v, want %v", m.Throughput, want)
	}
}

// testCA is a fresh self-signed CA certificate.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadgen-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type errString string

func (e errString) Error() string { return string(e) }

func TestMixIsAdmissionReviews(t *testing.T) {
	reqs := mix(t)
	kinds := map[string]int{}
	for _, r := range reqs {
		if bytes.Count(r.Body, []byte(UIDPlaceholder)) != 1 {
			t.Fatalf("%s: UID placeholder not there exactly once", r.Name)
		}
		var rev admissionv1.AdmissionReview
		if err := json.Unmarshal(r.Body, &rev); err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		q := rev.Request
		if rev.Kind != "AdmissionReview" || rev.APIVersion != "admission.k8s.io/v1" || q == nil || q.Operation != admissionv1.Create ||
			q.Namespace != "default" || q.Name == "" || q.Resource.Resource == "" || q.UserInfo.Username == "" {
			t.Fatalf("%s: incomplete review: %s", r.Name, r.Body)
		}
		var obj map[string]any
		if err := json.Unmarshal(q.Object.Raw, &obj); err != nil || obj["kind"] != q.Kind.Kind {
			t.Fatalf("%s: object %s does not match kind %s", r.Name, q.Object.Raw, q.Kind.Kind)
		}
		kinds[q.Kind.Group+"/"+q.Kind.Version+"/"+q.Kind.Kind]++
		if r.Path != "/mutate" && r.Path != "/validate" {
			t.Errorf("%s: path %s", r.Name, r.Path)
		}
	}
	want := map[string]int{"gateway.kyma-project.io/v2/APIRule": 2, "networking.istio.io/v1/Gateway": 2, "security.istio.io/v1/AuthorizationPolicy": 2}
	if len(kinds) != len(want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("kinds %v, want %v", kinds, want)
		}
	}
	var rule map[string]any
	for _, r := range reqs {
		var rev admissionv1.AdmissionReview
		_ = json.Unmarshal(r.Body, &rev)
		if rev.Request.Kind.Kind == "APIRule" {
			_ = json.Unmarshal(rev.Request.Object.Raw, &rule)
		}
	}
	if s, _ := json.Marshal(rule); !strings.Contains(string(s), `"issuer":"https://127.0.0.1:1/good"`) ||
		!strings.Contains(string(s), `"jwksUri":"https://127.0.0.1:1/good/jwks"`) {
		t.Errorf("APIRule lacks the jwt issuer and jwksUri: %s", s)
	}
}
