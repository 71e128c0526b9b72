package mutators

import (
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
)

// tlsVersion parses an explicit TLS version; TLS_AUTO (the protobuf zero
// value, which means unset) is not one.
func tlsVersion(s string) (networkingapi.ServerTLSSettings_TLSProtocol, bool) {
	v, ok := networkingapi.ServerTLSSettings_TLSProtocol_value[s]
	if !ok || v == int32(networkingapi.ServerTLSSettings_TLS_AUTO) {
		return networkingapi.ServerTLSSettings_TLS_AUTO, false
	}
	return networkingapi.ServerTLSSettings_TLSProtocol(v), true
}

// terminatesTLS says whether the gateway itself terminates TLS with its own
// certificate: SIMPLE, MUTUAL, OPTIONAL_MUTUAL. PASSTHROUGH (the zero value,
// also a tls block holding only httpsRedirect) and AUTO_PASSTHROUGH hand the
// handshake to the backend; ISTIO_MUTUAL uses mesh certificates.
func terminatesTLS(mode networkingapi.ServerTLSSettings_TLSmode) bool {
	switch mode {
	case networkingapi.ServerTLSSettings_PASSTHROUGH,
		networkingapi.ServerTLSSettings_AUTO_PASSTHROUGH,
		networkingapi.ServerTLSSettings_ISTIO_MUTUAL:
		return false
	}
	return true
}

// defaultMinTLS sets minProtocolVersion on terminating servers that leave it
// unset. A server whose maxProtocolVersion is below the default is left
// alone with a warning: min above max is a configuration Istio rejects.
func defaultMinTLS(servers []*networkingapi.Server, version string, pt *patch) {
	want, ok := tlsVersion(strings.TrimSpace(version))
	if !ok {
		pt.warn(DefaultMinTLSVersion, root("spec", "servers"), "minProtocolVersion not defaulted: setting %q is not a TLS version", version)
		return
	}
	for i, s := range servers {
		if s == nil || s.Tls == nil || !terminatesTLS(s.Tls.Mode) || s.Tls.MinProtocolVersion != networkingapi.ServerTLSSettings_TLS_AUTO {
			continue
		}
		p := root("spec", "servers").Index(i).Key("tls", "minProtocolVersion")
		if maxV := s.Tls.MaxProtocolVersion; maxV != networkingapi.ServerTLSSettings_TLS_AUTO && maxV < want {
			pt.warn(DefaultMinTLSVersion, p, "minProtocolVersion not defaulted: maxProtocolVersion %s is below %s", maxV, want)
			continue
		}
		pt.set(p, want.String())
	}
}
