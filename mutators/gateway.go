package mutators

import (
	"github.com/gatewarden/gatewarden/internal/istio"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
)

// defaultMinTLS sets minProtocolVersion on terminating servers that leave it
// unset. A server whose maxProtocolVersion is below the default is left
// alone with a warning: min above max is a configuration Istio rejects.
func defaultMinTLS(servers []*networkingapi.Server, version string, pt *Patch) {
	want, ok := istio.ParseTLSVersion(strings.TrimSpace(version))
	if !ok {
		pt.warn(DefaultMinTLSVersion, root("spec", "servers"), "minProtocolVersion not defaulted: setting %q is not a TLS version", version)
		return
	}
	for i, s := range servers {
		if s == nil || s.Tls == nil || !istio.OwnTLS(s.Tls.Mode) || s.Tls.MinProtocolVersion != networkingapi.ServerTLSSettings_TLS_AUTO {
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
