package validators

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// Fixtures shared by the AuthorizationPolicy, RequestAuthentication and
// APIRule v1beta1 tests.

const authzMeshData = `extensionProviders:
- name: oauth2-proxy
  envoyExtAuthzHttp: {service: oauth2-proxy.oauth2-proxy.svc.cluster.local, port: 80}
- name: opa
  envoyExtAuthzGrpc: {service: opa.opa.svc.cluster.local, port: 9191}
- name: otel
  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}
`

func authzMesh(data string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"}, Data: map[string]string{"mesh": data}}
}

func authzNS(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func authzPod(ns, name string, kv ...string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: authzKV(kv...)}}
}

func authzService(ns, name string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: p})
	}
	return s
}

func authzKV(kv ...string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func authzSel(kv ...string) *typeapi.WorkloadSelector {
	return &typeapi.WorkloadSelector{MatchLabels: authzKV(kv...)}
}

// authzRA is a RequestAuthentication trusting the issuers; sel may be nil.
func authzRA(ns, name string, sel *typeapi.WorkloadSelector, issuers ...string) *securityv1.RequestAuthentication {
	ra := &securityv1.RequestAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	ra.Spec.Selector = sel
	for _, iss := range issuers {
		ra.Spec.JwtRules = append(ra.Spec.JwtRules, &securityapi.JWTRule{Issuer: iss, JwksUri: "https://keys.example.com/jwks"})
	}
	return ra
}

// authzKymaIstio is a Kyma Istio CR registering authorizers.
func authzKymaIstio(names ...string) *unstructured.Unstructured {
	var auths []any
	for _, n := range names {
		auths = append(auths, map[string]any{"name": n, "service": n + ".svc", "port": int64(80)})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
		"metadata": map[string]any{"namespace": "kyma-system", "name": "default"},
		"spec":     map[string]any{"config": map[string]any{"authorizers": auths}},
	}}
}

// authzBase is a cluster where policies in "apps" select a running httpbin.
func authzBase(extra ...runtime.Object) []runtime.Object {
	return append([]runtime.Object{
		authzMesh(authzMeshData), authzNS("apps"), authzNS("istio-system"), authzNS("frontend"),
		authzPod("apps", "httpbin-1", "app", "httpbin", "version", "v1"),
		authzPod("istio-system", "ingress-1", "istio", "ingressgateway"),
		authzService("apps", "httpbin", 8000),
	}, extra...)
}

func authzAP(ns string, action securityapi.AuthorizationPolicy_Action, sel *typeapi.WorkloadSelector, rules ...*securityapi.Rule) *securityv1.AuthorizationPolicy {
	ap := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy"}}
	ap.Spec.Action = action
	ap.Spec.Selector = sel
	ap.Spec.Rules = rules
	return ap
}

func authzCustom(provider string) *securityv1.AuthorizationPolicy {
	ap := authzAP("apps", securityapi.AuthorizationPolicy_CUSTOM, authzSel("app", "httpbin"), authzToPaths("/admin/*"))
	if provider != "-" {
		ap.Spec.ActionDetail = &securityapi.AuthorizationPolicy_Provider{Provider: &securityapi.AuthorizationPolicy_ExtensionProvider{Name: provider}}
	}
	return ap
}

func authzFrom(src *securityapi.Source) *securityapi.Rule {
	return &securityapi.Rule{From: []*securityapi.Rule_From{{Source: src}}}
}

func authzToPaths(paths ...string) *securityapi.Rule {
	return &securityapi.Rule{To: []*securityapi.Rule_To{{Operation: &securityapi.Operation{Paths: paths}}}}
}

// authzFindings is "check field" of every finding of checks with the prefix.
func authzFindings(fs []core.Finding, prefix string) []string {
	var out []string
	for _, s := range summary(fs) {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func authzAssert(t *testing.T, r *core.Report, prefix string, deny, warn []string) {
	t.Helper()
	if got := authzFindings(r.Violations, prefix); !reflect.DeepEqual(got, deny) {
		t.Errorf("violations = %q, want %q\nall: %v", got, deny, r.Violations)
	}
	if got := authzFindings(r.Warnings, prefix); !reflect.DeepEqual(got, warn) {
		t.Errorf("warnings = %q, want %q\nall: %v", got, warn, r.Warnings)
	}
}

func authzLines(lines ...string) []string { return lines }

func TestAuthorizationPolicyCustomProvider(t *testing.T) {
	const id = "authorizationpolicy-custom-provider"
	noMesh := []runtime.Object{authzNS("apps"), authzPod("apps", "httpbin-1", "app", "httpbin")}
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		objs []runtime.Object
		deny []string
		frag string
	}{
		{"http ext-authz provider", authzCustom("oauth2-proxy"), authzBase(), nil, ""},
		{"grpc ext-authz provider", authzCustom("opa"), authzBase(), nil, ""},
		{"kyma authorizer", authzCustom("kyma-oauth2"), authzBase(authzKymaIstio("kyma-oauth2")), nil, ""},
		{"unknown provider lists registered", authzCustom("ory"), authzBase(authzKymaIstio("kyma-oauth2")), authzLines(id + " spec.provider.name"), "kyma-oauth2, oauth2-proxy, opa"},
		{"provider of another type", authzCustom("otel"), authzBase(), authzLines(id + " spec.provider.name"), "not envoyExtAuthzHttp or envoyExtAuthzGrpc"},
		{"no provider", authzCustom("-"), authzBase(), authzLines(id + " spec.provider.name"), "Required value"},
		{"empty provider name", authzCustom(""), authzBase(), authzLines(id + " spec.provider.name"), "Required value"},
		{"no mesh config", authzCustom("oauth2-proxy"), noMesh, authzLines(id + " spec.provider.name"), "no mesh config istio-system/istio found"},
		{"no mesh config but kyma authorizer", authzCustom("kyma-oauth2"), append(noMesh, authzKymaIstio("kyma-oauth2")), nil, ""},
		// not looked up: istiod refuses a provider on ALLOW
		{"provider ignored for ALLOW", func() *securityv1.AuthorizationPolicy {
			ap := authzCustom("ory")
			ap.Spec.Action = securityapi.AuthorizationPolicy_ALLOW
			return ap
		}(), authzBase(), authzLines("authorizationpolicy-istio-validation spec.provider"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ap, nil, tc.objs...)
			authzAssert(t, r, "authorizationpolicy-", tc.deny, nil)
			if tc.frag != "" && !hasFinding(r.Violations, id, "spec.provider.name", tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Violations)
			}
		})
	}
}

func TestAuthorizationPolicyRequestPrincipalIssuer(t *testing.T) {
	const id = "authorizationpolicy-request-principal-issuer"
	const iss = "https://issuer.example.com"
	rp := func(p ...string) *securityv1.AuthorizationPolicy {
		return authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, authzSel("app", "httpbin", "version", "v1"),
			authzFrom(&securityapi.Source{RequestPrincipals: p}))
	}
	notRP := func(p ...string) *securityv1.AuthorizationPolicy {
		return authzAP("apps", securityapi.AuthorizationPolicy_DENY, authzSel("app", "httpbin"),
			authzFrom(&securityapi.Source{NotRequestPrincipals: p}))
	}
	raHttpbin := authzRA("apps", "jwt", authzSel("app", "httpbin"), iss)
	jwksOnly := authzRA("apps", "jwks-only", nil)
	jwksOnly.Spec.JwtRules = []*securityapi.JWTRule{{JwksUri: "https://keys.example.com/jwks"}}
	rootTargeted := authzAP("istio-system", securityapi.AuthorizationPolicy_ALLOW, nil, authzFrom(&securityapi.Source{RequestPrincipals: []string{iss + "/*"}}))
	path0 := "spec.rules[0].from[0].source.requestPrincipals[0]"
	path1 := "spec.rules[0].from[0].source.requestPrincipals[1]"
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		objs []runtime.Object
		warn []string
		frag string
	}{
		{"issuer wildcard trusted", rp(iss + "/*"), authzBase(raHttpbin), nil, ""},
		{"exact subject trusted", rp(iss + "/user-1"), authzBase(raHttpbin), nil, ""},
		{"suffix pattern with some issuer", rp("*/user-1"), authzBase(raHttpbin), nil, ""},
		{"prefix pattern shorter than issuer", rp("https://issuer.*"), authzBase(raHttpbin), nil, ""},
		{"bare star needs nothing", rp("*"), authzBase(), nil, ""},
		{"untrusted issuer", rp(iss+"/*", "https://other.example.com/*"), authzBase(raHttpbin), authzLines(id + " " + path1), "trusted: " + iss},
		{"no RequestAuthentication at all", rp(iss + "/*"), authzBase(), authzLines(id + " " + path0), "no RequestAuthentication applies"},
		{"RequestAuthentication for other workload", rp(iss + "/*"), authzBase(authzRA("apps", "jwt", authzSel("app", "other"), iss)), authzLines(id + " " + path0), "no RequestAuthentication applies"},
		{"RequestAuthentication selector wider than policy", rp(iss + "/*"), authzBase(authzRA("apps", "jwt", authzSel("version", "v1"), iss)), nil, ""},
		{"namespace-wide RequestAuthentication", rp(iss + "/*"), authzBase(authzRA("apps", "jwt", nil, iss)), nil, ""},
		{"root namespace RequestAuthentication", rp(iss + "/*"), authzBase(authzRA("istio-system", "jwt", nil, iss)), nil, ""},
		{"RequestAuthentication in another namespace", rp(iss + "/*"), authzBase(authzRA("frontend", "jwt", nil, iss)), authzLines(id + " " + path0), ""},
		{"issuer with trailing slash", rp(iss + "/user-1"), authzBase(authzRA("apps", "jwt", nil, iss+"/")), authzLines(id + " " + path0), "issuer exactly as in the token"},
		{"not of the form issuer/subject", rp("user-1"), authzBase(raHttpbin), authzLines(id + " " + path0), "not of the form <issuer>/<subject>"},
		{"jwtRule without issuer trusts any", rp("https://any.example.com/*"), authzBase(jwksOnly), nil, ""},
		{"notRequestPrincipals untrusted", notRP("https://other.example.com/*"), authzBase(raHttpbin),
			authzLines(id + " spec.rules[0].from[0].source.notRequestPrincipals[0]"), "always holds"},
		{"root namespace policy sees every namespace", rootTargeted, authzBase(authzRA("frontend", "jwt", authzSel("app", "web"), iss)), nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ap, nil, tc.objs...)
			authzAssert(t, r, id, nil, tc.warn)
			if tc.frag != "" && !hasFinding(r.Warnings, id, tc.warn[0][len(id)+1:], tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Warnings)
			}
		})
	}
}

func TestAuthorizationPolicyRequestPrincipalTargetRefs(t *testing.T) {
	const id = "authorizationpolicy-request-principal-issuer"
	ap := authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, nil, authzFrom(&securityapi.Source{RequestPrincipals: []string{"https://issuer.example.com/*"}}))
	ap.Spec.TargetRefs = []*typeapi.PolicyTargetReference{{Kind: "Service", Name: "httpbin"}}
	same := authzRA("apps", "jwt", nil, "https://issuer.example.com")
	same.Spec.TargetRefs = []*typeapi.PolicyTargetReference{{Kind: "Service", Name: "httpbin"}}
	other := authzRA("apps", "jwt", nil, "https://issuer.example.com")
	other.Spec.TargetRefs = []*typeapi.PolicyTargetReference{{Kind: "Service", Name: "web"}}
	cases := []struct {
		name string
		ra   *securityv1.RequestAuthentication
		warn []string
	}{
		{"same target", same, nil},
		{"other target", other, authzLines(id + " spec.rules[0].from[0].source.requestPrincipals[0]")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authzAssert(t, run(t, ap, nil, authzBase(tc.ra)...), id, nil, tc.warn)
		})
	}
}

func TestAuthorizationPolicySpiffePrincipal(t *testing.T) {
	cases := []struct {
		p    string
		frag string // "" means valid
	}{
		{"*", ""},
		{"cluster.local/ns/default/sa/sleep", ""},
		{"cluster.local/ns/default/*", ""},
		{"cluster.local/n*", ""},
		{"cluster.local/*", ""},
		{"td/ns/x/sa/*", ""},
		{"*/ns/default/sa/sleep", ""},
		{"*x/ns/a/sa/b", ""},
		{"*s/a/sa/b", ""},
		{"*/sa/sleep", ""},
		{"*sleep", ""},
		{"", "empty principal"},
		{"spiffe://cluster.local/ns/default/sa/sleep", "drop the spiffe:// prefix"},
		{"ns/default/sa/sleep", "has 4 /-separated parts"},
		{"cluster.local/ns/default/sa/sleep/extra", "has 6 /-separated parts"},
		{"cluster.local/namespace/default/sa/sleep", `part 2 is "namespace" where "ns" belongs`},
		{"cluster.local/ns/default/serviceaccount/sleep", `part 4 is "serviceaccount" where "sa" belongs`},
		{"cluster.local/ns//sa/sleep", "part 3 is empty"},
		{"cluster.local/ns/a/sa/b/*", "has 6 /-separated parts"},
		{"cluster.local/x*", `part 2 is "x" where "ns" belongs`},
		{"*q/a/sa/b", `part 2 is "q" where "ns" belongs`},
		{"*/ns/default/sa/sleep/x", "has 6 /-separated parts"},
		{"*default*", "may only appear once"},
		{"cluster.*/ns/a/sa/b", "may only appear once"},
	}
	for _, tc := range cases {
		got := spiffePrincipalProblem(tc.p)
		switch {
		case tc.frag == "" && got != "":
			t.Errorf("%q: unexpected problem %q", tc.p, got)
		case tc.frag != "" && !strings.Contains(got, tc.frag):
			t.Errorf("%q: problem %q, want it to contain %q", tc.p, got, tc.frag)
		}
	}
}

func TestAuthorizationPolicyPrincipalFormat(t *testing.T) {
	const id = "authorizationpolicy-principal-format"
	src := func(s *securityapi.Source) *securityv1.AuthorizationPolicy {
		return authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, authzSel("app", "httpbin"), authzToPaths("/x"), authzFrom(s))
	}
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		warn []string
	}{
		{"valid principals", src(&securityapi.Source{Principals: []string{"cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account", "*"}}), nil},
		{"malformed principal", src(&securityapi.Source{Principals: []string{"cluster.local/ns/a/sa/b", "default/sleep"}}),
			authzLines(id + " spec.rules[1].from[0].source.principals[1]")},
		{"malformed notPrincipal", src(&securityapi.Source{NotPrincipals: []string{"spiffe://cluster.local/ns/a/sa/b"}}),
			authzLines(id + " spec.rules[1].from[0].source.notPrincipals[0]")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authzAssert(t, run(t, tc.ap, nil, authzBase()...), "authorizationpolicy-", nil, tc.warn)
		})
	}
}

func TestAuthorizationPolicyWorkloads(t *testing.T) {
	allow := func(ns string, sel *typeapi.WorkloadSelector) *securityv1.AuthorizationPolicy {
		return authzAP(ns, securityapi.AuthorizationPolicy_ALLOW, sel, authzToPaths("/x"))
	}
	target := func(refs ...*typeapi.PolicyTargetReference) *securityv1.AuthorizationPolicy {
		ap := allow("apps", nil)
		if len(refs) > 0 {
			ap.Spec.TargetRef = refs[0]
			ap.Spec.TargetRefs = refs[1:]
		}
		return ap
	}
	svc := func(name string) *typeapi.PolicyTargetReference {
		return &typeapi.PolicyTargetReference{Kind: "Service", Name: name}
	}
	namespaces := func(s *securityapi.Source) *securityv1.AuthorizationPolicy {
		return authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, nil, authzFrom(s))
	}
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		warn []string
	}{
		{"selector matches pod", allow("apps", authzSel("app", "httpbin")), nil},
		{"selector subset of pod labels", allow("apps", authzSel("version", "v1")), nil},
		{"selector matches nothing", allow("apps", authzSel("app", "htpbin")), authzLines("authorizationpolicy-selector-no-workload spec.selector.matchLabels")},
		{"selector matches pod in other namespace only", allow("frontend", authzSel("app", "httpbin")), authzLines("authorizationpolicy-selector-no-workload spec.selector.matchLabels")},
		{"root namespace selector is mesh-wide", allow("istio-system", authzSel("app", "httpbin")), nil},
		{"empty namespace is default", allow("", authzSel("app", "httpbin")), authzLines("authorizationpolicy-selector-no-workload spec.selector.matchLabels")},
		{"no selector", allow("apps", nil), nil},
		{"targetRef service exists", target(svc("httpbin")), nil},
		{"targetRef service missing", target(svc("web")), authzLines("authorizationpolicy-target-not-found spec.targetRef.name")},
		{"targetRefs second missing", target(nil, svc("httpbin"), svc("web")), authzLines("authorizationpolicy-target-not-found spec.targetRefs[1].name")},
		{"targetRef gateway not checked", target(&typeapi.PolicyTargetReference{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "nope"}), nil},
		{"source namespaces exist", namespaces(&securityapi.Source{Namespaces: []string{"frontend", "istio-system"}}), nil},
		{"source namespace typo", namespaces(&securityapi.Source{Namespaces: []string{"frontend", "frontned"}}),
			authzLines("authorizationpolicy-source-namespace-not-found spec.rules[0].from[0].source.namespaces[1]")},
		{"source namespace pattern skipped", namespaces(&securityapi.Source{Namespaces: []string{"team-*", "*-prod"}}), nil},
		{"notNamespaces missing", namespaces(&securityapi.Source{NotNamespaces: []string{"gone"}}),
			authzLines("authorizationpolicy-source-namespace-not-found spec.rules[0].from[0].source.notNamespaces[0]")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authzAssert(t, run(t, tc.ap, nil, authzBase()...), "authorizationpolicy-", nil, tc.warn)
		})
	}
	r := run(t, allow("apps", authzSel("app", "htpbin")), nil, authzBase()...)
	if !hasFinding(r.Warnings, "authorizationpolicy-selector-no-workload", "spec.selector.matchLabels", `"app=htpbin"`, "namespace apps") {
		t.Errorf("selector message should name labels and namespace: %v", r.Warnings)
	}
}

func TestAuthorizationPolicyAllowPitfalls(t *testing.T) {
	sel := authzSel("app", "httpbin")
	customRoot := authzMesh("rootNamespace: mesh-root\n" + authzMeshData)
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		objs []runtime.Object
		deny []string
		warn []string
	}{
		{"allow without rules", authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, sel), authzBase(), nil,
			authzLines("authorizationpolicy-allow-nothing spec.rules")},
		{"deny without rules: istiod refuses it", authzAP("apps", securityapi.AuthorizationPolicy_DENY, sel), authzBase(),
			authzLines("authorizationpolicy-istio-validation spec.rules"), nil},
		{"audit without rules", authzAP("apps", securityapi.AuthorizationPolicy_AUDIT, sel), authzBase(), nil, nil},
		{"allow with empty rule", authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, sel, authzToPaths("/x"), &securityapi.Rule{}), authzBase(), nil,
			authzLines("authorizationpolicy-allow-all spec.rules[1]")},
		{"allow with nil rule", authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, sel, nil), authzBase(),
			authzLines("authorizationpolicy-istio-validation spec.rules[0]"), authzLines("authorizationpolicy-allow-all spec.rules[0]")},
		{"deny with empty rule", authzAP("apps", securityapi.AuthorizationPolicy_DENY, sel, &securityapi.Rule{}), authzBase(), nil, nil},
		{"empty rule in root namespace", authzAP("istio-system", securityapi.AuthorizationPolicy_ALLOW, nil, &securityapi.Rule{}), authzBase(),
			authzLines("authorizationpolicy-allow-all-root spec.rules[0]"), nil},
		{"empty rule in configured root namespace", authzAP("mesh-root", securityapi.AuthorizationPolicy_ALLOW, nil, &securityapi.Rule{}),
			[]runtime.Object{customRoot}, authzLines("authorizationpolicy-allow-all-root spec.rules[0]"), nil},
		{"empty rule in root namespace with a selector: only the selected workloads", authzAP("istio-system", securityapi.AuthorizationPolicy_ALLOW,
			authzSel("istio", "ingressgateway"), &securityapi.Rule{}), append(authzBase(), authzPod("istio-system", "gw", "istio", "ingressgateway")),
			nil, authzLines("authorizationpolicy-allow-all spec.rules[0]")},
		{"empty rule in root namespace with targetRefs: only the referenced gateway", authzAPTargets("istio-system",
			&typeapi.PolicyTargetReference{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "ingress"}), authzBase(),
			nil, authzLines("authorizationpolicy-allow-all spec.rules[0]")},
		{"istio-system is not root when configured otherwise", authzAP("istio-system", securityapi.AuthorizationPolicy_ALLOW, nil, &securityapi.Rule{}),
			[]runtime.Object{customRoot}, nil, authzLines("authorizationpolicy-allow-all spec.rules[0]")},
		{"rules with conditions", authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, sel,
			&securityapi.Rule{When: []*securityapi.Condition{{Key: "request.headers[x]", Values: []string{"y"}}}}), authzBase(), nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authzAssert(t, run(t, tc.ap, nil, tc.objs...), "authorizationpolicy-", tc.deny, tc.warn)
		})
	}
}

// authzAPTargets is an ALLOW policy with one empty rule and targetRefs.
func authzAPTargets(ns string, refs ...*typeapi.PolicyTargetReference) *securityv1.AuthorizationPolicy {
	ap := authzAP(ns, securityapi.AuthorizationPolicy_ALLOW, nil, &securityapi.Rule{})
	ap.Spec.TargetRefs = refs
	return ap
}

func TestAuthorizationPolicyAllowAllRootOffFallsBack(t *testing.T) {
	ap := authzAP("istio-system", securityapi.AuthorizationPolicy_ALLOW, nil, &securityapi.Rule{})
	st, err := cluster.FromObjects(authzBase()...)
	if err != nil {
		t.Fatal(err)
	}
	r := authzRunState(t, ap, st, authzOff{"authorizationpolicy-allow-all-root": true})
	authzAssert(t, r, "authorizationpolicy-", nil, authzLines("authorizationpolicy-allow-all spec.rules[0]"))
}

// authzFailingState fails every read the AuthorizationPolicy,
// RequestAuthentication and v1beta1 checks make.
type authzFailingState struct{ cluster.State }

var errAuthzRead = errors.New("cache not synced")

func (authzFailingState) Mesh(context.Context) (*cluster.Mesh, error) { return nil, errAuthzRead }
func (authzFailingState) RequestAuthentications(context.Context, string) ([]*securityv1.RequestAuthentication, error) {
	return nil, errAuthzRead
}
func (authzFailingState) PodNamespaces(context.Context, string, map[string]string) ([]string, error) {
	return nil, errAuthzRead
}
func (authzFailingState) Namespace(context.Context, string) (*corev1.Namespace, error) {
	return nil, errAuthzRead
}
func (authzFailingState) Service(context.Context, string, string) (*corev1.Service, error) {
	return nil, errAuthzRead
}
func (authzFailingState) Gateway(context.Context, string, string) (*networkingv1.Gateway, error) {
	return nil, errAuthzRead
}
func (authzFailingState) APIRules(context.Context, string) ([]*apirule.APIRule, error) {
	return nil, errAuthzRead
}

// authzOff is a policy with some checks off, the rest at their defaults.
type authzOff map[string]bool

func (p authzOff) Action(c *core.Check) core.Action {
	if p[c.ID] {
		return core.Off
	}
	return c.Default
}
func (authzOff) NetworkAction() core.Action { return core.Warn }

func authzRunState(t *testing.T, typed any, st cluster.State, p core.Policy) *core.Report {
	t.Helper()
	r := core.NewReport(p)
	Validate(context.Background(), &core.Object{Namespace: "default", Name: "x", Operation: "CREATE", Typed: typed},
		&core.Env{Cluster: st, Trust: trust.Offline{}, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return testNow }}, r)
	return r
}

func TestAuthorizationPolicyClusterErrorsWarn(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	ap := authzCustom("oauth2-proxy")
	ap.Spec.Rules = []*securityapi.Rule{
		authzFrom(&securityapi.Source{RequestPrincipals: []string{"https://issuer.example.com/*"}, Namespaces: []string{"frontend"}}),
	}
	ap.Spec.TargetRef = &typeapi.PolicyTargetReference{Kind: "Service", Name: "httpbin"}
	allowAll := authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, nil, &securityapi.Rule{})
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		warn []string
	}{
		{"custom policy", ap, authzLines(
			"authorizationpolicy-custom-provider spec.provider.name",
			"authorizationpolicy-request-principal-issuer spec.rules[0].from[0].source.requestPrincipals[0]",
			"authorizationpolicy-selector-no-workload spec.selector.matchLabels",
			"authorizationpolicy-source-namespace-not-found spec.rules[0].from[0].source.namespaces[0]",
			"authorizationpolicy-target-not-found spec.targetRef.name",
		)},
		{"allow-all with unknown root", allowAll, authzLines(
			"authorizationpolicy-allow-all spec.rules[0]",
			"authorizationpolicy-allow-all-root spec.rules[0]",
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// istiod's table reads nothing; it would refuse this CUSTOM policy.
			r := authzRunState(t, tc.ap, authzFailingState{st}, authzOff{"authorizationpolicy-istio-validation": true})
			authzAssert(t, r, "authorizationpolicy-", nil, tc.warn)
			for _, w := range r.Warnings {
				if w.Check != "authorizationpolicy-allow-all" && !strings.Contains(w.Message, "this check did not run: cache not synced") {
					t.Errorf("warning does not say the check could not run: %v", w)
				}
			}
		})
	}
}

func TestAuthorizationPolicyChecksRegistered(t *testing.T) {
	want := map[string]core.Action{
		"authorizationpolicy-custom-provider":            core.Deny,
		"authorizationpolicy-request-principal-issuer":   core.Warn,
		"authorizationpolicy-principal-format":           core.Warn,
		"authorizationpolicy-selector-no-workload":       core.Warn,
		"authorizationpolicy-target-not-found":           core.Warn,
		"authorizationpolicy-source-namespace-not-found": core.Warn,
		"authorizationpolicy-allow-nothing":              core.Warn,
		"authorizationpolicy-allow-all":                  core.Warn,
		"authorizationpolicy-allow-all-root":             core.Deny,
		"requestauthentication-selector-no-workload":     core.Warn,
		"requestauthentication-header-name":              core.Deny,
		"authorizationpolicy-istio-validation":           core.Deny,
		"requestauthentication-istio-validation":         core.Deny,
	}
	for id, def := range want {
		c, ok := core.Lookup(id)
		if !ok {
			t.Errorf("%s not registered", id)
			continue
		}
		if c.Default != def || c.Description == "" || c.Network {
			t.Errorf("%s: default %s (want %s), description %q, network %v", id, c.Default, def, c.Description, c.Network)
		}
	}
}

func TestAuthorizationPolicyChecksOffSkipReads(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	ap := authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, authzSel("app", "httpbin"),
		authzFrom(&securityapi.Source{RequestPrincipals: []string{"https://issuer.example.com/*"}, Namespaces: []string{"frontend"}}))
	ap.Spec.TargetRef = &typeapi.PolicyTargetReference{Kind: "Service", Name: "httpbin"}
	off := authzOff{}
	for _, c := range core.ForKind(core.KindAuthorizationPolicy) {
		off[c.ID] = true
	}
	r := authzRunState(t, ap, authzFailingState{st}, off)
	authzAssert(t, r, "", nil, nil)
}
