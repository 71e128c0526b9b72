package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	securityapi "istio.io/api/security/v1beta1"

	"github.com/gatewarden/gatewarden/internal/trust"
)

// How istiod turns RequestAuthentications into Envoy's jwt_authn filter: the
// jwtRules of every policy that applies, sorted by issuer, become providers;
// one provider is required as {provider OR allow_missing}; several as
// {P1 OR P2 ... OR AND({P1 OR allow_missing}, {P2 OR allow_missing} ...)}.
// Envoy reads a provider's token from its locations only, and allow_missing
// passes only when no token is there; a token found but failing is a 401.

// provider is one jwtRule as Envoy's jwt_authn sees it.
type provider struct {
	rule   *securityapi.JWTRule
	origin string
	index  int
}

func (p *provider) String() string {
	return fmt.Sprintf("jwtRules[%d] of %s", p.index, p.origin)
}

// location is where a provider reads tokens.
type location struct {
	header, prefix, param, cookie string
}

func (l location) String() string {
	switch {
	case l.param != "":
		return "query parameter " + l.param
	case l.cookie != "":
		return "cookie " + l.cookie
	case l.prefix != "":
		return fmt.Sprintf("header %s with prefix %q", l.header, l.prefix)
	}
	return "header " + l.header
}

// locations are the provider's token locations; without any, Envoy reads
// "Authorization: Bearer <token>" and the access_token query parameter.
func (p *provider) locations() []location {
	var out []location
	for _, h := range p.rule.FromHeaders {
		out = append(out, location{header: h.Name, prefix: h.Prefix})
	}
	for _, q := range p.rule.FromParams {
		out = append(out, location{param: q})
	}
	for _, c := range p.rule.FromCookies {
		out = append(out, location{cookie: c})
	}
	if len(out) == 0 {
		out = []location{{header: "Authorization", prefix: "Bearer "}, {param: "access_token"}}
	}
	return out
}

// base64url characters and '.': after a header prefix, Envoy skips to the
// first of them.
const jwtChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

// extract is what the provider finds in the request, "" for nothing.
func (p *provider) extract(r *Request) (string, location, bool) {
	if r.Token == "" {
		return "", location{}, false
	}
	for _, l := range p.locations() {
		switch {
		case l.header != "" && r.TokenParam == "" && strings.EqualFold(l.header, r.tokenHeader()):
			value := r.tokenPrefix() + r.Token
			if l.prefix == "" {
				return value, l, true
			}
			pos := strings.Index(value, l.prefix)
			if pos < 0 {
				continue
			}
			rest := value[pos+len(l.prefix):]
			if i := strings.IndexAny(rest, jwtChars); i >= 0 {
				rest = rest[i:]
			}
			return rest, l, true
		case l.param != "" && r.TokenParam == l.param:
			return r.Token, l, true
		}
	}
	return "", location{}, false
}

// authnResult is the outcome of jwt_authn.
type authnResult struct {
	ok     bool
	status string // Envoy's 401 body when !ok
	// principal and claims are set when a provider verified the token.
	principal string
	verified  bool
	claims    map[string]any
	lines     []Line
}

// keySource fetches and caches JWKS for one explanation.
type keySource struct {
	ctx     context.Context
	trust   trust.Resolver
	offline bool
	cache   map[string]keysAnswer
}

type keysAnswer struct {
	keys []jose.JSONWebKey
	from string
	err  error
}

// keys returns the JWKS istiod would inline for a jwtRule: the inline jwks,
// else jwksUri, else the jwks_uri of the issuer's discovery document.
func (k *keySource) keys(rule *securityapi.JWTRule) keysAnswer {
	key := rule.Jwks + "\x00" + rule.JwksUri + "\x00" + rule.Issuer
	if a, ok := k.cache[key]; ok {
		return a
	}
	a := k.fetch(rule)
	k.cache[key] = a
	return a
}

func (k *keySource) fetch(rule *securityapi.JWTRule) keysAnswer {
	if rule.Jwks != "" {
		keys, err := parseJWKS([]byte(rule.Jwks))
		return keysAnswer{keys: keys, from: "the inline jwks", err: err}
	}
	if k.offline {
		return keysAnswer{err: errOffline}
	}
	uri := rule.JwksUri
	from := uri
	if uri == "" {
		d, err := k.trust.Discover(k.ctx, rule.Issuer)
		if err != nil {
			return keysAnswer{err: fmt.Errorf("no jwksUri, and the issuer's discovery document could not be read: %v", err)}
		}
		uri, from = d.JWKSURI, d.JWKSURI+" (jwks_uri of the issuer's discovery document)"
	}
	ks, err := k.trust.JWKS(k.ctx, uri)
	if err != nil {
		return keysAnswer{from: from, err: err}
	}
	if ks.Report != nil {
		if len(ks.Report.PublicKeys) == 0 {
			return keysAnswer{from: from, err: fmt.Errorf("%s", stNoValidKeys)}
		}
		return keysAnswer{keys: ks.Report.PublicKeys, from: from}
	}
	keys, err := parseJWKS(ks.Raw)
	return keysAnswer{keys: keys, from: from, err: err}
}

var errOffline = fmt.Errorf("not fetched (--no-network)")

// parseJWKS keeps the keys that parse; Envoy skips the others.
func parseJWKS(raw []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	var out []jose.JSONWebKey
	for _, k := range doc.Keys {
		var jwk jose.JSONWebKey
		if json.Unmarshal(k, &jwk) == nil && jwk.Key != nil {
			out = append(out, jwk.Public())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s", stNoValidKeys)
	}
	return out, nil
}

// verification is one provider's check of the token.
type verification struct {
	ok     bool
	status string
	lines  []Line
	// unknown: the signature could not be checked (no network); the rest
	// passed.
	unknown bool
}

// verify runs jwt_authn's checks for the token a provider extracted, in
// Envoy's order: parse, issuer, exp/nbf, audiences, JWKS, kid/alg, signature.
func (e *explainer) verify(p *provider, raw string, loc location) verification {
	var v verification
	add := func(o Outcome, format string, args ...any) {
		v.lines = append(v.lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	tok, err := ParseToken(raw)
	if err != nil {
		add(Fail, "the value in %s is not a JWT Envoy can read: %v", loc, err)
		v.status = strings.SplitN(err.Error(), " (", 2)[0]
		return v
	}
	if p.rule.Issuer != "" && tok.Iss != p.rule.Issuer {
		add(Fail, "iss %q is not the issuer %q", tok.Iss, p.rule.Issuer)
		v.status = stUnknownIssuer
		return v
	}
	now := e.now().Unix()
	if tok.Nbf != 0 && now+clockSkew < tok.Nbf {
		add(Fail, "nbf %s is %s from now, more than Envoy's 60s clock skew", unix(tok.Nbf), time.Duration(tok.Nbf-now)*time.Second)
		v.status = stNotYetValid
		return v
	}
	if tok.Exp != 0 && now > tok.Exp+clockSkew {
		add(Fail, "exp %s passed %s ago (Envoy allows 60s clock skew)", unix(tok.Exp), time.Duration(now-tok.Exp)*time.Second)
		v.status = stExpired
		return v
	}
	add(Pass, "%s", timeLine(tok, now))
	if len(p.rule.Audiences) > 0 {
		if !audienceAllowed(p.rule.Audiences, tok.Aud) {
			add(Fail, "aud %v has none of the jwtRule's audiences %v", tok.Aud, p.rule.Audiences)
			v.status = stAudience
			return v
		}
		add(Pass, "aud %v has one of the jwtRule's audiences %v", tok.Aud, p.rule.Audiences)
	} else {
		add(Info, "the jwtRule lists no audiences, so Envoy does not check aud")
	}
	ks := e.keys.keys(p.rule)
	switch {
	case ks.err == errOffline:
		add(Unknown, "JWKS not fetched (--no-network): kid %q, alg %s and the signature are not checked", tok.Kid, tok.Alg)
		v.ok, v.unknown = true, true
		return v
	case ks.err != nil:
		add(Fail, "the JWKS (%s) could not be read now: %v; while istiod cannot fetch it either, it gives Envoy a key set without usable keys and every token fails", orDefault(ks.from, "jwksUri"), ks.err)
		v.status = stKidAlg
		return v
	}
	matched := -1
	for i, k := range ks.keys {
		if tok.Kid != "" && k.KeyID != "" && k.KeyID != tok.Kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != tok.Alg {
			continue
		}
		if matched < 0 {
			matched = i
		}
		if tok.verify(k.Key) {
			add(Pass, "kid %q, alg %s: key %s of %s, fetched now; the signature verifies", tok.Kid, tok.Alg, keyName(k, i), ks.from)
			v.ok = true
			return v
		}
	}
	if matched < 0 {
		add(Fail, "kid %q, alg %s: no key of %s (fetched now; kids %s) has that kid and alg", tok.Kid, tok.Alg, ks.from, kids(ks.keys))
		v.status = stKidAlg
		return v
	}
	if tok.sigErr != nil {
		add(Unknown, "kid %q, alg %s: key %s of %s fits, but the signature could not be checked: %v", tok.Kid, tok.Alg, keyName(ks.keys[matched], matched), ks.from, tok.sigErr)
		v.ok, v.unknown = true, true
		return v
	}
	add(Fail, "kid %q, alg %s: key %s of %s (fetched now) fits, but the signature does not verify: the token was signed with another key", tok.Kid, tok.Alg, keyName(ks.keys[matched], matched), ks.from)
	v.status = stVerification
	return v
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func keyName(k jose.JSONWebKey, i int) string {
	if k.KeyID != "" {
		return fmt.Sprintf("%q", k.KeyID)
	}
	return fmt.Sprintf("#%d", i)
}

func kids(keys []jose.JSONWebKey) string {
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%q", k.KeyID))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func unix(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

func timeLine(t *Token, now int64) string {
	var parts []string
	if t.Exp != 0 {
		if now <= t.Exp {
			parts = append(parts, fmt.Sprintf("exp %s (in %s)", unix(t.Exp), time.Duration(t.Exp-now)*time.Second))
		} else {
			parts = append(parts, fmt.Sprintf("exp %s (%s ago, within the 60s clock skew)", unix(t.Exp), time.Duration(now-t.Exp)*time.Second))
		}
	} else {
		parts = append(parts, "no exp: Envoy does not expire it")
	}
	if t.Nbf != 0 {
		parts = append(parts, fmt.Sprintf("nbf %s", unix(t.Nbf)))
	}
	return strings.Join(parts, ", ")
}

// audienceAllowed is Envoy's audience check: any token audience in the list,
// both compared without http(s):// and a trailing '/'.
func audienceAllowed(config, token []string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
		return strings.TrimSuffix(s, "/")
	}
	set := map[string]bool{}
	for _, a := range config {
		set[norm(a)] = true
	}
	for _, a := range token {
		if set[norm(a)] {
			return true
		}
	}
	return false
}

// issuerHint says how a token's iss differs from a configured issuer.
func issuerHint(tokenIss, issuer string) string {
	switch {
	case tokenIss == issuer:
		return ""
	case strings.TrimSuffix(tokenIss, "/") == strings.TrimSuffix(issuer, "/"):
		return "they differ only in the trailing '/', and Envoy compares exactly"
	case strings.EqualFold(tokenIss, issuer):
		return "they differ only in case, and Envoy compares exactly"
	}
	tu, err1 := url.Parse(tokenIss)
	iu, err2 := url.Parse(issuer)
	if err1 != nil || err2 != nil || tu.Host == "" || iu.Host == "" {
		return ""
	}
	switch {
	case tu.Scheme != iu.Scheme && tu.Host == iu.Host && tu.Path == iu.Path:
		return fmt.Sprintf("they differ in the scheme (%s vs %s)", tu.Scheme, iu.Scheme)
	case tu.Host != iu.Host && tu.Path == iu.Path:
		return fmt.Sprintf("same path, other host: the IdP writes the URL its clients used (%s) into iss, so configure the issuer with that host rather than %s", tu.Host, iu.Host)
	case tu.Host == iu.Host:
		return fmt.Sprintf("same host, other path (%s vs %s)", orDefault(tu.Path, "/"), orDefault(iu.Path, "/"))
	}
	return ""
}

// authenticate runs jwt_authn for the request over the providers.
func (e *explainer) authenticate(providers []*provider) authnResult {
	var res authnResult
	add := func(o Outcome, format string, args ...any) {
		res.lines = append(res.lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	if len(providers) == 0 {
		add(Info, "no RequestAuthentication applies: Envoy validates no token here, and the request has no principal")
		res.ok = true
		return res
	}
	if e.req.Method == "OPTIONS" && e.req.header("origin") != "" && e.req.header("access-control-request-method") != "" {
		add(Pass, "a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): istiod sets bypass_cors_preflight, so jwt_authn lets it pass unchecked and without a principal")
		res.ok = true
		return res
	}
	sort.SliceStable(providers, func(i, j int) bool { return providers[i].rule.Issuer < providers[j].rule.Issuer })
	tok := e.token
	for _, p := range providers {
		locs := p.locations()
		var ls []string
		for _, l := range locs {
			ls = append(ls, l.String())
		}
		line := fmt.Sprintf("issuer %q from %s (%s)", p.rule.Issuer, strings.Join(ls, ", "), p)
		switch {
		case tok == nil:
			add(Info, "%s", line)
		case p.rule.Issuer == "":
			add(Info, "%s: no issuer set, any iss is accepted", line)
		case tok.Iss == p.rule.Issuer:
			add(Pass, "%s: iss %q is exactly this issuer", line, tok.Iss)
		default:
			msg := fmt.Sprintf("%s: iss %q is not this issuer", line, tok.Iss)
			if h := issuerHint(tok.Iss, p.rule.Issuer); h != "" {
				msg += "; " + h
			}
			add(Info, "%s", msg)
		}
	}
	// Each provider on its own, then each {provider OR allow_missing}.
	type outcome struct {
		extracted bool
		raw       string
		loc       location
		v         verification
	}
	outs := make([]outcome, len(providers))
	anyExtracted := false
	for i, p := range providers {
		raw, loc, ok := p.extract(e.req)
		outs[i] = outcome{extracted: ok, raw: raw, loc: loc}
		anyExtracted = anyExtracted || ok
	}
	if !anyExtracted {
		if e.req.Token == "" {
			add(Pass, "no token in the request: Envoy lets it pass without a principal (allow_missing)")
		} else {
			add(Fail, "the token is in %s, where no jwtRule looks; Envoy treats the request as carrying no token and lets it pass without a principal", e.req.tokenLocation())
		}
		res.ok = true
		return res
	}
	var firstFailure *verification
	var firstFailureP *provider
	for i, p := range providers {
		o := &outs[i]
		if !o.extracted {
			continue
		}
		if p.rule.Issuer != "" && tok != nil && tok.Iss != p.rule.Issuer {
			// The provider's own check fails on iss; allow_missing fails
			// too, since the token sits where this provider looks.
			o.v = verification{status: stUnknownIssuer}
		} else {
			o.v = e.verify(p, o.raw, o.loc)
		}
		if o.v.ok {
			res.lines = append(res.lines, o.v.lines...)
			res.ok, res.verified = true, true
			if tok != nil {
				res.principal = tok.Iss + "/" + tok.Sub
				res.claims = tok.payload(spaceDelimited(p.rule))
				if o.v.unknown {
					res.lines = append(res.lines, Line{Outcome: Unknown, Text: "assuming the signature verifies, the request's principal is " + res.principal})
				} else {
					res.lines = append(res.lines, Line{Outcome: Pass, Text: "verified by " + p.String() + "; the request's principal is " + res.principal})
				}
			}
			return res
		}
		if firstFailure == nil || (firstFailure.status == stUnknownIssuer && o.v.status != stUnknownIssuer) {
			firstFailure, firstFailureP = &o.v, p
		}
	}
	// No provider verified the token; since one found it, allow_missing
	// does not save the request.
	if firstFailure == nil {
		res.ok = true
		return res
	}
	if firstFailure.status == stUnknownIssuer {
		var where []string
		for i, p := range providers {
			if outs[i].extracted {
				where = append(where, fmt.Sprintf("%q", p.rule.Issuer))
			}
		}
		matching := ""
		for _, p := range providers {
			if tok != nil && p.rule.Issuer == tok.Iss {
				var ls []string
				for _, l := range p.locations() {
					ls = append(ls, l.String())
				}
				matching = fmt.Sprintf("; the jwtRule for issuer %q reads the token from %s, not from %s", p.rule.Issuer, strings.Join(ls, ", "), e.req.tokenLocation())
			}
		}
		add(Fail, "the token sits where jwtRules of issuers %s look, and its iss %q is none of them%s", strings.Join(where, ", "), issOf(tok), matching)
	} else {
		add(Info, "checked by %s:", firstFailureP)
		res.lines = append(res.lines, firstFailure.lines...)
	}
	res.status = firstFailure.status
	return res
}

func issOf(t *Token) string {
	if t == nil {
		return ""
	}
	return t.Iss
}

// spaceDelimited are the claims Envoy splits at spaces for this jwtRule:
// istiod always names scope and permission, plus the rule's own.
func spaceDelimited(r *securityapi.JWTRule) []string {
	return append([]string{"permission", "scope"}, r.SpaceDelimitedClaims...)
}
