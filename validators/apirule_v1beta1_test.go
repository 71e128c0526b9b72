package validators

import (
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
)

func v1bGateway(ns, name string, hosts ...string) *networkingv1.Gateway {
	return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingapi.Gateway{Servers: []*networkingapi.Server{{
			Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: hosts}}}}
}

// v1bStored is an APIRule as the cluster stores it: spec is v2 (hosts) or
// v1beta1 (host) depending on version.
func v1bStored(version, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apirule.Group + "/" + version, "kind": "APIRule",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     spec,
	}}
}

func v1bCluster(extra ...runtime.Object) []runtime.Object {
	return append([]runtime.Object{
		v1bGateway("kyma-system", "kyma-gateway", "*.local.kyma.dev"),
		v1bGateway("team", "team-gateway", "team/*.team.example.com"),
		authzService("apps", "httpbin", 8000, 9000),
		authzService("other", "backend", 9090),
		authzService("default", "echo", 80),
		v1bStored("v2", "team", "taken", map[string]any{"hosts": []any{"taken.local.kyma.dev"}, "gateway": "kyma-system/kyma-gateway"}),
		v1bStored("v2", "team", "short", map[string]any{"hosts": []any{"short"}, "gateway": "kyma-system/kyma-gateway"}),
		v1bStored("v2", "team", "team-short", map[string]any{"hosts": []any{"portal"}, "gateway": "team/team-gateway"}),
		v1bStored("v1beta1", "legacy", "old", map[string]any{"host": "legacy.local.kyma.dev", "gateway": "kyma-gateway.kyma-system.svc.cluster.local"}),
	}, extra...)
}

func v1bStr(s string) *string { return &s }
func v1bPort(p int64) *int64  { return &p }

func v1bSvc(name string, port int64) *apirule.Service {
	return &apirule.Service{Name: v1bStr(name), Port: v1bPort(port)}
}

func v1bSvcNs(name, ns string, port int64) *apirule.Service {
	s := v1bSvc(name, port)
	s.Namespace = v1bStr(ns)
	return s
}

// v1bRule is a valid v1beta1 APIRule in apps exposing httpbin; mod changes it.
func v1bRule(mod func(*apirule.V1beta1APIRule)) *apirule.V1beta1APIRule {
	ar := &apirule.V1beta1APIRule{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "httpbin"}}
	ar.APIVersion, ar.Kind = apirule.V1beta1.GroupVersion().String(), "APIRule"
	ar.Spec.Host = v1bStr("httpbin.local.kyma.dev")
	ar.Spec.Gateway = v1bStr("kyma-gateway.kyma-system.svc.cluster.local")
	ar.Spec.Service = v1bSvc("httpbin", 8000)
	ar.Spec.Rules = []apirule.V1beta1Rule{{Path: "/.*", Methods: []string{"GET"}, AccessStrategies: []*apirule.Handler{{Name: "no_auth"}}}}
	if mod != nil {
		mod(ar)
	}
	return ar
}

const v1bPrefix = "apirule-v1beta1-"

// v1bAssert compares findings of the v1beta1 checks other than the
// deprecation warning, which every v1beta1 object gets.
func v1bAssert(t *testing.T, r *Report, deny, warn []string) {
	t.Helper()
	var warnings []Finding
	for _, w := range r.Warnings {
		if w.Check != APIRuleV1beta1Deprecated.ID {
			warnings = append(warnings, w)
		}
	}
	authzAssert(t, &Report{Violations: r.Violations, Warnings: warnings}, v1bPrefix, deny, warn)
}

func TestAPIRuleV1beta1Gateway(t *testing.T) {
	const id = "apirule-v1beta1-gateway-not-found"
	gw := func(ns, ref string) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) {
			ar.Namespace = ns
			ar.Spec.Gateway = v1bStr(ref)
			ar.Spec.Service = v1bSvcNs("httpbin", "apps", 8000)
		})
	}
	cases := []struct {
		name string
		ar   *apirule.V1beta1APIRule
		deny []string
		frag string
	}{
		{"legacy form exists", gw("apps", "kyma-gateway.kyma-system.svc.cluster.local"), nil, ""},
		{"namespace/name exists", gw("apps", "kyma-system/kyma-gateway"), nil, ""},
		{"name.namespace exists", gw("apps", "kyma-gateway.kyma-system"), nil, ""},
		{"bare name in own namespace", gw("kyma-system", "kyma-gateway"), nil, ""},
		{"bare name elsewhere", gw("apps", "kyma-gateway"), authzLines(id + " spec.gateway"), "no Gateway apps/kyma-gateway"},
		{"missing namespace/name", gw("apps", "kyma-system/missing"), authzLines(id + " spec.gateway"), "no Gateway kyma-system/missing"},
		{"missing legacy form", gw("apps", "foo.kyma-system.svc.cluster.local"), authzLines(id + " spec.gateway"), "no Gateway kyma-system/foo"},
		{"unresolvable form", gw("apps", "a.b.c"), authzLines(id + " spec.gateway"), "not a gateway reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ar, nil, v1bCluster()...)
			v1bAssert(t, r, tc.deny, nil)
			if tc.frag != "" && !hasFinding(r.Violations, id, "spec.gateway", tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Violations)
			}
		})
	}
}

func TestAPIRuleV1beta1Service(t *testing.T) {
	const missing, port = "apirule-v1beta1-service-not-found", "apirule-v1beta1-service-port"
	withRules := func(spec *apirule.Service, ruleSvcs ...*apirule.Service) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) {
			ar.Spec.Service = spec
			ar.Spec.Rules = nil
			for _, s := range ruleSvcs {
				ar.Spec.Rules = append(ar.Spec.Rules, apirule.V1beta1Rule{Path: "/.*", Service: s, Methods: []string{"GET"},
					AccessStrategies: []*apirule.Handler{{Name: "allow"}}})
			}
		})
	}
	inDefault := v1bRule(func(ar *apirule.V1beta1APIRule) {
		ar.Namespace = ""
		ar.Spec.Service = v1bSvc("echo", 80)
	})
	cases := []struct {
		name string
		ar   *apirule.V1beta1APIRule
		deny []string
		frag string
	}{
		{"service and port exist", v1bRule(nil), nil, ""},
		{"second port", withRules(v1bSvc("httpbin", 9000), nil), nil, ""},
		{"service missing", withRules(v1bSvc("htpbin", 8000), nil), authzLines(missing + " spec.service.name"), "in namespace apps"},
		{"wrong port", withRules(v1bSvc("httpbin", 8080), nil), authzLines(port + " spec.service.port"), "8000 (http), 9000 (http)"},
		{"spec service in other namespace", withRules(v1bSvcNs("backend", "other", 9090), nil), nil, ""},
		{"spec service in wrong namespace", withRules(v1bSvcNs("httpbin", "other", 8000), nil), authzLines(missing + " spec.service.name"), "in namespace other"},
		{"rule service own namespace", withRules(v1bSvc("httpbin", 8000), v1bSvcNs("backend", "other", 9090)), nil, ""},
		{"rule service inherits spec namespace", withRules(v1bSvcNs("backend", "other", 9090), v1bSvc("backend", 9090)), nil, ""},
		{"rule service in object namespace", withRules(nil, v1bSvc("httpbin", 9000)), nil, ""},
		{"rule service missing", withRules(v1bSvc("httpbin", 8000), v1bSvc("web", 80)), authzLines(missing + " spec.rules[0].service.name"), "no Service web"},
		{"rule service wrong port", withRules(nil, v1bSvc("httpbin", 8000), v1bSvcNs("backend", "other", 80)), authzLines(port + " spec.rules[1].service.port"), "9090 (http)"},
		{"rule without any service", withRules(nil, v1bSvc("httpbin", 8000), nil), authzLines(missing + " spec.rules[1].service"), "set one of them"},
		{"empty namespace is default", inDefault, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ar, nil, v1bCluster()...)
			v1bAssert(t, r, tc.deny, nil)
			if tc.frag != "" {
				id, fld, _ := strings.Cut(tc.deny[0], " ")
				if !hasFinding(r.Violations, id, fld, tc.frag) {
					t.Errorf("no message with %q: %v", tc.frag, r.Violations)
				}
			}
		})
	}
}

func TestAPIRuleV1beta1HostOccupied(t *testing.T) {
	const id = "apirule-v1beta1-host-occupied"
	host := func(ns, name, h, gw string) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) {
			ar.Namespace, ar.Name = ns, name
			ar.Spec.Host = v1bStr(h)
			ar.Spec.Gateway = v1bStr(gw)
			ar.Spec.Service = v1bSvcNs("httpbin", "apps", 8000)
		})
	}
	const kyma = "kyma-gateway.kyma-system.svc.cluster.local"
	cases := []struct {
		name string
		ar   *apirule.V1beta1APIRule
		deny []string
		frag string
	}{
		{"free host", host("apps", "httpbin", "httpbin.local.kyma.dev", kyma), nil, ""},
		{"taken by v2 rule", host("apps", "httpbin", "taken.local.kyma.dev", kyma), authzLines(id + " spec.host"), "already exposed by APIRule team/taken"},
		{"case differs", host("apps", "httpbin", "Taken.local.kyma.dev", kyma), authzLines(id + " spec.host"), "team/taken"},
		{"short host expands to taken", host("apps", "httpbin", "taken", kyma), authzLines(id + " spec.host"), "team/taken"},
		{"other rule's short host", host("apps", "httpbin", "short.local.kyma.dev", kyma), authzLines(id + " spec.host"), "team/short"},
		{"short host on other gateway domain", host("apps", "httpbin", "portal.team.example.com", "team/team-gateway"), authzLines(id + " spec.host"), "team/team-short"},
		{"same short host, other domain", host("apps", "httpbin", "portal", kyma), nil, ""},
		{"taken by stored v1beta1 rule", host("apps", "httpbin", "legacy.local.kyma.dev", kyma), authzLines(id + " spec.host"), "legacy/old"},
		{"itself on update", host("team", "taken", "taken.local.kyma.dev", kyma), nil, ""},
		{"same name other namespace", host("apps", "taken", "taken.local.kyma.dev", kyma), authzLines(id + " spec.host"), "team/taken"},
		{"generated name", host("team", "", "taken.local.kyma.dev", kyma), authzLines(id + " spec.host"), "team/taken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ar, nil, v1bCluster()...)
			v1bAssert(t, r, tc.deny, nil)
			if tc.frag != "" && !hasFinding(r.Violations, id, "spec.host", tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Violations)
			}
		})
	}
}

func TestAPIRuleV1beta1KeepsDeprecation(t *testing.T) {
	r := run(t, v1bRule(nil), nil, v1bCluster()...)
	if !hasFinding(r.Warnings, APIRuleV1beta1Deprecated.ID, "apiVersion", "migrate to gateway.kyma-project.io/v2") {
		t.Fatalf("deprecation warning missing: %v", r.Warnings)
	}
	v1bAssert(t, r, nil, nil)
}

func TestAPIRuleV1beta1ClusterErrorsWarn(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	r := authzRunState(t, v1bRule(nil), authzFailingState{st}, DefaultPolicy)
	v1bAssert(t, r, nil, authzLines(
		"apirule-v1beta1-gateway-not-found spec.gateway",
		"apirule-v1beta1-host-occupied spec.host",
		"apirule-v1beta1-service-not-found spec.service.name",
	))
	for _, w := range r.Warnings {
		if w.Check != APIRuleV1beta1Deprecated.ID && !strings.Contains(w.Message, "check skipped: cache not synced") {
			t.Errorf("warning does not say the check could not run: %v", w)
		}
	}
}

func TestAPIRuleV1beta1ChecksOffSkipReads(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	off := authzOff{}
	for _, c := range ForKind(KindAPIRule) {
		if strings.HasPrefix(c.ID, v1bPrefix) && c.ID != APIRuleV1beta1Deprecated.ID {
			off[c.ID] = true
		}
	}
	r := authzRunState(t, v1bRule(nil), authzFailingState{st}, off)
	v1bAssert(t, r, nil, nil)
}
