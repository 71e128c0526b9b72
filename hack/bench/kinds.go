package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
)

// kindResult is one kind's rounds against both servers.
type kindResult struct {
	kind          string
	floor, gw     *loadgen.Result
	floorRounds   []*loadgen.Result
	gwRounds      []*loadgen.Result
	allowedDenied string
}

func (k *kindResult) throughputRatio() float64 { return ratio(k.gw.Throughput, k.floor.Throughput) }
func (k *kindResult) p99Ratio() float64        { return ratio(float64(k.gw.P99), float64(k.floor.P99)) }
func (k *kindResult) met() bool {
	return k.throughputRatio() >= targetThroughputRatio && k.p99Ratio() <= targetP99Ratio
}

// compareKind loads the floor and gatewarden with one kind's admission
// (its object to /mutate and /validate), alternating floor, gatewarden,
// floor, gatewarden for rounds pairs, after a warm-up of each. With a
// profile directory it then takes gatewarden's CPU and allocation profiles
// over one more, unmeasured round.
func compareKind(ctx context.Context, f flags, base loadgen.Options, kind, issuer string, fl, gw *proc, duration time.Duration, label string) (*kindResult, error) {
	reqs, err := loadgen.KindRequests(kind, issuer)
	if err != nil {
		return nil, err
	}
	base.Requests = reqs
	res := &kindResult{kind: kind}
	for _, s := range []*proc{fl, gw} {
		if err := warm(ctx, base, s, kind, f.warmup); err != nil {
			return nil, err
		}
	}
	for i := 0; i < f.rounds; i++ {
		for _, s := range []*proc{fl, gw} {
			// Background work (an informer relisting, the audit's run
			// after a growth, the last round's collections) would fall on
			// whichever server's round it overlaps.
			waited, busy := quietCPU(ctx, 0.25, 15*time.Second)
			o := base
			o.URL, o.MaxDuration = s.url, duration
			before, srvBefore, genBefore := readCPU(), cpuSeconds(s.pid()), cpuSeconds(0)
			r, err := loadgen.Run(ctx, o)
			if err != nil {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			perReq := func(sec float64) string {
				if r.Requests == 0 {
					return "?"
				}
				return fmt.Sprintf("%.0f µs", 1e6*sec/float64(r.Requests))
			}
			fmt.Printf("  %s round %d %-10s %s; CPU per request: server %s, load generator %s; %s (started after %s, CPU %.0f%% busy)\n", label, i+1, s.name, r,
				perReq(cpuSeconds(s.pid())-srvBefore), perReq(cpuSeconds(0)-genBefore), readCPU().since(before),
				waited.Round(100*time.Millisecond), 100*busy)
			if r.Errors > 0 {
				fmt.Printf("    first error: %s\n", r.FirstError)
			}
			if s == fl {
				res.floorRounds = append(res.floorRounds, r)
			} else {
				res.gwRounds = append(res.gwRounds, r)
			}
		}
	}
	res.floor, res.gw = loadgen.Merge(res.floorRounds...), loadgen.Merge(res.gwRounds...)
	names := make([]string, 0, len(res.gw.ByRequest))
	for n := range res.gw.ByRequest {
		names = append(names, n)
	}
	sort.Strings(names)
	var split []string
	for _, n := range names {
		sp := res.gw.ByRequest[n]
		split = append(split, fmt.Sprintf("%s %d/%d", strings.TrimPrefix(n, kind+" "), sp.Allowed, sp.Denied))
	}
	res.allowedDenied = strings.Join(split, ", ")
	if f.profileDir != "" && gw.pprof != "" {
		if err := profileRound(ctx, base, gw, f.profileDir, label, duration); err != nil {
			logf("profiles of %s: %v", label, err)
		}
	}
	return res, nil
}

// profileRound takes a CPU profile of gatewarden over one round of load,
// and allocation profiles before and after it (compare them with
// `go tool pprof -sample_index=alloc_space -base before after`).
func profileRound(ctx context.Context, base loadgen.Options, gw *proc, dir, label string, d time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := strings.NewReplacer("/", "-", " ", "-", "=", "-").Replace(label)
	if err := get(ctx, gw.pprof+"/debug/pprof/allocs", filepath.Join(dir, name+".allocs-before.pb.gz")); err != nil {
		return err
	}
	secs := int(d.Seconds())
	if secs < 1 {
		secs = 1
	}
	done := make(chan error, 1)
	go func() {
		done <- get(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", gw.pprof, secs), filepath.Join(dir, name+".cpu.pb.gz"))
	}()
	o := base
	o.URL, o.MaxDuration = gw.url, time.Duration(secs)*time.Second
	if _, err := loadgen.Run(ctx, o); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	if err := get(ctx, gw.pprof+"/debug/pprof/allocs", filepath.Join(dir, name+".allocs-after.pb.gz")); err != nil {
		return err
	}
	logf("profiles of %s in %s", label, dir)
	return nil
}

// warm loads a server for d and checks it answers: no errors, and
// gatewarden admits what it should (an APIRule whose Gateway and Service
// are in its cache; its informers may lag the setup objects a moment, so a
// denied APIRule is retried for a while).
func warm(ctx context.Context, base loadgen.Options, s *proc, kind string, d time.Duration) error {
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
		logf("warm-up %s %s: %s", s.name, kind, r)
		var bad []string
		if r.Errors > 0 {
			bad = append(bad, "errors: "+r.FirstError)
		}
		for n, sp := range r.ByRequest {
			wantAllowed := s.name == "floor" || kind == "APIRule" || strings.HasSuffix(n, "/mutate")
			if wantAllowed && sp.Denied > 0 {
				bad = append(bad, fmt.Sprintf("%s: allowed %d, denied %d", n, sp.Allowed, sp.Denied))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer %s as expected after warm-up: %s", s.name, kind, strings.Join(bad, "; "))
		}
		logf("%s not settled yet (%s); warming again", s.name, strings.Join(bad, "; "))
	}
}

func printKinds(results []*kindResult) {
	fmt.Printf("\nper kind, all rounds together (floor: decode the AdmissionReview, answer allowed; gatewarden: default checks, audit off):\n")
	fmt.Printf("  %-22s %9s %8s %8s %9s %8s %8s %7s %7s  %-6s %s\n", "kind", "floor/s", "p50", "p99", "gw/s", "p50", "p99", "tput", "p99x", "target", "gatewarden allowed/denied")
	for _, k := range results {
		fmt.Printf("  %-22s %9.0f %8s %8s %9.0f %8s %8s %6.0f%% %6.2fx  %-6s %s\n", k.kind,
			k.floor.Throughput, loadgen.Ms(k.floor.P50), loadgen.Ms(k.floor.P99),
			k.gw.Throughput, loadgen.Ms(k.gw.P50), loadgen.Ms(k.gw.P99),
			100*k.throughputRatio(), k.p99Ratio(), verdict(k.met()), k.allowedDenied)
	}
	fmt.Println("  markdown:")
	for _, k := range results {
		perRound := func(rs []*loadgen.Result) string {
			var s []string
			for _, r := range rs {
				s = append(s, fmt.Sprintf("%.0f", r.Throughput))
			}
			return strings.Join(s, " / ")
		}
		fmt.Printf("  | %s | %.0f (%s) | %s | %s | %.0f (%s) | %s | %s | %.0f%% | %.2fx |\n", k.kind,
			k.floor.Throughput, perRound(k.floorRounds), loadgen.Ms(k.floor.P50), loadgen.Ms(k.floor.P99),
			k.gw.Throughput, perRound(k.gwRounds), loadgen.Ms(k.gw.P50), loadgen.Ms(k.gw.P99),
			100*k.throughputRatio(), k.p99Ratio())
	}
}
