package validators

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleV1beta1Deprecated = core.Register(core.Check{
	ID:          "apirule-v1beta1-deprecated",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "APIRule v1beta1 is deprecated; the warning names the v2 equivalent of each access strategy",
})

// v2Equivalent maps v1beta1 access strategies to what replaces them in v2;
// an empty value means there is none.
var v2Equivalent = map[string]string{
	"allow":                     "noAuth: true",
	"noop":                      "noAuth: true",
	"no_auth":                   "noAuth: true",
	"jwt":                       "jwt",
	"oauth2_introspection":      "extAuth",
	"oauth2_client_credentials": "",
	"cookie_session":            "",
	"anonymous":                 "",
	"unauthorized":              "",
}

var APIRuleV1beta1GatewayNotFound = core.Register(core.Check{
	ID:          "apirule-v1beta1-gateway-not-found",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "a v1beta1 spec.gateway (namespace/name or <name>.<namespace>.svc.cluster.local) names an existing Gateway",
})

var APIRuleV1beta1ServiceNotFound = core.Register(core.Check{
	ID:          "apirule-v1beta1-service-not-found",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "every v1beta1 rule has a service (its own or spec.service) and the Service exists (namespace: rule, then spec, then the APIRule's)",
})

var APIRuleV1beta1ServicePort = core.Register(core.Check{
	ID:          "apirule-v1beta1-service-port",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "the port of a v1beta1 spec.service or rules[].service is one of the Service's ports",
})

var APIRuleV1beta1HostOccupied = core.Register(core.Check{
	ID:          "apirule-v1beta1-host-occupied",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "a v1beta1 spec.host is not already exposed by another APIRule or by a VirtualService this APIRule does not own",
})

// v1beta1DefaultGateway is what Kyma's v1beta1 short hosts take their domain from.
const v1beta1DefaultGateway = "kyma-system/kyma-gateway"

func validateAPIRuleV1beta1(ctx context.Context, ar *apirule.V1beta1APIRule, env *core.Env, r *core.Report) {
	validateV1beta1Deprecation(ar, r)
	validateAPIRuleV1beta1JWTTrust(ctx, ar, env, r)
	ns := authzNamespace(ar.Namespace)
	gw := validateV1beta1Gateway(ctx, ar, ns, env, r)
	validateV1beta1HostGateway(ctx, ar, gw, env, r)
	validateV1beta1Services(ctx, ar, ns, env, r)
	validateV1beta1HostOccupied(ctx, ar, ns, env, r)
	r.Deny(APIRuleJWT, v1beta1JWTErrors(ar.Spec.Rules)...)
}

// v1beta1GatewayRef resolves a v1beta1 gateway reference to namespace/name:
// the legacy FQDN form and `name.namespace` as Kyma converts them, a bare
// name in the APIRule's namespace as Istio reads a VirtualService gateway.
func v1beta1GatewayRef(ref, ns string) (gwNs, gwName string, ok bool) {
	ref = apirule.LegacyGateway(ref)
	if !strings.ContainsAny(ref, "/.") && ref != "" {
		return ns, ref, true
	}
	return apirule.SplitRef(ref)
}

// validateV1beta1Gateway checks spec.gateway and returns the Gateway when it
// could be read, for the host check.
func validateV1beta1Gateway(ctx context.Context, ar *apirule.V1beta1APIRule, ns string, env *core.Env, r *core.Report) *networkingv1.Gateway {
	if ar.Spec.Gateway == nil || *ar.Spec.Gateway == "" || (!r.Enabled(APIRuleV1beta1GatewayNotFound) && !r.Enabled(APIRuleHostGateway)) {
		return nil
	}
	p := field.NewPath("spec", "gateway")
	ref := *ar.Spec.Gateway
	gwNs, gwName, ok := v1beta1GatewayRef(ref, ns)
	if !ok {
		r.Deny(APIRuleV1beta1GatewayNotFound, field.Invalid(p, ref,
			"not a gateway reference: use namespace/name (e.g. kyma-system/kyma-gateway) or <name>.<namespace>.svc.cluster.local"))
		return nil
	}
	gw, err := env.Cluster.Gateway(ctx, gwNs, gwName)
	switch {
	case err != nil:
		r.Warn(APIRuleV1beta1GatewayNotFound, authzCouldNotCheck(p, "Gateways", err))
	case gw == nil:
		r.Deny(APIRuleV1beta1GatewayNotFound, authzNotFound(p, ref,
			"no Gateway "+gwNs+"/"+gwName+" exists: fix the reference (e.g. kyma-system/kyma-gateway) or create the Gateway"))
	}
	return gw
}

// validateV1beta1HostGateway is apirule-host-gateway for spec.host: the
// Gateway serves the host. Kyma's v1beta1 puts a short host under the domain
// of kyma-system/kyma-gateway, whatever spec.gateway names.
func validateV1beta1HostGateway(ctx context.Context, ar *apirule.V1beta1APIRule, gw *networkingv1.Gateway, env *core.Env, r *core.Report) {
	if !r.Enabled(APIRuleHostGateway) {
		return
	}
	p := field.NewPath("spec", "host")
	if ar.Spec.Host == nil || *ar.Spec.Host == "" {
		r.Deny(APIRuleHostGateway, field.Required(p, "name the host: a short name under the domain of kyma-system/kyma-gateway, or an FQDN"))
		return
	}
	if gw == nil {
		return // apirule-v1beta1-gateway-not-found reports why
	}
	host, domainGW := *ar.Spec.Host, gw
	if isShortHost(host) && gw.Namespace+"/"+gw.Name != v1beta1DefaultGateway {
		ns, name, _ := apirule.SplitRef(v1beta1DefaultGateway)
		kyma, err := env.Cluster.Gateway(ctx, ns, name)
		switch {
		case err != nil:
			r.Warn(APIRuleHostGateway, authzCouldNotCheck(p, "Gateway "+v1beta1DefaultGateway, err))
			return
		case kyma == nil:
			r.Deny(APIRuleHostGateway, field.Invalid(p, host,
				"a short host takes its domain from gateway "+v1beta1DefaultGateway+", which does not exist: use an FQDN"))
			return
		}
		domainGW = kyma
	}
	if e := hostServedError(p, host, gw, domainGW); e != nil {
		r.Deny(APIRuleHostGateway, e)
	}
}

// v1beta1ServiceRef is one service an APIRule routes to, with the namespace
// Kyma resolves for it.
type v1beta1ServiceRef struct {
	svc  *apirule.Service
	ns   string
	path *field.Path
}

func validateV1beta1Services(ctx context.Context, ar *apirule.V1beta1APIRule, ns string, env *core.Env, r *core.Report) {
	if !r.Enabled(APIRuleV1beta1ServiceNotFound) && !r.Enabled(APIRuleV1beta1ServicePort) && !r.Enabled(APIRuleServiceSelector) {
		return
	}
	specNs := ns
	if s := ar.Spec.Service; s != nil && s.Namespace != nil && *s.Namespace != "" {
		specNs = *s.Namespace
	}
	var refs []v1beta1ServiceRef
	if ar.Spec.Service != nil {
		refs = append(refs, v1beta1ServiceRef{ar.Spec.Service, specNs, field.NewPath("spec", "service")})
	}
	rules := field.NewPath("spec", "rules")
	for i, rule := range ar.Spec.Rules {
		p := rules.Index(i).Child("service")
		switch {
		case rule.Service != nil:
			rns := specNs
			if rule.Service.Namespace != nil && *rule.Service.Namespace != "" {
				rns = *rule.Service.Namespace
			}
			refs = append(refs, v1beta1ServiceRef{rule.Service, rns, p})
		case ar.Spec.Service == nil:
			r.Deny(APIRuleV1beta1ServiceNotFound, field.Required(p,
				"the rule has no service and spec.service is not set: set one of them"))
		}
	}
	type result struct {
		svc *corev1.Service
		err error
	}
	cache := map[string]result{}
	for _, ref := range refs {
		if ref.svc.Name == nil || *ref.svc.Name == "" {
			continue
		}
		name := *ref.svc.Name
		key := ref.ns + "/" + name
		res, seen := cache[key]
		if !seen {
			res.svc, res.err = env.Cluster.Service(ctx, ref.ns, name)
			cache[key] = res
		}
		switch {
		case res.err != nil:
			r.Warn(APIRuleV1beta1ServiceNotFound, authzCouldNotCheck(ref.path.Child("name"), "Services", res.err))
		case res.svc == nil:
			r.Deny(APIRuleV1beta1ServiceNotFound, authzNotFound(ref.path.Child("name"), name,
				"no Service "+name+" in namespace "+ref.ns+": fix the name or namespace (taken from the rule, then spec.service, then the APIRule), or create the Service"))
		default:
			if ref.svc.Port != nil {
				validateV1beta1ServicePort(res.svc, *ref.svc.Port, ref.path.Child("port"), r)
			}
			if e := noSelectorError(ref.path.Child("name"), res.svc); e != nil {
				r.Warn(APIRuleServiceSelector, e)
			}
		}
	}
}

func validateV1beta1ServicePort(svc *corev1.Service, port int64, p *field.Path, r *core.Report) {
	var ports []string
	for _, sp := range svc.Spec.Ports {
		if int64(sp.Port) == port {
			return
		}
		s := strconv.Itoa(int(sp.Port))
		if sp.Name != "" {
			s += " (" + sp.Name + ")"
		}
		ports = append(ports, s)
	}
	have := "it has no ports"
	if len(ports) > 0 {
		have = "its ports are " + strings.Join(ports, ", ")
	}
	r.Deny(APIRuleV1beta1ServicePort, field.Invalid(p, port,
		"not a port of Service "+svc.Namespace+"/"+svc.Name+": "+have+"; use one of them"))
}

// v1beta1HostKey is what two APIRules collide on: the FQDN, with a short
// host expanded by the domain of its gateway (the first server's first
// host without `*.`), or short host and gateway when that is unknown.
func v1beta1HostKey(ctx context.Context, host, gatewayRef string, env *core.Env, domains map[string]string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if strings.Contains(host, ".") {
		return host
	}
	if gatewayRef == "" {
		gatewayRef = v1beta1DefaultGateway
	}
	domain, seen := domains[gatewayRef]
	if !seen {
		if gwNs, gwName, ok := apirule.SplitRef(gatewayRef); ok {
			if gw, err := env.Cluster.Gateway(ctx, gwNs, gwName); err == nil && gw != nil &&
				len(gw.Spec.Servers) > 0 && gw.Spec.Servers[0] != nil && len(gw.Spec.Servers[0].Hosts) > 0 {
				h := gw.Spec.Servers[0].Hosts[0]
				if i := strings.Index(h, "/"); i >= 0 {
					h = h[i+1:]
				}
				domain = strings.ToLower(strings.TrimPrefix(h, "*."))
			}
		}
		domains[gatewayRef] = domain
	}
	if domain == "" || domain == "*" {
		return host + "@" + gatewayRef
	}
	return host + "." + domain
}

func validateV1beta1HostOccupied(ctx context.Context, ar *apirule.V1beta1APIRule, ns string, env *core.Env, r *core.Report) {
	if ar.Spec.Host == nil || *ar.Spec.Host == "" || !r.Enabled(APIRuleV1beta1HostOccupied) {
		return
	}
	p := field.NewPath("spec", "host")
	host := *ar.Spec.Host
	domains := map[string]string{}
	myGateway := ""
	if ar.Spec.Gateway != nil {
		if gwNs, gwName, ok := v1beta1GatewayRef(*ar.Spec.Gateway, ns); ok {
			myGateway = gwNs + "/" + gwName
		}
	}
	mine := v1beta1HostKey(ctx, host, myGateway, env, domains)
	self := ""
	if ar.Name != "" {
		self = ns + "/" + ar.Name
	}
	var holders []string
	seen := map[string]bool{} // owning APIRule, or VirtualService without one
	others, err := env.Cluster.APIRules(ctx, "")
	if err != nil {
		r.Warn(APIRuleV1beta1HostOccupied, authzCouldNotCheck(p, "APIRules", err))
	}
	for _, o := range others {
		owner := authzNamespace(o.Namespace) + "/" + o.Name
		if owner == self {
			continue
		}
		gw := ""
		if o.Spec.Gateway != nil {
			gw = *o.Spec.Gateway
		}
		for _, h := range o.Spec.Hosts {
			if v1beta1HostKey(ctx, h, gw, env, domains) == mine && !seen[owner] {
				seen[owner] = true
				holders = append(holders, "APIRule "+owner)
			}
		}
	}
	err = eachForeignVirtualServiceHost(ctx, env.Cluster, self, func(h, owner, by string) {
		key := owner
		if key == "" {
			key = by
		}
		if h == mine && !seen[key] {
			seen[key] = true
			holders = append(holders, by)
		}
	})
	if err != nil {
		r.Warn(APIRuleV1beta1HostOccupied, authzCouldNotCheck(p, "VirtualServices", err))
	}
	if len(holders) == 0 {
		return
	}
	sort.Strings(holders)
	e := field.Duplicate(p, host)
	e.Detail = "already exposed by " + strings.Join(holders, ", ") + ", so Kyma rejects this one as occupied: use another host, or change or delete the other APIRule or VirtualService"
	r.Deny(APIRuleV1beta1HostOccupied, e)
}

// v1beta1JWTErrors is apirule-jwt for the config of v1beta1 jwt handlers, in
// either form: the Istio form (authentications, authorizations) gets the v2
// checks; the Ory form (trusted_issuers, jwks_urls, required_scope,
// target_audience) may not have empty entries. Kyma refuses a config that
// mixes the two, whichever jwt handler it runs.
func v1beta1JWTErrors(rules []apirule.V1beta1Rule) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		for k, h := range rule.AccessStrategies {
			if h == nil || h.Name != "jwt" {
				continue
			}
			cp := field.NewPath("spec", "rules").Index(i).Child("accessStrategies").Index(k).Child("config")
			ory, ist, err := h.JWTConfig()
			if err != nil {
				errs = append(errs, field.Invalid(cp, string(h.Config.Raw), "not a jwt config: "+err.Error()))
				continue
			}
			oryForm := ory.TrustedIssuers != nil || ory.JwksURLs != nil || ory.RequiredScope != nil || ory.TargetAudience != nil
			istioForm := ist.Authentications != nil || ist.Authorizations != nil
			if oryForm && istioForm {
				errs = append(errs, field.Forbidden(cp,
					"mixes the Ory form (trusted_issuers, jwks_urls, required_scope, target_audience) with the Istio form (authentications, authorizations): keep one"))
			}
			if istioForm {
				errs = append(errs, jwtConfigErrors(ist, cp)...)
			}
			for _, l := range []struct {
				name, what string
				values     []string
			}{
				{"trusted_issuers", "issuer", ory.TrustedIssuers},
				{"jwks_urls", "JWKS URL", ory.JwksURLs},
				{"required_scope", "scope", ory.RequiredScope},
				{"target_audience", "audience", ory.TargetAudience},
			} {
				for n, v := range l.values {
					if strings.TrimSpace(v) == "" {
						errs = append(errs, field.Invalid(cp.Child(l.name).Index(n), v, "empty "+l.what+": name it, or remove the entry"))
					}
				}
			}
		}
	}
	return errs
}

func validateV1beta1Deprecation(ar *apirule.V1beta1APIRule, r *core.Report) {
	mapped := map[string]bool{}
	missing := map[string]bool{}
	for i, rule := range ar.Spec.Rules {
		for k, h := range rule.AccessStrategies {
			if h == nil {
				continue
			}
			eq, known := v2Equivalent[h.Name]
			switch {
			case known && eq != "":
				mapped[h.Name+" → "+eq] = true
			case !missing[h.Name]:
				// Reported once, where the handler first appears.
				missing[h.Name] = true
				r.Warn(APIRuleV1beta1Deprecated, field.Invalid(
					field.NewPath("spec", "rules").Index(i).Child("accessStrategies").Index(k).Child("handler"), h.Name,
					fmt.Sprintf("access strategy %q has no v2 equivalent; use jwt or extAuth (oauth2-proxy) instead", h.Name)))
			}
		}
	}
	msg := "gateway.kyma-project.io/v1beta1 APIRule is deprecated and no longer reconciled by Kyma; migrate to gateway.kyma-project.io/v2 (spec.host → spec.hosts, spec.gateway as namespace/name"
	if len(mapped) > 0 {
		var m []string
		for k := range mapped {
			m = append(m, k)
		}
		sort.Strings(m)
		msg += ", " + strings.Join(m, ", ")
	}
	msg += ")"
	r.Warn(APIRuleV1beta1Deprecated, field.Invalid(field.NewPath("apiVersion"), apirule.V1beta1.GroupVersion().String(), msg))
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
