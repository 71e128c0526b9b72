// Package istio holds the few facts about Istio's API that both the checks
// and the defaults rely on, so the two never disagree about them: which
// Gateway TLS modes take the user's TLS settings, how TLS versions are named,
// how a Gateway host is written.
package istio

import (
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
)

// TLSVersions are the explicit values of ServerTLSSettings.minProtocolVersion
// and maxProtocolVersion, lowest first.
var TLSVersions = []string{"TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"}

// ParseTLSVersion reads an explicit TLS version as Istio's enum spells it
// (TLSV1_2); TLS_AUTO, the unset value, is not one.
func ParseTLSVersion(s string) (networkingapi.ServerTLSSettings_TLSProtocol, bool) {
	v, ok := networkingapi.ServerTLSSettings_TLSProtocol_value[s]
	if !ok || v == int32(networkingapi.ServerTLSSettings_TLS_AUTO) {
		return networkingapi.ServerTLSSettings_TLS_AUTO, false
	}
	return networkingapi.ServerTLSSettings_TLSProtocol(v), true
}

// IsMutual says whether a server asks clients for certificates it verifies
// against a CA of the user's.
func IsMutual(mode networkingapi.ServerTLSSettings_TLSmode) bool {
	return mode == networkingapi.ServerTLSSettings_MUTUAL || mode == networkingapi.ServerTLSSettings_OPTIONAL_MUTUAL
}

// OwnTLS says whether a server terminates TLS with the user's own
// certificate and TLS settings: SIMPLE, MUTUAL, OPTIONAL_MUTUAL. istiod
// applies minProtocolVersion, maxProtocolVersion, cipherSuites and
// credentialName only to these (BuildListenerTLSContext and isSimpleOrMutual
// in pilot/pkg/networking/core/listener.go); an ISTIO_MUTUAL server takes the
// mesh's certificates and TLS settings, PASSTHROUGH (the zero value, also a
// tls block holding only httpsRedirect) and AUTO_PASSTHROUGH hand the
// handshake to the backend.
func OwnTLS(mode networkingapi.ServerTLSSettings_TLSmode) bool {
	return mode == networkingapi.ServerTLSSettings_SIMPLE || IsMutual(mode)
}

// HostName is a Gateway server host without its namespace part ("ns/host"),
// lower case.
func HostName(h string) string {
	if _, host, cut := strings.Cut(h, "/"); cut {
		return strings.ToLower(host)
	}
	return strings.ToLower(h)
}
