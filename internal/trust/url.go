package trust

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckURL says whether raw may be fetched as an issuer or JWKS URL: https
// (or http for a host in allowHTTPHosts), a host, no user info and no
// fragment. The error reads as a field-error detail: lower case, naming what
// to change.
func CheckURL(raw string, allowHTTPHosts []string) error {
	if raw == "" {
		return fmt.Errorf("must not be empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", urlErrDetail(err))
	}
	if !u.IsAbs() {
		return fmt.Errorf("not an absolute URL; use https://host/path")
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("URL has no host; use https://host/path")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !hostAllowed(u.Hostname(), allowHTTPHosts) {
			return fmt.Errorf("plain http is not allowed for host %q; use https, or add the host to allowHTTPHosts", u.Hostname())
		}
	default:
		return fmt.Errorf("scheme %q is not supported; use https", u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("URL has no host; use https://host/path")
	}
	if u.User != nil {
		return fmt.Errorf("URL must not carry user info (credentials); remove the part before \"@\"")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("URL must not have a fragment; remove %q", "#"+u.Fragment)
	}
	return nil
}

func hostAllowed(host string, allow []string) bool {
	for _, h := range allow {
		if strings.EqualFold(strings.TrimSpace(h), host) {
			return true
		}
	}
	return false
}

// Redact hides a password in raw, for messages that echo a URL.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// urlErrDetail drops the quoted URL url.Parse repeats, keeping the reason.
func urlErrDetail(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
