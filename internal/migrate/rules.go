package migrate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// Access strategy names of v1beta1.
const (
	hAllow             = "allow"
	hNoAuth            = "no_auth"
	hNoop              = "noop"
	hJWT               = "jwt"
	hIntrospection     = "oauth2_introspection"
	hClientCredentials = "oauth2_client_credentials"
	hCookieSession     = "cookie_session"
	hAnonymous         = "anonymous"
	hUnauthorized      = "unauthorized"
)

var knownHandlers = []string{hAllow, hAnonymous, hCookieSession, hJWT, hNoAuth, hNoop, hClientCredentials, hIntrospection, hUnauthorized}

// access is the v2 form of one rule's access strategies.
type access struct {
	noAuth  bool
	jwt     *apirule.JWT
	extAuth *apirule.ExtAuth
	// mutated: v1beta1 applied the rule's mutators (the Istio jwt handler
	// through the VirtualService, Oathkeeper for noop, Ory jwt and
	// oauth2_introspection); allow and no_auth routed past both.
	mutated bool
}

func (c *converter) rules() {
	rp := field.NewPath("spec", "rules")
	if len(c.in.Spec.Rules) == 0 {
		c.refuse(field.Required(rp, "v2 needs at least one rule"))
		return
	}
	firstOfPath := map[string]int{}
	for i, r := range c.in.Spec.Rules {
		p := rp.Index(i)
		if j, seen := firstOfPath[r.Path]; seen {
			c.note(p.Child("path"), "rule %d has the same path, and Kyma's v1beta1 VirtualService kept only the first rule of a path, so this rule's methods %v were never routed; v2 routes them with this rule's access strategy", j, r.Methods)
		} else {
			firstOfPath[r.Path] = i
		}
		tr, err := TranslatePath(r.Path)
		if err != nil {
			c.refuse(field.Invalid(p.Child("path"), r.Path, err.Error()))
		}
		a, ok := c.access(p, r)
		req := c.request(p, r, a.mutated || !ok)
		if err != nil || !ok {
			continue
		}
		if r.Path == "/*" {
			if h, how := c.handler(); h == HandlerOry {
				c.note(p.Child("path"), "Kyma's Ory jwt handler (%s) matched \"/*\" as a regex, which matches only \"/\" and repeated slashes; v2's /* matches every path", how)
			}
		}
		if tr.DotAsLiteral {
			c.note(p.Child("path"), "the regex %q also matched any character where it has '.'; v2 matches '.' only", r.Path)
		}
		if len(tr.Paths) > 1 {
			c.note(p.Child("path"), "the regex %q matches the same requests as the v2 paths %s, one rule each, with the same methods and access", r.Path, strings.Join(tr.Paths, ", "))
		}
		for _, path := range tr.Paths {
			out := apirule.Rule{
				Path:    path,
				Service: copyService(r.Service),
				Methods: slices.Clone(r.Methods),
				Timeout: r.Timeout,
				Request: req,
				JWT:     a.jwt,
				ExtAuth: a.extAuth,
			}
			if a.noAuth {
				t := true
				out.NoAuth = &t
			}
			c.out.Spec.Rules = append(c.out.Spec.Rules, out)
		}
	}
}

type indexed struct {
	k int
	h *apirule.Handler
}

// access maps a rule's access strategies; ok is false when it refused.
func (c *converter) access(p *field.Path, r apirule.V1beta1Rule) (access, bool) {
	sp := p.Child("accessStrategies")
	if len(r.AccessStrategies) == 0 {
		c.refuse(field.Required(sp, "v1beta1 needs one too: add the access strategy the rule had"))
		return access{}, false
	}
	byName := map[string][]indexed{}
	for k, h := range r.AccessStrategies {
		if h == nil || h.Name == "" {
			c.refuse(field.Required(sp.Index(k).Child("handler"), "name the access strategy"))
			return access{}, false
		}
		byName[h.Name] = append(byName[h.Name], indexed{k, h})
	}
	names := sortedKeys(byName)
	ok := true
	for _, n := range names {
		if why := unsupported(n); why != "" {
			c.refuse(field.Invalid(sp.Index(byName[n][0].k).Child("handler"), n, why))
			ok = false
		} else if !slices.Contains(knownHandlers, n) {
			c.refuse(field.NotSupported(sp.Index(byName[n][0].k).Child("handler"), n, knownHandlers))
			ok = false
		}
	}
	if !ok {
		return access{}, false
	}
	open := true
	for _, n := range names {
		open = open && (n == hAllow || n == hNoAuth || n == hNoop)
	}
	switch {
	case open:
		a := access{noAuth: true, mutated: len(byName[hNoop]) > 0}
		if len(byName[hAllow]) > 0 {
			c.note(p.Child("methods"), "the allow strategy routed every HTTP method whatever methods listed; v2 routes only %v: add the methods clients use (OPTIONS for CORS preflight, HEAD...)", r.Methods)
		}
		return a, true
	case len(names) == 1 && names[0] == hJWT:
		jwt, ok := c.jwt(sp, byName[hJWT])
		return access{jwt: jwt, mutated: true}, ok
	case len(names) == 1 && names[0] == hIntrospection && len(byName[hIntrospection]) == 1:
		ext, ok := c.extAuth(sp.Index(byName[hIntrospection][0].k), byName[hIntrospection][0].h)
		return access{extAuth: ext, mutated: true}, ok
	}
	c.refuse(field.Invalid(sp, strings.Join(names, ", "),
		"Oathkeeper let a request through when any of these strategies accepted it; a v2 rule has exactly one of noAuth, jwt or extAuth: keep one strategy, or split the rule by path"))
	return access{}, false
}

// unsupported says why a v1beta1 strategy has no v2 equivalent.
func unsupported(name string) string {
	switch name {
	case hUnauthorized:
		return "rejects every request, and v2 has no rule that denies: remove the rule (its requests then match a later rule or get 404) or protect the path with jwt"
	case hAnonymous:
		return "Oathkeeper's anonymous authenticator (pass without credentials, hand over to the next one with credentials) has no v2 equivalent: use noAuth if requests without credentials may pass, or jwt"
	case hCookieSession:
		return "checks a session cookie against a session endpoint, which v2 cannot do itself: register an external authorizer that does (the Kyma Istio CR's spec.config.authorizers), use extAuth, and migrate this rule by hand"
	case hClientCredentials:
		return "exchanges client credentials at Oathkeeper, which v2 cannot do: use jwt if the clients can send the access tokens themselves, or an external authorizer (extAuth)"
	}
	return ""
}

// oryKeys are the jwt config keys of Oathkeeper's jwt authenticator that
// the migration reads or reports.
var oryKeys = map[string]bool{
	"trusted_issuers": true, "jwks_urls": true, "required_scope": true, "target_audience": true,
	"token_from": true, "allowed_algorithms": true, "scope_strategy": true, "jwks_max_wait": true, "jwks_ttl": true,
}

// jwt maps one or more jwt handlers of a rule. Several handlers are
// alternatives (Oathkeeper tries each); their authentications merge, and
// their authorizations must then be the same, since v2 applies one list to
// every issuer.
func (c *converter) jwt(sp *field.Path, hs []indexed) (*apirule.JWT, bool) {
	out := &apirule.JWT{}
	var authz [][]apirule.JWTAuthorization
	for _, ih := range hs {
		cp := sp.Index(ih.k).Child("config")
		j, ok := c.jwtConfig(cp, ih.h)
		if !ok {
			return nil, false
		}
		for _, a := range j.Authentications {
			if !slices.ContainsFunc(out.Authentications, func(b apirule.JWTAuthentication) bool { return reflect.DeepEqual(a, b) }) {
				out.Authentications = append(out.Authentications, a)
			}
		}
		authz = append(authz, j.Authorizations)
	}
	for i := 1; i < len(authz); i++ {
		if !reflect.DeepEqual(authz[0], authz[i]) {
			c.refuse(field.Invalid(sp.Index(hs[i].k).Child("config"), "", fmt.Sprintf(
				"this jwt strategy requires other scopes or audiences than the one at index %d; a v2 rule applies one list of authorizations to every issuer: split the rule, or make the requirements the same", hs[0].k)))
			return nil, false
		}
	}
	out.Authorizations = authz[0]
	return out, true
}

// jwtConfig maps one jwt handler config.
func (c *converter) jwtConfig(cp *field.Path, h *apirule.Handler) (*apirule.JWT, bool) {
	if h.Config == nil || len(h.Config.Raw) == 0 {
		c.refuse(field.Required(cp, "a jwt strategy without config accepted no issuer Kyma could name (Kyma: supplied config cannot be empty): name the issuer and JWKS URL"))
		return nil, false
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(h.Config.Raw, &keys); err != nil {
		c.refuse(field.Invalid(cp, string(h.Config.Raw), "not a JSON object: "+err.Error()))
		return nil, false
	}
	ory, ist, err := h.JWTConfig()
	if err != nil {
		c.refuse(field.Invalid(cp, string(h.Config.Raw), "not a jwt config: "+err.Error()))
		return nil, false
	}
	oryForm := ory.TrustedIssuers != nil || ory.JwksURLs != nil || ory.RequiredScope != nil || ory.TargetAudience != nil
	istioForm := ist.Authentications != nil || ist.Authorizations != nil
	switch {
	case oryForm && istioForm:
		c.refuse(field.Forbidden(cp, "mixes the Ory form (trusted_issuers, jwks_urls, ...) with the Istio form (authentications, authorizations), which Kyma refused: keep one"))
		return nil, false
	case istioForm:
		return c.istioJWT(cp, ist)
	}
	return c.oryJWT(cp, ory, keys)
}

// istioJWT copies the Istio form, which v2 took over field for field. An
// empty authorization admits any valid token, and several authorizations are
// alternatives, so one empty entry makes them all moot.
func (c *converter) istioJWT(cp *field.Path, in *apirule.JWT) (*apirule.JWT, bool) {
	out := &apirule.JWT{Authentications: in.Authentications}
	if len(in.Authentications) == 0 {
		c.refuse(field.Required(cp.Child("authentications"), "name at least one issuer and jwksUri (Kyma: authentications are required)"))
		return nil, false
	}
	empty := -1
	for k, z := range in.Authorizations {
		if len(z.RequiredScopes) == 0 && len(z.Audiences) == 0 {
			empty = k
			break
		}
	}
	switch {
	case empty >= 0 && len(in.Authorizations) > 1:
		c.note(cp.Child("authorizations").Index(empty), "empty: it admits any valid token, so the other authorizations never restricted anything; v2 writes none (same behaviour)")
	case empty < 0:
		out.Authorizations = in.Authorizations
	}
	return out, true
}

// oryJWT maps Oathkeeper's jwt authenticator config. Oathkeeper accepted a
// token whose iss is any of trusted_issuers and whose signature any key of
// jwks_urls verifies; v2 pairs each issuer with one JWKS. Kyma's own
// conversion handles one issuer with one URL only.
func (c *converter) oryJWT(cp *field.Path, ory *apirule.OryJWTConfig, keys map[string]json.RawMessage) (*apirule.JWT, bool) {
	iss, jwks := nonEmpty(ory.TrustedIssuers), nonEmpty(ory.JwksURLs)
	out := &apirule.JWT{}
	add := func(issuer, uri string) {
		out.Authentications = append(out.Authentications, apirule.JWTAuthentication{Issuer: issuer, JwksURI: uri})
	}
	switch {
	case len(iss) > 0 && len(jwks) > 0:
		switch {
		case len(jwks) == 1:
			for _, i := range iss {
				add(i, jwks[0])
			}
		case len(iss) == len(jwks):
			for n := range iss {
				add(iss[n], jwks[n])
			}
			c.note(cp, "trusted_issuers[n] is paired with jwks_urls[n]; Oathkeeper accepted a key from any of the URLs for any of the issuers, v2 only the paired one")
		default:
			c.refuse(field.Invalid(cp.Child("jwks_urls"), strings.Join(jwks, ", "), fmt.Sprintf(
				"%d JWKS URLs for %d issuers: v2 pairs each issuer with one JWKS; list one JWKS URL per issuer, in the order of trusted_issuers", len(jwks), len(iss))))
			return nil, false
		}
	case len(jwks) > 0:
		for n, u := range jwks {
			issuer, err := c.issuerFor(u)
			if err != nil {
				c.refuse(field.Required(cp.Child("trusted_issuers"), fmt.Sprintf(
					"v2 needs the issuer of the tokens jwks_urls[%d] verifies, and %v: add it to trusted_issuers (the issuer field of the identity provider's /.well-known/openid-configuration)", n, err)))
				return nil, false
			}
			add(issuer, u)
			c.note(cp.Child("trusted_issuers"), "not set: Oathkeeper accepted tokens of any issuer signed with keys from %s; v2 accepts only issuer %q, whose discovery document names that jwks_uri", u, issuer)
		}
	case len(iss) > 0:
		for n, i := range iss {
			uri, err := c.jwksFor(i)
			if err != nil {
				c.refuse(field.Required(cp.Child("jwks_urls"), fmt.Sprintf(
					"v2 needs the JWKS URL of trusted_issuers[%d], and %v: add it to jwks_urls", n, err)))
				return nil, false
			}
			add(i, uri)
			c.note(cp.Child("jwks_urls"), "not set: Oathkeeper used the keys of its own configuration; v2 uses %s, the jwks_uri of issuer %q's discovery document", uri, i)
		}
	default:
		c.refuse(field.Required(cp, "names neither trusted_issuers nor jwks_urls: add the issuer and the JWKS URL of the tokens this rule accepts"))
		return nil, false
	}
	scopes, auds := nonEmpty(ory.RequiredScope), nonEmpty(ory.TargetAudience)
	if len(scopes) > 0 || len(auds) > 0 {
		out.Authorizations = []apirule.JWTAuthorization{{RequiredScopes: scopes, Audiences: auds}}
	}
	if !c.tokenFrom(cp, keys["token_from"], out) {
		return nil, false
	}
	for _, k := range sortedKeys(keys) {
		switch {
		case k == "allowed_algorithms":
			c.note(cp.Child(k), "not carried over: Envoy accepts any signature algorithm the matching JWKS key fits")
		case k == "scope_strategy":
			c.note(cp.Child(k), "not carried over: v2 requires each scope as an exact value of the scp, scope or scopes claim")
		case !oryKeys[k]:
			c.note(cp.Child(k), "not carried over: v2 has no such setting")
		case k == "jwks_max_wait" || k == "jwks_ttl":
			c.note(cp.Child(k), "not carried over: istiod fetches and refreshes JWKS itself (every 20 minutes by default)")
		}
	}
	return out, true
}

// tokenFrom maps Oathkeeper's token_from; without it Oathkeeper read only
// the Authorization header's Bearer token, while Envoy also reads the
// access_token query parameter.
func (c *converter) tokenFrom(cp *field.Path, raw json.RawMessage, out *apirule.JWT) bool {
	if len(raw) == 0 {
		c.note(cp, "Oathkeeper read the token only from the Authorization header (Bearer); Envoy also reads the access_token query parameter")
		return true
	}
	var tf struct {
		Header         string `json:"header"`
		QueryParameter string `json:"query_parameter"`
		Cookie         string `json:"cookie"`
	}
	if err := json.Unmarshal(raw, &tf); err != nil {
		c.refuse(field.Invalid(cp.Child("token_from"), string(raw), "not a token_from object: "+err.Error()))
		return false
	}
	for i := range out.Authentications {
		a := &out.Authentications[i]
		switch {
		case tf.Header != "":
			a.FromHeaders = []apirule.JWTHeader{{Name: tf.Header}}
		case tf.QueryParameter != "":
			a.FromParams = []string{tf.QueryParameter}
		case tf.Cookie != "":
			c.refuse(field.Invalid(cp.Child("token_from", "cookie"), tf.Cookie, "v2 reads tokens from headers and query parameters only: have clients send the token in a header"))
			return false
		}
	}
	return true
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// extAuth moves oauth2_introspection to an external authorizer registered in
// the mesh config with envoyExtAuthzHttp (the only kind an APIRule may
// name), as Kyma's migration guide does with oauth2-proxy.
func (c *converter) extAuth(hp *field.Path, h *apirule.Handler) (*apirule.ExtAuth, bool) {
	mesh, err := c.env.Lookup.Mesh(c.ctx)
	if err != nil {
		c.refuse(field.InternalError(hp.Child("handler"), fmt.Errorf("could not read the mesh config for registered authorizers: %v", err)))
		return nil, false
	}
	set := map[string]bool{}
	for _, n := range append(append([]string{}, mesh.ExtAuthzHTTPProviders...), mesh.KymaAuthorizers...) {
		set[n] = true
	}
	names := sortedKeys(set)
	var name string
	switch {
	case c.env.Authorizer != "" && set[c.env.Authorizer]:
		name = c.env.Authorizer
	case c.env.Authorizer != "":
		c.refuse(field.NotFound(hp.Child("handler"), c.env.Authorizer))
		c.res.Refusals[len(c.res.Refusals)-1].Detail = fmt.Sprintf("--authorizer %s is not registered in the mesh config (registered: %s): register it in the Kyma Istio CR's spec.config.authorizers or name another", c.env.Authorizer, listOrNone(names))
		return nil, false
	case len(names) == 1:
		name = names[0]
	case len(names) == 0:
		c.refuse(field.Invalid(hp.Child("handler"), hIntrospection, "v2 delegates token introspection to an external authorizer, and none is registered in the mesh config: deploy one (e.g. oauth2-proxy), register it in the Kyma Istio CR's spec.config.authorizers, and run again"))
		return nil, false
	default:
		c.refuse(field.Invalid(hp.Child("handler"), hIntrospection, fmt.Sprintf("several external authorizers are registered (%s): choose the one that introspects these tokens with --authorizer", strings.Join(names, ", "))))
		return nil, false
	}
	var cfg map[string]json.RawMessage
	if h.Config != nil && len(h.Config.Raw) > 0 {
		if err := json.Unmarshal(h.Config.Raw, &cfg); err != nil {
			c.refuse(field.Invalid(hp.Child("config"), string(h.Config.Raw), "not a JSON object: "+err.Error()))
			return nil, false
		}
	}
	if len(cfg) > 0 {
		c.note(hp.Child("config"), "Oathkeeper introspected tokens as configured here (%s); v2 hands each request to authorizer %q instead: make sure it validates tokens the same way, scopes included", strings.Join(sortedKeys(cfg), ", "), name)
	} else {
		c.note(hp.Child("handler"), "moved to authorizer %q, the only one registered in the mesh config: make sure it introspects these tokens", name)
	}
	return &apirule.ExtAuth{Authorizers: []string{name}}, true
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// request maps header and cookie mutators to v2's request headers and
// cookies, which Kyma sets on the route the same way the Istio jwt handler
// did.
func (c *converter) request(p *field.Path, r apirule.V1beta1Rule, applied bool) *apirule.Request {
	if len(r.Mutators) == 0 {
		return nil
	}
	mp := p.Child("mutators")
	req := &apirule.Request{}
	seen := map[string]int{}
	for k, m := range r.Mutators {
		if m == nil {
			continue
		}
		kp := mp.Index(k)
		if j, dup := seen[m.Name]; dup && (m.Name == "header" || m.Name == "cookie") {
			c.refuse(field.Duplicate(kp.Child("handler"), m.Name))
			c.res.Refusals[len(c.res.Refusals)-1].Detail = fmt.Sprintf("mutator %d is a %s mutator too, and v1beta1 applied several differently (the Istio jwt handler only the first, Oathkeeper all in order): merge them into one", j, m.Name)
			return nil
		}
		seen[m.Name] = k
		switch m.Name {
		case "noop":
		case "header":
			req.Headers = c.mutatorValues(kp, m, "headers")
		case "cookie":
			req.Cookies = c.mutatorValues(kp, m, "cookies")
		case "id_token", "hydrator":
			c.refuse(field.Invalid(kp.Child("handler"), m.Name, "rewrites the request from the Oathkeeper session (a new token, or data from an API), which v2 cannot do: use an external authorizer (extAuth) that sets what the workload needs"))
		default:
			c.refuse(field.NotSupported(kp.Child("handler"), m.Name, []string{"cookie", "header", "noop"}))
		}
	}
	if len(req.Headers) == 0 && len(req.Cookies) == 0 {
		return nil
	}
	if !applied {
		c.note(mp, "allow and no_auth routed past the mutators, so v1beta1 never set these headers or cookies; left out so requests stay as they were")
		return nil
	}
	return req
}

func (c *converter) mutatorValues(kp *field.Path, m *apirule.Handler, key string) map[string]string {
	var cfg map[string]map[string]string
	if m.Config == nil || json.Unmarshal(m.Config.Raw, &cfg) != nil || len(cfg[key]) == 0 {
		c.refuse(field.Required(kp.Child("config", key), fmt.Sprintf("a %s mutator needs %s as a map of names to values", m.Name, key)))
		return nil
	}
	for _, name := range sortedKeys(cfg[key]) {
		if v := cfg[key][name]; strings.Contains(v, "{{") {
			c.refuse(field.Invalid(kp.Child("config", key).Key(name), v, "an Oathkeeper template, filled in per request (e.g. from the token's subject); v2 sets fixed values only: use a fixed value, or an external authorizer that sets it"))
		}
	}
	return cfg[key]
}
