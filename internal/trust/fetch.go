package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"

	"code.dny.dev/ssrf"
)

// blockedError is what the dial-time guard returns for an address the SSRF
// policy refuses. Its message names the range, never an address the URL
// does not show: with a broad --allow-cidr, echoing what a name resolved to
// would let a tenant map internal addresses through denial messages.
type blockedError struct {
	host   string // the URL's host, when the dial knows it
	addr   netip.Addr
	reason string
}

func (e *blockedError) Error() string {
	if ip, err := netip.ParseAddr(e.host); err == nil && ip == e.addr {
		bits := 32
		if e.addr.Is6() {
			bits = 128
		}
		return fmt.Sprintf("address %s is in a blocked address range (%s); if this issuer is trusted, --allow-cidr %s allows it",
			e.addr, e.reason, netip.PrefixFrom(e.addr, bits))
	}
	if e.host == "" {
		return fmt.Sprintf("resolves to a blocked address range (%s); if this issuer is trusted, an operator can allow its range with --allow-cidr", e.reason)
	}
	return fmt.Sprintf("host %s resolves to a blocked address range (%s); if this issuer is trusted, an operator can allow its range with --allow-cidr", e.host, e.reason)
}

// lookupError is a failed name resolution.
type lookupError struct {
	host string
	err  error
}

func (e *lookupError) Error() string {
	return fmt.Sprintf("dns lookup of %s failed: %v", e.host, e.err)
}

func (e *lookupError) Unwrap() error { return e.err }

// newGuardian builds the dial-time SSRF guard: the library's default deny
// list, any port, AllowCIDRs punched through it.
func newGuardian(allow []netip.Prefix) *ssrf.Guardian {
	var v4, v6 []netip.Prefix
	for _, p := range allow {
		p = p.Masked()
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
}

// control is the net.Dialer.Control hook: it sees the address actually
// dialled, after DNS and after every redirect.
func control(g *ssrf.Guardian) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		err := g.Safe(network, address, c)
		if err == nil {
			return nil
		}
		ap, perr := netip.ParseAddrPort(address)
		if perr != nil || !errors.Is(err, ssrf.ErrProhibitedIP) {
			return fmt.Errorf("connection refused by the SSRF policy: %w", err)
		}
		return &blockedError{addr: ap.Addr(), reason: blockedRange(ap.Addr())}
	}
}

var (
	sharedRange = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	nat64       = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
)

// blockedRange names the kind of range a refused address is in, in words
// that say why it is refused without telling the address.
func blockedRange(a netip.Addr) string {
	switch {
	case a.Is4In6():
		return "IPv4-mapped IPv6"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a.IsUnspecified(), a.Is4() && thisNetwork.Contains(a):
		return "unspecified"
	case sharedRange.Contains(a):
		return "shared (carrier-grade NAT)"
	case a.Is6() && (nat64[0].Contains(a) || nat64[1].Contains(a)):
		return "NAT64"
	case a.Is6() && !ssrf.IPv6GlobalUnicast.Contains(a):
		return "outside IPv6 global unicast"
	}
	return "special-purpose"
}

// newClient builds the bounded, SSRF-safe HTTP client: no proxy (a proxy
// would hide the real destination from the guard), no cookie jar, TLS 1.2 or
// later with the system roots plus CAFile, redirects re-checked.
func newClient(o Options, guard *ssrf.Guardian, maxRedirects int) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificates found", o.CAFile)
		}
	}
	dialer := &net.Dialer{Timeout: o.Timeout, Control: control(guard)}
	lookup := o.LookupIP
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		if ip, perr := netip.ParseAddr(host); perr == nil {
			ips = []netip.Addr{ip}
		} else {
			ips, err = lookup(ctx, host)
			if err != nil {
				return nil, &lookupError{host: host, err: err}
			}
			if len(ips) == 0 {
				return nil, &lookupError{host: host, err: errors.New("no addresses")}
			}
		}
		var first error
		for _, ip := range ips {
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return conn, nil
			}
			var be *blockedError
			if errors.As(err, &be) {
				be.host = host
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        o.PositiveTTL,
		MaxResponseHeaderBytes: 64 << 10,
	}
	allowHTTP := o.AllowHTTPHosts
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			target := req.URL.String()
			for _, v := range via {
				if v.URL.String() == target {
					return &FetchError{Kind: Invalid, Err: fmt.Errorf("redirect loop: %s redirects back to %s", via[len(via)-1].URL.Redacted(), req.URL.Redacted())}
				}
			}
			if len(via) > maxRedirects {
				return &FetchError{Kind: Invalid, Err: fmt.Errorf("too many redirects (at most %d are followed)", maxRedirects)}
			}
			if err := CheckURL(target, allowHTTP); err != nil {
				return &FetchError{Kind: Invalid, Err: fmt.Errorf("redirect to %s refused: %v", req.URL.Redacted(), err)}
			}
			return nil
		},
	}, nil
}

// fetch GETs one JSON document within the bounds.
func (h *HTTPResolver) fetch(ctx context.Context, rawURL string) ([]byte, *FetchError) {
	if err := CheckURL(rawURL, h.opts.AllowHTTPHosts); err != nil {
		return nil, &FetchError{URL: rawURL, Kind: Invalid, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &FetchError{URL: rawURL, Kind: Invalid, Err: err}
	}
	req.Header.Set("User-Agent", h.opts.UserAgent)
	req.Header.Set("Accept", "application/json")
	h.requests.Add(1)
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, h.classify(rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, &FetchError{URL: rawURL, Kind: Status, Status: resp.StatusCode}
	}
	limit := h.opts.MaxBodyBytes
	tooLarge := &FetchError{URL: rawURL, Kind: Invalid, Err: fmt.Errorf("response body exceeds the limit of %d bytes (--fetch-max-bytes)", limit)}
	if resp.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, h.classify(rawURL, err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge
	}
	if !json.Valid(body) {
		ct := resp.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			ct = mt
		}
		return nil, &FetchError{URL: rawURL, Kind: Invalid, Err: fmt.Errorf("answer is not JSON (content type %q)", ct)}
	}
	return body, nil
}

// classify turns a transport error into a FetchError whose message says
// which kind of failure it was.
func (h *HTTPResolver) classify(rawURL string, err error) *FetchError {
	var fe *FetchError
	if errors.As(err, &fe) {
		out := *fe
		out.URL = rawURL
		return &out
	}
	var be *blockedError
	if errors.As(err, &be) {
		return &FetchError{URL: rawURL, Kind: Blocked, Err: be}
	}
	network := func(format string, args ...any) *FetchError {
		return &FetchError{URL: rawURL, Kind: Network, Err: fmt.Errorf(format, args...)}
	}
	var le *lookupError
	if errors.As(err, &le) {
		return &FetchError{URL: rawURL, Kind: Network, Err: le}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return network("dns lookup of %s failed: %s", dnsErr.Name, dnsErr.Err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return network("timed out after %s (--fetch-timeout)", h.opts.Timeout)
	}
	if errors.Is(err, context.Canceled) {
		return network("request canceled")
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return network("connection refused")
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return network("connection reset")
	}
	var (
		verr    *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		return network("tls certificate not trusted: %s (--ca-file adds a CA)", innermost(err))
	case errors.As(err, &recErr), errors.As(err, &alert), strings.Contains(err.Error(), "tls: "):
		return network("tls handshake failed: %s", innermost(err))
	}
	// A dial error names the address dialled, which for a host name is
	// what it resolved to: keep only what went wrong.
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return network("request failed: %s: %s", opErr.Op, opErr.Err)
	}
	return network("request failed: %s", innermost(err))
}

// Allowed says whether rawURL would be fetched at all, without fetching it:
// the URL form (CheckURL with the resolver's allowHTTPHosts) and the SSRF
// policy for every address its host resolves to. Errors are FetchErrors of
// kind Invalid, Blocked, or Network (the name did not resolve).
func (h *HTTPResolver) Allowed(ctx context.Context, rawURL string) error {
	if err := CheckURL(rawURL, h.opts.AllowHTTPHosts); err != nil {
		return &FetchError{URL: rawURL, Kind: Invalid, Err: err}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return &FetchError{URL: rawURL, Kind: Invalid, Err: err}
	}
	host := u.Hostname()
	var ips []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		ips = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
		defer cancel()
		if ips, err = h.opts.LookupIP(ctx, host); err != nil || len(ips) == 0 {
			if err == nil {
				err = errors.New("no addresses")
			}
			return &FetchError{URL: rawURL, Kind: Network, Err: &lookupError{host: host, err: err}}
		}
	}
	for _, ip := range ips {
		if err := h.guard.SafeAddr(ip); err != nil {
			return &FetchError{URL: rawURL, Kind: Blocked, Err: &blockedError{host: host, addr: ip, reason: blockedRange(ip)}}
		}
	}
	return nil
}

// innermost drops the `Get "url": ` prefix url.Error adds.
func innermost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
