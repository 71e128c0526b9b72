// Command bench (gatewarden-bench in its messages) measures gatewarden
// against the bare admission floor, in one run on one machine:
//
//  1. the e2e framework starts a real kube-apiserver and etcd, the local OIDC
//     issuer and gatewarden (bin/gatewarden, defaults: audit on) with its
//     webhook configurations rendered from the chart;
//  2. the floor starts as a process of its own (this program's `floor`
//     subcommand, hack/bench/floor: a Go TLS server that decodes the
//     AdmissionReview and answers allowed), and a second `gatewarden serve`
//     with the default checks and the audit off; both gatewardens get the
//     environment the chart's Deployment gives (framework.ChartEnv: GOMEMLIMIT
//     from the memory limit, which their collectors pace to) and -env;
//  3. per kind (APIRule v2 with a jwt rule on a warm trust cache, the MUTUAL
//     Gateway without a CA, RequestAuthentication, AuthorizationPolicy), both
//     servers get that kind's object to /mutate and /validate at the same
//     concurrency, floor, gatewarden, floor, gatewarden (hack/bench/loadgen);
//     with -profile-dir, gatewarden's CPU and allocation profiles of one more
//     round per kind are written there;
//  4. for each number of stored APIRules (-stored, up to 10,000): the APIRule
//     run again, the resident size of both gatewardens, the objects the audit
//     re-checks after one change of an APIRule, of a Service and of an
//     unrelated Secret, and creates through the kube-apiserver with
//     gatewarden, with gatewarden with its audit off, with the floor
//     registered as a no-op webhook by the same chart-rendered
//     configurations, and with no webhook: each setting has a namespace of
//     its own (the others' namespaces excluded in its configurations), and a
//     phase creates in all of them by turns, so that the API server's own
//     bursts fall on every setting alike (-interleave=false: one setting
//     registered at a time, alternating phase by phase); each phase starts
//     once the machine is quiet; with -pin, the control plane and this
//     program run on some CPUs and the webhook servers on others during
//     those phases.
//
// All traffic stays on 127.0.0.1. Everything it starts it stops, also on
// SIGINT/SIGTERM.
//
//	make build && go run ./hack/bench      (make bench runs the Go benchmarks first)
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
	"github.com/gatewarden/gatewarden/internal/cluster"
)

// The budget gatewarden is held to against the floor (issue: admission at
// the floor).
const (
	targetP99Ratio        = 1.5
	targetThroughputRatio = 0.70
	targetCreateP99Ratio  = 1.2
)

type flags struct {
	root, state, binary string
	mainArgs            string
	mainPprof           string
	env                 string
	concurrency         int
	rounds              int
	duration            time.Duration
	storedDuration      time.Duration
	warmup              time.Duration
	maxRequests         int
	kinds               []string
	stored              []int
	apiCreates          int
	apiRounds           int
	interleave          bool
	profileDir          string
	overallLimit        time.Duration
	pin                 *cpuSplit
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := floorMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "gatewarden-bench floor:", err)
			os.Exit(1)
		}
		return
	}
	var f flags
	var kinds, stored, pin string
	flag.StringVar(&f.root, "root", ".", "repository root (bin/, charts/, e2e/testdata)")
	flag.StringVar(&f.state, "state", ".e2e/bench", "directory for the kubeconfig, certificates, configs and logs")
	flag.StringVar(&f.binary, "binary", "", "gatewarden binary of the audit-off server (default: <root>/bin/gatewarden)")
	flag.StringVar(&f.mainArgs, "main-args", "--audit-debounce=1s", "extra flags of the framework's gatewarden (audit on), space-separated")
	flag.IntVar(&f.concurrency, "concurrency", 8, "concurrent connections of the load generator, the same for both servers")
	flag.IntVar(&f.rounds, "rounds", 2, "measured rounds per server and kind (floor, gatewarden, floor, gatewarden...)")
	flag.DurationVar(&f.duration, "duration", 10*time.Second, "length of one measured round")
	flag.DurationVar(&f.storedDuration, "stored-duration", 5*time.Second, "length of one APIRule round at each number of stored APIRules")
	flag.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured load on each server before a kind's rounds")
	flag.IntVar(&f.maxRequests, "max-requests", 1_000_000, "upper bound of requests in one round")
	flag.StringVar(&kinds, "kinds", strings.Join(loadgen.Kinds, ","), "kinds to compare with the floor (empty: none)")
	flag.StringVar(&stored, "stored", "0,1000,10000", "numbers of stored APIRules to measure at, ascending (empty: none)")
	flag.IntVar(&f.apiCreates, "api-creates", 300, "APIRule creates per kube-apiserver phase")
	flag.IntVar(&f.apiRounds, "api-rounds", 10, "kube-apiserver phases per setting")
	flag.BoolVar(&f.interleave, "interleave", true, "each phase creates in every setting by turns (one namespace per setting; also gatewarden with the audit off); false: the settings alternate phase by phase, each registered alone")
	flag.StringVar(&f.env, "env", "", "environment of both gatewardens beyond the chart's (GOMEMLIMIT from its memory limit), space-separated NAME=value, e.g. GOGC=100")
	flag.StringVar(&f.mainPprof, "main-pprof", "", "pprof address of the framework's gatewarden (give --pprof-bind-address in -main-args): its heap profile is written to -profile-dir at each number of stored APIRules")
	flag.StringVar(&f.profileDir, "profile-dir", "", "write gatewarden's CPU and allocation profiles per kind here")
	flag.StringVar(&pin, "pin", "", "during the creates through the kube-apiserver, CPUs of the control plane and this program / of the webhook servers, e.g. 0/1 (empty: all share every CPU)")
	flag.DurationVar(&f.overallLimit, "timeout", 60*time.Minute, "give up (and clean up) after this long")
	flag.Parse()
	if kinds != "" {
		f.kinds = strings.Split(kinds, ",")
	}
	for _, s := range strings.Split(stored, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || (len(f.stored) > 0 && n < f.stored[len(f.stored)-1]) {
			fmt.Fprintln(os.Stderr, "gatewarden-bench: -stored wants ascending numbers, e.g. 0,1000,10000")
			os.Exit(2)
		}
		f.stored = append(f.stored, n)
	}
	if pin != "" {
		sp, err := parseSplit(pin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gatewarden-bench:", err)
			os.Exit(2)
		}
		f.pin = sp
	}
	if f.concurrency < 1 || f.rounds < 1 || f.duration <= 0 || f.apiCreates < 1 || f.apiRounds < 1 || f.maxRequests < 1 {
		fmt.Fprintln(os.Stderr, "gatewarden-bench: -concurrency, -rounds, -duration, -api-creates, -api-rounds and -max-requests must be positive")
		os.Exit(2)
	}
	// The API server's warnings on the bench's own writes are expected
	// (stored APIRules warn); controller-runtime would otherwise print a
	// stack trace about its logger at the first one.
	ctrllog.SetLogger(logr.Discard())
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
	binary := f.binary
	if binary == "" {
		binary = filepath.Join(root, "bin", "gatewarden")
	}

	began := time.Now()
	fmt.Printf("gatewarden-bench %s\n", began.UTC().Format(time.RFC3339))
	fmt.Printf("machine: %s, %d cores (GOMAXPROCS %d), %s/%s, %s; load average at start: %s\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadAvg())

	logf("starting the control plane and gatewarden (defaults, audit on, %s)", f.mainArgs)
	c, err := framework.Start(ctx, framework.Options{Root: root, StateDir: state, ExtraArgs: strings.Fields(f.mainArgs), ExtraEnv: strings.Fields(f.env), Log: os.Stderr})
	defer func() {
		logf("stopping gatewarden, the issuer and the control plane")
		c.Stop()
	}()
	if err != nil {
		return err
	}
	logf("both gatewardens' environment adds %s", strings.Join(c.GatewardenEnv, " "))
	fast, err := fastClient(c.Config)
	if err != nil {
		return err
	}
	if err := applySetup(ctx, fast); err != nil {
		return err
	}
	fl, err := startFloor(state, c)
	defer fl.stop()
	if err != nil {
		return err
	}
	extra := []string{"--audit-interval", "0"}
	if f.profileDir != "" {
		extra = append(extra, "--pprof-bind-address", "{pprof}")
	}
	gw, err := startGatewarden(ctx, "gatewarden", binary, state, c, extra...)
	defer gw.stop()
	if err != nil {
		return err
	}
	if f.profileDir == "" {
		gw.pprof = ""
	}
	issuer := c.Issuer.Good()
	base := loadgen.Options{CAPEM: c.PKI.CAPEM, Concurrency: f.concurrency, MaxRequests: f.maxRequests}

	if len(f.kinds) > 0 {
		fmt.Printf("\nper kind over HTTPS, concurrency %d, %d rounds of %s per server, floor and gatewarden alternating:\n", f.concurrency, f.rounds, f.duration)
		var results []*kindResult
		for _, kind := range f.kinds {
			r, err := compareKind(ctx, f, base, kind, issuer, fl, gw, f.duration, kind)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		printKinds(results)
		fmt.Printf("  load average now: %s\n", loadAvg())
	}

	if len(f.stored) > 0 {
		if err := measureStored(ctx, f, c, fast, fl, gw, base, issuer); err != nil {
			return err
		}
	}
	fmt.Printf("\nload average at end: %s; total run %s\n", loadAvg(), time.Since(began).Round(time.Second))
	return nil
}

// levelResult is what one number of stored APIRules measured.
type levelResult struct {
	stored           int
	apirule          *kindResult
	main, gw         memory
	mainHeap, gwHeap float64
	audit            []auditChange
	api              apiResult
}

func measureStored(ctx context.Context, f flags, c *framework.Cluster, cl client.Client, fl, gw *proc, base loadgen.Options, issuer string) error {
	hooks, err := newWebhooks(c, cl, fl)
	if err != nil {
		return err
	}
	mainProc := &proc{name: "gatewarden (audit on)", url: c.WebhookURL, metrics: c.MetricsURL}
	hooks.names = map[int]string{c.PID(): "gatewarden", gw.pid(): "gatewarden-audit-off", fl.pid(): "no-op"}
	fmt.Printf("\nwith stored APIRules (%d namespaces, each with its Service; valid, one jwt rule each):\n", storedNamespaces)
	var levels []*levelResult
	have := 0
	for _, n := range f.stored {
		label := fmt.Sprintf("stored=%d", n)
		if n > have {
			if err := ensureNamespaces(ctx, cl); err != nil {
				return err
			}
			logf("creating stored APIRules %d to %d (webhook configurations removed meanwhile)", have, n)
			if err := hooks.set(ctx, withNone); err != nil {
				return err
			}
			start := time.Now()
			if err := growStored(ctx, cl, issuer, have, n); err != nil {
				return err
			}
			logf("created %d APIRules in %s", n-have, time.Since(start).Round(time.Millisecond))
			have = n
			if err := hooks.set(ctx, withGatewarden); err != nil {
				return err
			}
			for _, p := range []*proc{mainProc, gw} {
				if err := waitSeen(ctx, base, p.url, issuer, n-1); err != nil {
					return err
				}
			}
			settleAudit(ctx, mainProc.metrics, 5*time.Second)
		}
		lr := &levelResult{stored: n}
		r, err := compareKind(ctx, f, base, "APIRule", issuer, fl, gw, f.storedDuration, label+" APIRule")
		if err != nil {
			return err
		}
		lr.apirule = r
		if lr.main, err = readMemory(c.PID()); err != nil {
			return err
		}
		if lr.gw, err = readMemory(gw.pid()); err != nil {
			return err
		}
		lr.mainHeap, lr.gwHeap = heapInUse(mainProc.metrics), heapInUse(gw.metrics)
		fmt.Printf("  %s: gatewarden (audit on) %s, heap in use %s (%s); gatewarden (audit off) %s, heap in use %s (%s)\n",
			label, lr.main, mib(int64(lr.mainHeap)), pacing(mainProc.metrics), lr.gw, mib(int64(lr.gwHeap)), pacing(gw.metrics))
		if f.mainPprof != "" && f.profileDir != "" {
			if err := get(ctx, "http://"+f.mainPprof+"/debug/pprof/heap", filepath.Join(f.profileDir, label+".main-heap.pb.gz")); err != nil {
				return err
			}
		}
		lr.audit = auditChanges(ctx, cl, mainProc.metrics, n, issuer)
		servers := []int{c.PID(), gw.pid(), fl.pid()}
		if f.pin != nil {
			if err := f.pin.apply(servers...); err != nil {
				return err
			}
			fmt.Printf("  %s creates: %s\n", label, f.pin)
		}
		if f.interleave {
			var il *interleaved
			if il, err = newInterleaved(hooks, mainProc, gw); err == nil {
				lr.api, err = il.measure(ctx, f.apiCreates, f.apiRounds, label)
			}
		} else {
			lr.api, err = measureCreates(ctx, hooks, f.apiCreates, f.apiRounds, label)
		}
		if f.pin != nil {
			if rerr := f.pin.release(servers...); rerr != nil && err == nil {
				err = rerr
			}
		}
		if err != nil {
			return err
		}
		levels = append(levels, lr)
	}
	printLevels(levels)
	return nil
}

func printLevels(levels []*levelResult) {
	fmt.Printf("\nby stored APIRules:\n")
	fmt.Printf("  %-8s %9s %9s %6s %8s %8s %6s %26s %26s %11s %11s %11s %7s %s\n", "stored", "floor/s", "gw/s", "tput", "floor99", "gw p99", "p99x",
		"resident (audit on)", "resident (audit off)", "create gw", "no-op", "none", "p99x", "audit re-checks")
	for _, l := range levels {
		var audits []string
		for _, a := range l.audit {
			if a.ok {
				audits = append(audits, fmt.Sprintf("%.0f", a.objects))
			} else {
				audits = append(audits, "n/a")
			}
		}
		k := l.apirule
		fmt.Printf("  %-8d %9.0f %9.0f %5.0f%% %8s %8s %5.2fx %26s %26s %11s %11s %11s %6.2fx %s\n", l.stored,
			k.floor.Throughput, k.gw.Throughput, 100*k.throughputRatio(), loadgen.Ms(k.floor.P99), loadgen.Ms(k.gw.P99), k.p99Ratio(),
			mib(l.main.rss)+" ("+mib(l.main.hwm)+")", mib(l.gw.rss)+" ("+mib(l.gw.hwm)+")",
			loadgen.Ms(l.api.p(withGatewarden, 99)), loadgen.Ms(l.api.p(withNoop, 99)), loadgen.Ms(l.api.p(withNone, 99)),
			l.api.ratio(withGatewarden, withNoop), strings.Join(audits, " / "))
	}
	fmt.Println("  create p50 (gatewarden / no-op / none):")
	for _, l := range levels {
		lo, hi := l.api.interval(withGatewarden, withNoop)
		fmt.Printf("    stored=%d: %s / %s / %s, p99 ratio to no-op %.2fx (target at most %.1fx): %s; 95%% interval over phases%s %.2fx to %.2fx: %s\n", l.stored,
			loadgen.Ms(l.api.p(withGatewarden, 50)), loadgen.Ms(l.api.p(withNoop, 50)), loadgen.Ms(l.api.p(withNone, 50)),
			l.api.ratio(withGatewarden, withNoop), targetCreateP99Ratio, verdict(l.api.ratio(withGatewarden, withNoop) <= targetCreateP99Ratio),
			l.api.pairing(), lo, hi, settled(lo, hi, targetCreateP99Ratio))
		if len(l.api.phases[withAuditOff]) > 0 {
			lo, hi := l.api.interval(withAuditOff, withNoop)
			fmt.Printf("      with the audit off: p50 %s, p99 %s, ratio to no-op %.2fx, 95%% interval %.2fx to %.2fx: %s\n",
				loadgen.Ms(l.api.p(withAuditOff, 50)), loadgen.Ms(l.api.p(withAuditOff, 99)), l.api.ratio(withAuditOff, withNoop),
				lo, hi, settled(lo, hi, targetCreateP99Ratio))
		}
	}
	fmt.Println("  median of the phases' create p99 (gatewarden / no-op / none):")
	for _, l := range levels {
		g, n := medianPhase(l.api.phases[withGatewarden], 99), medianPhase(l.api.phases[withNoop], 99)
		fmt.Printf("    stored=%d: %s / %s / %s, ratio to no-op %.2fx\n", l.stored,
			loadgen.Ms(g), loadgen.Ms(n), loadgen.Ms(medianPhase(l.api.phases[withNone], 99)), ratio(float64(g), float64(n)))
	}
	for _, l := range levels {
		if l.api.paired {
			fmt.Printf("  admissions over 5 ms in gatewarden's handler (audit on / off), stored=%d: %.0f of %.0f / %.0f of %.0f\n", l.stored,
				l.api.slow[withGatewarden], l.api.calls[withGatewarden], l.api.slow[withAuditOff], l.api.calls[withAuditOff])
			continue
		}
		fmt.Printf("  webhook calls over 5 ms, as the API server counted them (gatewarden / no-op), stored=%d: %.0f of %.0f / %.0f of %.0f\n", l.stored,
			l.api.slow[withGatewarden], l.api.calls[withGatewarden], l.api.slow[withNoop], l.api.calls[withNoop])
	}
	fmt.Println("  audit after one change (objects re-checked, seconds):")
	for _, l := range levels {
		var s []string
		for _, a := range l.audit {
			s = append(s, a.String())
		}
		if len(s) > 0 {
			fmt.Printf("    stored=%d: %s\n", l.stored, strings.Join(s, "; "))
		}
	}
	fmt.Println("  markdown:")
	for _, l := range levels {
		k := l.apirule
		var audits []string
		for _, a := range l.audit {
			if a.ok {
				audits = append(audits, fmt.Sprintf("%.0f (%.2f s)", a.objects, a.took))
			} else {
				audits = append(audits, "n/a")
			}
		}
		if len(audits) == 0 {
			audits = []string{"–"}
		}
		fmt.Printf("  | %d | %.0f | %.0f | %.0f%% | %.2fx | %s | %s | %s | %s / %s / %s | %.2fx | %s |\n", l.stored,
			k.floor.Throughput, k.gw.Throughput, 100*k.throughputRatio(), k.p99Ratio(),
			mib(l.main.rss), mib(l.main.hwm), mib(l.gw.rss),
			loadgen.Ms(l.api.p(withGatewarden, 99)), loadgen.Ms(l.api.p(withNoop, 99)), loadgen.Ms(l.api.p(withNone, 99)),
			l.api.ratio(withGatewarden, withNoop), strings.Join(audits, " / "))
	}
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
	d := c.minus(b)
	total := d.total()
	if total <= 0 {
		return "cpu unknown"
	}
	return fmt.Sprintf("cpu busy %.0f%%, idle %.0f%%, steal %.0f%%; load %s", 100*d.busy/total, 100*d.idle/total, 100*d.steal/total, loadAvg())
}

func (c cpuTimes) minus(b cpuTimes) cpuTimes {
	return cpuTimes{busy: c.busy - b.busy, idle: c.idle - b.idle, steal: c.steal - b.steal}
}

func (c cpuTimes) total() float64 { return c.busy + c.idle + c.steal }

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
