package audit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gatewarden/gatewarden/internal/core"
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
	return check(ctx, rv, targets, workers, timeout, nil)
}

// check is Check with workers yielding to busy (Options.Busy).
func check(ctx context.Context, rv *review.Reviewer, targets []Target, workers int, timeout time.Duration, busy func() bool) []Outcome {
	if workers < 1 {
		workers = 1
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
				out[i] = checkOne(ctx, rv, targets[i], timeout)
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
