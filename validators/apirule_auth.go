package validators

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleJWT = core.Register(core.Check{
	ID:          "apirule-jwt",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "jwt and extAuth restrictions: authentications with issuer and jwksUri, at most one fromHeaders or fromParams each and not both kinds in one config, one token source per issuer+jwksUri across rules, no present-but-empty lists or empty values (an empty authorization {} warns); v1beta1 jwt handlers: the same in the Istio form, no empty entries in the Ory form, not both forms",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/jwt.go hasInvalidAuthentications, hasInvalidAuthorizations, validateJwtAuthenticationEquality; internal/validation/v1beta1/istio/jwt_validator.go",
})

var APIRuleExtAuth = core.Register(core.Check{
	ID:          "apirule-extauth",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "extAuth names authorizers registered in the mesh config (ext_authz providers or Kyma Istio authorizers)",
	Runtime:     "kyma-project/api-gateway internal/validation/v2alpha1/ext_auth.go validateAuthorizer (envoyExtAuthzHttp providers only)",
})

var APIRuleRequireAuth = core.Register(core.Check{
	ID:          "apirule-require-auth",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Off,
	Description: "policy: no noAuth rules in namespaces labelled <settings.requireAuthLabel>=true",
	Runtime:     "none: an operator policy",
})

// jwtErrors checks the jwt config of every rule (and the extAuth
// restrictions, which Kyma validates the same way), then the spec-wide
// equality of authentications sharing an issuer and JWKS.
func jwtErrors(rules []apirule.Rule, p *field.Path) (deny, warn field.ErrorList) {
	var jwts []jwtAt
	for i, rule := range rules {
		if rule.JWT != nil {
			jp := p.Index(i).Child("jwt")
			d, w := jwtConfigErrors(rule.JWT, jp)
			deny, warn = append(deny, d...), append(warn, w...)
			jwts = append(jwts, jwtAt{rule.JWT, jp})
		}
		if rule.ExtAuth != nil && rule.ExtAuth.Restrictions != nil {
			d, w := jwtConfigErrors(rule.ExtAuth.Restrictions, p.Index(i).Child("extAuth", "restrictions"))
			deny, warn = append(deny, d...), append(warn, w...)
		}
	}
	return append(deny, jwtEqualityErrors(jwts)...), warn
}

// jwtConfigErrors checks one JWT config as Kyma's hasInvalidAuthentications
// and hasInvalidAuthorizations do. Whether the issuer and JWKS URLs are
// sound is trust.go's business. A list that is present but empty is not the
// same as one left out: Kyma refuses the first.
func jwtConfigErrors(j *apirule.JWT, p *field.Path) (deny, warn field.ErrorList) {
	if len(j.Authentications) == 0 {
		deny = append(deny, field.Required(p.Child("authentications"), "give at least one authentication with issuer and jwksUri"))
	}
	// Kyma takes every token of one config from headers or every token from
	// params: the first authentication that mixes them in fails.
	headersAt, paramsAt := -1, -1
	for k, a := range j.Authentications {
		ap := p.Child("authentications").Index(k)
		if strings.TrimSpace(a.Issuer) == "" {
			deny = append(deny, field.Required(ap.Child("issuer"), "set the issuer, the iss claim of accepted tokens"))
		}
		if strings.TrimSpace(a.JwksURI) == "" {
			deny = append(deny, field.Required(ap.Child("jwksUri"), "set the URL of the issuer's JSON Web Key Set"))
		}
		for h, hdr := range a.FromHeaders {
			if hdr.Name == "" {
				deny = append(deny, field.Required(ap.Child("fromHeaders").Index(h).Child("name"), "name the header that carries the token"))
			}
		}
		if len(a.FromHeaders) > 0 {
			if paramsAt >= 0 {
				deny = append(deny, field.Invalid(ap.Child("fromHeaders"), headerNames(a.FromHeaders), fmt.Sprintf(
					"authentication %d takes its token from fromParams and this one from fromHeaders: Kyma refuses the mixture (\"mixture of multiple fromHeaders and fromParams is not supported\"); take every token of this config from headers, or every one from params", paramsAt)))
			}
			if headersAt < 0 {
				headersAt = k
			}
		}
		if len(a.FromParams) > 0 {
			if headersAt >= 0 {
				what := fmt.Sprintf("authentication %d takes its token from fromHeaders and this one from fromParams", headersAt)
				if headersAt == k {
					what = "this authentication sets both fromHeaders and fromParams"
				}
				deny = append(deny, field.Invalid(ap.Child("fromParams"), a.FromParams,
					what+": Kyma refuses the mixture (\"mixture of multiple fromHeaders and fromParams is not supported\"); take every token of this config from headers, or every one from params"))
			}
			if paramsAt < 0 {
				paramsAt = k
			}
		}
		if len(a.FromHeaders) > 1 {
			deny = append(deny, field.Invalid(ap.Child("fromHeaders"), headerNames(a.FromHeaders),
				"Kyma accepts one header per authentication (\"multiple fromHeaders are not supported\"): keep one"))
		}
		if len(a.FromParams) > 1 {
			deny = append(deny, field.Invalid(ap.Child("fromParams"), a.FromParams,
				"Kyma accepts one query parameter per authentication (\"multiple fromParams are not supported\"): keep one"))
		}
	}
	zp := p.Child("authorizations")
	if j.Authorizations != nil && len(j.Authorizations) == 0 {
		deny = append(deny, field.Invalid(zp, "[]",
			"authorizations is present but empty: Kyma refuses it (\"authorizations defined, but no configuration exists\"); give an authorization with requiredScopes or audiences, or remove the field"))
	}
	for k, z := range j.Authorizations {
		zkp := zp.Index(k)
		if z.RequiredScopes == nil && z.Audiences == nil {
			warn = append(warn, field.Invalid(zkp, "{}",
				"an empty authorization adds no condition: any valid token from the issuers passes; give requiredScopes or audiences, or remove it"))
		}
		for _, l := range []struct {
			name, what string
			values     []string
		}{{"requiredScopes", "scope", z.RequiredScopes}, {"audiences", "audience", z.Audiences}} {
			if l.values != nil && len(l.values) == 0 {
				deny = append(deny, field.Invalid(zkp.Child(l.name), "[]", fmt.Sprintf(
					"%s is present but empty: Kyma refuses it (\"value is empty\"); name at least one %s, or remove the field", l.name, l.what)))
			}
			for s, v := range l.values {
				if strings.TrimSpace(v) == "" {
					deny = append(deny, field.Invalid(zkp.Child(l.name).Index(s), v, "empty "+l.what+": name the "+l.what+", or remove the entry"))
				}
			}
		}
	}
	return deny, warn
}

// jwtAt is a jwt config and where it is.
type jwtAt struct {
	jwt  *apirule.JWT
	path *field.Path
}

// jwtEqualityErrors is Kyma's validateJwtAuthenticationEquality: across
// every jwt config of the APIRule, authentications with the same issuer and
// jwksUri must take the token from the same place, since Kyma merges them
// into one RequestAuthentication rule. The first one seen is the reference.
func jwtEqualityErrors(configs []jwtAt) field.ErrorList {
	type first struct {
		a    apirule.JWTAuthentication
		path *field.Path
	}
	seen := map[string]first{}
	var errs field.ErrorList
	for _, c := range configs {
		for k, a := range c.jwt.Authentications {
			ap := c.path.Child("authentications").Index(k)
			key := a.Issuer + "\x00" + a.JwksURI
			f, ok := seen[key]
			if !ok {
				seen[key] = first{a, ap}
				continue
			}
			if !tokenSourcesEqual(f.a, a) {
				errs = append(errs, field.Invalid(ap, a.Issuer, fmt.Sprintf(
					"issuer %s with jwksUri %s takes its token from %s here but from %s at %s: Kyma refuses differing configurations for one issuer (\"multiple jwt configurations that differ for the same issuer\"); give every authentication of this issuer the same fromHeaders and fromParams",
					a.Issuer, a.JwksURI, tokenSource(a), tokenSource(f.a), f.path)))
			}
		}
	}
	return errs
}

func tokenSourcesEqual(a, b apirule.JWTAuthentication) bool {
	if len(a.FromHeaders) != len(b.FromHeaders) || len(a.FromParams) != len(b.FromParams) {
		return false
	}
	for i := range a.FromHeaders {
		if a.FromHeaders[i] != b.FromHeaders[i] {
			return false
		}
	}
	for i := range a.FromParams {
		if a.FromParams[i] != b.FromParams[i] {
			return false
		}
	}
	return true
}

// tokenSource says where an authentication takes its token from.
func tokenSource(a apirule.JWTAuthentication) string {
	var parts []string
	for _, h := range a.FromHeaders {
		s := "header " + h.Name
		if h.Prefix != "" {
			s += fmt.Sprintf(" (prefix %q)", h.Prefix)
		}
		parts = append(parts, s)
	}
	for _, q := range a.FromParams {
		parts = append(parts, "param "+q)
	}
	if len(parts) == 0 {
		return "the default places (Authorization: Bearer, access_token param)"
	}
	return strings.Join(parts, ", ")
}

func headerNames(hs []apirule.JWTHeader) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
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
	// Kyma's validateAuthorizer accepts only envoyExtAuthzHttp providers of
	// the mesh config; the Kyma Istio CR's authorizers are rendered there as
	// such by the Istio module.
	registered := map[string]bool{}
	for _, n := range append(append([]string{}, mesh.ExtAuthzHTTPProviders...), mesh.KymaAuthorizers...) {
		registered[n] = true
	}
	names := make([]string, 0, len(registered))
	for n := range registered {
		names = append(names, n)
	}
	sort.Strings(names)
	kind := map[string]string{}
	for _, n := range mesh.Providers {
		kind[n] = "an extension provider, but not ext_authz (envoyExtAuthzHttp)"
	}
	for _, n := range mesh.ExtAuthzProviders {
		kind[n] = "an envoyExtAuthzGrpc provider; APIRule extAuth accepts only envoyExtAuthzHttp providers (Kyma: \"EnvoyExtAuthzHttp not found in Istio ConfigMap mesh data for authorizer\")"
	}
	todo := "no envoyExtAuthzHttp authorizers are registered: add one to the Kyma Istio CR (spec.config.authorizers) or to meshConfig.extensionProviders"
	if len(names) > 0 {
		todo = "use one of " + strings.Join(names, ", ") + ", or register it in the Kyma Istio CR"
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
			if what, ok := kind[name]; ok {
				deny = append(deny, field.Invalid(ap.Index(k), name, what+": "+todo))
				continue
			}
			detail := todo
			if len(names) > 0 {
				detail = "not a registered authorizer: " + todo
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
	nsName := cluster.NamespaceOrDefault(ar.Namespace)
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
