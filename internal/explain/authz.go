package explain

import (
	"fmt"
	"regexp"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
)

// How istiod turns AuthorizationPolicy rules into Envoy RBAC matchers, which
// this file evaluates for one request: values of a field are alternatives,
// notValues exclude, the fields of a source or operation and the when
// conditions must all hold, any from and any to entry may. The sidecar asks
// CUSTOM policies first, then DENY, then ALLOW.

// tri is a three-valued truth: some attributes (source IPs, ports) are not
// known for the request.
type tri int

const (
	no tri = iota
	yes
	unknown
)

func and(a, b tri) tri {
	switch {
	case a == no || b == no:
		return no
	case a == unknown || b == unknown:
		return unknown
	}
	return yes
}

func or(a, b tri) tri {
	switch {
	case a == yes || b == yes:
		return yes
	case a == unknown || b == unknown:
		return unknown
	}
	return no
}

func not(a tri) tri {
	switch a {
	case yes:
		return no
	case no:
		return yes
	}
	return unknown
}

func boolTri(b bool) tri {
	if b {
		return yes
	}
	return no
}

// attrs is what the sidecar knows of the request when RBAC runs.
type attrs struct {
	method, host, path string
	headers            map[string]string
	// peer is the mTLS identity of the caller (the ingress gateway).
	peer      string
	principal string
	verified  bool
	claims    map[string]any
}

// glob is istiod's string match: "*" any non-empty value, "*x" a suffix,
// "x*" a prefix, else exact.
func glob(pattern, v string, fold bool) bool {
	if fold {
		pattern, v = strings.ToLower(pattern), strings.ToLower(v)
	}
	switch {
	case pattern == "*":
		return v != ""
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(v, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(v, pattern[:len(pattern)-1])
	}
	return pattern == v
}

// pathMatch is an operation path: {*} and {**} templates become Envoy URI
// templates (one or more path characters without '/', any rest), the rest is
// a glob.
func pathMatch(pattern, path string) bool {
	if !strings.Contains(pattern, "{*}") && !strings.Contains(pattern, "{**}") {
		return glob(pattern, path, false)
	}
	var b strings.Builder
	for i, part := range strings.Split(pattern, "/") {
		if i > 0 {
			b.WriteString("/")
		}
		switch part {
		case "{*}":
			b.WriteString(`[a-zA-Z0-9\-._~%!$&'()+,;:@=]+`)
		case "{**}":
			b.WriteString(`[a-zA-Z0-9\-._~%!$&'()+,;:@=/]*`)
		default:
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	re, err := regexp.Compile("^" + b.String() + "$")
	return err == nil && re.MatchString(path)
}

// requestPrincipalMatch is istiod's requestPrincipals match: the value
// splits at its last '/' into iss and sub patterns, and "*" matches any
// non-empty value, so "iss/*" needs a sub.
func requestPrincipalMatch(v string, a *attrs, tok *Token) bool {
	if !a.verified || tok == nil {
		return false
	}
	iss, sub := tok.Iss, tok.Sub
	nonEmpty := func(s string) bool { return s != "" }
	idx := strings.LastIndex(v, "/")
	pi, ps, found := v, "", idx >= 0
	if found {
		pi, ps = v[:idx], v[idx+1:]
	}
	switch {
	case v == "*":
		return nonEmpty(iss) && nonEmpty(sub)
	case strings.HasPrefix(v, "*"):
		if found {
			issOK := pi == "*" && nonEmpty(iss) || pi != "*" && strings.HasSuffix(iss, strings.TrimPrefix(pi, "*"))
			return issOK && sub == ps
		}
		return nonEmpty(iss) && strings.HasSuffix(sub, strings.TrimPrefix(v, "*"))
	case strings.HasSuffix(v, "*"):
		if found {
			subOK := ps == "*" && nonEmpty(sub) || ps != "*" && strings.HasPrefix(sub, strings.TrimSuffix(ps, "*"))
			return iss == pi && subOK
		}
		return strings.HasPrefix(iss, strings.TrimSuffix(v, "*")) && nonEmpty(sub)
	}
	return iss == pi && sub == ps
}

// claimMatch is a request.auth.claims[...] condition: the claim (nested
// with [a][b]) matches when it is the string, or a list holding it.
func claimMatch(path []string, value string, claims map[string]any) bool {
	var cur any = claims
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	switch c := cur.(type) {
	case string:
		return glob(value, c, false)
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && glob(value, s, false) {
				return true
			}
		}
	}
	return false
}

func claimValue(path []string, claims map[string]any) string {
	var cur any = claims
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "missing"
		}
		if cur, ok = m[k]; !ok {
			return "missing"
		}
	}
	switch c := cur.(type) {
	case string:
		return fmt.Sprintf("%q", c)
	case []any:
		return fmt.Sprintf("%v", claimStrings(c, false))
	}
	return fmt.Sprintf("%v (not a string or list of strings)", cur)
}

// brackets splits "[a][b]" into a, b.
func brackets(s string) ([]string, bool) {
	var out []string
	for s != "" {
		if !strings.HasPrefix(s, "[") {
			return nil, false
		}
		end := strings.Index(s, "]")
		if end < 0 {
			return nil, false
		}
		out = append(out, s[1:end])
		s = s[end+1:]
	}
	return out, len(out) > 0
}

// field evaluates values/notValues of one attribute; match tells whether a
// single value matches.
func field(values, notValues []string, match func(string) tri) tri {
	res := yes
	if len(values) > 0 {
		m := no
		for _, v := range values {
			m = or(m, match(v))
		}
		res = m
	}
	if len(notValues) > 0 {
		m := no
		for _, v := range notValues {
			m = or(m, match(v))
		}
		res = and(res, not(m))
	}
	return res
}

// why collects the reasons a rule did not match, for the report.
type why []string

func (w *why) add(t tri, format string, args ...any) tri {
	if t != yes {
		prefix := "✗ "
		if t == unknown {
			prefix = "? "
		}
		*w = append(*w, prefix+fmt.Sprintf(format, args...))
	}
	return t
}

func (e *explainer) evalSource(s *securityapi.Source, a *attrs, w *why) tri {
	tok := e.token
	peerNS := ""
	if _, after, ok := strings.Cut(a.peer, "/ns/"); ok {
		peerNS, _, _ = strings.Cut(after, "/")
	}
	res := yes
	principal := func(v string) tri {
		if v == "*" {
			return boolTri(a.peer != "")
		}
		return boolTri(glob(v, a.peer, false))
	}
	res = and(res, w.add(field(s.Principals, s.NotPrincipals, principal), "source %s: the caller is %s", vals("principals", s.Principals, s.NotPrincipals), a.peer))
	res = and(res, w.add(field(s.Namespaces, s.NotNamespaces, func(v string) tri { return boolTri(glob(v, peerNS, false)) }),
		"source %s: the caller is in %s", vals("namespaces", s.Namespaces, s.NotNamespaces), peerNS))
	res = and(res, w.add(field(s.ServiceAccounts, s.NotServiceAccounts, func(v string) tri {
		ns, sa, ok := strings.Cut(v, "/")
		if !ok {
			ns, sa = "", v
		}
		return boolTri((ns == "" || ns == peerNS) && strings.HasSuffix(a.peer, "/sa/"+sa))
	}), "source %s: the caller is %s", vals("serviceAccounts", s.ServiceAccounts, s.NotServiceAccounts), a.peer))
	td := strings.SplitN(a.peer, "/", 2)[0]
	res = and(res, w.add(field(s.TrustDomains, s.NotTrustDomains, func(v string) tri { return boolTri(glob(v, td, false)) }),
		"source %s: the caller's trust domain is %s", vals("trustDomains", s.TrustDomains, s.NotTrustDomains), td))
	rpWhy := "the request has no principal (no token verified)"
	if a.verified && tok != nil {
		rpWhy = "the principal is " + a.principal
		if tok.Sub == "" {
			rpWhy += "; the token has no sub, and \"iss/*\" needs a non-empty sub"
		}
	}
	res = and(res, w.add(field(s.RequestPrincipals, s.NotRequestPrincipals, func(v string) tri { return boolTri(requestPrincipalMatch(v, a, tok)) }),
		"source %s: %s", vals("requestPrincipals", s.RequestPrincipals, s.NotRequestPrincipals), rpWhy))
	if len(s.IpBlocks)+len(s.NotIpBlocks)+len(s.RemoteIpBlocks)+len(s.NotRemoteIpBlocks) > 0 {
		res = and(res, w.add(unknown, "source ipBlocks/remoteIpBlocks: the client address is not known here"))
	}
	return res
}

func (e *explainer) evalOperation(o *securityapi.Operation, a *attrs, w *why) tri {
	res := yes
	res = and(res, w.add(field(o.Hosts, o.NotHosts, func(v string) tri {
		if v == "*" {
			return yes
		}
		return boolTri(glob(v, a.host, true))
	}), "operation %s: the host is %s", vals("hosts", o.Hosts, o.NotHosts), a.host))
	res = and(res, w.add(field(o.Methods, o.NotMethods, func(v string) tri { return boolTri(glob(v, a.method, false)) }),
		"operation %s: the method is %s", vals("methods", o.Methods, o.NotMethods), a.method))
	res = and(res, w.add(field(o.Paths, o.NotPaths, func(v string) tri { return boolTri(pathMatch(v, a.path)) }),
		"operation %s: the path is %s", vals("paths", o.Paths, o.NotPaths), a.path))
	if len(o.Ports)+len(o.NotPorts) > 0 {
		res = and(res, w.add(unknown, "operation %s: the workload port is not known here", vals("ports", o.Ports, o.NotPorts)))
	}
	return res
}

func (e *explainer) evalCondition(c *securityapi.Condition, a *attrs, w *why) tri {
	tok := e.token
	k := c.Key
	var match func(string) tri
	var have string
	switch {
	case strings.HasPrefix(k, "request.auth.claims"):
		path, ok := brackets(strings.TrimPrefix(k, "request.auth.claims"))
		if !ok {
			return w.add(no, "when %s: not a claim key Istio accepts", k)
		}
		match = func(v string) tri { return boolTri(a.verified && claimMatch(path, v, a.claims)) }
		have = "no verified token"
		if a.verified {
			have = "the token's " + strings.Join(path, ".") + " is " + claimValue(path, a.claims)
		}
	case k == "request.auth.principal":
		match = func(v string) tri { return boolTri(a.verified && glob(v, a.principal, false)) }
		have = "the principal is " + orDefault(a.principal, "none")
	case k == "request.auth.audiences":
		match = func(v string) tri { return boolTri(a.verified && claimMatch([]string{"aud"}, v, a.claims)) }
		have = "aud is none"
		if tok != nil && a.verified {
			have = fmt.Sprintf("aud is %v", tok.Aud)
		}
	case k == "request.auth.presenter":
		match = func(v string) tri { return boolTri(a.verified && claimMatch([]string{"azp"}, v, a.claims)) }
		have = "azp is none"
		if tok != nil && a.verified {
			have = fmt.Sprintf("azp is %q", tok.Azp)
		}
	case strings.HasPrefix(k, "request.headers["):
		name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(k, "request.headers["), "]"))
		v, known := a.headers[name]
		if !known {
			return w.add(unknown, "when %s: the request's %s header is not known here (give it with --header)", k, name)
		}
		match = func(p string) tri { return boolTri(glob(p, v, false)) }
		have = fmt.Sprintf("the header is %q", v)
		if e.req.Token != "" && e.req.TokenParam == "" && strings.EqualFold(name, e.req.tokenHeader()) {
			have = "the header carries the token (not shown)"
		}
	case k == "source.namespace" || k == "source.principal" || k == "source.serviceAccount" || k == "source.trustDomain":
		s := &securityapi.Source{}
		switch k {
		case "source.namespace":
			s.Namespaces, s.NotNamespaces = c.Values, c.NotValues
		case "source.principal":
			s.Principals, s.NotPrincipals = c.Values, c.NotValues
		case "source.serviceAccount":
			s.ServiceAccounts, s.NotServiceAccounts = c.Values, c.NotValues
		default:
			s.TrustDomains, s.NotTrustDomains = c.Values, c.NotValues
		}
		return e.evalSource(s, a, w)
	default:
		return w.add(unknown, "when %s: not known for this request here", k)
	}
	return w.add(field(c.Values, c.NotValues, match), "when %s: %s", vals(k, c.Values, c.NotValues), have)
}

// evalRule is one AuthorizationPolicy rule; a nil rule list entry or an
// empty rule ({}) matches every request.
func (e *explainer) evalRule(r *securityapi.Rule, a *attrs) (tri, why) {
	var w why
	if r == nil {
		return yes, nil
	}
	res := yes
	if len(r.From) > 0 {
		m := no
		var fw why
		for _, f := range r.From {
			if f == nil || f.Source == nil {
				m = yes
				continue
			}
			m = or(m, e.evalSource(f.Source, a, &fw))
		}
		if m != yes {
			w = append(w, fw...)
		}
		res = and(res, m)
	}
	if len(r.To) > 0 {
		m := no
		var tw why
		for _, t := range r.To {
			if t == nil || t.Operation == nil {
				m = yes
				continue
			}
			m = or(m, e.evalOperation(t.Operation, a, &tw))
		}
		if m != yes {
			w = append(w, tw...)
		}
		res = and(res, m)
	}
	for _, c := range r.When {
		if c != nil {
			res = and(res, e.evalCondition(c, a, &w))
		}
	}
	return res, w
}

// policyMatch is whether any rule of the policy matches; an ALLOW policy
// without rules matches nothing.
func (e *explainer) policyMatch(p *apPolicy, a *attrs) (tri, []string) {
	res := no
	var lines []string
	for i, r := range p.Rules {
		t, w := e.evalRule(r, a)
		res = or(res, t)
		switch t {
		case yes:
			return yes, []string{fmt.Sprintf("rule %d matches", i)}
		case unknown:
			lines = append(lines, fmt.Sprintf("rule %d may match:", i))
		default:
			lines = append(lines, fmt.Sprintf("rule %d does not match:", i))
		}
		for _, l := range w {
			lines = append(lines, "  "+l)
		}
	}
	if len(p.Rules) == 0 {
		lines = append(lines, "no rules: it matches no request")
	}
	return res, lines
}

// vals renders an attribute's values and notValues for the report.
func vals(name string, values, notValues []string) string {
	var parts []string
	if len(values) > 0 {
		parts = append(parts, fmt.Sprintf("%s %v", name, values))
	}
	if len(notValues) > 0 {
		parts = append(parts, fmt.Sprintf("not %s %v", name, notValues))
	}
	return strings.Join(parts, ", ")
}
