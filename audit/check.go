package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// Operation is what the audit passes as the review operation.
const Operation = "AUDIT"

// Outcome is one target's verdict.
type Outcome struct {
	Target Target
	Result *review.Result
	// TimedOut is set when the checks did not finish within the per-object
	// timeout; Result then holds a single warning saying so.
	TimedOut bool
	// Pass and Skipped count the checks that passed and those the policy
	// turned off (Result.Counts).
	Pass, Skipped int
}

func outcome(t Target, res *review.Result) Outcome {
	o := Outcome{Target: t, Result: res}
	o.Pass, o.Skipped = res.Counts()
	return o
}

// Check reviews every target as the webhook would on its next write
// (defaults computed, never written, then the checks on the defaulted
// object), with at most workers at a time and
// each within timeout, so one slow issuer delays only the objects that use
// it. Outcomes are in the order of targets.
func Check(ctx context.Context, rv *review.Reviewer, targets []Target, workers int, timeout time.Duration) []Outcome {
	return check(ctx, rv, targets, workers, 0, timeout, nil)
}

// check is Check with workers yielding to busy (Options.Busy) and at most
// cpu of them checking on the CPU at once (0: no bound).
func check(ctx context.Context, rv *review.Reviewer, targets []Target, workers, cpu int, timeout time.Duration, busy func() bool) []Outcome {
	if workers < 1 {
		workers = 1
	}
	var slots chan struct{}
	if cpu > 0 && cpu < workers {
		slots = make(chan struct{}, cpu)
	}
	out := make([]Outcome, len(targets))
	idx := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers && w < len(targets); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				yield(ctx, busy)
				tok := takeSlot(slots)
				start := time.Now()
				out[i] = checkOne(tok.context(ctx), rv, targets[i], timeout)
				tok.done()
				if slots != nil {
					rest(ctx, time.Since(start))
				}
			}
		}()
	}
	for i := range targets {
		if ctx.Err() != nil {
			out[i] = Outcome{Target: targets[i].light(), TimedOut: true, Result: timedOut(ctx.Err().Error())}
			continue
		}
		idx <- i
	}
	close(idx)
	wg.Wait()
	return out
}

// DefaultCPU is how many objects the audit checks on the CPU at once: one
// fewer than the Go scheduler's Ps (GOMAXPROCS, which follows the pod's CPU
// limit), at least one. A P left without audit work waits in the network
// poller and picks up an admission request the moment it arrives. When
// every P runs a CPU-bound audit worker, the scheduler looks at the network
// only when it runs out of runnable goroutines or when sysmon polls (every
// 10 ms), and the API server's call waits that long: in gatewarden-bench,
// 69 of 6,000 webhook calls took over 5 ms with 4 workers on 2 Ps, against 5
// of the no-op webhook's (docs/benchmarks.md).
func DefaultCPU() int {
	return max(1, runtime.GOMAXPROCS(0)-1)
}

// slot is one object's hold on a CPU slot. It gives the slot back while
// the object's checks wait for a fetch (trust.WithFetchWait), and takes
// one again when they go on, unless the object is done by then (its
// timeout left the checks running).
type slot struct {
	slots          chan struct{}
	mu             sync.Mutex
	held, finished bool
}

func takeSlot(slots chan struct{}) *slot {
	if slots == nil {
		return nil
	}
	slots <- struct{}{}
	return &slot{slots: slots, held: true}
}

func (s *slot) context(ctx context.Context) context.Context {
	if s == nil {
		return ctx
	}
	return trust.WithFetchWait(ctx, s.away)
}

func (s *slot) away() (back func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held {
		return func() {}
	}
	s.held = false
	<-s.slots
	return func() {
		s.slots <- struct{}{}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.finished || s.held {
			<-s.slots
			return
		}
		s.held = true
	}
}

func (s *slot) done() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	if s.held {
		s.held = false
		<-s.slots
	}
}

// MaxRest bounds the pause a worker takes after an object.
const MaxRest = 5 * time.Millisecond

// rest pauses a worker for as long as its last object took, up to MaxRest:
// the audit uses at most half of each CPU slot. A P whose goroutine blocks
// looks for other work, the network's included, so an admission that
// arrives while the audit runs waits about one object's checks, not until
// sysmon polls.
func rest(ctx context.Context, took time.Duration) {
	t := time.NewTimer(min(took, MaxRest))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// yield waits while busy says admissions are in flight, for at most
// MaxYield.
func yield(ctx context.Context, busy func() bool) {
	if busy == nil {
		return
	}
	deadline := time.Now().Add(MaxYield)
	for busy() && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// checkOne runs Review in its own goroutine: a check that does not honour
// its context must not hold a worker past the timeout.
func checkOne(ctx context.Context, rv *review.Reviewer, t Target, timeout time.Duration) Outcome {
	loaded, err := t.load()
	if err != nil {
		return Outcome{Target: t.light(), TimedOut: true, Result: timedOut(err.Error())}
	}
	req := loaded.Request(Operation)
	t = t.light()
	if timeout <= 0 {
		return outcome(t, rv.Review(ctx, req))
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan *review.Result, 1)
	go func() { done <- rv.Review(cctx, req) }()
	select {
	case res := <-done:
		return outcome(t, res)
	case <-cctx.Done():
		return Outcome{Target: t, TimedOut: true, Result: timedOut(fmt.Sprintf("not finished within %s", timeout))}
	}
}

func timedOut(why string) *review.Result {
	return &review.Result{Allowed: true, Warnings: []core.Finding{{
		Check:   "gatewarden",
		Message: "audit incomplete, checks not evaluated: " + why,
	}}}
}
