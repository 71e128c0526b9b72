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

// KeySet is a fetched JWKS document, unparsed: Inspect judges it.
type KeySet struct {
	Raw         []byte
	Stale       bool
	StaleReason string
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
