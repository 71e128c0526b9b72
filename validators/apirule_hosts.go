package validators

import (
	"context"
	"fmt"
	"regexp"
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
	Description: "exactly one of gateway or externalGateway is set, as namespace/name, and the Istio Gateway or Kyma ExternalGateway exists",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/gateway.go validateGateway",
})

var APIRuleHostGateway = core.Register(core.Check{
	ID:          "apirule-host-gateway",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "the gateway serves each host (v1beta1: spec.host, a short host under the domain of kyma-system/kyma-gateway): a short host needs servers sharing one *.domain host without a namespace part, an FQDN must match a server host visible to the APIRule's namespace",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/hosts.go hasSingleHostDefinitionWithCorrectPrefix; istio pilot/pkg/networking/core/gateway.go pickMatchingGatewayHosts",
})

var APIRuleHostTaken = core.Register(core.Check{
	ID:          "apirule-host-taken",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "no host is already exposed by another APIRule or by a VirtualService this APIRule does not own",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/hosts.go validateHosts (occupiesHost, ownedBy)",
})

var APIRuleHostForm = core.Register(core.Check{
	ID:          "apirule-host-form",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "v2 hosts are a short host (one lower-case DNS label) or a lower-case FQDN, at most one leading *., no trailing dot, a TLD of 2+ characters",
	Runtime:     "kyma-project/api-gateway internal/helpers/hosts.go IsFqdnOrWildcardHostName, IsShortHostName; CRD CEL on spec.hosts",
})

// Kyma's host forms (internal/helpers/hosts.go), which the CRD's CEL rule
// on spec.hosts repeats.
var (
	fqdnHostRE  = regexp.MustCompile(`^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]{2,63}$`)
	shortHostRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
)

// hostFormProblem says why Kyma refuses a host ("Host must be a valid FQDN
// or short host name"), "" when it accepts it.
func hostFormProblem(h string) string {
	if shortHostRE.MatchString(h) || (len(h) <= 255 && fqdnHostRE.MatchString(h)) {
		return ""
	}
	lower := strings.ToLower(h)
	switch {
	case h == "":
		return "empty host: name a short host or an FQDN"
	case strings.HasSuffix(h, "."):
		return "a host has no trailing dot: write " + strings.TrimSuffix(lower, ".")
	case lower != h && hostFormProblem(lower) == "":
		return "host names are lower case: write " + lower
	case strings.Count(h, "*") > 1 || (strings.Contains(h, "*") && !strings.HasPrefix(h, "*.")):
		return "a wildcard is one leading *. only (e.g. *.example.com)"
	case len(h) > 255:
		return "longer than 255 characters"
	}
	return "not a short host (one lower-case DNS label) nor an FQDN (lower-case DNS labels, a top-level domain of 2 to 63 letters or digits)"
}

func hostFormErrors(hosts []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, h := range hosts {
		if msg := hostFormProblem(h); msg != "" {
			errs = append(errs, field.Invalid(p.Index(i), h, msg+"; Kyma refuses it (\"Host must be a valid FQDN or short host name\")"))
		}
	}
	return errs
}

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
		ref := *spec.ExternalGateway
		ns, name, ok := splitGatewayRef(ref)
		switch {
		case !ok:
			deny = append(deny, field.Invalid(extPath, ref, "not in namespace/name form: name the Kyma ExternalGateway as namespace/name"))
		case spec.Gateway == nil:
			eg, err := st.ExternalGateway(ctx, ns, name)
			switch {
			case err != nil:
				warn = append(warn, couldNotRun(extPath, "ExternalGateway "+ref, err))
			case eg == nil:
				deny = append(deny, notFound(extPath, ref, "no such Kyma ExternalGateway (Kyma: \"ExternalGateway not found\"): name an existing one as namespace/name"))
			}
		}
	}
	if spec.Gateway == nil {
		return nil, deny, warn
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

// gatewayDomain is the domain short hosts expand to, as Kyma's
// hasSingleHostDefinitionWithCorrectPrefix reads the servers as written:
// every server has one host, the same, starting with `*.`. A host with a
// namespace part (`*/*.example.com`) does not start with `*.`, so it
// disqualifies the gateway. problem says why when ok is false.
func gatewayDomain(gw *networkingv1.Gateway) (domain string, ok bool) {
	d, problem := gatewayDomainProblem(gw)
	return d, problem == "" && gw != nil
}

func gatewayDomainProblem(gw *networkingv1.Gateway) (domain, problem string) {
	if gw == nil {
		return "", "no gateway"
	}
	ref := gw.Namespace + "/" + gw.Name
	host := ""
	for _, s := range gw.Spec.Servers {
		if s == nil {
			continue
		}
		if len(s.Hosts) != 1 {
			return "", fmt.Sprintf("gateway %s has a server with %d hosts, and Kyma expands short hosts only when every server has one *.domain host", ref, len(s.Hosts))
		}
		h := s.Hosts[0]
		if strings.Contains(h, "/") {
			return "", fmt.Sprintf("gateway %s serves %q with a namespace part, and Kyma expands short hosts only on *.domain hosts", ref, h)
		}
		if !strings.HasPrefix(h, "*.") || len(h) < 3 {
			return "", fmt.Sprintf("gateway %s serves %s, and Kyma expands short hosts only when every server has one *.domain host", ref, h)
		}
		if host != "" && h != host {
			return "", fmt.Sprintf("gateway %s serves both %s and %s, and Kyma expands short hosts only when every server has the same *.domain host", ref, host, h)
		}
		host = h
	}
	if host == "" {
		return "", fmt.Sprintf("gateway %s serves no hosts", ref)
	}
	return strings.ToLower(host[2:]), ""
}

// visibleGatewayHosts are the server hosts of gw that bind a VirtualService
// in namespace ns, lower case, each once, without their namespace part:
// `ns/host` binds only VirtualServices in ns, `./host` those in the
// Gateway's namespace, `*/host` and a bare host every namespace.
func visibleGatewayHosts(gw *networkingv1.Gateway, ns string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range gw.Spec.Servers {
		if s == nil {
			continue
		}
		for _, h := range s.Hosts {
			if scope, after, found := strings.Cut(h, "/"); found {
				if scope == "." {
					scope = gw.Namespace
				}
				if scope != "*" && scope != ns {
					continue
				}
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

// hostGatewayErrors checks that gw serves every host of ar. skip leaves out
// the hosts another check already refuses (apirule-host-form).
func hostGatewayErrors(ctx context.Context, ar *apirule.APIRule, gw *networkingv1.Gateway, st cluster.State, skip func(host string) bool) (deny, warn field.ErrorList) {
	p := field.NewPath("spec", "hosts")
	if len(ar.Spec.Hosts) == 0 {
		return field.ErrorList{field.Required(p, "name one host: a short name under the gateway's domain, or an FQDN")}, nil
	}
	if gw == nil {
		// No Gateway to compare with: apirule-gateway reports why, and an
		// ExternalGateway's generated Gateway is Kyma's business.
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
		if skip != nil && skip(h) {
			continue
		}
		if e := hostServedError(p.Index(i), h, cluster.NamespaceOrDefault(ar.Namespace), gw, domainGW); e != nil {
			deny = append(deny, e)
		}
	}
	return deny, nil
}

// hostServedError says why gw does not serve host to a VirtualService in
// namespace ns (where Kyma creates the APIRule's), nil when it does. A short
// host takes the domain of domainGW (v2: the referenced gateway; v1beta1:
// kyma-system/kyma-gateway), whose servers must share one *.domain host.
func hostServedError(p *field.Path, host, ns string, gw, domainGW *networkingv1.Gateway) *field.Error {
	fqdn := host
	if isShortHost(host) {
		domain, problem := gatewayDomainProblem(domainGW)
		if problem != "" {
			return field.Invalid(p, host, "a short host needs the gateway's domain, but "+problem+" (Kyma: \"Lowercase RFC 1123 label (short host) is only supported as the APIRule host when selected Gateway has a single host definition matching *.<fqdn> format\"): use an FQDN")
		}
		fqdn = host + "." + domain
	}
	visible := visibleGatewayHosts(gw, ns)
	if hostCovered(fqdn, visible) {
		return nil
	}
	what := "this host"
	if fqdn != host {
		what = fqdn
	}
	ref := gw.Namespace + "/" + gw.Name
	if hostCovered(fqdn, gatewayHosts(gw)) {
		return field.Invalid(p, host, fmt.Sprintf(
			"gateway %s serves %s only to VirtualServices of other namespaces (a server host's ns/ part), and the APIRule's VirtualService is in namespace %s, so istiod binds no route and requests get 404: use a host the gateway serves to %s (it serves %s), or change the server host's namespace part",
			ref, what, ns, ns, hostList(visible)))
	}
	return field.Invalid(p, host, fmt.Sprintf("gateway %s does not serve %s (it serves %s): use a host it serves, or another gateway",
		ref, what, hostList(visible)))
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
	self := cluster.NamespaceOrDefault(ar.Namespace) + "/" + ar.Name
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
		owner := cluster.NamespaceOrDefault(o.Namespace) + "/" + o.Name
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
