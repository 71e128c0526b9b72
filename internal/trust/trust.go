// Package trust resolves what a JWT issuer publishes: its OIDC discovery
// document and its JSON Web Key Sets. Validators and mutators see it through
// the Resolver interface; the implementation fetches over an SSRF-safe,
// bounded HTTP client and caches answers.
package trust

import (
	"context"
	"errors"
	"fmt"
)

// Resolver is the trust half of what checks may consult. Implementations
// cache; callers may ask for the same URL on every admission.
type Resolver interface {
	// Discover fetches <issuer>/.well-known/openid-configuration.
	Discover(ctx context.Context, issuer string) (*Discovery, error)
	// JWKS fetches a JSON Web Key Set document.
	JWKS(ctx context.Context, uri string) (*KeySet, error)
}

// Discovery is the part of an OIDC discovery document the checks use.
type Discovery struct {
	// Issuer is the document's own `issuer`, which must equal the configured
	// issuer byte for byte.
	Issuer  string
	JWKSURI string
	// Stale is set when the document is a last-known-good copy served because
	// a refresh failed; StaleReason says why.
	Stale       bool
	StaleReason string
}

// KeySet is a fetched JWKS document as the checks need it.
type KeySet struct {
	// Report is the document's inspection, made once when it was fetched:
	// caches hold this, not the body, so an admission never parses a cached
	// key set again. Callers must not modify it.
	Report *KeySetReport
	// Raw is an uninspected document, for resolvers that do not inspect
	// (fakes in tests); it is ignored when Report is set.
	Raw         []byte
	Stale       bool
	StaleReason string
}

// Inspect is the key set's report: Report, or InspectKeySet of Raw.
func (k *KeySet) Inspect() KeySetReport {
	if k.Report != nil {
		return *k.Report
	}
	return InspectKeySet(k.Raw)
}

// URLPolicy is implemented by resolvers that can tell, without fetching,
// whether a URL would be fetched at all: its form, and where its host
// resolves. Defaults use it so that they never write a URL the fetch policy
// refuses.
type URLPolicy interface {
	Allowed(ctx context.Context, rawURL string) error
}

// Allowed asks r's URLPolicy about rawURL; resolvers without one (fakes,
// Offline) get the URL form check only.
func Allowed(ctx context.Context, r Resolver, rawURL string, allowHTTPHosts []string) error {
	if p, ok := r.(URLPolicy); ok {
		return p.Allowed(ctx, rawURL)
	}
	return CheckURL(rawURL, allowHTTPHosts)
}

// Kind says what sort of failure a fetch met, which decides how a check
// reports it: network failures follow the operator's network-error action,
// the rest are definitive answers.
type Kind int

const (
	// Network: timeout, DNS failure, refused connection, TLS handshake.
	Network Kind = iota
	// Blocked: the SSRF policy refused the address.
	Blocked
	// Status: the server answered with a status other than 200.
	Status
	// Invalid: the answer is not what was asked for (not JSON, too large,
	// too many redirects).
	Invalid
	// Disabled: network checks are switched off (`check --no-network`).
	Disabled
	// Budget: not fetched because the object's fetch budget (WithFetchBudget)
	// or its admission deadline was spent. The answer is unknown and
	// nothing was asked, so checks warn and never deny.
	Budget
)

// FetchError is every error a Resolver returns.
type FetchError struct {
	URL    string
	Kind   Kind
	Status int // HTTP status, for Kind Status
	Err    error
}

func (e *FetchError) Error() string {
	switch e.Kind {
	case Status:
		return fmt.Sprintf("GET %s answered HTTP %d", e.URL, e.Status)
	case Budget:
		return fmt.Sprintf("%s not fetched: %v", e.URL, e.Err)
	default:
		return fmt.Sprintf("GET %s: %v", e.URL, e.Err)
	}
}

func (e *FetchError) Unwrap() error { return e.Err }

// KindOf classifies any error; errors that are not FetchErrors count as
// network failures (the answer is unknown, not wrong).
func KindOf(err error) Kind {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return Network
}

// ErrNoNetwork is what the offline resolver returns for every URL.
var ErrNoNetwork = errors.New("network checks are disabled (--no-network)")

// Offline answers every fetch with a Disabled error.
type Offline struct{}

func (Offline) Discover(_ context.Context, issuer string) (*Discovery, error) {
	return nil, &FetchError{URL: issuer, Kind: Disabled, Err: ErrNoNetwork}
}

func (Offline) JWKS(_ context.Context, uri string) (*KeySet, error) {
	return nil, &FetchError{URL: uri, Kind: Disabled, Err: ErrNoNetwork}
}
