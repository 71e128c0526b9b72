package trust

import (
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
	// MaxRedirects bounds redirects followed (default 3).
	MaxRedirects int
	// CacheSize bounds the number of cached documents (default 1024).
	CacheSize int
	// PositiveTTL keeps good answers (default 5m), NegativeTTL failures
	// (default 30s), StaleFor serves the last good answer after a failed
	// refresh (default 1h).
	PositiveTTL, NegativeTTL, StaleFor time.Duration
	// UserAgent names gatewarden and its version.
	UserAgent string
}
