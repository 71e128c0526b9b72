package trust

import (
	"context"
	"fmt"
)

// Pacer spaces out fetches. golang.org/x/time/rate.Limiter is one.
type Pacer interface {
	Wait(ctx context.Context) error
}

type pacerKey struct{}

// WithPacer makes every fetch made for ctx wait for p first. Answers from
// the cache do not wait. The audit uses it so that a run over many objects
// whose cached documents have expired refreshes them at a steady rate
// instead of in one burst; admissions carry no pacer and never wait.
func WithPacer(ctx context.Context, p Pacer) context.Context {
	return context.WithValue(ctx, pacerKey{}, p)
}

// PacerFrom is the pacer WithPacer put in ctx, or nil.
func PacerFrom(ctx context.Context) Pacer {
	p, _ := ctx.Value(pacerKey{}).(Pacer)
	return p
}

// pace waits for ctx's pacer, if any.
func pace(ctx context.Context, rawURL string) *FetchError {
	p := PacerFrom(ctx)
	if p == nil {
		return nil
	}
	if err := p.Wait(ctx); err != nil {
		return &FetchError{URL: rawURL, Kind: Network, Err: fmt.Errorf("gave up waiting for a fetch slot: %w", err)}
	}
	return nil
}

type fetchWaitKey struct{}

// WithFetchWait makes every fetch made for ctx call wait before it blocks
// (on its pacer or the network), and the function wait returns once it
// goes on. Answers from the cache call neither. The audit gives back its
// CPU slot meanwhile, so that an object waiting on a slow issuer does not
// keep another from being checked.
func WithFetchWait(ctx context.Context, wait func() (resumed func())) context.Context {
	return context.WithValue(ctx, fetchWaitKey{}, wait)
}

// FetchWait calls ctx's WithFetchWait function, if any. A Resolver calls it
// when a fetch is about to block, and what it returns when it goes on.
func FetchWait(ctx context.Context) (resumed func()) {
	if wait, _ := ctx.Value(fetchWaitKey{}).(func() func()); wait != nil {
		return wait()
	}
	return func() {}
}
