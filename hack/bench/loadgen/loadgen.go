// Package loadgen sends AdmissionReview requests to a webhook over HTTPS at a
// fixed concurrency and measures what comes back: throughput, latency
// percentiles, errors and the allowed/denied split.
//
// It speaks HTTP/1.1 with keep-alive (one connection per worker, as the
// kube-apiserver keeps connections to a webhook open), trusts only the CA
// given, and every run is bounded by both a request count and a duration.
package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultConcurrency = 8
	DefaultMaxRequests = 1_000_000
	DefaultMaxDuration = 10 * time.Second
	DefaultTimeout     = 10 * time.Second
)

// Request is one AdmissionReview a worker sends. Body must contain the
// placeholder UIDPlaceholder once: each request gets a fresh UID there, and
// the answer must echo it.
type Request struct {
	// Name labels the request in Result.ByRequest.
	Name string
	// Path is appended to Options.URL, e.g. "/validate".
	Path string
	Body []byte
}

// UIDPlaceholder is replaced in each Request.Body by a unique 36-character
// UID.
const UIDPlaceholder = "00000000-0000-0000-0000-000000000000"

// Options describe one run.
type Options struct {
	// URL is the webhook's base URL, e.g. https://127.0.0.1:9443.
	URL string
	// CAPEM is the PEM bundle the server's certificate must chain to. Only
	// it is trusted (not the system roots).
	CAPEM []byte
	// Requests are sent round-robin (each worker starts at a different one).
	Requests []Request
	// Concurrency is the number of workers, each with its own connection
	// (default 8).
	Concurrency int
	// MaxRequests and MaxDuration bound the run: it stops when either is
	// reached (defaults 1,000,000 and 10s). A request in flight when the
	// duration ends is completed and counted.
	MaxRequests int
	MaxDuration time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// Client replaces the HTTP client built from CAPEM (tests).
	Client *http.Client
}

// Split counts answers by verdict.
type Split struct {
	Allowed int
	Denied  int
	Errors  int
}

// Result is what a run measured. Latencies are of successful and failed
// requests alike (a failure is still time a caller waited).
type Result struct {
	Requests int // completed, including errors
	Errors   int
	Allowed  int
	Denied   int
	// Warned counts allowed answers that carried warnings; Patched allowed
	// answers with a JSON patch.
	Warned  int
	Patched int
	Elapsed time.Duration
	// Throughput is completed requests per second of Elapsed.
	Throughput         float64
	P50, P90, P99, Max time.Duration
	Mean               time.Duration
	// ByRequest splits the verdicts by Request.Name.
	ByRequest map[string]Split
	// FirstError describes one error, if any.
	FirstError string
	// Latencies are every request's latency, sorted ascending.
	Latencies []time.Duration
}

// NewClient builds the HTTP/1.1 keep-alive client trusting only caPEM, with
// one idle connection per worker.
func NewClient(caPEM []byte, concurrency int, timeout time.Duration) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("loadgen: no PEM certificates in the CA bundle")
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = DefaultMaxRequests
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// prepared is a Request split around its UID placeholder.
type prepared struct {
	name, url     string
	before, after []byte
}

func prepare(base string, reqs []Request) ([]prepared, error) {
	if len(reqs) == 0 {
		return nil, errors.New("loadgen: no requests to send")
	}
	out := make([]prepared, 0, len(reqs))
	for _, r := range reqs {
		i := bytes.Index(r.Body, []byte(UIDPlaceholder))
		if i < 0 || bytes.Count(r.Body, []byte(UIDPlaceholder)) != 1 {
			return nil, fmt.Errorf("loadgen: request %q: body must contain the UID placeholder %s exactly once", r.Name, UIDPlaceholder)
		}
		out = append(out, prepared{
			name: r.Name, url: strings.TrimSuffix(base, "/") + r.Path,
			before: r.Body[:i], after: r.Body[i+len(UIDPlaceholder):],
		})
	}
	return out, nil
}

// uid formats a run-unique UID in the 8-4-4-4-12 form.
func uid(run uint32, n uint64) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", run, n&0xffffffffffff)
}

var runCounter atomic.Uint32

// outcome of one request.
type outcome struct {
	latency time.Duration
	name    string
	err     error
	allowed bool
	warned  bool
	patched bool
}

// Run sends requests until MaxRequests have been started or MaxDuration has
// passed, whichever comes first, or ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	reqs, err := prepare(o.URL, o.Requests)
	if err != nil {
		return nil, err
	}
	client := o.Client
	if client == nil {
		if client, err = NewClient(o.CAPEM, o.Concurrency, o.Timeout); err != nil {
			return nil, err
		}
		defer client.CloseIdleConnections()
	}
	run := runCounter.Add(1)
	var issued atomic.Int64
	perWorker := make([][]outcome, o.Concurrency)
	start := time.Now()
	deadline := start.Add(o.MaxDuration)
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			out := make([]outcome, 0, 1024)
			buf := &bytes.Buffer{}
			for i := w; ; i++ {
				if ctx.Err() != nil || !time.Now().Before(deadline) {
					break
				}
				n := issued.Add(1)
				if n > int64(o.MaxRequests) {
					break
				}
				p := &reqs[i%len(reqs)]
				out = append(out, send(ctx, client, p, uid(run, uint64(n)), buf, o.Timeout))
			}
			perWorker[w] = out
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []outcome
	for _, o := range perWorker {
		all = append(all, o...)
	}
	return summarize(all, elapsed), nil
}

func send(ctx context.Context, client *http.Client, p *prepared, id string, buf *bytes.Buffer, timeout time.Duration) outcome {
	buf.Reset()
	buf.Write(p.before)
	buf.WriteString(id)
	buf.Write(p.after)
	// The request's own timeout, not the run's deadline: a request in flight
	// when the run ends is completed, not cut off and counted as an error.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.url, bytes.NewReader(buf.Bytes()))
	if err != nil {
		return outcome{name: p.name, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{latency: time.Since(start), name: p.name, err: err}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return outcome{latency: lat, name: p.name, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return outcome{latency: lat, name: p.name, err: fmt.Errorf("%s: HTTP %d: %.200s", p.url, resp.StatusCode, body)}
	}
	v, err := parseVerdict(body, id)
	if err != nil {
		return outcome{latency: lat, name: p.name, err: fmt.Errorf("%s: %w", p.url, err)}
	}
	return outcome{latency: lat, name: p.name, allowed: v.allowed, warned: v.warned, patched: v.patched}
}

type verdict struct{ allowed, warned, patched bool }

// parseVerdict reads an AdmissionReview answer and checks it echoes the UID.
func parseVerdict(body []byte, id string) (verdict, error) {
	var rev struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Response   *struct {
			UID      string   `json:"uid"`
			Allowed  bool     `json:"allowed"`
			Patch    []byte   `json:"patch"`
			Warnings []string `json:"warnings"`
		} `json:"response"`
	}
	if err := json.Unmarshal(body, &rev); err != nil {
		return verdict{}, fmt.Errorf("answer is not JSON: %v", err)
	}
	if rev.Kind != "AdmissionReview" || rev.Response == nil {
		return verdict{}, fmt.Errorf("answer is not an AdmissionReview response: %.200s", body)
	}
	if rev.Response.UID != id {
		return verdict{}, fmt.Errorf("answer has uid %q, want %q", rev.Response.UID, id)
	}
	return verdict{allowed: rev.Response.Allowed, warned: len(rev.Response.Warnings) > 0, patched: len(rev.Response.Patch) > 0}, nil
}

func summarize(all []outcome, elapsed time.Duration) *Result {
	r := &Result{Requests: len(all), Elapsed: elapsed, ByRequest: map[string]Split{}}
	r.Latencies = make([]time.Duration, 0, len(all))
	var sum time.Duration
	for _, o := range all {
		r.Latencies = append(r.Latencies, o.latency)
		sum += o.latency
		s := r.ByRequest[o.name]
		switch {
		case o.err != nil:
			r.Errors++
			s.Errors++
			if r.FirstError == "" {
				r.FirstError = o.err.Error()
			}
		case o.allowed:
			r.Allowed++
			s.Allowed++
			if o.warned {
				r.Warned++
			}
			if o.patched {
				r.Patched++
			}
		default:
			r.Denied++
			s.Denied++
		}
		r.ByRequest[o.name] = s
	}
	sort.Slice(r.Latencies, func(i, j int) bool { return r.Latencies[i] < r.Latencies[j] })
	r.fill(sum)
	return r
}

// fill computes the figures that derive from Latencies, Requests and Elapsed.
func (r *Result) fill(sum time.Duration) {
	if r.Elapsed > 0 {
		r.Throughput = float64(r.Requests) / r.Elapsed.Seconds()
	}
	r.P50 = Percentile(r.Latencies, 50)
	r.P90 = Percentile(r.Latencies, 90)
	r.P99 = Percentile(r.Latencies, 99)
	if n := len(r.Latencies); n > 0 {
		r.Max = r.Latencies[n-1]
		r.Mean = sum / time.Duration(n)
	}
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// latencies: the smallest value at least p% of the values are less than or
// equal to. It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	// rank = ceil(p/100 * n); the epsilon keeps 99% of 100 at rank 99
	// despite floating-point error.
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Merge combines runs (e.g. rounds against the same server): counts add up,
// Elapsed is the sum of the runs' durations, percentiles are over all
// latencies together.
func Merge(rs ...*Result) *Result {
	m := &Result{ByRequest: map[string]Split{}}
	var sum time.Duration
	for _, r := range rs {
		if r == nil {
			continue
		}
		m.Requests += r.Requests
		m.Errors += r.Errors
		m.Allowed += r.Allowed
		m.Denied += r.Denied
		m.Warned += r.Warned
		m.Patched += r.Patched
		m.Elapsed += r.Elapsed
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
		for k, s := range r.ByRequest {
			t := m.ByRequest[k]
			t.Allowed += s.Allowed
			t.Denied += s.Denied
			t.Errors += s.Errors
			m.ByRequest[k] = t
		}
		m.Latencies = append(m.Latencies, r.Latencies...)
		for _, l := range r.Latencies {
			sum += l
		}
	}
	sort.Slice(m.Latencies, func(i, j int) bool { return m.Latencies[i] < m.Latencies[j] })
	m.fill(sum)
	return m
}

// String is a one-line summary.
func (r *Result) String() string {
	return fmt.Sprintf("%d requests in %s: %s req/s, p50 %s p90 %s p99 %s max %s, allowed %d (warned %d, patched %d), denied %d, errors %d",
		r.Requests, r.Elapsed.Round(time.Millisecond), strconv.FormatFloat(r.Throughput, 'f', 0, 64),
		Ms(r.P50), Ms(r.P90), Ms(r.P99), Ms(r.Max), r.Allowed, r.Warned, r.Patched, r.Denied, r.Errors)
}

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
