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
	nsName := namespaceOrDefault(ar.Namespace)
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
