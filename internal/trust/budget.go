package trust

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Defaults of the per-object fetch budget (`serve --object-fetches`,
// `--object-fetch-concurrency`). A legitimate object names a few issuers,
// each costing a discovery and a JWKS fetch; answers from the cache cost
// nothing.
const (
	DefaultObjectFetches          = 16
	DefaultObjectFetchConcurrency = 4
)

// fetchBudget bounds the fetches made for one object.
type fetchBudget struct {
	total int
	used  atomic.Int64
	slots chan struct{}
}

type budgetKey struct{}

// WithFetchBudget gives the fetches made for ctx a budget: at most total
// fetches are started, at most concurrent at a time. Beyond it a URL is not
// fetched and comes back as a FetchError of kind Budget. Whoever checks one
// object (an admission, `check` for one document) creates one budget for
// it, so an object naming a thousand issuers cannot turn gatewarden into a
// request amplifier aimed at hosts its author chooses. Answers from the
// cache do not count. Zero or negative values mean no bound.
func WithFetchBudget(ctx context.Context, total, concurrent int) context.Context {
	b := &fetchBudget{total: total}
	if concurrent > 0 {
		b.slots = make(chan struct{}, concurrent)
	}
	return context.WithValue(ctx, budgetKey{}, b)
}

// acquire takes one fetch from ctx's budget and, once a slot is free, a
// concurrency slot; release gives the slot back. No fetch starts once ctx
// is done: a deadline spent on earlier fetches ends the object's fetching.
func acquire(ctx context.Context, rawURL string) (release func(), ferr *FetchError) {
	if err := ctx.Err(); err != nil {
		return nil, &FetchError{URL: rawURL, Kind: Budget, Err: fmt.Errorf("the time budget for this object was spent before it was asked (%v)", err)}
	}
	b, _ := ctx.Value(budgetKey{}).(*fetchBudget)
	if b == nil {
		return func() {}, nil
	}
	if b.total > 0 && b.used.Add(1) > int64(b.total) {
		return nil, &FetchError{URL: rawURL, Kind: Budget, Err: fmt.Errorf("the fetch budget of %d per object is spent", b.total)}
	}
	if b.slots == nil {
		return func() {}, nil
	}
	select {
	case b.slots <- struct{}{}:
		return func() { <-b.slots }, nil
	case <-ctx.Done():
		return nil, &FetchError{URL: rawURL, Kind: Budget, Err: fmt.Errorf("the time budget for this object was spent waiting for one of its %d fetch slots", cap(b.slots))}
	}
}
