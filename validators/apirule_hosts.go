package validators

import (
	"context"
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleGateway = core.Register(core.Check{
	ID:          "apirule-gateway",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "exactly one of gateway or externalGateway is set, as namespace/name, and the gateway exists",
})

var APIRuleHostGateway = core.Register(core.Check{
	ID:          "apirule-host-gateway",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "the gateway serves each host (v1beta1: spec.host, a short host under the domain of kyma-system/kyma-gateway): a short host needs servers sharing one *.domain host, an FQDN must match a server host",
})

var APIRuleHostTaken = core.Register(core.Check{
	ID:          "apirule-host-taken",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "no host is already exposed by another APIRule or by a VirtualService this APIRule does not own",
})

// splitGatewayRef accepts namespace/name with two DNS labels, as the CRD does.
func splitGatewayRef(ref string) (ns, name string, ok bool) {
	ns, name, ok = apirule.SplitRef(ref)
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Label(name)) > 0 {
		return "", "", false
	}
	return ns, name, true
}

// apiruleGatewayErrors checks gateway/externalGateway and returns the Istio
// Gateway when it could be read (nil for externalGateway, which references a
// Kyma ExternalGateway we cannot read).
func apiruleGatewayErrors(ctx context.Context, spec apirule.Spec, st cluster.State) (gw *networkingv1.Gateway, deny, warn field.ErrorList) {
	gwPath, extPath := field.NewPath("spec", "gateway"), field.NewPath("spec", "externalGateway")
	switch {
	case spec.Gateway == nil && spec.ExternalGateway == nil:
		return nil, field.ErrorList{field.Required(gwPath,
			"set gateway to an Istio Gateway as namespace/name (e.g. kyma-system/kyma-gateway), or externalGateway to a Kyma ExternalGateway")}, nil
	case spec.Gateway != nil && spec.ExternalGateway != nil:
		deny = append(deny, field.Forbidden(extPath, "gateway and externalGateway are both set: keep only one"))
	}
	if spec.ExternalGateway != nil {
		if _, _, ok := splitGatewayRef(*spec.ExternalGateway); !ok {
			deny = append(deny, field.Invalid(extPath, *spec.ExternalGateway, "not in namespace/name form: name the Kyma ExternalGateway as namespace/name"))
		}
	}
	if spec.Gateway == nil {
		return nil, deny, nil
	}
	ref := *spec.Gateway
	ns, name, ok := splitGatewayRef(ref)
	if !ok {
		detail := "not in namespace/name form: name the Istio Gateway as namespace/name, e.g. kyma-system/kyma-gateway"
		if legacy := apirule.LegacyGateway(ref); legacy != ref {
			detail = "the v1beta1 form is not accepted in v2: write it as " + legacy
		}
		return nil, append(deny, field.Invalid(gwPath, ref, detail)), nil
	}
	gw, err := st.Gateway(ctx, ns, name)
	switch {
	case err != nil:
		return nil, deny, field.ErrorList{couldNotRun(gwPath, "Gateway "+ref, err)}
	case gw == nil:
		return nil, append(deny, notFound(gwPath, ref, "no such Istio Gateway: name an existing one as namespace/name")), nil
	}
	return gw, deny, nil
}

// gatewayHosts lists a Gateway's server hosts without their `ns/` part,
// lower case, each once.
func gatewayHosts(gw *networkingv1.Gateway) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range gw.Spec.Servers {
		if s == nil {
			continue
		}
		for _, h := range s.Hosts {
			if _, after, found := strings.Cut(h, "/"); found {
				h = after
			}
			h = strings.ToLower(h)
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// gatewayDomain is the domain short hosts expand to: Kyma requires every
// server of the gateway to have the same single `*.domain` host.
func gatewayDomain(gw *networkingv1.Gateway) (string, bool) {
	if gw == nil {
		return "", false
	}
	hosts := gatewayHosts(gw)
	if len(hosts) != 1 || !strings.HasPrefix(hosts[0], "*.") || len(hosts[0]) < 3 {
		return "", false
	}
	return hosts[0][2:], true
}

// isShortHost is a host of one DNS label, which Kyma puts under the
// gateway's domain.
func isShortHost(h string) bool {
	return !strings.Contains(h, ".") && len(validation.IsDNS1123Label(h)) == 0
}

// hostCovered matches a host against Gateway server hosts as Istio does: `*`
// covers everything, `*.example.com` every name ending in `.example.com`.
func hostCovered(host string, serverHosts []string) bool {
	host = strings.ToLower(host)
	for _, g := range serverHosts {
		switch {
		case g == "*", g == host:
			return true
		case strings.HasPrefix(g, "*.") && strings.HasSuffix(host, g[1:]) && len(host) > len(g)-1:
			return true
		}
	}
	return false
}

// expandHost gives the FQDN of a host; "" when it is short and the domain is
// unknown.
func expandHost(h, domain string) string {
	if isShortHost(h) {
		if domain == "" {
			return ""
		}
		return h + "." + domain
	}
	return strings.ToLower(h)
}

func hostGatewayErrors(ctx context.Context, ar *apirule.APIRule, gw *networkingv1.Gateway, st cluster.State) (deny, warn field.ErrorList) {
	p := field.NewPath("spec", "hosts")
	if len(ar.Spec.Hosts) == 0 {
		return field.ErrorList{field.Required(p, "name one host: a short name under the gateway's domain, or an FQDN")}, nil
	}
	if gw == nil {
		// No Gateway to compare with: apirule-gateway reports why, and an
		// ExternalGateway cannot be read.
		return nil, nil
	}
	domainGW := gw
	if ref := ar.ShortHostGateway; ref != "" && slices.ContainsFunc(ar.Spec.Hosts, isShortHost) && ref != gw.Namespace+"/"+gw.Name {
		ns, name, _ := apirule.SplitRef(ref)
		g, err := st.Gateway(ctx, ns, name)
		switch {
		case err != nil:
			return nil, field.ErrorList{couldNotRun(p, "Gateway "+ref, err)}
		case g == nil:
			for i, h := range ar.Spec.Hosts {
				if isShortHost(h) {
					deny = append(deny, field.Invalid(p.Index(i), h, "a short host takes its domain from gateway "+ref+", which does not exist: use an FQDN"))
				}
			}
			return deny, nil
		}
		domainGW = g
	}
	for i, h := range ar.Spec.Hosts {
		if e := hostServedError(p.Index(i), h, gw, domainGW); e != nil {
			deny = append(deny, e)
		}
	}
	return deny, nil
}

// hostServedError says why gw does not serve host, nil when it does. A short
// host takes the domain of domainGW (v2: the referenced gateway; v1beta1:
// kyma-system/kyma-gateway), whose servers must share one *.domain host.
func hostServedError(p *field.Path, host string, gw, domainGW *networkingv1.Gateway) *field.Error {
	fqdn := host
	if isShortHost(host) {
		domain, ok := gatewayDomain(domainGW)
		if !ok {
			return field.Invalid(p, host, fmt.Sprintf(
				"a short host needs gateway %s to serve one *.domain host on all servers, but it serves %s: use an FQDN",
				domainGW.Namespace+"/"+domainGW.Name, hostList(gatewayHosts(domainGW))))
		}
		fqdn = host + "." + domain
	}
	serverHosts := gatewayHosts(gw)
	if hostCovered(fqdn, serverHosts) {
		return nil
	}
	what := "this host"
	if fqdn != host {
		what = fqdn
	}
	return field.Invalid(p, host, fmt.Sprintf("gateway %s does not serve %s (it serves %s): use a host it serves, or another gateway",
		gw.Namespace+"/"+gw.Name, what, hostList(serverHosts)))
}

// hostList names server hosts for a message.
func hostList(hosts []string) string {
	if len(hosts) == 0 {
		return "none"
	}
	return strings.Join(hosts, ", ")
}

func hostTakenErrors(ctx context.Context, ar *apirule.APIRule, gw *networkingv1.Gateway, st cluster.State) (deny, warn field.ErrorList) {
	p := field.NewPath("spec", "hosts")
	self := namespaceOrDefault(ar.Namespace) + "/" + ar.Name
	domain := shortHostDomain(ctx, ar, gw, st)
	mine := map[string]int{}
	for i, h := range ar.Spec.Hosts {
		if f := expandHost(h, domain); f != "" {
			if _, dup := mine[f]; !dup {
				mine[f] = i
			}
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	reported := map[string]bool{} // fqdn + " " + owning APIRule
	report := func(fqdn, owner, by string) {
		i := mine[fqdn]
		deny = append(deny, field.Invalid(p.Index(i), ar.Spec.Hosts[i], fmt.Sprintf(
			"host %s is already exposed by %s: choose another host, or remove it there first", fqdn, by)))
		if owner != "" {
			reported[fqdn+" "+owner] = true
		}
	}

	// Only APIRules naming one of these can hold a host of mine: an FQDN of
	// mine, or a short host that one of my FQDNs starts with.
	mineHosts := make([]string, 0, len(mine))
	keys := make([]string, 0, 2*len(mine))
	for f := range mine {
		mineHosts = append(mineHosts, f)
		keys = append(keys, f)
		if label, _, ok := strings.Cut(f, "."); ok {
			keys = append(keys, label)
		}
	}
	others, err := cluster.APIRulesWithHost(ctx, st, keys)
	if err != nil {
		warn = append(warn, couldNotRun(p, "APIRules", err))
	}
	// The domain another APIRule's short hosts take; every lookup of the
	// review is memoized by its cluster.State.
	domainOf := func(o *apirule.APIRule) string {
		var g *networkingv1.Gateway
		if o.Spec.Gateway != nil {
			if ns, name, ok := splitGatewayRef(*o.Spec.Gateway); ok {
				g, _ = st.Gateway(ctx, ns, name)
			}
		}
		return shortHostDomain(ctx, o, g, st)
	}
	for _, o := range others {
		owner := namespaceOrDefault(o.Namespace) + "/" + o.Name
		if owner == self {
			continue
		}
		for _, h := range o.Spec.Hosts {
			var f string
			if isShortHost(h) {
				f = expandHost(h, domainOf(o))
			} else {
				f = expandHost(h, "")
			}
			if _, taken := mine[f]; taken && !reported[f+" "+owner] {
				report(f, owner, "APIRule "+owner)
			}
		}
	}

	err = eachForeignVirtualServiceHost(ctx, st, self, mineHosts, func(f, owner, by string) {
		if _, taken := mine[f]; taken && (owner == "" || !reported[f+" "+owner]) {
			report(f, owner, by)
		}
	})
	if err != nil {
		warn = append(warn, couldNotRun(p, "VirtualServices", err))
	}
	return deny, warn
}

// shortHostDomain is the domain the short hosts of ar take: that of its
// gateway gw, or for a v1beta1 APIRule that of kyma-system/kyma-gateway
// whatever gateway it names (ar.ShortHostGateway); "" when unknown.
func shortHostDomain(ctx context.Context, ar *apirule.APIRule, gw *networkingv1.Gateway, st cluster.State) string {
	if ref := ar.ShortHostGateway; ref != "" {
		gw = nil
		if ns, name, ok := apirule.SplitRef(ref); ok {
			gw, _ = st.Gateway(ctx, ns, name)
		}
	}
	d, _ := gatewayDomain(gw)
	return d
}

// eachForeignVirtualServiceHost calls fn with every host (lower case) of
// every VirtualService naming one of hosts that the APIRule self
// (namespace/name) does not own. owner is the APIRule that owns the
// VirtualService, "" when none; by names the VirtualService, and its owner,
// for a message.
func eachForeignVirtualServiceHost(ctx context.Context, st cluster.State, self string, hosts []string, fn func(host, owner, by string)) error {
	vss, err := cluster.VirtualServicesWithHost(ctx, st, hosts)
	if err != nil {
		return err
	}
	for _, vs := range vss {
		owner := APIRuleOwner(vs)
		if owner == self {
			continue
		}
		by := "VirtualService " + vs.Namespace + "/" + vs.Name
		if owner != "" {
			by = "APIRule " + owner + " (" + by + ")"
		}
		for _, h := range vs.Spec.Hosts {
			fn(strings.ToLower(h), owner, by)
		}
	}
	return nil
}
