package framework

// NewIssuer starts another local OIDC issuer on loopback, trusted through
// the same CA as the suite's. A test that stops its issuer (Close) to see
// what happens to objects admitted earlier uses its own, so the suite's
// shared issuer stays up for the others.
func (c *Cluster) NewIssuer() (*Issuer, error) {
	return startIssuer(c.PKI, "127.0.0.1")
}
