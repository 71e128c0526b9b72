// Package migrate turns APIRules of gateway.kyma-project.io/v1beta1 into v2
// objects that keep their behaviour. Kyma's own conversion fills in v2 rules
// only for no_auth and single-issuer jwt; this package maps every access
// strategy, path, mutator and CORS setting that has a v2 equivalent, says in
// a note where v2 behaves differently, and refuses, with the reason and the
// fix, what v2 cannot express. docs/migrate.md holds the mapping table and
// the Kyma source each mapping rests on.
package migrate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// Kyma's annotations on APIRules: its conversion keeps the whole v1beta1
// spec as JSON once the stored object is v2alpha1.
const (
	AnnotationOriginalVersion = "gateway.kyma-project.io/original-version"
	AnnotationV1beta1Spec     = "gateway.kyma-project.io/v1beta1-spec"
	AnnotationV2alpha1Rules   = "gateway.kyma-project.io/v2alpha1-rules"
	annotationLastApplied     = "kubectl.kubernetes.io/last-applied-configuration"
)

// kymaGateway is where v1beta1 short hosts take their domain from.
const kymaGateway = "kyma-system/kyma-gateway"

// Status is what happened to one APIRule.
type Status string

const (
	Migrated          Status = "migrated"
	MigratedWithNotes Status = "migrated with notes"
	Refused           Status = "refused"
)

// Note says where the v2 object behaves differently from the v1beta1 one, or
// what it assumes; Field is the v1beta1 field it is about.
type Note struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func (n Note) String() string {
	if n.Field == "" {
		return n.Detail
	}
	return n.Field + ": " + n.Detail
}

// Result is the outcome for one APIRule.
type Result struct {
	Namespace string
	Name      string
	// Source says where the v1beta1 spec was read.
	Source string
	Status Status
	// Object is the v2 APIRule; nil when refused.
	Object   *apirule.APIRule
	Notes    []Note
	Refusals field.ErrorList
}

// Lookup is the cluster state a migration reads: the Gateways short hosts
// take their domains from and the mesh config's registered authorizers.
// cluster.State satisfies it.
type Lookup interface {
	Gateway(ctx context.Context, namespace, name string) (*networkingv1.Gateway, error)
	Mesh(ctx context.Context) (*cluster.Mesh, error)
}

// Env is what a migration may consult.
type Env struct {
	Lookup Lookup
	// Trust looks up issuers for Ory jwt configs that name only JWKS URLs or
	// only issuers; nil or trust.Offline refuses those instead.
	Trust trust.Resolver
	// Authorizer is the ext_authz provider oauth2_introspection rules move
	// to; empty picks the only registered one.
	Authorizer string
	// JWTHandler is Kyma's v1beta1 jwtHandler ("ory" or "istio", from the
	// ConfigMap kyma-system/api-gateway-config); empty when not known.
	JWTHandler string
}

// Kyma's v1beta1 jwt handlers; ory is the default when the ConfigMap does
// not say.
const (
	HandlerOry   = "ory"
	HandlerIstio = "istio"
)

// Input is one v1beta1 APIRule and where it was read.
type Input struct {
	Rule   *apirule.V1beta1APIRule
	Source string
}

// Convert migrates one v1beta1 APIRule.
func Convert(ctx context.Context, in Input, env Env) *Result {
	c := &converter{ctx: ctx, env: env, in: in.Rule, res: &Result{
		Namespace: namespaceOf(in.Rule), Name: in.Rule.Name, Source: in.Source,
	}}
	c.out = &apirule.APIRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: apirule.V2.GroupVersion().String(), Kind: apirule.V2.Kind},
		ObjectMeta: c.meta(),
	}
	gw := c.gateway()
	c.host(gw)
	c.out.Spec.Service = copyService(in.Rule.Spec.Service)
	c.out.Spec.Timeout = in.Rule.Spec.Timeout
	c.cors()
	c.rules()
	c.internalTraffic()

	res := c.res
	switch {
	case len(res.Refusals) > 0:
		res.Status, res.Object = Refused, nil
	case len(res.Notes) > 0:
		res.Status, res.Object = MigratedWithNotes, c.out
	default:
		res.Status, res.Object = Migrated, c.out
	}
	return res
}

type converter struct {
	ctx context.Context
	env Env
	in  *apirule.V1beta1APIRule
	out *apirule.APIRule
	res *Result
}

func (c *converter) note(p *field.Path, format string, args ...any) {
	n := Note{Detail: fmt.Sprintf(format, args...)}
	if p != nil {
		n.Field = p.String()
	}
	c.res.Notes = append(c.res.Notes, n)
}

func (c *converter) refuse(errs ...*field.Error) {
	c.res.Refusals = append(c.res.Refusals, errs...)
}

func namespaceOf(r *apirule.V1beta1APIRule) string {
	if r.Namespace == "" {
		return "default"
	}
	return r.Namespace
}

// meta keeps name, namespace, labels and the user's annotations; Kyma's
// conversion annotations and kubectl's last-applied copy describe the v1beta1
// object and are left out. Kyma's conversion sets original-version to v2
// itself when a v2 object with rules is applied over a v1beta1 one, so the
// manifest does not set it.
func (c *converter) meta() metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: c.in.Name, Namespace: c.in.Namespace}
	if len(c.in.Labels) > 0 {
		m.Labels = maps.Clone(c.in.Labels)
	}
	for k, v := range c.in.Annotations {
		switch k {
		case AnnotationOriginalVersion, AnnotationV1beta1Spec, AnnotationV2alpha1Rules, annotationLastApplied:
			continue
		}
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[k] = v
	}
	return m
}

func copyService(s *apirule.Service) *apirule.Service {
	if s == nil {
		return nil
	}
	cp := *s
	return &cp
}

// gateway writes spec.gateway as namespace/name and returns the Gateway when
// it could be read.
func (c *converter) gateway() *networkingv1.Gateway {
	p := field.NewPath("spec", "gateway")
	if c.in.Spec.Gateway == nil || *c.in.Spec.Gateway == "" {
		c.refuse(field.Required(p, "v2 needs the Istio Gateway as namespace/name, e.g. kyma-system/kyma-gateway: set it in the v1beta1 object or write the v2 object by hand"))
		return nil
	}
	ref, err := TranslateGateway(*c.in.Spec.Gateway, namespaceOf(c.in))
	if err != nil {
		c.refuse(field.Invalid(p, *c.in.Spec.Gateway, err.Error()))
		return nil
	}
	c.out.Spec.Gateway = &ref
	ns, name, _ := apirule.SplitRef(ref)
	gw, err := c.env.Lookup.Gateway(c.ctx, ns, name)
	if err != nil {
		c.refuse(field.InternalError(p, fmt.Errorf("could not read Gateway %s: %v", ref, err)))
		return nil
	}
	return gw
}

// TranslateGateway writes a v1beta1 gateway reference as v2's namespace/name.
// The legacy forms are the ones Kyma's gatewaytranslator accepts:
// name.namespace.svc.cluster.local, .svc.cluster, .svc, name.namespace and a
// bare name, which is in the APIRule's namespace.
func TranslateGateway(ref, apiruleNamespace string) (string, error) {
	if ns, name, ok := apirule.SplitRef(ref); ok {
		if isLabel(ns) && isLabel(name) {
			return ref, nil
		}
		return "", fmt.Errorf("namespace and name must be lower-case DNS labels (a-z, 0-9, -) in v2: rename the Gateway or point the APIRule at another one")
	}
	parts := strings.Split(ref, ".")
	switch {
	case len(parts) == 1:
		parts = []string{ref, apiruleNamespace}
	case len(parts) == 5 && strings.HasSuffix(ref, ".svc.cluster.local"),
		len(parts) == 4 && strings.HasSuffix(ref, ".svc.cluster"),
		len(parts) == 3 && strings.HasSuffix(ref, ".svc"):
		parts = parts[:2]
	case len(parts) == 2:
	default:
		return "", fmt.Errorf("not a gateway reference Kyma understands: use namespace/name, e.g. kyma-system/kyma-gateway")
	}
	if !isLabel(parts[0]) || !isLabel(parts[1]) {
		return "", fmt.Errorf("namespace and name must be lower-case DNS labels (a-z, 0-9, -) in v2: rename the Gateway or point the APIRule at another one")
	}
	return parts[1] + "/" + parts[0], nil
}

// isLabel is the DNS label of v2's gateway pattern.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// host writes spec.host as spec.hosts. v1beta1 put a short host under the
// domain of kyma-system/kyma-gateway, v2 under the domain of spec.gateway: a
// short host stays short when the two are the same, and becomes an FQDN
// under the v1beta1 domain when they differ.
func (c *converter) host(gw *networkingv1.Gateway) {
	p := field.NewPath("spec", "host")
	if c.in.Spec.Host == nil || *c.in.Spec.Host == "" {
		c.refuse(field.Required(p, "v2 needs a host: set spec.host in the v1beta1 object"))
		return
	}
	orig := *c.in.Spec.Host
	host := strings.ToLower(strings.TrimSuffix(orig, "."))
	if strings.Contains(host, "_") {
		c.refuse(field.Invalid(p, orig, "'_' is not allowed in a v2 host (lower-case RFC 1123 names only): rename the host"))
		return
	}
	if strings.Contains(host, ".") {
		if !validFQDN(host) {
			c.refuse(field.Invalid(p, orig, "not a host v2 accepts (lower-case RFC 1123 FQDN whose last label has 2 to 63 letters or digits): rename the host"))
			return
		}
		c.out.Spec.Hosts = []string{host}
		return
	}
	if !isLabel(host) {
		c.refuse(field.Invalid(p, orig, "not a host v2 accepts (a lower-case RFC 1123 label or FQDN): rename the host"))
		return
	}
	oldDomain, oldErr := c.v1beta1Domain()
	newDomain, newOK := servedDomain(gw)
	ref := ""
	if c.out.Spec.Gateway != nil {
		ref = *c.out.Spec.Gateway
	}
	switch {
	case newOK && oldErr == nil && oldDomain == newDomain:
		c.out.Spec.Hosts = []string{host}
	case oldErr == nil:
		c.out.Spec.Hosts = []string{host + "." + oldDomain}
		why := "does not serve one *.domain host on all servers"
		if newOK {
			why = "serves *." + newDomain
		} else if gw == nil {
			why = "was not found"
		}
		c.note(p, "v1beta1 put the short host %q under the domain of %s (%s); v2 would use the domain of spec.gateway %s, which %s: written as the FQDN %q", host, kymaGateway, oldDomain, ref, why, host+"."+oldDomain)
	case newOK:
		c.out.Spec.Hosts = []string{host}
		c.note(p, "v1beta1 could not expand the short host %q (%v); v2 puts it under the domain of %s: %s", host, oldErr, ref, host+"."+newDomain)
	default:
		c.refuse(field.Invalid(p, orig, fmt.Sprintf("a short host needs a domain, and neither %s (%v) nor spec.gateway %s serves one *.domain host: write the FQDN in spec.host", kymaGateway, oldErr, ref)))
	}
}

// v1beta1Domain is the domain Kyma's v1beta1 controller gave short hosts:
// kyma-system/kyma-gateway must have exactly one HTTPS server with exactly one
// host of the form *.domain.
func (c *converter) v1beta1Domain() (string, error) {
	ns, name, _ := apirule.SplitRef(kymaGateway)
	gw, err := c.env.Lookup.Gateway(c.ctx, ns, name)
	if err != nil {
		return "", fmt.Errorf("could not read it: %v", err)
	}
	if gw == nil {
		return "", fmt.Errorf("it does not exist")
	}
	var https []int
	for i, s := range gw.Spec.Servers {
		if s != nil && s.Port != nil && strings.EqualFold(s.Port.Protocol, "HTTPS") {
			https = append(https, i)
		}
	}
	if len(https) != 1 {
		return "", fmt.Errorf("it has %d HTTPS servers, Kyma wants exactly one", len(https))
	}
	hosts := gw.Spec.Servers[https[0]].Hosts
	if len(hosts) != 1 || !strings.HasPrefix(hosts[0], "*.") || len(hosts[0]) < 3 {
		return "", fmt.Errorf("its HTTPS server hosts %v are not one *.domain host", hosts)
	}
	return strings.ToLower(hosts[0][2:]), nil
}

// servedDomain is the domain v2 expands short hosts with: every server of the
// Gateway serves the same single *.domain host (gatewarden's
// apirule-host-gateway check and Kyma's v2 host validation agree on this).
func servedDomain(gw *networkingv1.Gateway) (string, bool) {
	if gw == nil {
		return "", false
	}
	var domain string
	for _, s := range gw.Spec.Servers {
		if s == nil {
			continue
		}
		for _, h := range s.Hosts {
			if _, after, ok := strings.Cut(h, "/"); ok {
				h = after
			}
			h = strings.ToLower(h)
			if !strings.HasPrefix(h, "*.") || len(h) < 3 || (domain != "" && h[2:] != domain) {
				return "", false
			}
			domain = h[2:]
		}
	}
	return domain, domain != ""
}

// validFQDN is v2's host pattern for names with a dot.
func validFQDN(h string) bool {
	if len(h) > 255 {
		return false
	}
	labels := strings.Split(h, ".")
	for i, l := range labels {
		if !isLabel(l) {
			return false
		}
		if i == len(labels)-1 && (len(l) < 2 || strings.Contains(l, "-")) {
			return false
		}
	}
	return true
}

// internalTraffic notes, once, the rules whose v1beta1 policies let
// in-cluster callers through and whose v2 policies do not: v2 admits only
// requests from the ingress gateway (its AuthorizationPolicies name the
// istio-ingressgateway service account).
//
// With the Ory handler Kyma's v1beta1 controller created no
// AuthorizationPolicies. With the Istio handler it created them for every
// rule of an APIRule with a jwt or no_auth rule, those of allow and no_auth
// rules admitting the ingress gateway only, those of jwt rules naming no
// source.
func (c *converter) internalTraffic() {
	if len(c.res.Refusals) > 0 {
		return
	}
	if h, how := c.handler(); h == HandlerOry {
		c.note(field.NewPath("spec", "rules"),
			"Kyma's Ory jwt handler (%s) created no AuthorizationPolicies for v1beta1, so in-cluster callers reached the workload directly; v2 admits only requests through the ingress gateway, so they get 403 RBAC: access denied: add an AuthorizationPolicy for them (docs/migrate.md, internal traffic)", how)
		return
	}
	all := !c.requiredPolicies()
	var idx []string
	for i, r := range c.in.Spec.Rules {
		jwt := false
		for _, h := range r.AccessStrategies {
			jwt = jwt || (h != nil && h.Name == hJWT)
		}
		if all || jwt {
			idx = append(idx, fmt.Sprint(i))
		}
	}
	if len(idx) == 0 {
		return
	}
	which := "rule " + idx[0]
	if len(idx) > 1 {
		which = "rules " + strings.Join(idx, ", ")
	}
	c.note(field.NewPath("spec", "rules"),
		"%s admitted in-cluster callers in v1beta1; v2 admits only requests through the ingress gateway, so in-cluster callers get 403 RBAC: access denied: add an AuthorizationPolicy for them (docs/migrate.md, internal traffic)",
		which)
}

// handler is the v1beta1 jwt handler the APIRule ran under: the configured
// one, else the one its jwt configs imply (each handler refused the other's
// form), else Kyma's default; how says which.
func (c *converter) handler() (string, string) {
	if c.env.JWTHandler != "" {
		return c.env.JWTHandler, "configured in kyma-system/api-gateway-config"
	}
	for _, r := range c.in.Spec.Rules {
		for _, h := range r.AccessStrategies {
			if h == nil || h.Name != hJWT {
				continue
			}
			if ory, ist, err := h.JWTConfig(); err == nil {
				switch {
				case ist.Authentications != nil || ist.Authorizations != nil:
					return HandlerIstio, "implied by the Istio form of the jwt config"
				case ory.TrustedIssuers != nil || ory.JwksURLs != nil:
					return HandlerOry, "implied by the Ory form of the jwt config"
				}
			}
		}
	}
	return HandlerOry, "Kyma's default when kyma-system/api-gateway-config does not name one"
}

// requiredPolicies says whether Kyma's v1beta1 Istio handler created
// AuthorizationPolicies for the APIRule: it did when a rule is jwt or
// no_auth.
func (c *converter) requiredPolicies() bool {
	for _, r := range c.in.Spec.Rules {
		for _, h := range r.AccessStrategies {
			if h != nil && (h.Name == hJWT || h.Name == hNoAuth) {
				return true
			}
		}
	}
	return false
}

// sortedKeys lists a map's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
