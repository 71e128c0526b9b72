package validators

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

var APIRuleV1beta1Deprecated = register(Check{
	ID:          "apirule-v1beta1-deprecated",
	Kinds:       []string{KindAPIRule},
	Default:     Warn,
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

var APIRuleV1beta1GatewayNotFound = register(Check{
	ID:          "apirule-v1beta1-gateway-not-found",
	Kinds:       []string{KindAPIRule},
	Default:     Deny,
	Description: "a v1beta1 spec.gateway (namespace/name or <name>.<namespace>.svc.cluster.local) names an existing Gateway",
})

var APIRuleV1beta1ServiceNotFound = register(Check{
	ID:          "apirule-v1beta1-service-not-found",
	Kinds:       []string{KindAPIRule},
	Default:     Deny,
	Description: "every v1beta1 rule has a service (its own or spec.service) and the Service exists (namespace: rule, then spec, then the APIRule's)",
})

var APIRuleV1beta1ServicePort = register(Check{
	ID:          "apirule-v1beta1-service-port",
	Kinds:       []string{KindAPIRule},
	Default:     Deny,
	Description: "the port of a v1beta1 spec.service or rules[].service is one of the Service's ports",
})

var APIRuleV1beta1HostOccupied = register(Check{
	ID:          "apirule-v1beta1-host-occupied",
	Kinds:       []string{KindAPIRule},
	Default:     Deny,
	Description: "a v1beta1 spec.host is not already exposed by another APIRule",
})

// v1beta1DefaultGateway is what Kyma's v1beta1 short hosts take their domain from.
const v1beta1DefaultGateway = "kyma-system/kyma-gateway"

func validateAPIRuleV1beta1(ctx context.Context, ar *apirule.V1beta1APIRule, env *Env, r *Report) {
	validateV1beta1Deprecation(ar, r)
	validateAPIRuleV1beta1JWTTrust(ctx, ar, env, r)
	ns := authzNamespace(ar.Namespace)
	validateV1beta1Gateway(ctx, ar, ns, env, r)
	validateV1beta1Services(ctx, ar, ns, env, r)
	validateV1beta1HostOccupied(ctx, ar, ns, env, r)
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

func validateV1beta1Gateway(ctx context.Context, ar *apirule.V1beta1APIRule, ns string, env *Env, r *Report) {
	if ar.Spec.Gateway == nil || *ar.Spec.Gateway == "" || !r.Enabled(APIRuleV1beta1GatewayNotFound) {
		return
	}
	p := field.NewPath("spec", "gateway")
	ref := *ar.Spec.Gateway
	gwNs, gwName, ok := v1beta1GatewayRef(ref, ns)
	if !ok {
		r.Deny(APIRuleV1beta1GatewayNotFound, field.Invalid(p, ref,
			"not a gateway reference: use namespace/name (e.g. kyma-system/kyma-gateway) or <name>.<namespace>.svc.cluster.local"))
		return
	}
	gw, err := env.Cluster.Gateway(ctx, gwNs, gwName)
	switch {
	case err != nil:
		r.Warn(APIRuleV1beta1GatewayNotFound, authzCouldNotCheck(p, "Gateways", err))
	case gw == nil:
		r.Deny(APIRuleV1beta1GatewayNotFound, authzNotFound(p, ref,
			"no Gateway "+gwNs+"/"+gwName+" exists: fix the reference (e.g. kyma-system/kyma-gateway) or create the Gateway"))
	}
}

// v1beta1ServiceRef is one service an APIRule routes to, with the namespace
// Kyma resolves for it.
type v1beta1ServiceRef struct {
	svc  *apirule.Service
	ns   string
	path *field.Path
}

func validateV1beta1Services(ctx context.Context, ar *apirule.V1beta1APIRule, ns string, env *Env, r *Report) {
	if !r.Enabled(APIRuleV1beta1ServiceNotFound) && !r.Enabled(APIRuleV1beta1ServicePort) {
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
		case ref.svc.Port != nil:
			validateV1beta1ServicePort(res.svc, *ref.svc.Port, ref.path.Child("port"), r)
		}
	}
}

func validateV1beta1ServicePort(svc *corev1.Service, port int64, p *field.Path, r *Report) {
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
func v1beta1HostKey(ctx context.Context, host, gatewayRef string, env *Env, domains map[string]string) string {
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

func validateV1beta1HostOccupied(ctx context.Context, ar *apirule.V1beta1APIRule, ns string, env *Env, r *Report) {
	if ar.Spec.Host == nil || *ar.Spec.Host == "" || !r.Enabled(APIRuleV1beta1HostOccupied) {
		return
	}
	p := field.NewPath("spec", "host")
	host := *ar.Spec.Host
	others, err := env.Cluster.APIRules(ctx, "")
	if err != nil {
		r.Warn(APIRuleV1beta1HostOccupied, authzCouldNotCheck(p, "APIRules", err))
		return
	}
	domains := map[string]string{}
	myGateway := ""
	if ar.Spec.Gateway != nil {
		if gwNs, gwName, ok := v1beta1GatewayRef(*ar.Spec.Gateway, ns); ok {
			myGateway = gwNs + "/" + gwName
		}
	}
	mine := v1beta1HostKey(ctx, host, myGateway, env, domains)
	var owners []string
	for _, o := range others {
		ons := authzNamespace(o.Namespace)
		if o.Name == ar.Name && ons == ns && ar.Name != "" {
			continue
		}
		gw := ""
		if o.Spec.Gateway != nil {
			gw = *o.Spec.Gateway
		}
		for _, h := range o.Spec.Hosts {
			if v1beta1HostKey(ctx, h, gw, env, domains) == mine {
				owners = append(owners, ons+"/"+o.Name)
				break
			}
		}
	}
	if len(owners) == 0 {
		return
	}
	sort.Strings(owners)
	e := field.Duplicate(p, host)
	e.Detail = "already exposed by APIRule " + strings.Join(owners, ", ") + ", so Kyma rejects this one as occupied: use another host, or change or delete the other APIRule"
	r.Deny(APIRuleV1beta1HostOccupied, e)
}

func validateV1beta1Deprecation(ar *apirule.V1beta1APIRule, r *Report) {
	mapped := map[string]bool{}
	var missing []string
	for _, rule := range ar.Spec.Rules {
		for _, h := range rule.AccessStrategies {
			if h == nil {
				continue
			}
			eq, known := v2Equivalent[h.Name]
			switch {
			case known && eq != "":
				mapped[h.Name+" → "+eq] = true
			default:
				missing = append(missing, h.Name)
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
	for _, name := range dedupe(missing) {
		r.Warn(APIRuleV1beta1Deprecated, field.Invalid(field.NewPath("spec", "rules"), name,
			fmt.Sprintf("access strategy %q has no v2 equivalent; use jwt or extAuth (oauth2-proxy) instead", name)))
	}
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
