package trust

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Options bound and secure every fetch. `serve` and `check` set them from the
// same flags.
type Options struct {
	// AllowCIDRs are address ranges exempt from the SSRF block list (for
	// in-cluster identity providers).
	AllowCIDRs []netip.Prefix
	// AllowHTTPHosts may be fetched over plain http.
	AllowHTTPHosts []string
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// Timeout bounds one HTTP request (default 2s).
	Timeout time.Duration
	// MaxBodyBytes bounds one response body (default 512 KiB).
	MaxBodyBytes int64
	// MaxRedirects bounds redirects followed (default 3; negative follows
	// none).
	MaxRedirects int
	// CacheSize bounds the number of cached documents (default 1024).
	CacheSize int
	// CacheMaxBytes bounds the estimated size of the cached answers
	// (default 32 MiB); failures get a quarter of it on top.
	CacheMaxBytes int64
	// PositiveTTL keeps good answers (default 5m), NegativeTTL failures
	// (default 30s), StaleFor serves the last good answer after a failed
	// refresh (default 1h).
	PositiveTTL, NegativeTTL, StaleFor time.Duration
	// UserAgent names gatewarden and its version.
	UserAgent string
	// LookupIP resolves host names (default: the system resolver). The
	// resolved addresses are still checked at dial time, so a hook cannot
	// widen what may be reached; it exists for tests.
	LookupIP LookupFunc
}

// Defaults of Options, as documented in docs/trust.md.
const (
	DefaultTimeout      = 2 * time.Second
	DefaultMaxBodyBytes = 512 << 10
	DefaultMaxRedirects = 3
	DefaultCacheSize    = 1024
	// DefaultCacheMaxBytes stays far under half of the chart's 256 MiB
	// memory limit, cached failures (a quarter more) included.
	DefaultCacheMaxBytes = 32 << 20
	DefaultPositiveTTL   = 5 * time.Minute
	DefaultNegativeTTL   = 30 * time.Second
	DefaultStaleFor      = time.Hour
	DefaultUserAgent     = "gatewarden/dev"
)

// LookupFunc resolves a host name to addresses. Options.LookupIP defaults to
// the system resolver; tests inject one so that a name resolves to a blocked
// address without any traffic leaving loopback.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// WithDefaults fills what the caller left zero.
func (o Options) WithDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.CacheMaxBytes <= 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if o.PositiveTTL <= 0 {
		o.PositiveTTL = DefaultPositiveTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.StaleFor <= 0 {
		o.StaleFor = DefaultStaleFor
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.LookupIP == nil {
		o.LookupIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	return o
}
