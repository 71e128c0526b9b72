// Package explain says, step by step, what istiod and Envoy do with one
// request carrying a JWT: which APIRule rule routes it, which
// RequestAuthentications and AuthorizationPolicies apply to the workload
// (those in the input, and for APIRules the ones Kyma generates), how
// Envoy's jwt_authn judges the token (location, exact issuer, exp/nbf,
// audiences, kid and alg against the JWKS as fetched now, signature), and
// how the RBAC filter judges the request (CUSTOM, then DENY, then ALLOW).
// The token is read without being trusted, and never printed back: the
// report names only its header fields and selected claims.
package explain

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	securityapi "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// Outcome is how one line or step went.
type Outcome string

const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Info    Outcome = "info"
	Unknown Outcome = "unknown"
)

// Line is one finding of a step.
type Line struct {
	Outcome Outcome `json:"outcome"`
	Text    string  `json:"text"`
}

// Step is one stage the request goes through.
type Step struct {
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	Lines   []Line  `json:"lines"`
}

// Decision is the verdict on the request.
type Decision string

const (
	Allowed      Decision = "allowed"
	Refused      Decision = "refused"
	Undetermined Decision = "undetermined"
)

// Verdict is what the client gets.
type Verdict struct {
	Decision Decision `json:"decision"`
	// Status is the HTTP status Envoy answers with when refused (401, 403,
	// 404); 0 otherwise.
	Status int `json:"status,omitempty"`
	// Body is Envoy's response body for a refusal.
	Body string `json:"body,omitempty"`
	// Step is the first step that failed or could not be decided.
	Step   string `json:"step,omitempty"`
	Reason string `json:"reason"`
}

// Report is the whole explanation.
type Report struct {
	Request    string  `json:"request"`
	Token      *Token  `json:"token,omitempty"`
	TokenError string  `json:"tokenError,omitempty"`
	Steps      []Step  `json:"steps"`
	Verdict    Verdict `json:"verdict"`
}

// Request is the request to explain.
type Request struct {
	Method string
	Host   string
	// Path may carry a query string, which Envoy leaves out of path matching.
	Path  string
	Token string
	// TokenHeader and TokenPrefix say how the token is sent (as
	// "Authorization: Bearer <token>" by default); TokenParam sends it as
	// that query parameter instead.
	TokenHeader string
	TokenPrefix string
	TokenParam  string
	// Headers are other request headers, by lower-case name, for
	// request.headers conditions.
	Headers map[string]string
	// Workload names the Service (namespace/name) to explain for when no
	// APIRule routes the request.
	Workload string
	// Peer is the caller's mTLS identity; requests through Kyma's gateway
	// come from the ingress gateway's service account.
	Peer string
	Now  time.Time
}

func (r *Request) tokenHeader() string {
	if r.TokenHeader == "" {
		return "Authorization"
	}
	return r.TokenHeader
}

func (r *Request) tokenPrefix() string { return r.TokenPrefix }

// header is a request header by name, whatever the case of the key.
func (r *Request) header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (r *Request) tokenLocation() string {
	if r.TokenParam != "" {
		return "query parameter " + r.TokenParam
	}
	if r.TokenPrefix != "" {
		return fmt.Sprintf("header %s with prefix %q", r.tokenHeader(), r.TokenPrefix)
	}
	return "header " + r.tokenHeader()
}

// Lookup is the cluster state an explanation reads; cluster.State
// satisfies it.
type Lookup interface {
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	Gateway(ctx context.Context, namespace, name string) (*networkingv1.Gateway, error)
	Mesh(ctx context.Context) (*cluster.Mesh, error)
}

// Inputs are the objects the explanation considers.
type Inputs struct {
	// APIRules in the v2 shape.
	APIRules               []*apirule.APIRule
	RequestAuthentications []*securityv1.RequestAuthentication
	AuthorizationPolicies  []*securityv1.AuthorizationPolicy
	// Notes are said in the policies step (objects left out and why).
	Notes  []string
	Lookup Lookup
	// PodLabels returns the labels of a pod the selector picks in the
	// namespace (nil, nil when none); without it a workload's labels are its
	// Service's selector.
	PodLabels func(ctx context.Context, namespace string, selector map[string]string) (map[string]string, error)
	// Trust fetches JWKS and discovery documents; nil or trust.Offline
	// leaves signatures unchecked.
	Trust trust.Resolver
}

type explainer struct {
	ctx   context.Context
	in    *Inputs
	req   *Request
	token *Token
	keys  *keySource
	// routed names the APIRule rule that routes the request, as policy
	// origins do ("APIRule ns/name rule i"), "" without one.
	routed string
}

func (e *explainer) now() time.Time {
	if e.req.Now.IsZero() {
		return time.Now()
	}
	return e.req.Now
}

// Explain explains one request.
func Explain(ctx context.Context, in *Inputs, req *Request) *Report {
	_, offline := in.Trust.(trust.Offline)
	e := &explainer{ctx: ctx, in: in, req: req,
		keys: &keySource{ctx: ctx, trust: in.Trust, offline: in.Trust == nil || offline, cache: map[string]keysAnswer{}}}
	if req.Peer == "" {
		req.Peer = ingressPrincipal
	}
	rep := &Report{Request: describeRequest(req)}
	rep.Steps = append(rep.Steps, e.tokenStep(rep))

	route, wl := e.routeStep()
	rep.Steps = append(rep.Steps, route)
	if route.Outcome == Fail {
		rep.Verdict = Verdict{Decision: Refused, Status: 404, Step: route.Name, Reason: lastFail(route)}
		return rep
	}
	policies, ras, aps := e.policyStep(wl)
	rep.Steps = append(rep.Steps, policies)

	var providers []*provider
	for _, ra := range ras {
		for i, r := range ra.Rules {
			if r != nil {
				providers = append(providers, &provider{rule: r, origin: ra.Origin, index: i})
			}
		}
	}
	authn := e.authenticate(providers)
	outcome := Pass
	switch {
	case !authn.ok:
		outcome = Fail
	case hasUnknown(authn.lines):
		outcome = Unknown
	}
	rep.Steps = append(rep.Steps, Step{Name: "authentication (jwt_authn)", Outcome: outcome, Lines: authn.lines})
	if !authn.ok {
		rep.Verdict = Verdict{Decision: Refused, Status: 401, Body: authn.status, Step: "authentication (jwt_authn)", Reason: lastFail(rep.Steps[len(rep.Steps)-1])}
		return rep
	}

	a := &attrs{method: req.Method, host: hostOnly(req.Host), path: pathOnly(req.Path), headers: map[string]string{},
		peer: req.Peer, principal: authn.principal, verified: authn.verified, claims: authn.claims}
	for k, v := range req.Headers {
		a.headers[strings.ToLower(k)] = v
	}
	if req.Token != "" && req.TokenParam == "" {
		a.headers[strings.ToLower(req.tokenHeader())] = req.tokenPrefix() + req.Token
	}
	authz, verdict := e.authorize(aps, a)
	rep.Steps = append(rep.Steps, authz)
	if verdict.Decision == Allowed && outcome == Unknown {
		verdict.Decision = Undetermined
		verdict.Step = "authentication (jwt_authn)"
		verdict.Reason = "allowed if the signature verifies, which was not checked"
	}
	rep.Verdict = verdict
	return rep
}

func hasUnknown(lines []Line) bool {
	for _, l := range lines {
		if l.Outcome == Unknown {
			return true
		}
	}
	return false
}

func lastFail(s Step) string {
	for i := len(s.Lines) - 1; i >= 0; i-- {
		if s.Lines[i].Outcome == Fail {
			return s.Lines[i].Text
		}
	}
	return ""
}

func describeRequest(r *Request) string {
	s := fmt.Sprintf("%s https://%s%s", r.Method, r.Host, r.Path)
	switch {
	case r.Token == "":
		s += ", no token"
	default:
		s += ", token in " + r.tokenLocation()
	}
	return s
}

// hostOnly is the authority without a port.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// pathOnly drops the query, which Envoy's path matchers leave out.
func pathOnly(p string) string {
	if u, err := url.ParseRequestURI(p); err == nil {
		return u.EscapedPath()
	}
	path, _, _ := strings.Cut(p, "?")
	return path
}

func (e *explainer) tokenStep(rep *Report) Step {
	s := Step{Name: "token", Outcome: Info}
	add := func(o Outcome, format string, args ...any) {
		s.Lines = append(s.Lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	if e.req.Token == "" {
		add(Info, "no token given")
		return s
	}
	tok, err := ParseToken(e.req.Token)
	if err != nil {
		rep.TokenError = err.Error()
		s.Outcome = Fail
		add(Fail, "not a JWT Envoy can read: %v", err)
		return s
	}
	e.token, rep.Token = tok, tok
	head := fmt.Sprintf("alg %s", tok.Alg)
	if tok.Kid != "" {
		head += fmt.Sprintf(", kid %q", tok.Kid)
	} else {
		head += ", no kid: Envoy tries every key of the JWKS"
	}
	add(Info, "%s (read without trusting it; the token itself is not shown)", head)
	if tok.HasIss {
		add(Info, "iss %q", tok.Iss)
	} else {
		add(Info, "no iss claim")
	}
	if tok.HasSub {
		add(Info, "sub %q", tok.Sub)
	} else {
		add(Info, "no sub claim")
	}
	if len(tok.Aud) > 0 {
		add(Info, "aud %v", tok.Aud)
	}
	if tok.Azp != "" {
		add(Info, "azp %q", tok.Azp)
	}
	add(Info, "%s", timeLine(tok, e.now().Unix()))
	for _, name := range sortedScopeNames(tok.Scopes) {
		add(Info, "%s %v", name, tok.Scopes[name])
	}
	return s
}

// workload is the Service a request reaches.
type workload struct {
	svc       serviceRef
	service   *corev1.Service
	labels    map[string]string
	podLabels bool
	apirule   *apirule.APIRule
}

func (e *explainer) routeStep() (Step, *workload) {
	s := Step{Name: "route", Outcome: Pass}
	add := func(o Outcome, format string, args ...any) {
		s.Lines = append(s.Lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	fail := func(format string, args ...any) (Step, *workload) {
		add(Fail, format, args...)
		s.Outcome = Fail
		return s, nil
	}
	if e.req.Workload != "" {
		ns, name, ok := apirule.SplitRef(e.req.Workload)
		if !ok {
			return fail("--workload %q: want namespace/service", e.req.Workload)
		}
		add(Info, "workload given: Service %s/%s (no APIRule routing is explained)", ns, name)
		return s, e.workloadOf(serviceRef{Namespace: ns, Name: name}, nil, &s)
	}
	host := strings.ToLower(hostOnly(e.req.Host))
	var matched []*apirule.APIRule
	var matchedHosts [][]string
	for _, ar := range e.in.APIRules {
		gw := e.gateway(ar)
		hosts, ok := fqdns(ar, gw)
		if !ok {
			continue
		}
		for _, h := range hosts {
			if glob(strings.ToLower(h), host, false) {
				matched, matchedHosts = append(matched, ar), append(matchedHosts, hosts)
				break
			}
		}
	}
	if len(matched) == 0 {
		return fail("no APIRule exposes host %q: Kyma writes no VirtualService route for it, so the gateway answers 404", host)
	}
	sort.SliceStable(matched, func(i, j int) bool {
		return matched[i].Namespace+"/"+matched[i].Name < matched[j].Namespace+"/"+matched[j].Name
	})
	ar := matched[0]
	add(Pass, "APIRule %s/%s exposes %s (hosts %v)", ar.Namespace, ar.Name, host, matchedHosts[0])
	if len(matched) > 1 {
		add(Info, "%d more APIRules name this host; Kyma refuses all but one as occupied, and this explains %s/%s", len(matched)-1, ar.Namespace, ar.Name)
	}
	path := pathOnly(e.req.Path)
	for i, r := range ar.Spec.Rules {
		methodOK := false
		for _, m := range r.Methods {
			methodOK = methodOK || m == e.req.Method
		}
		if !methodOK || !routeMatches(r.Path, path) {
			continue
		}
		access := "noAuth"
		switch {
		case r.JWT != nil:
			access = "jwt"
		case r.ExtAuth != nil:
			access = "extAuth " + strings.Join(r.ExtAuth.Authorizers, ", ")
		}
		add(Pass, "rule %d (path %s, methods %v, %s) is the first route matching %s %s", i, r.Path, r.Methods, access, e.req.Method, path)
		e.routed = fmt.Sprintf("APIRule %s/%s rule %d", ar.Namespace, ar.Name, i)
		svc, ok := ruleService(ar, r)
		if !ok {
			return fail("rule %d names no service and spec.service is not set: Kyma refuses the APIRule", i)
		}
		wl := e.workloadOf(svc, ar, &s)
		return s, wl
	}
	return fail("no rule of APIRule %s/%s matches %s %s (rules are tried in order on path and method): the gateway answers 404", ar.Namespace, ar.Name, e.req.Method, path)
}

func (e *explainer) gateway(ar *apirule.APIRule) *networkingv1.Gateway {
	if ar.Spec.Gateway == nil || e.in.Lookup == nil {
		return nil
	}
	ns, name, ok := apirule.SplitRef(*ar.Spec.Gateway)
	if !ok {
		return nil
	}
	gw, _ := e.in.Lookup.Gateway(e.ctx, ns, name)
	return gw
}

func (e *explainer) workloadOf(svc serviceRef, ar *apirule.APIRule, s *Step) *workload {
	wl := &workload{svc: svc, apirule: ar}
	add := func(o Outcome, format string, args ...any) {
		s.Lines = append(s.Lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	if e.in.Lookup != nil {
		if got, err := e.in.Lookup.Service(e.ctx, svc.Namespace, svc.Name); err == nil {
			wl.service = got
		}
	}
	if wl.service == nil {
		add(Unknown, "Service %s is not in the input: its selector, and so which policies select its pods, is not known", svc)
		return wl
	}
	wl.labels = wl.service.Spec.Selector
	if e.in.PodLabels != nil && len(wl.labels) > 0 {
		if l, err := e.in.PodLabels(e.ctx, svc.Namespace, wl.labels); err == nil && l != nil {
			wl.labels, wl.podLabels = l, true
		}
	}
	what := "selector"
	if wl.podLabels {
		what = "pod labels"
	}
	add(Info, "workload: the pods of Service %s (%s %s)", svc, what, labelString(wl.labels))
	return wl
}

func labelString(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// applies says whether a policy selects the workload: mesh-wide from the
// root namespace, namespace-wide without a selector, or by labels.
func applies(ns string, selector map[string]string, targetRefs bool, wl *workload, root string) (tri, string) {
	switch {
	case targetRefs:
		return no, "it uses targetRefs, which bind it to gateways or waypoints, not to sidecars"
	case ns == root && len(selector) == 0:
		return yes, "mesh-wide (root namespace " + root + ", no selector)"
	case ns != wl.svc.Namespace:
		return no, ""
	case len(selector) == 0:
		return yes, "namespace-wide (no selector)"
	case wl.labels == nil:
		return unknown, "its selector " + labelString(selector) + " cannot be compared with the unknown workload labels"
	}
	for k, v := range selector {
		if wl.labels[k] != v {
			if wl.podLabels {
				return no, ""
			}
			if _, has := wl.labels[k]; has {
				return no, ""
			}
			return unknown, "its selector " + labelString(selector) + " names labels beyond the Service's selector; pods were not read (use --kubeconfig)"
		}
	}
	return yes, "its selector " + labelString(selector) + " matches"
}

func (e *explainer) policyStep(wl *workload) (Step, []*raPolicy, []*apPolicy) {
	s := Step{Name: "policies", Outcome: Info}
	add := func(o Outcome, format string, args ...any) {
		s.Lines = append(s.Lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	for _, n := range e.in.Notes {
		add(Info, "%s", n)
	}
	root := "istio-system"
	if e.in.Lookup != nil {
		if m, err := e.in.Lookup.Mesh(e.ctx); err == nil && m != nil && m.RootNamespace != "" {
			root = m.RootNamespace
		}
	}
	var ras []*raPolicy
	var aps []*apPolicy
	seenRA := map[string]bool{}
	// Kyma's policies for every APIRule rule that routes to this Service,
	// unless the input holds the ones Kyma created.
	for _, ar := range e.in.APIRules {
		owned := false
		for _, ra := range e.in.RequestAuthentications {
			owned = owned || ownedByKyma(ra.Labels, ar)
		}
		for _, ap := range e.in.AuthorizationPolicies {
			owned = owned || ownedByKyma(ap.Labels, ar)
		}
		if owned {
			continue
		}
		hosts, ok := fqdns(ar, e.gateway(ar))
		for i, r := range ar.Spec.Rules {
			svc, has := ruleService(ar, r)
			if !has || svc.Namespace != wl.svc.Namespace || svc.Name != wl.svc.Name {
				continue
			}
			if !ok {
				add(Unknown, "APIRule %s/%s has a short host and its gateway's domain is not known: Kyma cannot generate its policies", ar.Namespace, ar.Name)
				break
			}
			r2, a2 := generate(ar, i, hosts, wl.labels, svc.Namespace)
			for _, ra := range r2 {
				// Kyma creates one RequestAuthentication per distinct set of
				// jwtRules of a workload.
				key := raKey(ra)
				if seenRA[key] {
					continue
				}
				seenRA[key] = true
				ras = append(ras, ra)
			}
			aps = append(aps, a2...)
		}
	}
	for _, ra := range e.in.RequestAuthentications {
		p := fromRA(ra)
		t, why := applies(p.Namespace, p.Selector, p.TargetRefs, wl, root)
		switch t {
		case yes:
			p.Origin += ", " + why
			ras = append(ras, p)
		case unknown:
			add(Unknown, "%s may apply: %s; left out", p.Origin, why)
		default:
			if why != "" {
				add(Info, "%s does not apply: %s", p.Origin, why)
			}
		}
	}
	for _, ap := range e.in.AuthorizationPolicies {
		p := fromAP(ap)
		t, why := applies(p.Namespace, p.Selector, p.TargetRefs, wl, root)
		switch t {
		case yes:
			p.Origin += ", " + why
			aps = append(aps, p)
		case unknown:
			add(Unknown, "%s may apply: %s; left out", p.Origin, why)
		default:
			if why != "" {
				add(Info, "%s does not apply: %s", p.Origin, why)
			}
		}
	}
	for _, p := range ras {
		var iss []string
		for _, r := range p.Rules {
			iss = append(iss, fmt.Sprintf("%q", r.Issuer))
		}
		add(Info, "%s: issuers %s", p.Origin, strings.Join(iss, ", "))
	}
	for _, p := range aps {
		action := p.Action.String()
		if p.Provider != "" {
			action += " provider " + p.Provider
		}
		extra := ""
		if p.DryRun {
			extra = " (istio.io/dry-run: logged, not enforced)"
		}
		add(Info, "%s: %s, %s%s", p.Origin, action, plural(len(p.Rules), "rule"), extra)
	}
	if len(ras) == 0 && len(aps) == 0 {
		add(Info, "no RequestAuthentication or AuthorizationPolicy applies to the workload")
	}
	return s, ras, aps
}

func (e *explainer) authorize(aps []*apPolicy, a *attrs) (Step, Verdict) {
	s := Step{Name: "authorization (RBAC)", Outcome: Pass}
	add := func(o Outcome, format string, args ...any) {
		s.Lines = append(s.Lines, Line{Outcome: o, Text: fmt.Sprintf(format, args...)})
	}
	detail := func(lines []string) {
		for _, l := range lines {
			add(Info, "  %s", l)
		}
	}
	byAction := map[securityapi.AuthorizationPolicy_Action][]*apPolicy{}
	for _, p := range aps {
		if p.DryRun {
			add(Info, "%s is dry-run: ignored", p.Origin)
			continue
		}
		byAction[p.Action] = append(byAction[p.Action], p)
	}
	var providers map[string]bool
	if e.in.Lookup != nil {
		if m, err := e.in.Lookup.Mesh(e.ctx); err == nil && m != nil && m.Found {
			providers = map[string]bool{}
			for _, n := range append(append([]string{}, m.ExtAuthzProviders...), m.KymaAuthorizers...) {
				providers[n] = true
			}
		}
	}
	und := func(step, reason string) (Step, Verdict) {
		s.Outcome = Unknown
		return s, Verdict{Decision: Undetermined, Step: step, Reason: reason}
	}
	refuse := func(reason string) (Step, Verdict) {
		s.Outcome = Fail
		add(Fail, "%s", reason)
		return s, Verdict{Decision: Refused, Status: 403, Body: "RBAC: access denied", Step: s.Name, Reason: reason}
	}
	for _, p := range byAction[securityapi.AuthorizationPolicy_CUSTOM] {
		t, lines := e.policyMatch(p, a)
		switch {
		case t == yes && providers != nil && !providers[p.Provider]:
			return refuse(fmt.Sprintf("CUSTOM %s matches, and its provider %q is not in the mesh config, so istiod denies what it matches", p.Origin, p.Provider))
		case t == yes:
			add(Unknown, "CUSTOM %s matches: Envoy asks the external authorizer %q, whose answer decides", p.Origin, p.Provider)
			return und(s.Name, fmt.Sprintf("the external authorizer %q decides", p.Provider))
		case t == unknown:
			add(Unknown, "CUSTOM %s may match:", p.Origin)
			detail(lines)
			return und(s.Name, "a CUSTOM policy may apply: "+p.Origin)
		}
		add(Pass, "CUSTOM %s does not match", p.Origin)
	}
	for _, p := range byAction[securityapi.AuthorizationPolicy_DENY] {
		t, lines := e.policyMatch(p, a)
		switch t {
		case yes:
			detail(lines)
			return refuse(fmt.Sprintf("DENY %s matches", p.Origin))
		case unknown:
			add(Unknown, "DENY %s may match:", p.Origin)
			detail(lines)
			return und(s.Name, "a DENY policy may match: "+p.Origin)
		}
		add(Pass, "DENY %s does not match", p.Origin)
	}
	allows := byAction[securityapi.AuthorizationPolicy_ALLOW]
	if len(allows) == 0 {
		add(Pass, "no ALLOW policy applies, so the workload allows what no DENY matched")
		return s, Verdict{Decision: Allowed, Reason: "no policy refuses it"}
	}
	var maybe []string
	routedWhy := ""
	for _, p := range allows {
		t, lines := e.policyMatch(p, a)
		if e.routed != "" && strings.HasSuffix(p.Origin, e.routed) && routedWhy == "" {
			routedWhy = firstReasons(lines)
		}
		switch t {
		case yes:
			add(Pass, "ALLOW %s matches (its %s)", p.Origin, strings.Join(lines, "; "))
			return s, Verdict{Decision: Allowed, Reason: "ALLOW " + p.Origin + " matches"}
		case unknown:
			maybe = append(maybe, p.Origin)
			add(Unknown, "ALLOW %s may match:", p.Origin)
		default:
			add(Info, "ALLOW %s does not match:", p.Origin)
		}
		detail(lines)
	}
	if len(maybe) > 0 {
		return und(s.Name, "no ALLOW policy surely matches; these may: "+strings.Join(maybe, "; "))
	}
	if routedWhy != "" {
		return refuse("no ALLOW policy matches; the one Kyma generates for " + e.routed + " fails on: " + routedWhy)
	}
	return refuse("ALLOW policies apply to the workload and none matches, so the request is denied")
}

// firstReasons condenses why a policy's rules did not match: the distinct
// failed conditions, at most three.
func firstReasons(lines []string) string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "✗ ") || seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, strings.TrimPrefix(l, "✗ "))
	}
	if len(out) > 3 {
		out = append(out[:3], "...")
	}
	return strings.Join(out, "; ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func raKey(p *raPolicy) string {
	var b strings.Builder
	b.WriteString(p.Namespace + "|" + labelString(p.Selector))
	for _, r := range p.Rules {
		fmt.Fprintf(&b, "|%s %s %v %v", r.Issuer, r.JwksUri, r.FromHeaders, r.FromParams)
	}
	return b.String()
}
