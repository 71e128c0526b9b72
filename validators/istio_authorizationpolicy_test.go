package validators

import (
	"strings"
	"testing"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/cluster"
)

func TestAuthorizationPolicyIstioValidation(t *testing.T) {
	const id = "authorizationpolicy-istio-validation"
	sel := authzSel("app", "httpbin")
	r0 := "spec.rules[0]"
	src0 := r0 + ".from[0].source"
	op0 := r0 + ".to[0].operation"
	allow := func(rules ...*securityapi.Rule) *securityv1.AuthorizationPolicy {
		return authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, sel, rules...)
	}
	deny := func(rules ...*securityapi.Rule) *securityv1.AuthorizationPolicy {
		return authzAP("apps", securityapi.AuthorizationPolicy_DENY, sel, rules...)
	}
	custom := func(rules ...*securityapi.Rule) *securityv1.AuthorizationPolicy {
		ap := authzCustom("oauth2-proxy")
		ap.Spec.Rules = rules
		return ap
	}
	op := func(o *securityapi.Operation) *securityapi.Rule {
		return &securityapi.Rule{To: []*securityapi.Rule_To{{Operation: o}}}
	}
	when := func(key string, values, notValues []string) *securityapi.Rule {
		return &securityapi.Rule{When: []*securityapi.Condition{{Key: key, Values: values, NotValues: notValues}}}
	}
	annotated := func(ap *securityv1.AuthorizationPolicy, k, v string) *securityv1.AuthorizationPolicy {
		ap.Annotations = map[string]string{k: v}
		return ap
	}
	targets := func(ap *securityv1.AuthorizationPolicy, refs ...*typeapi.PolicyTargetReference) *securityv1.AuthorizationPolicy {
		ap.Spec.TargetRefs = refs
		return ap
	}
	svc := &typeapi.PolicyTargetReference{Kind: "Service", Name: "httpbin"}
	cases := []struct {
		name string
		ap   *securityv1.AuthorizationPolicy
		deny []string
		warn []string
		frag string
	}{
		{name: "valid ALLOW", ap: allow(authzToPaths("/headers", "/api/{*}/items/{**}"), authzFrom(&securityapi.Source{
			Principals: []string{"cluster.local/ns/a/sa/b"}, IpBlocks: []string{"10.0.0.0/8", "192.168.1.1"}, TrustDomains: []string{"*.local"}}),
			when("request.headers[x-user]", []string{"alice"}, nil), when("destination.port", []string{"8080"}, nil))},
		{name: "valid CUSTOM", ap: custom(authzToPaths("/admin/*"), &securityapi.Rule{})},
		{name: "valid DENY with ports", ap: deny(&securityapi.Rule{From: []*securityapi.Rule_From{{Source: &securityapi.Source{Namespaces: []string{"x"}}}},
			To: []*securityapi.Rule_To{{Operation: &securityapi.Operation{Ports: []string{"8080"}, Paths: []string{"/admin"}}}}})},
		{name: "dry-run on ALLOW", ap: annotated(allow(authzToPaths("/x")), "istio.io/dry-run", "true")},

		{name: "CUSTOM without rules", ap: custom(), deny: []string{id + " spec.rules"}, frag: "empty rule {}"},
		{name: "CUSTOM with principals", ap: custom(authzFrom(&securityapi.Source{Principals: []string{"cluster.local/ns/a/sa/b"}})),
			deny: []string{id + " " + src0 + ".principals"}, frag: "with action CUSTOM"},
		{name: "CUSTOM with request.auth claims", ap: custom(when("request.auth.claims[iss]", []string{"x"}, nil)),
			deny: []string{id + " " + r0 + ".when[0].key"}},
		{name: "DENY without rules", ap: deny(), deny: []string{id + " spec.rules"}},
		{name: "provider on ALLOW", ap: func() *securityv1.AuthorizationPolicy {
			ap := authzCustom("oauth2-proxy")
			ap.Spec.Action = securityapi.AuthorizationPolicy_ALLOW
			return ap
		}(), deny: []string{id + " spec.provider"}},
		{name: "empty source", ap: allow(authzFrom(&securityapi.Source{})), deny: []string{id + " " + src0}},
		{name: "from without source", ap: allow(&securityapi.Rule{From: []*securityapi.Rule_From{{}}}), deny: []string{id + " " + r0 + ".from[0].source"}},
		{name: "empty operation", ap: allow(op(&securityapi.Operation{})), deny: []string{id + " " + op0}},
		{name: "to without operation", ap: allow(&securityapi.Rule{To: []*securityapi.Rule_To{{}}}), deny: []string{id + " " + r0 + ".to[0].operation"}},
		{name: "bad CIDR", ap: deny(authzFrom(&securityapi.Source{IpBlocks: []string{"10.0.0.0/33"}})), deny: []string{id + " " + src0 + ".ipBlocks[0]"}, frag: "not a CIDR range"},
		{name: "bad IP", ap: allow(authzFrom(&securityapi.Source{RemoteIpBlocks: []string{"10.0.0.256"}})), deny: []string{id + " " + src0 + ".remoteIpBlocks[0]"}},
		{name: "empty values", ap: allow(authzFrom(&securityapi.Source{Namespaces: []string{"a", ""}, Principals: []string{""}})),
			deny: []string{id + " " + src0 + ".namespaces[1]", id + " " + src0 + ".principals[0]"}},
		{name: "serviceAccounts with namespaces", ap: allow(authzFrom(&securityapi.Source{Namespaces: []string{"a"}, ServiceAccounts: []string{"a/b"}})),
			deny: []string{id + " " + src0 + ".serviceAccounts"}},
		{name: "bad service accounts", ap: allow(authzFrom(&securityapi.Source{ServiceAccounts: []string{"a/b/c", "x*", "/b", "ok"}})),
			deny: []string{id + " " + src0 + ".serviceAccounts[0]", id + " " + src0 + ".serviceAccounts[1]", id + " " + src0 + ".serviceAccounts[2]"}},
		{name: "bad trust domains", ap: allow(authzFrom(&securityapi.Source{TrustDomains: []string{"a*b", "x/y", "**"}})),
			deny: []string{id + " " + src0 + ".trustDomains[0]", id + " " + src0 + ".trustDomains[1]", id + " " + src0 + ".trustDomains[2]"}},
		{name: "bad ports", ap: allow(op(&securityapi.Operation{Ports: []string{"http", "70000"}, NotPorts: []string{"80"}})),
			deny: []string{id + " " + op0 + ".ports[0]", id + " " + op0 + ".ports[1]"}},
		{name: "bad path templates", ap: allow(op(&securityapi.Operation{Paths: []string{"/{**}/x/{*}", "/a{*}", "/x/{*}/a b"}})),
			deny: []string{id + " " + op0 + ".paths[0]", id + " " + op0 + ".paths[1]", id + " " + op0 + ".paths[2]"}},
		{name: "unknown when key", ap: allow(when("request.foo", []string{"bar"}, nil)), deny: []string{id + " " + r0 + ".when[0].key"}, frag: "does not know this attribute"},
		{name: "when map key without entry", ap: allow(when("request.headers[]", []string{"bar"}, nil)), deny: []string{id + " " + r0 + ".when[0].key"}},
		{name: "nil when entry", ap: allow(&securityapi.Rule{When: []*securityapi.Condition{nil}}), deny: []string{id + " " + r0 + ".when[0]"}},
		{name: "when without values", ap: allow(when("source.ip", nil, nil)), deny: []string{id + " " + r0 + ".when[0].values"}},
		{name: "when values checked by key", ap: allow(when("source.ip", []string{"10.0.0.1"}, []string{"x"})), deny: []string{id + " " + r0 + ".when[0].notValues[0]"}},
		{name: "replaced attribute", ap: allow(when("destination.labels[app]", []string{"x"}, nil)), deny: []string{id + " " + r0 + ".when[0].key"}, frag: "spec.selector"},
		{name: "DENY on HTTP attributes only", ap: deny(authzToPaths("/admin")), warn: []string{id + " " + r0}, frag: "TCP ports"},
		{name: "selector and targetRefs", ap: targets(allow(authzToPaths("/x")), svc), deny: []string{id + " spec.targetRefs"}},
		{name: "targetRef fields", ap: targets(authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, nil, authzToPaths("/x")),
			&typeapi.PolicyTargetReference{Kind: "Deployment", Namespace: "other"}),
			deny: []string{id + " spec.targetRefs[0].kind", id + " spec.targetRefs[0].name", id + " spec.targetRefs[0].namespace"}},
		{name: "Gateway API targetRef", ap: targets(authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, nil, authzToPaths("/x")),
			&typeapi.PolicyTargetReference{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "ingress"})},
		{name: "selector without labels", ap: authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, &typeapi.WorkloadSelector{}, authzToPaths("/x")),
			warn: []string{id + " spec.selector.matchLabels"}},
		{name: "wildcard selector", ap: authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, authzSel("app", "http*"), authzToPaths("/x")),
			deny: []string{id + " spec.selector.matchLabels[app]"}},
		{name: "dry-run on CUSTOM", ap: annotated(custom(authzToPaths("/x")), "istio.io/dry-run", "true"),
			deny: []string{id + " metadata.annotations[istio.io/dry-run]"}, frag: "only with action ALLOW or DENY"},
		{name: "dry-run not a boolean", ap: annotated(allow(authzToPaths("/x")), "istio.io/dry-run", "yes please"),
			deny: []string{id + " metadata.annotations[istio.io/dry-run]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ap, nil, authzBase()...)
			if got := istioOnly(r.Violations, id); !gwEqualLines(got, tc.deny) {
				t.Errorf("violations %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if got := istioOnly(r.Warnings, id); !gwEqualLines(got, tc.warn) {
				t.Errorf("warnings %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			found := tc.frag == ""
			for _, f := range append(r.Violations, r.Warnings...) {
				if f.Check != id {
					continue
				}
				found = found || strings.Contains(f.Message, tc.frag)
				if !strings.Contains(f.Message, "istiod") && !strings.HasPrefix(f.Message, "Duplicate") {
					t.Errorf("message does not say it is istiod's rule: %s", f)
				}
			}
			if !found {
				t.Errorf("no %s finding says %q", id, tc.frag)
			}
		})
	}
}

// The provider name and empty principals each get one finding: the
// provider check owns the former, istiod's table the latter.
func TestAuthorizationPolicyIstioValidationCoverage(t *testing.T) {
	r := run(t, authzCustom(""), nil, authzBase()...)
	if got := summary(r.Violations); !gwEqualLines(got, []string{"authorizationpolicy-custom-provider spec.provider.name"}) {
		t.Errorf("empty provider: %q", got)
	}
	off := authzRunState(t, authzCustom(""), mustState(t, authzBase()...), authzOff{"authorizationpolicy-custom-provider": true})
	if !hasFinding(off.Violations, "authorizationpolicy-istio-validation", "spec.provider.name", "istiod") {
		t.Errorf("with the provider check off, istiod's rule does not report: %v", off.Violations)
	}
	ap := authzAP("apps", securityapi.AuthorizationPolicy_ALLOW, authzSel("app", "httpbin"), authzFrom(&securityapi.Source{Principals: []string{""}}))
	r = run(t, ap, nil, authzBase()...)
	if got := summary(append(r.Violations, r.Warnings...)); !gwEqualLines(got, []string{"authorizationpolicy-istio-validation spec.rules[0].from[0].source.principals[0]"}) {
		t.Errorf("empty principal: %q", got)
	}
}

func mustState(t *testing.T, objs ...runtime.Object) cluster.State {
	t.Helper()
	st, err := cluster.FromObjects(objs...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
