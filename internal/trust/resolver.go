package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"code.dny.dev/ssrf"
	"golang.org/x/sync/singleflight"
)

// HTTPResolver is the Resolver that fetches: bounded, SSRF-safe, cached.
// Concurrent callers for one URL share one fetch; good answers are kept for
// PositiveTTL, failures for NegativeTTL, and after a failed refresh the last
// good answer younger than StaleFor is served marked Stale. The caches hold
// parsed answers (a discovery document's two URLs, a key set's report),
// bounded in entries and in bytes.
type HTTPResolver struct {
	opts   Options
	client *http.Client
	guard  *ssrf.Guardian
	good   *sizedLRU[goodEntry]
	bad    *sizedLRU[badEntry]
	group  singleflight.Group
	// now is the clock cache ages are judged by (tests replace it).
	now func() time.Time
	// requests counts HTTP requests started, for tests and metrics.
	requests atomic.Int64
}

type goodEntry struct {
	disc *Discovery
	keys *KeySetReport
	at   time.Time
}

func (e goodEntry) size() int64 {
	var n int64
	if e.disc != nil {
		n += int64(len(e.disc.Issuer)+len(e.disc.JWKSURI)) + 64
	}
	if e.keys != nil {
		n += e.keys.size()
	}
	return n
}

type badEntry struct {
	err *FetchError
	at  time.Time
}

var _ Resolver = (*HTTPResolver)(nil)

// New builds a resolver from opts (zero fields take their defaults).
func New(opts Options) (*HTTPResolver, error) {
	opts = opts.WithDefaults()
	maxRedirects := opts.MaxRedirects
	if maxRedirects < 0 {
		maxRedirects = 0
	}
	guard := newGuardian(opts.AllowCIDRs)
	c, err := newClient(opts, guard, maxRedirects)
	if err != nil {
		return nil, err
	}
	keep := opts.StaleFor
	if opts.PositiveTTL > keep {
		keep = opts.PositiveTTL
	}
	return &HTTPResolver{
		opts:   opts,
		client: c,
		guard:  guard,
		good:   newSizedLRU[goodEntry](opts.CacheSize, opts.CacheMaxBytes, keep),
		// Failures get a quarter of the bytes: a flood of bad URLs can
		// neither evict good answers nor take much memory.
		bad: newSizedLRU[badEntry](opts.CacheSize, opts.CacheMaxBytes/4, opts.NegativeTTL),
		now: time.Now,
	}, nil
}

// Requests is the number of HTTP requests the resolver has started.
func (h *HTTPResolver) Requests() int64 { return h.requests.Load() }

// CacheBytes is the estimated size of the cached answers and failures.
func (h *HTTPResolver) CacheBytes() int64 { return h.good.Bytes() + h.bad.Bytes() }

// DiscoveryURL is where an issuer's OIDC discovery document lives.
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// Discover fetches and parses the issuer's discovery document.
func (h *HTTPResolver) Discover(ctx context.Context, issuer string) (*Discovery, error) {
	u := DiscoveryURL(issuer)
	e, reason, err := h.get(ctx, "discovery "+u, u, parseDiscovery)
	if err != nil {
		return nil, err
	}
	d := *e.disc
	d.Stale, d.StaleReason = reason != "", reason
	return &d, nil
}

// JWKS fetches a key set; the body must be JSON. InspectKeySet judges it
// once, when it is fetched, and the report is what is cached and returned.
func (h *HTTPResolver) JWKS(ctx context.Context, uri string) (*KeySet, error) {
	e, reason, err := h.get(ctx, "jwks "+uri, uri, parseKeySet)
	if err != nil {
		return nil, err
	}
	return &KeySet{Report: e.keys, Stale: reason != "", StaleReason: reason}, nil
}

func parseKeySet(raw []byte) (goodEntry, error) {
	rep := InspectKeySet(raw)
	return goodEntry{keys: &rep}, nil
}

func parseDiscovery(raw []byte) (goodEntry, error) {
	d, err := discoveryOf(raw)
	return goodEntry{disc: d}, err
}

func discoveryOf(raw []byte) (*Discovery, error) {
	var doc struct {
		Issuer  *string `json:"issuer"`
		JWKSURI string  `json:"jwks_uri"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not an OIDC discovery document: %v", err)
	}
	if doc.Issuer == nil {
		return nil, fmt.Errorf(`not an OIDC discovery document: it has no "issuer"`)
	}
	return &Discovery{Issuer: *doc.Issuer, JWKSURI: doc.JWKSURI}, nil
}

// get answers from the cache or fetches once for all concurrent callers;
// parse turns the body into what is cached. reason is non-empty when the
// answer is a stale last-known-good copy.
func (h *HTTPResolver) get(ctx context.Context, key, rawURL string, parse func([]byte) (goodEntry, error)) (goodEntry, string, error) {
	if e, ok := h.fresh(key); ok {
		return e, "", nil
	}
	if b, ok := h.failed(key); ok {
		return h.staleOr(key, b.err)
	}
	resumed := FetchWait(ctx)
	defer resumed()
	if ferr := pace(ctx, rawURL); ferr != nil {
		return h.staleOr(key, ferr)
	}
	release, ferr := acquire(ctx, rawURL)
	if ferr != nil {
		return h.staleOr(key, ferr)
	}
	ch := h.group.DoChan(key, func() (any, error) {
		// A caller that missed the cache just before another finished
		// fetching must not fetch again.
		if e, ok := h.fresh(key); ok {
			return e, nil
		}
		if b, ok := h.failed(key); ok {
			return nil, b.err
		}
		// The fetch outlives a caller that gives up: others may share it,
		// and its answer is cached.
		raw, ferr := h.fetch(context.WithoutCancel(ctx), rawURL)
		if ferr == nil {
			e, err := parse(raw)
			if err == nil {
				e.at = h.now()
				h.bad.Remove(key)
				h.good.Add(key, e, e.size())
				return e, nil
			}
			ferr = &FetchError{URL: rawURL, Kind: Invalid, Err: err}
		}
		h.bad.Add(key, badEntry{err: ferr, at: h.now()}, int64(len(ferr.Error()))+64)
		return nil, ferr
	})
	select {
	case <-ctx.Done():
		// The budget's slot stays taken until the fetch ends.
		go func() { <-ch; release() }()
		return goodEntry{}, "", &FetchError{URL: rawURL, Kind: Network, Err: fmt.Errorf("gave up waiting: %w", ctx.Err())}
	case res := <-ch:
		release()
		if res.Err != nil {
			return h.staleOr(key, res.Err.(*FetchError))
		}
		return res.Val.(goodEntry), "", nil
	}
}

func (h *HTTPResolver) fresh(key string) (goodEntry, bool) {
	e, ok := h.good.Peek(key)
	if !ok || h.now().Sub(e.at) >= h.opts.PositiveTTL {
		return goodEntry{}, false
	}
	h.good.Get(key) // mark as recently used
	return e, true
}

func (h *HTTPResolver) failed(key string) (badEntry, bool) {
	b, ok := h.bad.Get(key)
	if !ok || h.now().Sub(b.at) >= h.opts.NegativeTTL {
		return badEntry{}, false
	}
	return b, true
}

// staleOr serves the last good answer younger than StaleFor, or the error.
func (h *HTTPResolver) staleOr(key string, ferr *FetchError) (goodEntry, string, error) {
	if e, ok := h.good.Get(key); ok {
		if age := h.now().Sub(e.at); age < h.opts.StaleFor {
			return e, fmt.Sprintf("refresh failed (%v); serving the copy fetched %s ago", ferr, age.Round(time.Second)), nil
		}
	}
	return goodEntry{}, "", ferr
}
