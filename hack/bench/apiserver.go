package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
)

// setting is what the API server calls on a write.
type setting string

const (
	withGatewarden setting = "gatewarden"
	withNoop       setting = "no-op webhook"
	withNone       setting = "no webhook"
)

// webhooks switches the API server between gatewarden, the no-op webhook
// (the floor, registered by the same chart-rendered configurations with
// only the URL changed) and no webhook at all.
type webhooks struct {
	c                *framework.Cluster
	cl               client.Client
	floor            *proc
	gatewarden, noop []byte
	issuer           string
	// names labels the pids of the webhook servers in the CPU figures.
	names map[int]string
}

func newWebhooks(c *framework.Cluster, cl client.Client, floor *proc) (*webhooks, error) {
	gw, err := c.RenderWebhooks()
	if err != nil {
		return nil, err
	}
	noop, err := c.RenderWebhooks("--set", "webhook.url="+floor.url)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(gw, noop) {
		return nil, errors.New("the no-op rendering does not differ from gatewarden's")
	}
	return &webhooks{c: c, cl: cl, floor: floor, gatewarden: gw, noop: noop, issuer: c.Issuer.Good()}, nil
}

// set installs a setting and waits until the API server acts on it.
func (w *webhooks) set(ctx context.Context, s setting) error {
	switch s {
	case withGatewarden:
		if err := w.c.Apply(ctx, w.gatewarden); err != nil {
			return err
		}
	case withNoop:
		if err := w.c.Apply(ctx, w.noop); err != nil {
			return err
		}
	case withNone:
		if err := deleteRendered(ctx, w.cl, w.gatewarden); err != nil {
			return err
		}
	}
	return waitFor(ctx, func() error {
		got, err := w.probe(ctx)
		if err == nil && got != s {
			err = fmt.Errorf("the API server still calls %q, want %q", got, s)
		}
		return err
	})
}

// deleteRendered deletes the webhook configurations of a chart rendering.
func deleteRendered(ctx context.Context, cl client.Client, rendered []byte) error {
	configs, err := objects(rendered)
	if err != nil {
		return err
	}
	for _, u := range configs {
		if err := cl.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// waitFor tries every 200 ms until try succeeds, for at most 30 s; then it
// returns try's last error.
func waitFor(ctx context.Context, try func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = try()
		return last == nil, nil
	})
	if err != nil && last != nil && ctx.Err() == nil {
		return fmt.Errorf("after 30s: %w", last)
	}
	return err
}

// probe tells which setting the API server acts on: dry-runs of a Gateway
// gatewarden denies and of an APIRule without a gateway, which gatewarden's
// mutating webhook defaults; the floor counts the reviews it answers.
func (w *webhooks) probe(ctx context.Context) (setting, error) {
	before, err := floorAnswered(ctx, w.floor)
	if err != nil {
		return "", err
	}
	gwObj := &unstructured.Unstructured{Object: loadgen.MutualGatewayWithoutCA("bench-probe")}
	err = w.cl.Create(ctx, gwObj, client.DryRunAll)
	validating := err != nil && strings.Contains(err.Error(), "gatewarden")
	if err != nil && !validating {
		return "", fmt.Errorf("probe Gateway: %w", err)
	}
	rule := loadgen.APIRuleV2("bench-probe", "probe.local.kyma.dev", w.issuer)
	delete(rule["spec"].(map[string]any), "gateway")
	u := &unstructured.Unstructured{Object: rule}
	mutating := false
	if err := w.cl.Create(ctx, u, client.DryRunAll); err == nil {
		gwName, _, _ := unstructured.NestedString(u.Object, "spec", "gateway")
		mutating = gwName != ""
	} else if !strings.Contains(err.Error(), "gatewarden") {
		return "", fmt.Errorf("probe APIRule: %w", err)
	}
	after, err := floorAnswered(ctx, w.floor)
	if err != nil {
		return "", err
	}
	switch {
	case validating && mutating && after == before:
		return withGatewarden, nil
	case !validating && !mutating && after >= before+4:
		return withNoop, nil
	case !validating && !mutating && after == before:
		return withNone, nil
	}
	return "", fmt.Errorf("mixed: gatewarden validating %v, mutating %v, floor answered %d reviews", validating, mutating, after-before)
}

// floorAnswered asks the floor how many reviews it has answered.
func floorAnswered(ctx context.Context, floor *proc) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, floor.url+"/stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := floor.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Answered int64 `json:"answered"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Answered, nil
}

func objects(rendered []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// createMany creates n distinct APIRules one at a time, stored as a kubectl
// apply would store them, and returns each create's latency and a function
// that deletes them (unmeasured).
func createMany(ctx context.Context, cl client.Client, issuer, prefix string, n int) ([]time.Duration, func(), error) {
	lat := make([]time.Duration, 0, n)
	created := make([]*unstructured.Unstructured, 0, n)
	cleanup := func() {
		for _, u := range created {
			_ = cl.Delete(context.WithoutCancel(ctx), u)
		}
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		u := &unstructured.Unstructured{Object: loadgen.APIRuleV2(name, name+".local.kyma.dev", issuer)}
		start := time.Now()
		err := cl.Create(ctx, u)
		lat = append(lat, time.Since(start))
		if err != nil {
			cleanup()
			return lat, func() {}, fmt.Errorf("create of APIRule %s: %w", name, err)
		}
		created = append(created, u)
	}
	return lat, cleanup, nil
}

// slowOver is the latency the phase reports count as slow: 5 ms, the
// histograms' le="0.005" bucket.
const slowOver = `le="0.005"`

// gatewardenCounters are what gatewarden's metrics say about a phase: the
// admissions it answered and those over 5 ms (its handler's histogram),
// its finished garbage collections, and its clients' requests to the API
// server.
type gatewardenCounters struct{ admissions, slow, gc, requests float64 }

func (c gatewardenCounters) minus(b gatewardenCounters) gatewardenCounters {
	return gatewardenCounters{c.admissions - b.admissions, c.slow - b.slow, c.gc - b.gc, c.requests - b.requests}
}

// readGatewarden scrapes gatewarden's metrics once.
func readGatewarden(metrics string) gatewardenCounters {
	const admission = "gatewarden_admission_duration_seconds_"
	m, err := scrape(metrics, admission, "go_gc_duration_seconds_count", "rest_client_requests_total")
	if err != nil {
		return gatewardenCounters{}
	}
	var c gatewardenCounters
	var fast float64
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, admission+"count"):
			c.admissions += v
		case strings.HasPrefix(k, admission+"bucket") && strings.Contains(k, slowOver):
			fast += v
		case k == "go_gc_duration_seconds_count":
			c.gc += v
		case strings.HasPrefix(k, "rest_client_requests_total"):
			c.requests += v
		}
	}
	c.slow = c.admissions - fast
	return c
}

// apiCounters are what kube-apiserver's metrics say about a phase: its
// webhook calls (apiserver_admission_webhook_admission_duration_seconds,
// the round trip, TLS and HTTP included, every webhook) and those over
// 5 ms, its finished garbage collections and the requests it served.
type apiCounters struct{ calls, slow, gc, requests float64 }

func (c apiCounters) minus(b apiCounters) apiCounters {
	return apiCounters{c.calls - b.calls, c.slow - b.slow, c.gc - b.gc, c.requests - b.requests}
}

// readAPIServer fetches kube-apiserver's metrics once.
func readAPIServer(ctx context.Context, cfg *rest.Config) apiCounters {
	const webhook = "apiserver_admission_webhook_admission_duration_seconds"
	rc, err := rest.UnversionedRESTClientFor(withNegotiated(cfg))
	if err != nil {
		return apiCounters{}
	}
	body, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return apiCounters{}
	}
	m, _ := samples(bytes.NewReader(body), webhook, "go_gc_duration_seconds_count", "apiserver_request_total{")
	var c apiCounters
	var fast float64
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, webhook+"_count"):
			c.calls += v
		case strings.HasPrefix(k, webhook+"_bucket") && strings.Contains(k, slowOver):
			fast += v
		case strings.HasPrefix(k, "go_gc"):
			c.gc += v
		case strings.HasPrefix(k, "apiserver_request_total"):
			c.requests += v
		}
	}
	c.slow = c.calls - fast
	return c
}

func withNegotiated(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}

// apiResult holds the create latencies of each setting's phases, and the
// API server's count of its webhook calls and of those over 5 ms.
type apiResult struct {
	phases      map[setting][][]time.Duration
	calls, slow map[setting]float64
	// paired: the settings' i-th phases ran together, interleaved.
	paired bool
}

// measureCreates alternates the settings for rounds, n creates each, and
// leaves gatewarden installed.
func measureCreates(ctx context.Context, w *webhooks, n, rounds int, label string) (apiResult, error) {
	res := apiResult{phases: map[setting][][]time.Duration{}, calls: map[setting]float64{}, slow: map[setting]float64{}}
	settings := []setting{withGatewarden, withNoop, withNone}
	for i := 0; i < rounds; i++ {
		// Each round starts with the next setting, so that none of them
		// always follows the same one (and the work its deletes leave).
		for j := range settings {
			s := settings[(i+j)%len(settings)]
			if err := w.set(ctx, s); err != nil {
				return res, err
			}
			prefix := fmt.Sprintf("bench-%s-r%d-%s", dnsLabel(label), i, dnsLabel(strings.Fields(string(s))[0]))
			_, cleanup, err := createMany(ctx, w.cl, w.issuer, prefix+"-warm", 10)
			cleanup()
			if err != nil {
				return res, err
			}
			// The previous phase's deletes keep the API server, the
			// controller manager's garbage collector and both gatewardens'
			// informers busy for a while; a phase that started into that
			// would measure it.
			waited, busy := quietCPU(ctx, 0.25, 15*time.Second)
			gwBefore, apiBefore := readGatewarden(w.c.MetricsURL), readAPIServer(ctx, w.c.Config)
			cpuBefore := readProcCPU(w.names)
			lat, cleanup, err := createMany(ctx, w.cl, w.issuer, prefix, n)
			// Before the deletes: what the creates cost, and what they
			// left to do (the audit, the informers) within the phase.
			cpu := readProcCPU(w.names).perCall(cpuBefore, n)
			cleanup()
			if err != nil {
				return res, err
			}
			gw, api := readGatewarden(w.c.MetricsURL).minus(gwBefore), readAPIServer(ctx, w.c.Config).minus(apiBefore)
			sorted := append([]time.Duration(nil), lat...)
			sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
			server := ""
			if s != withNone {
				// The API server's own view of each webhook call.
				res.calls[s] += api.calls
				res.slow[s] += api.slow
				server = fmt.Sprintf("; API server: %.0f webhook calls, %.0f over 5 ms", api.calls, api.slow)
			}
			if s == withGatewarden {
				// Where a slow create's time went: gatewarden's own answer
				// (its handler), or elsewhere (TLS, the API server, etcd).
				server += fmt.Sprintf("; gatewarden answered %.0f admissions, %.0f of them in more than 5 ms, %.0f GC cycles", gw.admissions, gw.slow, gw.gc)
			}
			server += fmt.Sprintf("; CPU per create %s; kube-apiserver %.0f GC cycles, %.0f requests; gatewarden's own API requests %.0f",
				cpu, api.gc, api.requests, gw.requests)
			fmt.Printf("  %s round %d %-14s creates: p50 %s p99 %s max %s%s (started after %s, CPU %.0f%% busy)\n", label, i+1, s,
				loadgen.Ms(loadgen.Percentile(sorted, 50)), loadgen.Ms(loadgen.Percentile(sorted, 99)), loadgen.Ms(sorted[len(sorted)-1]), server,
				waited.Round(100*time.Millisecond), 100*busy)
			res.phases[s] = append(res.phases[s], lat)
		}
	}
	return res, w.set(ctx, withGatewarden)
}

// quietCPU waits until the machine's CPUs were less than threshold busy over
// half a second, for at most max; it returns how long it waited and the last
// half second's busy share.
func quietCPU(ctx context.Context, threshold float64, max time.Duration) (time.Duration, float64) {
	start := time.Now()
	busy := 1.0
	for time.Since(start) < max && ctx.Err() == nil {
		a := readCPU()
		time.Sleep(500 * time.Millisecond)
		if d := readCPU().minus(a); d.total() > 0 {
			busy = (d.busy + d.steal) / d.total()
		}
		if busy < threshold {
			break
		}
	}
	return time.Since(start), busy
}

// interval is the 95% bootstrap interval of the ratio of s's create p99
// to base's.
func (a apiResult) interval(s, base setting) (lo, hi float64) {
	return ratioInterval(a.phases[s], a.phases[base], 99, a.paired)
}

// ratio is s's pooled create p99 over base's.
func (a apiResult) ratio(s, base setting) float64 {
	return ratio(float64(a.p(s, 99)), float64(a.p(base, 99)))
}

// pairing names how interval resamples the phases.
func (a apiResult) pairing() string {
	if a.paired {
		return " (paired)"
	}
	return ""
}

func (a apiResult) p(s setting, q float64) time.Duration {
	l := slices.Concat(a.phases[s]...)
	slices.Sort(l)
	return loadgen.Percentile(l, q)
}

// dnsLabel keeps the lower-case letters and digits of s.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
