package explain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// The policies Kyma's v2 controller generates for an APIRule, and the
// VirtualService route a request takes; docs/explain.md lists the rules.

// ingressPrincipal is the source principal of Kyma's ALLOW policies.
const ingressPrincipal = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"

// scopeClaims are the claims requiredScopes may be in, one AuthorizationPolicy
// rule each.
var scopeClaims = []string{"scp", "scope", "scopes"}

// raPolicy and apPolicy are RequestAuthentications and
// AuthorizationPolicies, read from objects or generated for APIRules.
type raPolicy struct {
	Namespace, Name string
	// Origin says where the policy comes from, for the report.
	Origin     string
	Selector   map[string]string
	TargetRefs bool
	Rules      []*securityapi.JWTRule
}

type apPolicy struct {
	Namespace, Name string
	Origin          string
	Selector        map[string]string
	TargetRefs      bool
	Action          securityapi.AuthorizationPolicy_Action
	Provider        string
	Rules           []*securityapi.Rule
	DryRun          bool
}

func fromRA(ra *securityv1.RequestAuthentication) *raPolicy {
	p := &raPolicy{Namespace: ra.Namespace, Name: ra.Name, Origin: "RequestAuthentication " + ra.Namespace + "/" + ra.Name,
		Rules: ra.Spec.JwtRules, TargetRefs: ra.Spec.TargetRef != nil || len(ra.Spec.TargetRefs) > 0}
	if ra.Spec.Selector != nil {
		p.Selector = ra.Spec.Selector.MatchLabels
	}
	return p
}

func fromAP(ap *securityv1.AuthorizationPolicy) *apPolicy {
	p := &apPolicy{Namespace: ap.Namespace, Name: ap.Name, Origin: "AuthorizationPolicy " + ap.Namespace + "/" + ap.Name,
		Action: ap.Spec.Action, Rules: ap.Spec.Rules, TargetRefs: ap.Spec.TargetRef != nil || len(ap.Spec.TargetRefs) > 0,
		DryRun: strings.EqualFold(ap.Annotations["istio.io/dry-run"], "true")}
	if ap.Spec.Selector != nil {
		p.Selector = ap.Spec.Selector.MatchLabels
	}
	if prov, ok := ap.Spec.ActionDetail.(*securityapi.AuthorizationPolicy_Provider); ok && prov.Provider != nil {
		p.Provider = prov.Provider.Name
	}
	return p
}

// serviceRef is the Service a rule routes to, with the namespace Kyma
// resolves: rule, then spec, then the APIRule's.
type serviceRef struct {
	Namespace, Name string
	Port            int64
}

func (s serviceRef) String() string { return s.Namespace + "/" + s.Name }

func ruleService(ar *apirule.APIRule, r apirule.Rule) (serviceRef, bool) {
	svc := ar.Spec.Service
	if r.Service != nil {
		svc = r.Service
	}
	if svc == nil || svc.Name == nil {
		return serviceRef{}, false
	}
	ns := ar.Namespace
	if ns == "" {
		ns = "default"
	}
	if ar.Spec.Service != nil && ar.Spec.Service.Namespace != nil && *ar.Spec.Service.Namespace != "" {
		ns = *ar.Spec.Service.Namespace
	}
	if r.Service != nil && r.Service.Namespace != nil && *r.Service.Namespace != "" {
		ns = *r.Service.Namespace
	}
	ref := serviceRef{Namespace: ns, Name: *svc.Name}
	if svc.Port != nil {
		ref.Port = *svc.Port
	}
	return ref, true
}

// gatewayDomain is the domain Kyma's v2 controller expands short hosts with:
// the first server's first host without "*.".
func gatewayDomain(gw *networkingv1.Gateway) string {
	if gw == nil {
		return ""
	}
	for _, s := range gw.Spec.Servers {
		if s != nil && len(s.Hosts) > 0 {
			h := s.Hosts[0]
			if _, after, ok := strings.Cut(h, "/"); ok {
				h = after
			}
			return strings.TrimPrefix(h, "*.")
		}
	}
	return ""
}

var shortHost = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// fqdns are the APIRule's hosts as Kyma writes them into its objects;
// ok is false when a short host has no domain to expand with.
func fqdns(ar *apirule.APIRule, gw *networkingv1.Gateway) ([]string, bool) {
	domain := gatewayDomain(gw)
	var out []string
	for _, h := range ar.Spec.Hosts {
		if shortHost.MatchString(h) {
			if domain == "" {
				return nil, false
			}
			h += "." + domain
		}
		out = append(out, h)
	}
	return out, true
}

// envoyTemplates are Kyma's regexes for {*} and {**} in VirtualService
// routes.
var envoyTemplates = strings.NewReplacer(
	`{**}`, `([A-Za-z0-9-._~!$&'()*+,;=:@/]|%[0-9a-fA-F]{2})*`,
	`{*}`, `([A-Za-z0-9-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+`,
)

// routeMatches is the VirtualService match Kyma writes for a rule: prefix
// "/" for "/*", else the path as a regex with the templates replaced, which
// Envoy matches against the whole path without the query.
func routeMatches(rulePath, path string) bool {
	if rulePath == "/*" {
		return strings.HasPrefix(path, "/")
	}
	re, err := regexp.Compile("^" + envoyTemplates.Replace(rulePath) + "$")
	return err == nil && re.MatchString(path)
}

// standardPath is "/*" written as "/{**}", as Kyma's policies write it.
func standardPath(p string) string {
	if p == "/*" {
		return "/{**}"
	}
	return p
}

// notPaths are the paths of earlier rules sharing a method, which Kyma
// excludes from a rule's policies.
func notPaths(rules []apirule.Rule, current apirule.Rule) []string {
	var out []string
	before := true
	for _, r := range rules {
		if standardPath(r.Path) == "/{**}" || r.Path == "/" {
			continue
		}
		if r.Path == current.Path {
			before = false
			continue
		}
		shared := false
		for _, m := range r.Methods {
			shared = shared || slices.Contains(current.Methods, m)
		}
		if shared && before {
			out = append(out, r.Path)
		}
	}
	return out
}

// generate builds the RequestAuthentications and AuthorizationPolicies
// Kyma creates for one rule of an APIRule.
func generate(ar *apirule.APIRule, i int, hosts []string, selector map[string]string, ns string) ([]*raPolicy, []*apPolicy) {
	rule := ar.Spec.Rules[i]
	origin := fmt.Sprintf("generated by Kyma for APIRule %s/%s rule %d", ar.Namespace, ar.Name, i)
	var jwtCfg *apirule.JWT
	switch {
	case rule.JWT != nil:
		jwtCfg = rule.JWT
	case rule.ExtAuth != nil && rule.ExtAuth.Restrictions != nil:
		jwtCfg = rule.ExtAuth.Restrictions
	}
	var ras []*raPolicy
	if jwtCfg != nil {
		ra := &raPolicy{Namespace: ns, Name: fmt.Sprintf("%s-rule%d", ar.Name, i), Origin: "RequestAuthentication " + origin, Selector: selector}
		for _, a := range jwtCfg.Authentications {
			jr := &securityapi.JWTRule{Issuer: a.Issuer, JwksUri: a.JwksURI, ForwardOriginalToken: true, FromParams: a.FromParams}
			for _, h := range a.FromHeaders {
				jr.FromHeaders = append(jr.FromHeaders, &securityapi.JWTHeader{Name: h.Name, Prefix: h.Prefix})
			}
			ra.Rules = append(ra.Rules, jr)
		}
		ras = append(ras, ra)
	}
	to := []*securityapi.Rule_To{{Operation: &securityapi.Operation{
		Hosts: hosts, Methods: rule.Methods, Paths: []string{standardPath(rule.Path)}, NotPaths: notPaths(ar.Spec.Rules, rule),
	}}}
	var aps []*apPolicy
	name := func(kind string, n int) string { return fmt.Sprintf("%s-rule%d-%s%d", ar.Name, i, kind, n) }
	if rule.ExtAuth != nil {
		for k, authorizer := range rule.ExtAuth.Authorizers {
			aps = append(aps, &apPolicy{Namespace: ns, Name: name("custom", k), Origin: "AuthorizationPolicy " + origin, Selector: selector,
				Action: securityapi.AuthorizationPolicy_CUSTOM, Provider: authorizer, Rules: []*securityapi.Rule{{To: to}}})
		}
	}
	source := &securityapi.Source{Principals: []string{ingressPrincipal}}
	if jwtCfg != nil {
		for _, a := range jwtCfg.Authentications {
			source.RequestPrincipals = append(source.RequestPrincipals, a.Issuer+"/*")
		}
	}
	from := []*securityapi.Rule_From{{Source: source}}
	var authz []apirule.JWTAuthorization
	if jwtCfg != nil {
		authz = jwtCfg.Authorizations
	}
	if len(authz) == 0 {
		authz = []apirule.JWTAuthorization{{}}
	}
	for k, z := range authz {
		var aud []*securityapi.Condition
		for _, a := range z.Audiences {
			aud = append(aud, &securityapi.Condition{Key: "request.auth.claims[aud]", Values: []string{a}})
		}
		ap := &apPolicy{Namespace: ns, Name: name("allow", k), Origin: "AuthorizationPolicy " + origin, Selector: selector,
			Action: securityapi.AuthorizationPolicy_ALLOW}
		if len(z.RequiredScopes) == 0 {
			ap.Rules = []*securityapi.Rule{{From: from, To: to, When: aud}}
		}
		for _, claim := range scopeClaims {
			if len(z.RequiredScopes) == 0 {
				break
			}
			var when []*securityapi.Condition
			for _, s := range z.RequiredScopes {
				when = append(when, &securityapi.Condition{Key: "request.auth.claims[" + claim + "]", Values: []string{s}})
			}
			ap.Rules = append(ap.Rules, &securityapi.Rule{From: from, To: to, When: append(when, aud...)})
		}
		aps = append(aps, ap)
	}
	return ras, aps
}

// ownedByKyma says whether a policy was created by Kyma for the APIRule: its
// owner labels name and namespace, or the older label
// apirule.gateway.kyma-project.io/v1beta1=<name>.<namespace>.
func ownedByKyma(labels map[string]string, ar *apirule.APIRule) bool {
	if labels["apirule.gateway.kyma-project.io/name"] == ar.Name && labels["apirule.gateway.kyma-project.io/namespace"] == ar.Namespace {
		return true
	}
	return labels["apirule.gateway.kyma-project.io/v1beta1"] == ar.Name+"."+ar.Namespace
}
