package mutators

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// mutateAPIRule applies the enabled defaults to a v2 or v2alpha1 APIRule.
func mutateAPIRule(ctx context.Context, r *apirule.APIRule, ns string, env *core.Env, s core.DefaultSettings, pt *Patch) {
	if s.Enabled(DefaultGateway) {
		defaultGateway(&r.Spec, s.DefaultGateway, pt)
	}
	if s.Enabled(DefaultServicePort) {
		rules := make([]*apirule.Service, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules[i] = r.Spec.Rules[i].Service
		}
		defaultServicePorts(ctx, env.Cluster, ns, r.Spec.Service, rules, pt)
	}
	if s.Enabled(DefaultJWKSURI) {
		iss := newIssuers(ctx, env.Trust)
		for i, rule := range r.Spec.Rules {
			rp := root("spec", "rules").Index(i)
			if rule.JWT != nil {
				defaultJWKSURIs(rule.JWT.Authentications, rp.Key("jwt", "authentications"), iss, pt)
			}
			if rule.ExtAuth != nil && rule.ExtAuth.Restrictions != nil {
				defaultJWKSURIs(rule.ExtAuth.Restrictions.Authentications, rp.Key("extAuth", "restrictions", "authentications"), iss, pt)
			}
		}
	}
}

// mutateV1beta1APIRule applies the enabled defaults to a v1beta1 APIRule.
// Its gateway is required by the CRD and is not defaulted.
func mutateV1beta1APIRule(ctx context.Context, r *apirule.V1beta1APIRule, ns string, env *core.Env, s core.DefaultSettings, pt *Patch) {
	if s.Enabled(DefaultServicePort) {
		rules := make([]*apirule.Service, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules[i] = r.Spec.Rules[i].Service
		}
		defaultServicePorts(ctx, env.Cluster, ns, r.Spec.Service, rules, pt)
	}
	if s.Enabled(DefaultJWKSURI) {
		iss := newIssuers(ctx, env.Trust)
		for i, rule := range r.Spec.Rules {
			for k, h := range rule.AccessStrategies {
				defaultJWTHandler(h, root("spec", "rules").Index(i).Key("accessStrategies").Index(k).Key("config"), iss, pt)
			}
		}
	}
}

func empty(s *string) bool { return s == nil || *s == "" }

// defaultGateway sets spec.gateway when neither gateway nor externalGateway
// is given: the controller refuses such a rule.
func defaultGateway(spec *apirule.Spec, gateway string, pt *Patch) {
	if !empty(spec.Gateway) || !empty(spec.ExternalGateway) {
		return
	}
	pt.set(root("spec", "gateway"), gateway)
}

// defaultServicePorts fills the port of the spec-level service and of each
// rule's service (rules[i] is rule i's service, nil when it has none). The
// Service is looked up where Kyma looks: rule namespace, then spec
// namespace, then the APIRule's.
func defaultServicePorts(ctx context.Context, st cluster.State, ns string, spec *apirule.Service, rules []*apirule.Service, pt *Patch) {
	specNS := ns
	if spec != nil && !empty(spec.Namespace) {
		specNS = *spec.Namespace
	}
	defaultServicePort(ctx, st, spec, specNS, root("spec", "service"), pt)
	for i, svc := range rules {
		defaultServicePort(ctx, st, svc, specNS, root("spec", "rules").Index(i).Key("service"), pt)
	}
}

// defaultServicePort sets svc.port to the only port of the Service it names.
// ns is the namespace to use when svc names none.
func defaultServicePort(ctx context.Context, st cluster.State, svc *apirule.Service, ns string, at path, pt *Patch) {
	if svc == nil || svc.Port != nil || empty(svc.Name) || (svc.External != nil && *svc.External) {
		return
	}
	if !empty(svc.Namespace) {
		ns = *svc.Namespace
	}
	port := at.Key("port")
	if st == nil {
		pt.warn(DefaultServicePort, port, "port not defaulted: no cluster state to look up Service %s/%s", ns, *svc.Name)
		return
	}
	s, err := st.Service(ctx, ns, *svc.Name)
	switch {
	case err != nil:
		pt.warn(DefaultServicePort, port, "port not defaulted: cannot read Service %s/%s: %v", ns, *svc.Name, err)
	case s == nil:
		pt.warn(DefaultServicePort, port, "port not defaulted: Service %s/%s not found", ns, *svc.Name)
	case len(s.Spec.Ports) != 1:
		pt.warn(DefaultServicePort, port, "port not defaulted: Service %s/%s has %d ports, set one", ns, *svc.Name, len(s.Spec.Ports))
	default:
		pt.set(port, int64(s.Spec.Ports[0].Port))
	}
}

// defaultJWKSURIs sets jwksUri on authentications that name an issuer and
// no key set; at is the path of the authentications list.
func defaultJWKSURIs(auths []apirule.JWTAuthentication, at path, iss *issuers, pt *Patch) {
	for j, a := range auths {
		if a.Issuer == "" || a.JwksURI != "" {
			continue
		}
		p := at.Index(j).Key("jwksUri")
		uri, err := iss.jwksURI(a.Issuer)
		if err != nil {
			pt.warn(DefaultJWKSURI, p, "jwksUri not defaulted: %v", err)
			continue
		}
		pt.set(p, uri)
	}
}

// defaultJWTHandler fills a v1beta1 jwt access strategy's key sets: Ory
// jwks_urls from every trusted issuer (all or nothing, since Oathkeeper
// accepts a token signed by any listed key set), and the Istio dialect's
// authentications like v2. at is the path of the handler's config.
func defaultJWTHandler(h *apirule.Handler, at path, iss *issuers, pt *Patch) {
	if h == nil || h.Name != "jwt" {
		return
	}
	ory, ist, err := h.JWTConfig()
	if err != nil {
		return // not an object: validators report it
	}
	defaultJWKSURIs(ist.Authentications, at.Key("authentications"), iss, pt)
	if len(ory.TrustedIssuers) == 0 || len(ory.JwksURLs) > 0 {
		return
	}
	p := at.Key("jwks_urls")
	var urls []string
	for _, issuer := range ory.TrustedIssuers {
		uri, err := iss.jwksURI(issuer)
		if err != nil {
			pt.warn(DefaultJWKSURI, p, "jwks_urls not defaulted: %v", err)
			return
		}
		if !slices.Contains(urls, uri) {
			urls = append(urls, uri)
		}
	}
	pt.set(p, urls)
}

// issuers resolves issuers' key set URIs through discovery; the review's
// trust memo asks each issuer once however often the object names it.
type issuers struct {
	ctx context.Context
	tr  trust.Resolver
}

func newIssuers(ctx context.Context, tr trust.Resolver) *issuers {
	return &issuers{ctx: ctx, tr: tr}
}

func (i *issuers) jwksURI(issuer string) (string, error) {
	return discoverJWKS(i.ctx, i.tr, issuer)
}

// discoverJWKS reads jwks_uri from the issuer's discovery document, which
// must name the issuer exactly as configured (OIDC Discovery §4.3; Istio
// and Kyma compare tokens' iss byte for byte).
func discoverJWKS(ctx context.Context, tr trust.Resolver, issuer string) (string, error) {
	if issuer == "" {
		return "", errors.New("empty issuer")
	}
	if tr == nil {
		return "", fmt.Errorf("issuer %s: discovery is not available", issuer)
	}
	d, err := tr.Discover(ctx, issuer)
	switch {
	case err != nil:
		return "", fmt.Errorf("issuer %s: discovery failed: %v", issuer, err)
	case d == nil:
		return "", fmt.Errorf("issuer %s: discovery returned no document", issuer)
	case d.Issuer != issuer:
		return "", fmt.Errorf("issuer %s: discovery document names issuer %q", issuer, d.Issuer)
	case d.JWKSURI == "":
		return "", fmt.Errorf("issuer %s: discovery document has no jwks_uri", issuer)
	}
	// The issuer chose this URL, not the object's author: it must pass the
	// same policy as a URL the author wrote, or the default would put an
	// address gatewarden refuses to fetch (a metadata endpoint, say) into
	// the object.
	if err := trust.Allowed(ctx, tr, d.JWKSURI, nil); err != nil {
		detail := err.Error()
		var fe *trust.FetchError
		if errors.As(err, &fe) && fe.Err != nil {
			detail = fe.Err.Error()
		}
		return "", fmt.Errorf("issuer %s: discovery names jwks_uri %q, which the fetch policy refuses: %s", issuer, trust.Redact(d.JWKSURI), detail)
	}
	return d.JWKSURI, nil
}
