package trust

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

type countingPacer struct {
	waits atomic.Int64
	err   error
}

func (p *countingPacer) Wait(context.Context) error {
	p.waits.Add(1)
	return p.err
}

func TestPacerWaitsOnlyForFetches(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	r := newTestResolver(t, is, nil)
	p := &countingPacer{}
	ctx := WithPacer(context.Background(), p)
	url := is.srv.URL + "/keys"
	for range 3 {
		if _, err := r.JWKS(ctx, url); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.waits.Load(); n != 1 {
		t.Errorf("pacer waited %d times for 1 fetch and 2 cache hits, want 1", n)
	}
	_, _ = r.JWKS(context.Background(), is.srv.URL+"/other") // a fetch without the pacer
	if n := p.waits.Load(); n != 1 {
		t.Errorf("a context without the pacer waited on it: %d waits", n)
	}
}

func TestPacerRefusalFetchesNothing(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	r := newTestResolver(t, is, nil)
	ctx := WithPacer(context.Background(), &countingPacer{err: errors.New("rate: Wait(n=1) would exceed context deadline")})
	_, err := r.JWKS(ctx, is.srv.URL+"/keys")
	wantFetchError(t, err, Network, "gave up waiting for a fetch slot")
	if n := is.count("/keys"); n != 0 {
		t.Errorf("fetched %d times although the pacer refused", n)
	}
	if PacerFrom(context.Background()) != nil {
		t.Error("PacerFrom on a bare context is not nil")
	}
}

// The audit gives its CPU slot back while a check waits for a fetch: the
// resolver says when it waits and when it goes on, and says nothing for a
// cache hit.
func TestFetchWaitAroundFetchesOnly(t *testing.T) {
	is := newIssuer(t)
	is.standard(t, "")
	r := newTestResolver(t, is, nil)
	var waits, resumes atomic.Int64
	fetchedWhileWaiting := false
	ctx := WithFetchWait(context.Background(), func() func() {
		waits.Add(1)
		return func() {
			fetchedWhileWaiting = is.count("/keys") == 1
			resumes.Add(1)
		}
	})
	url := is.srv.URL + "/keys"
	for range 3 {
		if _, err := r.JWKS(ctx, url); err != nil {
			t.Fatal(err)
		}
	}
	if waits.Load() != 1 || resumes.Load() != 1 {
		t.Errorf("1 fetch and 2 cache hits: waited %d times, resumed %d, want 1 and 1", waits.Load(), resumes.Load())
	}
	if !fetchedWhileWaiting {
		t.Error("resumed before the fetch had been made")
	}
	if FetchWait(context.Background()) == nil {
		t.Error("FetchWait on a bare context returned nil")
	}
}
