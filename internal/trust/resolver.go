package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"
)

// HTTPResolver is the Resolver that fetches: bounded, SSRF-safe, cached.
// Concurrent callers for one URL share one fetch; good answers are kept for
// PositiveTTL, failures for NegativeTTL, and after a failed refresh the last
// good answer younger than StaleFor is served marked Stale.
type HTTPResolver struct {
	opts   Options
	client *http.Client
	good   *expirable.LRU[string, goodEntry]
	bad    *expirable.LRU[string, badEntry]
	group  singleflight.Group
	// now is the clock cache ages are judged by (tests replace it).
	now func() time.Time
	// requests counts HTTP requests started, for tests and metrics.
	requests atomic.Int64
}

type goodEntry struct {
	disc *Discovery
	raw  []byte
	at   time.Time
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
	c, err := newClient(opts, maxRedirects)
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
		good:   expirable.NewLRU[string, goodEntry](opts.CacheSize, nil, keep),
		bad:    expirable.NewLRU[string, badEntry](opts.CacheSize, nil, opts.NegativeTTL),
		now:    time.Now,
	}, nil
}

// Requests is the number of HTTP requests the resolver has started.
func (h *HTTPResolver) Requests() int64 { return h.requests.Load() }

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

// JWKS fetches a key set; the body must be JSON, InspectKeySet judges it.
func (h *HTTPResolver) JWKS(ctx context.Context, uri string) (*KeySet, error) {
	e, reason, err := h.get(ctx, "jwks "+uri, uri, nil)
	if err != nil {
		return nil, err
	}
	return &KeySet{Raw: append([]byte(nil), e.raw...), Stale: reason != "", StaleReason: reason}, nil
}

func parseDiscovery(raw []byte) (*Discovery, error) {
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

// get answers from the cache or fetches once for all concurrent callers.
// reason is non-empty when the answer is a stale last-known-good copy.
func (h *HTTPResolver) get(ctx context.Context, key, rawURL string, parse func([]byte) (*Discovery, error)) (goodEntry, string, error) {
	if e, ok := h.fresh(key); ok {
		return e, "", nil
	}
	if b, ok := h.failed(key); ok {
		return h.staleOr(key, b.err)
	}
	if ferr := pace(ctx, rawURL); ferr != nil {
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
		if ferr == nil && parse != nil {
			d, err := parse(raw)
			if err != nil {
				ferr = &FetchError{URL: rawURL, Kind: Invalid, Err: err}
			} else {
				e := goodEntry{disc: d, at: h.now()}
				h.bad.Remove(key)
				h.good.Add(key, e)
				return e, nil
			}
		}
		if ferr != nil {
			h.bad.Add(key, badEntry{err: ferr, at: h.now()})
			return nil, ferr
		}
		e := goodEntry{raw: raw, at: h.now()}
		h.bad.Remove(key)
		h.good.Add(key, e)
		return e, nil
	})
	select {
	case <-ctx.Done():
		return goodEntry{}, "", &FetchError{URL: rawURL, Kind: Network, Err: fmt.Errorf("gave up waiting: %w", ctx.Err())}
	case res := <-ch:
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
