package validators

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

// Checks of APIRule v2 and v2alpha1 (issue 12). Every check runs and reports
// on its own, so one answer lists every problem of the object. A check whose
// cluster read fails warns that it could not run instead of guessing.

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

var APIRuleService = core.Register(core.Check{
	ID:          "apirule-service",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "every rule has a service (rule or spec level) that exists and has the port",
})

var APIRuleServiceSelector = core.Register(core.Check{
	ID:          "apirule-service-selector",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "the service has a selector, so some workload receives the APIRule's policies",
})

var APIRulePath = core.Register(core.Check{
	ID:          "apirule-path",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "rule paths are exact, /* alone, or use the {*} and {**} operators as Kyma defines them",
})

var APIRuleMethods = core.Register(core.Check{
	ID:          "apirule-methods",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "rule methods are HTTP methods, each listed once",
})

var APIRuleRuleDuplicate = core.Register(core.Check{
	ID:          "apirule-rule-duplicate",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "no two rules have the same path (/* being /{**}) and a shared method",
})

var APIRuleAccess = core.Register(core.Check{
	ID:          "apirule-access",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "each rule sets exactly one of noAuth: true, jwt and extAuth",
})

var APIRuleTimeout = core.Register(core.Check{
	ID:          "apirule-timeout",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "spec and rule timeouts are 1 to 3900 seconds",
})

var APIRuleJWT = core.Register(core.Check{
	ID:          "apirule-jwt",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "jwt and extAuth restrictions have authentications with issuer and jwksUri, and no empty scope or audience; a v1beta1 jwt handler config gets the same in the Istio form, no empty entries in the Ory form, and not both forms",
})

var APIRuleExtAuth = core.Register(core.Check{
	ID:          "apirule-extauth",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "extAuth names authorizers registered in the mesh config (ext_authz providers or Kyma Istio authorizers)",
})

var APIRuleRequireAuth = core.Register(core.Check{
	ID:          "apirule-require-auth",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Off,
	Description: "policy: no noAuth rules in namespaces labelled <settings.requireAuthLabel>=true",
})

// httpMethods are the methods the APIRule CRD accepts.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// maxTimeout is the CRD's upper bound for timeouts, in seconds.
const maxTimeout = 3900

func validateAPIRule(ctx context.Context, ar *apirule.APIRule, env *core.Env, r *core.Report) {
	gw, deny, warn := apiruleGatewayErrors(ctx, ar.Spec, env.Cluster)
	r.Deny(APIRuleGateway, deny...)
	r.Warn(APIRuleGateway, warn...)

	r.Deny(APIRuleHostGateway, hostGatewayErrors(ar.Spec.Hosts, gw)...)
	if r.Enabled(APIRuleHostTaken) {
		deny, warn := hostTakenErrors(ctx, ar, gw, env.Cluster)
		r.Deny(APIRuleHostTaken, deny...)
		r.Warn(APIRuleHostTaken, warn...)
	}
	if r.Enabled(APIRuleService) || r.Enabled(APIRuleServiceSelector) {
		deny, noSelector, warn := serviceErrors(ctx, ar, env.Cluster)
		r.Deny(APIRuleService, deny...)
		r.Warn(APIRuleService, warn...)
		r.Warn(APIRuleServiceSelector, noSelector...)
	}

	rules := field.NewPath("spec", "rules")
	r.Deny(APIRulePath, pathErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleMethods, methodErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleRuleDuplicate, duplicateRuleErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleAccess, accessErrors(ar.Spec.Rules, rules)...)
	r.Deny(APIRuleTimeout, timeoutErrors(ar.Spec, field.NewPath("spec"))...)
	r.Deny(APIRuleJWT, jwtErrors(ar.Spec.Rules, rules)...)
	if r.Enabled(APIRuleExtAuth) {
		deny, warn := extAuthErrors(ctx, ar.Spec.Rules, rules, env.Cluster)
		r.Deny(APIRuleExtAuth, deny...)
		r.Warn(APIRuleExtAuth, warn...)
	}
	if r.Enabled(APIRuleRequireAuth) {
		deny, warn := requireAuthErrors(ctx, ar, env.Settings.RequireAuthLabel, env.Cluster)
		r.Deny(APIRuleRequireAuth, deny...)
		r.Warn(APIRuleRequireAuth, warn...)
	}
	validateRuleOrder(ar.Spec.Rules, r)

	validateAPIRuleJWTTrust(ctx, ar, env, r)
}

// apiruleNamespace is where the APIRule lives; objects decoded from files
// may have none, which the API server would make "default".
func apiruleNamespace(ar *apirule.APIRule) string {
	if ar.Namespace == "" {
		return "default"
	}
	return ar.Namespace
}

// splitGatewayRef accepts namespace/name with two DNS labels, as the CRD does.
func splitGatewayRef(ref string) (ns, name string, ok bool) {
	ns, name, ok = apirule.SplitRef(ref)
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Label(name)) > 0 {
		return "", "", false
	}
	return ns, name, true
}

func notFound(p *field.Path, value any, detail string) *field.Error {
	e := field.NotFound(p, value)
	e.Detail = detail
	return e
}

func duplicate(p *field.Path, value any, detail string) *field.Error {
	e := field.Duplicate(p, value)
	e.Detail = detail
	return e
}

// couldNotRun is the warning of a check whose cluster read failed.
func couldNotRun(p *field.Path, what string, err error) *field.Error {
	return field.InternalError(p, fmt.Errorf("could not read %s, so this check did not run: %v", what, err))
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

func hostGatewayErrors(hosts []string, gw *networkingv1.Gateway) field.ErrorList {
	p := field.NewPath("spec", "hosts")
	if len(hosts) == 0 {
		return field.ErrorList{field.Required(p, "name one host: a short name under the gateway's domain, or an FQDN")}
	}
	if gw == nil {
		// No Gateway to compare with: apirule-gateway reports why, and an
		// ExternalGateway cannot be read.
		return nil
	}
	var errs field.ErrorList
	for i, h := range hosts {
		if e := hostServedError(p.Index(i), h, gw, gw); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
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
	self := apiruleNamespace(ar) + "/" + ar.Name
	domain, _ := gatewayDomain(gw)
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

	others, err := st.APIRules(ctx, "")
	if err != nil {
		warn = append(warn, couldNotRun(p, "APIRules", err))
	}
	domains := map[string]string{}
	domainOf := func(ref *string) string {
		if ref == nil {
			return ""
		}
		if d, ok := domains[*ref]; ok {
			return d
		}
		d := ""
		if ns, name, ok := splitGatewayRef(*ref); ok {
			if g, err := st.Gateway(ctx, ns, name); err == nil {
				d, _ = gatewayDomain(g)
			}
		}
		domains[*ref] = d
		return d
	}
	for _, o := range others {
		owner := apiruleNamespace(o) + "/" + o.Name
		if owner == self {
			continue
		}
		for _, h := range o.Spec.Hosts {
			var f string
			if isShortHost(h) {
				f = expandHost(h, domainOf(o.Spec.Gateway))
			} else {
				f = expandHost(h, "")
			}
			if _, taken := mine[f]; taken && !reported[f+" "+owner] {
				report(f, owner, "APIRule "+owner)
			}
		}
	}

	err = eachForeignVirtualServiceHost(ctx, st, self, func(f, owner, by string) {
		if _, taken := mine[f]; taken && (owner == "" || !reported[f+" "+owner]) {
			report(f, owner, by)
		}
	})
	if err != nil {
		warn = append(warn, couldNotRun(p, "VirtualServices", err))
	}
	return deny, warn
}

// eachForeignVirtualServiceHost calls fn with every host (lower case) of
// every VirtualService that the APIRule self (namespace/name) does not own.
// owner is the APIRule that owns the VirtualService, "" when none; by names
// the VirtualService, and its owner, for a message.
func eachForeignVirtualServiceHost(ctx context.Context, st cluster.State, self string, fn func(host, owner, by string)) error {
	vss, err := st.VirtualServices(ctx, "")
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

// serviceErrors checks the service of every rule. A spec-level service is
// checked once per namespace it resolves to, and reported at spec.service.
func serviceErrors(ctx context.Context, ar *apirule.APIRule, st cluster.State) (deny, noSelector, warn field.ErrorList) {
	rulesPath := field.NewPath("spec", "rules")
	type got struct {
		svc *corev1.Service
		err error
	}
	services := map[string]got{}
	checked := map[string]bool{}
	for i, rule := range ar.Spec.Rules {
		svc, p := rule.Service, rulesPath.Index(i).Child("service")
		if svc == nil {
			svc, p = ar.Spec.Service, field.NewPath("spec", "service")
		}
		if svc == nil {
			deny = append(deny, field.Required(rulesPath.Index(i).Child("service"),
				"no service for this rule: set the rule's service or spec.service"))
			continue
		}
		ns := apiruleNamespace(ar)
		if ar.Spec.Service != nil && ar.Spec.Service.Namespace != nil && *ar.Spec.Service.Namespace != "" {
			ns = *ar.Spec.Service.Namespace
		}
		if rule.Service != nil && rule.Service.Namespace != nil && *rule.Service.Namespace != "" {
			ns = *rule.Service.Namespace
		}
		if key := p.String() + " " + ns; checked[key] {
			continue
		} else {
			checked[key] = true
		}
		if svc.Name == nil || *svc.Name == "" {
			deny = append(deny, field.Required(p.Child("name"), "name the Service that receives the traffic"))
			continue
		}
		if svc.Port == nil {
			deny = append(deny, field.Required(p.Child("port"), "give the Service port to route to"))
		}
		name := *svc.Name
		key := ns + "/" + name
		g, cached := services[key]
		if !cached {
			s, err := st.Service(ctx, ns, name)
			g = got{s, err}
			services[key] = g
		}
		switch {
		case g.err != nil:
			warn = append(warn, couldNotRun(p.Child("name"), "Service "+key, g.err))
			continue
		case g.svc == nil:
			deny = append(deny, notFound(p.Child("name"), name, fmt.Sprintf(
				"no such Service in namespace %s: create it, or fix the service name or namespace", ns)))
			continue
		case g.svc.Spec.Type == corev1.ServiceTypeExternalName:
			continue
		}
		if svc.Port != nil {
			var ports []string
			found := false
			for _, sp := range g.svc.Spec.Ports {
				ports = append(ports, strconv.Itoa(int(sp.Port)))
				found = found || int64(sp.Port) == *svc.Port
			}
			if !found {
				list := strings.Join(ports, ", ")
				if list == "" {
					list = "none"
				}
				deny = append(deny, field.Invalid(p.Child("port"), *svc.Port, fmt.Sprintf(
					"service %s has no such port (its ports: %s): use one of its ports", key, list)))
			}
		}
		if e := noSelectorError(p.Child("name"), g.svc); e != nil {
			noSelector = append(noSelector, e)
		}
	}
	return deny, noSelector, warn
}

// noSelectorError is the warning for a Service without a selector: Kyma's
// policies select workloads by it. ExternalName Services have no workloads.
func noSelectorError(p *field.Path, svc *corev1.Service) *field.Error {
	if len(svc.Spec.Selector) > 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	return field.Invalid(p, svc.Name, fmt.Sprintf(
		"service %s/%s has no selector, so no workload gets this APIRule's authorization policies: give it a selector matching its pods", svc.Namespace, svc.Name))
}

// rulePathProblem says what is wrong with a rule path, "" when nothing.
// Paths are exact, `/*` alone (every path), or use `{*}` (one segment) and
// `{**}` (any rest) as whole segments; `{**}` comes once, and no operator
// follows it.
func rulePathProblem(p string) string {
	if p == "/*" {
		return ""
	}
	if !strings.HasPrefix(p, "/") {
		return "a path starts with /: use /* for every path, or an exact path such as /orders"
	}
	rest := false
	for _, s := range strings.Split(p[1:], "/") {
		switch s {
		case "{**}":
			if rest {
				return "{**} appears more than once: use it once, and {*} for single segments"
			}
			rest = true
		case "{*}":
			if rest {
				return "{*} follows {**}: {**} must be the last operator, so only exact segments may follow it"
			}
		default:
			if strings.ContainsAny(s, "*{}") {
				return fmt.Sprintf("segment %q: *, { and } only appear as whole segments {*} (one segment) or {**} (any rest), or as /* alone", s)
			}
			for i := 0; i < len(s); i++ {
				c := s[i]
				if c == '%' {
					if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
						i += 2
						continue
					}
					return "% starts a percent-encoding: write it as %25, or encode two hex digits"
				}
				if !pathChar(c) {
					return fmt.Sprintf("character %q is not allowed in a path: percent-encode it", c)
				}
			}
		}
	}
	return ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func pathChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("-._~!$&'()+,;=:@", c) >= 0
}

func pathErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		if msg := rulePathProblem(rule.Path); msg != "" {
			errs = append(errs, field.Invalid(p.Index(i).Child("path"), rule.Path, msg))
		}
	}
	return errs
}

func methodErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	valid := map[string]bool{}
	for _, m := range httpMethods {
		valid[m] = true
	}
	var errs field.ErrorList
	for i, rule := range rules {
		mp := p.Index(i).Child("methods")
		if len(rule.Methods) == 0 {
			errs = append(errs, field.Required(mp, "list the HTTP methods this rule allows, e.g. GET"))
		}
		seen := map[string]bool{}
		for k, m := range rule.Methods {
			switch {
			case valid[m] && seen[m]:
				errs = append(errs, duplicate(mp.Index(k), m, "listed twice: remove one"))
			case valid[m]:
				seen[m] = true
			case valid[strings.ToUpper(m)]:
				errs = append(errs, field.Invalid(mp.Index(k), m, "methods are upper case: write "+strings.ToUpper(m)))
			default:
				errs = append(errs, field.NotSupported(mp.Index(k), m, httpMethods))
			}
		}
	}
	return errs
}

// duplicateRuleErrors reports a rule whose path (with /* read as /{**}) and
// some method an earlier rule already has; apirule-rule-order leaves these
// pairs alone.
func duplicateRuleErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j := range rules {
		for i := 0; i < j; i++ {
			if normalizedRulePath(rules[i].Path) != normalizedRulePath(rules[j].Path) {
				continue
			}
			if shared := sharedMethods(rules[i].Methods, rules[j].Methods); len(shared) > 0 {
				errs = append(errs, duplicate(p.Index(j).Child("path"), rules[j].Path, fmt.Sprintf(
					"rule %d already has this path for %s, and wins: merge the two rules or remove the methods from one", i, strings.Join(shared, ", "))))
			}
		}
	}
	return errs
}

func accessErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		var set []string
		if rule.NoAuth != nil && *rule.NoAuth {
			set = append(set, "noAuth")
		}
		if rule.JWT != nil {
			set = append(set, "jwt")
		}
		if rule.ExtAuth != nil {
			set = append(set, "extAuth")
		}
		switch len(set) {
		case 0:
			errs = append(errs, field.Required(p.Index(i), "set one of noAuth: true, jwt or extAuth"))
		case 1:
		default:
			errs = append(errs, field.Forbidden(p.Index(i), fmt.Sprintf(
				"sets %s: keep exactly one of noAuth: true, jwt or extAuth", strings.Join(set, " and "))))
		}
	}
	return errs
}

func timeoutErrors(spec apirule.Spec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(fp *field.Path, t *int64) {
		if t != nil && (*t < 1 || *t > maxTimeout) {
			errs = append(errs, field.Invalid(fp, *t, "the timeout is in seconds, from 1 to 3900 (65 minutes)"))
		}
	}
	check(p.Child("timeout"), spec.Timeout)
	for i, rule := range spec.Rules {
		check(p.Child("rules").Index(i).Child("timeout"), rule.Timeout)
	}
	return errs
}

func jwtErrors(rules []apirule.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		if rule.JWT != nil {
			errs = append(errs, jwtConfigErrors(rule.JWT, p.Index(i).Child("jwt"))...)
		}
		if rule.ExtAuth != nil && rule.ExtAuth.Restrictions != nil {
			errs = append(errs, jwtConfigErrors(rule.ExtAuth.Restrictions, p.Index(i).Child("extAuth", "restrictions"))...)
		}
	}
	return errs
}

// jwtConfigErrors checks that a JWT config is complete. Whether the issuer
// and JWKS URLs are sound is trust.go's business.
func jwtConfigErrors(j *apirule.JWT, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(j.Authentications) == 0 {
		errs = append(errs, field.Required(p.Child("authentications"), "give at least one authentication with issuer and jwksUri"))
	}
	for k, a := range j.Authentications {
		ap := p.Child("authentications").Index(k)
		if strings.TrimSpace(a.Issuer) == "" {
			errs = append(errs, field.Required(ap.Child("issuer"), "set the issuer, the iss claim of accepted tokens"))
		}
		if strings.TrimSpace(a.JwksURI) == "" {
			errs = append(errs, field.Required(ap.Child("jwksUri"), "set the URL of the issuer's JSON Web Key Set"))
		}
		for h, hdr := range a.FromHeaders {
			if hdr.Name == "" {
				errs = append(errs, field.Required(ap.Child("fromHeaders").Index(h).Child("name"), "name the header that carries the token"))
			}
		}
	}
	for k, z := range j.Authorizations {
		zp := p.Child("authorizations").Index(k)
		if len(z.RequiredScopes) == 0 && len(z.Audiences) == 0 {
			errs = append(errs, field.Required(zp, "an empty authorization admits any valid token: give requiredScopes or audiences, or remove it"))
		}
		for s, v := range z.RequiredScopes {
			if strings.TrimSpace(v) == "" {
				errs = append(errs, field.Invalid(zp.Child("requiredScopes").Index(s), v, "empty scope: name the scope, or remove the entry"))
			}
		}
		for s, v := range z.Audiences {
			if strings.TrimSpace(v) == "" {
				errs = append(errs, field.Invalid(zp.Child("audiences").Index(s), v, "empty audience: name the audience, or remove the entry"))
			}
		}
	}
	return errs
}

func extAuthErrors(ctx context.Context, rules []apirule.Rule, p *field.Path, st cluster.State) (deny, warn field.ErrorList) {
	first := -1
	for i, rule := range rules {
		if rule.ExtAuth != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, nil
	}
	mesh, err := st.Mesh(ctx)
	if err != nil {
		return nil, field.ErrorList{couldNotRun(p.Index(first).Child("extAuth", "authorizers"), "the mesh config", err)}
	}
	registered := map[string]bool{}
	for _, n := range append(append([]string{}, mesh.ExtAuthzProviders...), mesh.KymaAuthorizers...) {
		registered[n] = true
	}
	names := make([]string, 0, len(registered))
	for n := range registered {
		names = append(names, n)
	}
	sort.Strings(names)
	otherProvider := map[string]bool{}
	for _, n := range mesh.Providers {
		otherProvider[n] = !registered[n]
	}
	for i, rule := range rules {
		if rule.ExtAuth == nil {
			continue
		}
		ap := p.Index(i).Child("extAuth", "authorizers")
		if len(rule.ExtAuth.Authorizers) == 0 {
			deny = append(deny, field.Required(ap, "name at least one authorizer registered in the mesh config"))
		}
		for k, name := range rule.ExtAuth.Authorizers {
			if registered[name] {
				continue
			}
			what, todo := "not a registered authorizer", "no authorizers are registered: add one to the Kyma Istio CR (spec.config.authorizers) or to meshConfig.extensionProviders"
			if otherProvider[name] {
				what = "an extension provider, but not ext_authz (envoyExtAuthzHttp or envoyExtAuthzGrpc)"
			}
			if len(names) > 0 {
				todo = "use one of " + strings.Join(names, ", ") + ", or register it in the Kyma Istio CR"
			}
			detail := what + ": " + todo
			if len(names) == 0 && !otherProvider[name] {
				detail = todo
			}
			deny = append(deny, notFound(ap.Index(k), name, detail))
		}
	}
	return deny, warn
}

func requireAuthErrors(ctx context.Context, ar *apirule.APIRule, label string, st cluster.State) (deny, warn field.ErrorList) {
	if label == "" {
		label = core.Settings{}.WithDefaults().RequireAuthLabel
	}
	p := field.NewPath("spec", "rules")
	var open []int
	for i, rule := range ar.Spec.Rules {
		if rule.NoAuth != nil && *rule.NoAuth {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	nsName := apiruleNamespace(ar)
	ns, err := st.Namespace(ctx, nsName)
	if err != nil {
		return nil, field.ErrorList{couldNotRun(p.Index(open[0]).Child("noAuth"), "Namespace "+nsName, err)}
	}
	if ns == nil || ns.Labels[label] != "true" {
		return nil, nil
	}
	for _, i := range open {
		deny = append(deny, field.Forbidden(p.Index(i).Child("noAuth"), fmt.Sprintf(
			"namespace %s requires authentication (label %s=true): protect this rule with jwt or extAuth", nsName, label)))
	}
	return deny, nil
}
