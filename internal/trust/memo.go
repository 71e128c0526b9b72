package trust

import (
	"context"
	"errors"
	"sync"
)

// Memo wraps a Resolver for one review: each issuer and key set is asked
// for once, so an object naming one URL in ten places makes one request
// and sees one answer. A nil document without an error is turned into
// an error, so callers need not check both.
func Memo(r Resolver) Resolver {
	if r == nil {
		return nil
	}
	if _, ok := r.(*memo); ok {
		return r
	}
	return &memo{r: r, disc: map[string]discAnswer{}, keys: map[string]keysAnswer{}, allowed: map[string]error{}}
}

type memo struct {
	r       Resolver
	mu      sync.Mutex
	disc    map[string]discAnswer
	keys    map[string]keysAnswer
	allowed map[string]error
}

type discAnswer struct {
	d   *Discovery
	err error
}

type keysAnswer struct {
	ks  *KeySet
	err error
}

func (m *memo) Discover(ctx context.Context, issuer string) (*Discovery, error) {
	m.mu.Lock()
	a, ok := m.disc[issuer]
	m.mu.Unlock()
	if !ok {
		a.d, a.err = m.r.Discover(ctx, issuer)
		if a.err == nil && a.d == nil {
			a.err = &FetchError{URL: DiscoveryURL(issuer), Kind: Invalid, Err: errors.New("no discovery document")}
		}
		m.mu.Lock()
		m.disc[issuer] = a
		m.mu.Unlock()
	}
	return a.d, a.err
}

func (m *memo) JWKS(ctx context.Context, uri string) (*KeySet, error) {
	m.mu.Lock()
	a, ok := m.keys[uri]
	m.mu.Unlock()
	if !ok {
		a.ks, a.err = m.r.JWKS(ctx, uri)
		if a.err == nil && a.ks == nil {
			a.err = &FetchError{URL: uri, Kind: Invalid, Err: errors.New("no key set")}
		}
		m.mu.Lock()
		m.keys[uri] = a
		m.mu.Unlock()
	}
	return a.ks, a.err
}

// Allowed forwards the wrapped resolver's URL policy: wrapping must not
// make defaults write URLs the fetch policy refuses.
func (m *memo) Allowed(ctx context.Context, rawURL string) error {
	m.mu.Lock()
	err, ok := m.allowed[rawURL]
	m.mu.Unlock()
	if !ok {
		err = Allowed(ctx, m.r, rawURL, nil)
		m.mu.Lock()
		m.allowed[rawURL] = err
		m.mu.Unlock()
	}
	return err
}
