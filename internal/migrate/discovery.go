package migrate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatewarden/gatewarden/internal/trust"
)

// maxIssuerCandidates bounds the discovery documents fetched to find the
// issuer of one JWKS URL.
const maxIssuerCandidates = 6

var errOffline = errors.New("issuer lookups are off (--no-network)")

func (c *converter) offline() bool {
	if c.env.Trust == nil {
		return true
	}
	_, off := c.env.Trust.(trust.Offline)
	return off
}

// issuerFor finds the issuer whose OIDC discovery document names jwksURL as
// its jwks_uri, trying the URL's own origin and parent paths (Keycloak's
// /realms/x/protocol/openid-connect/certs belongs to /realms/x, SAP Cloud
// Identity's /oauth2/certs to the origin). The document must name the
// candidate as its issuer, so the answer is the issuer's own word.
func (c *converter) issuerFor(jwksURL string) (string, error) {
	if c.offline() {
		return "", errOffline
	}
	u, err := url.Parse(jwksURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL", jwksURL)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	var tried []string
	for n := len(segs) - 1; n >= 0 && len(tried) < maxIssuerCandidates; n-- {
		cand := u.Scheme + "://" + u.Host
		if n > 0 {
			cand += "/" + strings.Join(segs[:n], "/")
		}
		tried = append(tried, cand)
		d, err := c.env.Trust.Discover(c.ctx, cand)
		if err != nil || d == nil {
			continue
		}
		if trust.DiscoveryURL(d.Issuer) == trust.DiscoveryURL(cand) && d.JWKSURI == jwksURL {
			return d.Issuer, nil
		}
	}
	return "", fmt.Errorf("no discovery document at %s names it as jwks_uri", strings.Join(tried, ", "))
}

// jwksFor is the jwks_uri of the issuer's discovery document.
func (c *converter) jwksFor(issuer string) (string, error) {
	if c.offline() {
		return "", errOffline
	}
	d, err := c.env.Trust.Discover(c.ctx, issuer)
	switch {
	case err != nil:
		return "", fmt.Errorf("its discovery document could not be read: %v", err)
	case d == nil || d.JWKSURI == "":
		return "", fmt.Errorf("its discovery document names no jwks_uri")
	case d.Issuer != issuer:
		return "", fmt.Errorf("its discovery document names issuer %q, not %q", d.Issuer, issuer)
	}
	return d.JWKSURI, nil
}
