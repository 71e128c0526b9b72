// Command bench (gatewarden-bench in its messages) measures gatewarden against its floor, in one run
// on one machine:
//
//  1. the e2e framework starts a real kube-apiserver and etcd, the local OIDC
//     issuer and gatewarden (bin/gatewarden) with every check on;
//  2. a second `gatewarden serve` starts against the same kubeconfig on
//     another loopback port with every check off: the floor (TLS, JSON,
//     admission plumbing, mutators);
//  3. both are warmed, then loaded with AdmissionReviews (hack/bench/loadgen:
//     APIRule v2 with a jwt rule, the anchors' MUTUAL Gateway without a CA,
//     an AuthorizationPolicy; /mutate and /validate) at the same concurrency,
//     alternating rounds; it prints both, the ratios and the targets (p99
//     within 1.5x of the floor's, throughput at least 70% of it);
//  4. through the kube-apiserver: creates of APIRules (stored, then deleted), one at a time,
//     with the webhook configurations installed and deleted, alternating;
//     it prints p50/p99 of each and the ratio.
//
// All traffic stays on 127.0.0.1. Everything it starts it stops, also on
// SIGINT/SIGTERM.
//
//	make build && go run ./hack/bench      (or make bench, which runs the Go benchmarks first)
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

// The budget docs/benchmarks.md holds gatewarden to against the floor.
const (
	targetP99Ratio        = 1.5
	targetThroughputRatio = 0.70
)

type flags struct {
	root, state  string
	concurrency  int
	rounds       int
	duration     time.Duration
	warmup       time.Duration
	rest         time.Duration
	maxRequests  int
	apirules     int
	apiRounds    int
	overallLimit time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.root, "root", ".", "repository root (bin/, charts/, e2e/testdata)")
	flag.StringVar(&f.state, "state", ".e2e/bench", "directory for the kubeconfig, certificates, configs and logs")
	flag.IntVar(&f.concurrency, "concurrency", 8, "concurrent connections of the load generator, the same for both servers")
	flag.IntVar(&f.rounds, "rounds", 3, "measured rounds per server (alternating floor and gatewarden)")
	flag.DurationVar(&f.duration, "duration", 6*time.Second, "length of one measured round")
	flag.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured load on each server before the rounds")
	flag.DurationVar(&f.rest, "rest", 0, "idle pause before each measured round (lets a VM's host-level CPU throttling recover; see docs/benchmarks.md)")
	flag.IntVar(&f.maxRequests, "max-requests", 500_000, "upper bound of requests in one round")
	flag.IntVar(&f.apirules, "apirules", 150, "APIRule creates per kube-apiserver phase")
	flag.IntVar(&f.apiRounds, "api-rounds", 2, "kube-apiserver phases per setting (with / without the webhook, alternating)")
	flag.DurationVar(&f.overallLimit, "timeout", 6*time.Minute, "give up (and clean up) after this long")
	flag.Parse()
	if f.concurrency < 1 || f.rounds < 1 || f.duration <= 0 || f.apirules < 1 || f.apiRounds < 1 || f.maxRequests < 1 {
		fmt.Fprintln(os.Stderr, "gatewarden-bench: -concurrency, -rounds, -duration, -apirules, -api-rounds and -max-requests must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, f.overallLimit)
	err := run(ctx, f)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewarden-bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, f flags) error {
	root, err := filepath.Abs(f.root)
	if err != nil {
		return err
	}
	state, err := filepath.Abs(f.state)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	onPath, offPath := filepath.Join(state, "checks-on.yaml"), filepath.Join(state, "checks-off.yaml")
	if err := writeConfigs(onPath, offPath); err != nil {
		return err
	}

	began := time.Now()
	fmt.Printf("gatewarden-bench %s\n", began.UTC().Format(time.RFC3339))
	fmt.Printf("machine: %s, %d cores (GOMAXPROCS %d), %s/%s, %s; load average at start: %s\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadAvg())

	logf("starting the control plane and gatewarden (every check on: %s)", onPath)
	c, err := framework.Start(ctx, framework.Options{Root: root, StateDir: state, ExtraArgs: []string{"--config", onPath}, Log: os.Stderr})
	defer func() {
		logf("stopping gatewarden, the issuer and the control plane")
		c.Stop()
	}()
	if err != nil {
		return err
	}
	fast, err := fastClient(c.Config)
	if err != nil {
		return err
	}
	if err := applySetup(ctx, fast); err != nil {
		return err
	}

	logf("starting the floor (every check off: %s)", offPath)
	floor, err := startFloor(ctx, root, state, c, offPath)
	defer floor.stop()
	if err != nil {
		return err
	}

	reqs, err := loadgen.Mix(c.Issuer.Good())
	if err != nil {
		return err
	}
	servers := []*target{
		{name: "floor (every check off)", url: floor.url},
		{name: "gatewarden (every check on)", url: c.WebhookURL},
	}
	base := loadgen.Options{CAPEM: c.PKI.CAPEM, Requests: reqs, Concurrency: f.concurrency, MaxRequests: f.maxRequests}

	// Warm up: TLS sessions, informer caches, the issuer's discovery and
	// JWKS in gatewarden's resolver. gatewarden must admit the APIRule (its
	// Gateway and Service are in the informer cache) before we measure.
	for _, s := range servers {
		if err := warm(ctx, base, s, f.warmup); err != nil {
			return err
		}
	}

	logf("measuring: %d rounds of %s per server at concurrency %d", f.rounds, f.duration, f.concurrency)
	fmt.Printf("\nwebhook over HTTPS, concurrency %d, %d rounds of %s per server, alternating:\n", f.concurrency, f.rounds, f.duration)
	for i := 0; i < f.rounds; i++ {
		order := []*target{servers[0], servers[1]}
		if i%2 == 1 {
			order = []*target{servers[1], servers[0]}
		}
		for _, s := range order {
			if f.rest > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(f.rest):
				}
			}
			o := base
			o.URL, o.MaxDuration = s.url, f.duration
			before := readCPU()
			r, err := loadgen.Run(ctx, o)
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.rounds = append(s.rounds, r)
			fmt.Printf("  round %d %-28s %s; %s\n", i+1, s.name, r, readCPU().since(before))
			if r.Errors > 0 {
				fmt.Printf("    first error: %s\n", r.FirstError)
			}
		}
	}
	fl, gw := loadgen.Merge(servers[0].rounds...), loadgen.Merge(servers[1].rounds...)
	printWebhookSummary(f, fl, gw)

	api, err := measureAPIServer(ctx, c, fast, f)
	if err != nil {
		return err
	}
	printAPISummary(f, api)
	fmt.Printf("\nload average at end: %s; total run %s\n", loadAvg(), time.Since(began).Round(time.Second))
	return nil
}

type target struct {
	name, url string
	rounds    []*loadgen.Result
}

// writeConfigs writes the two --config files: every check on (checks that
// are off by default set to warn, the rest at their defaults) and every
// check off.
func writeConfigs(onPath, offPath string) error {
	on, off := map[string]string{}, map[string]string{}
	for _, ch := range core.Catalog() {
		off[ch.ID] = string(core.Off)
		if ch.Default == core.Off {
			on[ch.ID] = string(core.Warn)
		}
	}
	for path, checks := range map[string]map[string]string{onPath: on, offPath: off} {
		b, err := yaml.Marshal(map[string]any{"checks": checks})
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// fastClient is a client for the local API server without client-side rate
// limiting, so that the latencies measured are the server's.
func fastClient(cfg *rest.Config) (client.Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 10000, 10000
	return client.New(cfg, client.Options{Scheme: cluster.Scheme})
}

func applySetup(ctx context.Context, cl client.Client) error {
	for _, o := range loadgen.SetupObjects() {
		u := &unstructured.Unstructured{Object: o}
		if err := cl.Create(ctx, u); err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("setup %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// floorProc is the second gatewarden process.
type floorProc struct {
	cmd  *exec.Cmd
	done chan error
	log  *os.File
	url  string
}

// startFloor starts `gatewarden serve` with the flags the framework gives the
// main process, on other loopback ports, with every check off.
func startFloor(ctx context.Context, root, state string, c *framework.Cluster, config string) (*floorProc, error) {
	fp := &floorProc{}
	var ports [3]int
	for i := range ports {
		p, err := framework.FreePort()
		if err != nil {
			return fp, err
		}
		ports[i] = p
	}
	fp.url = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	probe := fmt.Sprintf("127.0.0.1:%d", ports[1])
	args := []string{"serve",
		"--kubeconfig", c.Kubeconfig,
		"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--cert-dir", c.PKI.CertDir,
		"--health-probe-bind-address", probe,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--allow-cidr", "127.0.0.0/8", "--ca-file", c.PKI.CAFile,
		"--secret-namespaces", "istio-system,kyma-system",
		"--shutdown-delay", "1s",
		"--config", config,
	}
	logPath := filepath.Join(state, "gatewarden-floor.log")
	var err error
	if fp.log, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
		return fp, err
	}
	fp.cmd = exec.Command(filepath.Join(root, "bin", "gatewarden"), args...)
	fp.cmd.Stdout, fp.cmd.Stderr = fp.log, fp.log
	if err := fp.cmd.Start(); err != nil {
		fp.cmd = nil
		return fp, err
	}
	fp.done = make(chan error, 1)
	go func() { fp.done <- fp.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-fp.done:
			fp.cmd = nil
			return fp, fmt.Errorf("floor gatewarden exited: %v (see %s)", err, logPath)
		default:
		}
		if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				logf("floor ready on %s (log %s)", fp.url, logPath)
				return fp, nil
			}
		}
		if time.Now().After(deadline) {
			return fp, fmt.Errorf("floor gatewarden not ready after 60s (see %s)", logPath)
		}
		select {
		case <-ctx.Done():
			return fp, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends the floor process: SIGTERM, then SIGKILL after 15s.
func (fp *floorProc) stop() {
	if fp == nil {
		return
	}
	if fp.cmd != nil {
		logf("stopping the floor (pid %d)", fp.cmd.Process.Pid)
		_ = fp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-fp.done:
		case <-time.After(15 * time.Second):
			_ = fp.cmd.Process.Kill()
			<-fp.done
		}
		fp.cmd = nil
	}
	if fp.log != nil {
		fp.log.Close()
		fp.log = nil
	}
}

// warm loads a server for d and checks its verdicts: the floor allows
// everything; gatewarden allows the APIRule and the policy and denies the
// Gateway. gatewarden's informers may lag the setup objects by a moment, so
// a denied APIRule is retried for a while.
func warm(ctx context.Context, base loadgen.Options, s *target, d time.Duration) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := base
		o.URL, o.MaxDuration = s.url, d
		r, err := loadgen.Run(ctx, o)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("warm-up %s: %s", s.name, r)
		floor := strings.HasPrefix(s.name, "floor")
		var bad []string
		if r.Errors > 0 {
			bad = append(bad, "errors: "+r.FirstError)
		}
		names := make([]string, 0, len(r.ByRequest))
		for n := range r.ByRequest {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			sp := r.ByRequest[n]
			wantDenied := !floor && n == "Gateway /validate"
			if (wantDenied && sp.Allowed > 0) || (!wantDenied && sp.Denied > 0) {
				bad = append(bad, fmt.Sprintf("%s: allowed %d, denied %d", n, sp.Allowed, sp.Denied))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer as expected after warm-up: %s", s.name, strings.Join(bad, "; "))
		}
		logf("%s not settled yet (%s); warming again", s.name, strings.Join(bad, "; "))
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func printWebhookSummary(f flags, fl, gw *loadgen.Result) {
	fmt.Printf("\nall rounds together (%d requests each server at most per round; mix: APIRule v2 jwt, MUTUAL Gateway without CA, AuthorizationPolicy; /mutate and /validate):\n", f.maxRequests)
	fmt.Printf("  %-28s %10s %9s %9s %9s %9s  %s\n", "server", "req/s", "p50", "p90", "p99", "max", "allowed/denied/errors")
	for _, x := range []struct {
		name string
		r    *loadgen.Result
	}{{"floor (every check off)", fl}, {"gatewarden (every check on)", gw}} {
		fmt.Printf("  %-28s %10.0f %9s %9s %9s %9s  %d/%d/%d\n", x.name, x.r.Throughput,
			loadgen.Ms(x.r.P50), loadgen.Ms(x.r.P90), loadgen.Ms(x.r.P99), loadgen.Ms(x.r.Max), x.r.Allowed, x.r.Denied, x.r.Errors)
	}
	tput := ratio(gw.Throughput, fl.Throughput)
	p99 := ratio(float64(gw.P99), float64(fl.P99))
	p50 := ratio(float64(gw.P50), float64(fl.P50))
	fmt.Printf("  throughput: gatewarden %.0f%% of the floor (target at least %.0f%%): %s\n", 100*tput, 100*targetThroughputRatio, verdict(tput >= targetThroughputRatio))
	fmt.Printf("  p99: gatewarden %.2fx the floor's (target at most %.1fx): %s\n", p99, targetP99Ratio, verdict(p99 <= targetP99Ratio))
	fmt.Printf("  p50: gatewarden %.2fx the floor's\n", p50)
	fmt.Printf("  markdown: | %d | %.0f | %s | %s | %.0f | %s | %s | %.0f%% | %.2fx |\n", f.concurrency,
		fl.Throughput, loadgen.Ms(fl.P50), loadgen.Ms(fl.P99), gw.Throughput, loadgen.Ms(gw.P50), loadgen.Ms(gw.P99), 100*tput, p99)
}

// apiResult holds the create latencies of each setting.
type apiResult struct {
	with, without []time.Duration
}

// webhookConfigs are the kinds and names of the rendered webhook
// configurations.
func webhookConfigs(rendered []byte) ([]*unstructured.Unstructured, error) {
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

// probe tells whether the API server calls the webhook: a dry-run of the
// Gateway gatewarden denies (validating), and a dry-run of an APIRule without
// a gateway, which gatewarden's mutating webhook defaults.
func probe(ctx context.Context, cl client.Client, issuer string) (validating, mutating bool, err error) {
	gwObj := &unstructured.Unstructured{Object: loadgen.MutualGatewayWithoutCA("bench-probe")}
	err = cl.Create(ctx, gwObj, client.DryRunAll)
	validating = err != nil && strings.Contains(err.Error(), "gatewarden")
	if err != nil && !validating {
		return false, false, fmt.Errorf("probe Gateway: %w", err)
	}
	rule := loadgen.APIRuleV2("bench-probe", "probe.local.kyma.dev", issuer)
	delete(rule["spec"].(map[string]any), "gateway")
	u := &unstructured.Unstructured{Object: rule}
	if err := cl.Create(ctx, u, client.DryRunAll); err != nil {
		// Without the mutating webhook, validation (if still active)
		// denies the missing gateway.
		if strings.Contains(err.Error(), "gatewarden") {
			return validating, false, nil
		}
		return validating, false, fmt.Errorf("probe APIRule: %w", err)
	}
	gwName, _, _ := unstructured.NestedString(u.Object, "spec", "gateway")
	return validating, gwName != "", nil
}

func waitWebhooks(ctx context.Context, cl client.Client, issuer string, want bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, m, err := probe(ctx, cl, issuer)
		if err == nil && v == want && m == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhooks active=%v/%v (validating/mutating) after 30s, want %v (last error: %v)", v, m, want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createMany creates n distinct APIRules one at a time, stored in etcd as a
// kubectl apply would, deletes them afterwards (unmeasured), and returns
// each create's latency.
func createMany(ctx context.Context, cl client.Client, issuer, prefix string, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	created := make([]*unstructured.Unstructured, 0, n)
	defer func() {
		for _, u := range created {
			_ = cl.Delete(context.WithoutCancel(ctx), u)
		}
	}()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		u := &unstructured.Unstructured{Object: loadgen.APIRuleV2(name, name+".local.kyma.dev", issuer)}
		start := time.Now()
		err := cl.Create(ctx, u)
		lat = append(lat, time.Since(start))
		if err != nil {
			return lat, fmt.Errorf("create of APIRule %s: %w", name, err)
		}
		created = append(created, u)
	}
	return lat, nil
}

func measureAPIServer(ctx context.Context, c *framework.Cluster, cl client.Client, f flags) (*apiResult, error) {
	rendered, err := c.RenderWebhooks()
	if err != nil {
		return nil, err
	}
	configs, err := webhookConfigs(rendered)
	if err != nil {
		return nil, err
	}
	issuer := c.Issuer.Good()
	res := &apiResult{}
	logf("kube-apiserver: %d rounds of %d APIRule creates with and without the webhook", f.apiRounds, f.apirules)
	fmt.Printf("\nthrough the kube-apiserver: APIRule v2 creates (stored, deleted after each phase), one at a time, %d per phase:\n", f.apirules)
	for i := 0; i < f.apiRounds; i++ {
		for _, installed := range []bool{true, false} {
			if installed {
				if err := c.Apply(ctx, rendered); err != nil {
					return nil, err
				}
			} else {
				for _, u := range configs {
					if err := cl.Delete(ctx, u.DeepCopy()); err != nil && !strings.Contains(err.Error(), "not found") {
						return nil, fmt.Errorf("deleting %s %s: %w", u.GetKind(), u.GetName(), err)
					}
				}
			}
			if err := waitWebhooks(ctx, cl, issuer, installed); err != nil {
				return nil, err
			}
			label := "without webhook"
			if installed {
				label = "with webhook"
			}
			prefix := fmt.Sprintf("bench-%d-%t", i, installed)
			// A few unmeasured creates settle connections on both sides.
			if _, err := createMany(ctx, cl, issuer, prefix+"-warm", 10); err != nil {
				return nil, err
			}
			lat, err := createMany(ctx, cl, issuer, prefix, f.apirules)
			if err != nil {
				return nil, err
			}
			sorted := append([]time.Duration(nil), lat...)
			sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
			line := fmt.Sprintf("  round %d %-16s p50 %s  p99 %s  max %s", i+1, label,
				loadgen.Ms(loadgen.Percentile(sorted, 50)), loadgen.Ms(loadgen.Percentile(sorted, 99)), loadgen.Ms(sorted[len(sorted)-1]))
			fmt.Println(line)
			if installed {
				res.with = append(res.with, lat...)
			} else {
				res.without = append(res.without, lat...)
			}
		}
	}
	// Leave the webhook installed, as the framework had it.
	if err := c.Apply(ctx, rendered); err != nil {
		return nil, err
	}
	return res, nil
}

func printAPISummary(f flags, a *apiResult) {
	sort.Slice(a.with, func(i, j int) bool { return a.with[i] < a.with[j] })
	sort.Slice(a.without, func(i, j int) bool { return a.without[i] < a.without[j] })
	w50, w99 := loadgen.Percentile(a.with, 50), loadgen.Percentile(a.with, 99)
	n50, n99 := loadgen.Percentile(a.without, 50), loadgen.Percentile(a.without, 99)
	fmt.Printf("  all rounds: with webhook p50 %s p99 %s (%d creates); without p50 %s p99 %s (%d creates)\n",
		loadgen.Ms(w50), loadgen.Ms(w99), len(a.with), loadgen.Ms(n50), loadgen.Ms(n99), len(a.without))
	fmt.Printf("  ratio with/without: p50 %.2fx, p99 %.2fx; added at p50 %s\n", ratio(float64(w50), float64(n50)), ratio(float64(w99), float64(n99)), loadgen.Ms(w50-n50))
	fmt.Printf("  markdown: | %d | %s | %s | %s | %s | %.2fx | %.2fx |\n", len(a.with), loadgen.Ms(n50), loadgen.Ms(n99), loadgen.Ms(w50), loadgen.Ms(w99),
		ratio(float64(w50), float64(n50)), ratio(float64(w99), float64(n99)))
}

func cpuModel() string {
	fh, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// cpuTimes are the machine's CPU counters from /proc/stat, in clock ticks.
type cpuTimes struct{ busy, idle, steal float64 }

func readCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}
	}
	v := make([]float64, 8)
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	// user nice system idle iowait irq softirq steal
	return cpuTimes{busy: v[0] + v[1] + v[2] + v[5] + v[6], idle: v[3] + v[4], steal: v[7]}
}

// since describes the CPU time between two readings as shares: steal is time
// the hypervisor kept the VM's CPUs from running, which no code here can
// cause or avoid, and which turns into latency for whatever was running.
func (c cpuTimes) since(b cpuTimes) string {
	busy, idle, steal := c.busy-b.busy, c.idle-b.idle, c.steal-b.steal
	total := busy + idle + steal
	if total <= 0 {
		return "cpu unknown"
	}
	return fmt.Sprintf("cpu busy %.0f%%, idle %.0f%%, steal %.0f%%", 100*busy/total, 100*idle/total, 100*steal/total)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}
