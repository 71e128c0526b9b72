package validators

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
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
		v1bGateway("team", "team-gateway", "*.team.example.com"),
		v1bGateway("team", "team-only", "team/*.team-only.example.com"),
		v1bService("apps", "httpbin", 8000, 9000),
		arPod("apps", "httpbin-1", map[string]string{"app": "httpbin"}, true),
		arPod("other", "backend-1", map[string]string{"app": "backend"}, true),
		arPod("apps", "bare-1", map[string]string{"app": "bare"}, false),
		v1bService("apps", "bare", 80),
		v1bService("other", "backend", 9090),
		v1bService("default", "echo", 80),
		authzService("apps", "headless", 80),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "external"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "api.example.org", Ports: []corev1.ServicePort{{Port: 443}}}},
		arVirtualService("team-c", "foreign", nil, "vs.local.kyma.dev"),
		arVirtualService("apps", "httpbin-vs", map[string]string{LegacyOwnerLabel: "httpbin.apps"}, "owned.local.kyma.dev"),
		arVirtualService("team", "taken-vs", map[string]string{LegacyOwnerLabel: "taken.team"}, "taken.local.kyma.dev"),
		v1bOwnedVS("gone", "gone-vs", "gone", "gone.local.kyma.dev"),
		v1bStored("v2", "team", "taken", map[string]any{"hosts": []any{"taken.local.kyma.dev"}, "gateway": "kyma-system/kyma-gateway"}),
		v1bStored("v2", "team", "short", map[string]any{"hosts": []any{"short"}, "gateway": "kyma-system/kyma-gateway"}),
		v1bStored("v2", "team", "team-short", map[string]any{"hosts": []any{"portal"}, "gateway": "team/team-gateway"}),
		v1bStored("v1beta1", "legacy", "old", map[string]any{"host": "legacy.local.kyma.dev", "gateway": "kyma-gateway.kyma-system.svc.cluster.local"}),
	}, extra...)
}

// v1bService is a Service with a selector, so it gets no selector warning.
func v1bService(ns, name string, ports ...int32) *corev1.Service {
	s := authzService(ns, name, ports...)
	s.Spec.Selector = map[string]string{"app": name}
	return s
}

// v1bOwnedVS is a VirtualService with an owner reference to an APIRule.
func v1bOwnedVS(ns, name, owner string, hosts ...string) *networkingv1.VirtualService {
	vs := arVirtualService(ns, name, nil, hosts...)
	vs.OwnerReferences = []metav1.OwnerReference{{APIVersion: apirule.V2.GroupVersion().String(), Kind: "APIRule", Name: owner, UID: "u"}}
	return vs
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

const v1bPrefix = "apirule-"

// v1bAssert compares findings of the v1beta1 checks other than the
// deprecation warning, which every v1beta1 object gets.
func v1bAssert(t *testing.T, r *core.Report, deny, warn []string) {
	t.Helper()
	var warnings []core.Finding
	for _, w := range r.Warnings {
		if w.Check != APIRuleV1beta1Deprecated.ID {
			warnings = append(warnings, w)
		}
	}
	authzAssert(t, &core.Report{Violations: r.Violations, Warnings: warnings}, v1bPrefix, deny, warn)
}

func TestAPIRuleV1beta1Gateway(t *testing.T) {
	const id = "apirule-gateway"
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
		{"bare name elsewhere", gw("apps", "kyma-gateway"), authzLines(id + " spec.gateway"), "apps/kyma-gateway\": no such Istio Gateway"},
		{"missing namespace/name", gw("apps", "kyma-system/missing"), authzLines(id + " spec.gateway"), "kyma-system/missing\": no such Istio Gateway"},
		{"missing legacy form", gw("apps", "foo.kyma-system.svc.cluster.local"), authzLines(id + " spec.gateway"), "kyma-system/foo\": no such Istio Gateway"},
		{"unresolvable form", gw("apps", "a.b.c"), authzLines(id + " spec.gateway"), "not in namespace/name form"},
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
	const missing, port = "apirule-service", "apirule-service"
	withRules := func(spec *apirule.Service, ruleSvcs ...*apirule.Service) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) {
			ar.Spec.Service = spec
			ar.Spec.Rules = nil
			for _, s := range ruleSvcs {
				ar.Spec.Rules = append(ar.Spec.Rules, apirule.V1beta1Rule{Path: fmt.Sprintf("/r%d/.*", len(ar.Spec.Rules)), Service: s, Methods: []string{"GET"},
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
		{"wrong port", withRules(v1bSvc("httpbin", 8080), nil), authzLines(port + " spec.service.port"), "its ports: 8000, 9000"},
		{"spec service in other namespace", withRules(v1bSvcNs("backend", "other", 9090), nil), nil, ""},
		{"spec service in wrong namespace", withRules(v1bSvcNs("httpbin", "other", 8000), nil), authzLines(missing + " spec.service.name"), "in namespace other"},
		{"rule service own namespace", withRules(v1bSvc("httpbin", 8000), v1bSvcNs("backend", "other", 9090)), nil, ""},
		{"rule service inherits spec namespace", withRules(v1bSvcNs("backend", "other", 9090), v1bSvc("backend", 9090)), nil, ""},
		{"rule service in object namespace", withRules(nil, v1bSvc("httpbin", 9000)), nil, ""},
		{"rule service missing", withRules(v1bSvc("httpbin", 8000), v1bSvc("web", 80)), authzLines(missing + " spec.rules[0].service.name"), "\"web\": no such Service in namespace apps"},
		{"rule service wrong port", withRules(nil, v1bSvc("httpbin", 8000), v1bSvcNs("backend", "other", 80)), authzLines(port + " spec.rules[1].service.port"), "its ports: 9090"},
		{"rule without any service", withRules(nil, v1bSvc("httpbin", 8000), nil), authzLines(missing + " spec.rules[1].service"), "no service for this rule"},
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
	const id = "apirule-host-taken"
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
		{"taken by a foreign VirtualService", host("apps", "httpbin", "vs.local.kyma.dev", kyma), authzLines(id + " spec.host"), "already exposed by VirtualService team-c/foreign:"},
		{"short host expands to a VirtualService's host", host("apps", "httpbin", "vs", kyma), authzLines(id + " spec.host"), "VirtualService team-c/foreign"},
		{"our own VirtualService", host("apps", "httpbin", "owned.local.kyma.dev", kyma), nil, ""},
		{"another APIRule's VirtualService", host("apps", "other", "owned.local.kyma.dev", kyma), authzLines(id + " spec.host"), "APIRule apps/httpbin (VirtualService apps/httpbin-vs)"},
		{"APIRule and its VirtualService reported once", host("apps", "httpbin", "taken.local.kyma.dev", kyma), authzLines(id + " spec.host"), "already exposed by APIRule team/taken:"},
		{"VirtualService owned by reference", host("apps", "httpbin", "gone.local.kyma.dev", kyma), authzLines(id + " spec.host"), "APIRule gone/gone (VirtualService gone/gone-vs)"},
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

// v1bFailingState also fails to list VirtualServices.
type v1bFailingState struct{ authzFailingState }

func (v1bFailingState) VirtualServices(context.Context, string) ([]*networkingv1.VirtualService, error) {
	return nil, errAuthzRead
}

func TestAPIRuleV1beta1ClusterErrorsWarn(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	r := authzRunState(t, v1bRule(nil), v1bFailingState{authzFailingState{st}}, core.DefaultPolicy)
	v1bAssert(t, r, nil, authzLines(
		"apirule-gateway spec.gateway",
		"apirule-host-taken spec.host",
		"apirule-host-taken spec.host",
		"apirule-service spec.service.name",
	))
	for _, w := range r.Warnings {
		if w.Check != APIRuleV1beta1Deprecated.ID && !strings.Contains(w.Message, "this check did not run: cache not synced") {
			t.Errorf("warning does not say the check could not run: %v", w)
		}
	}
	if len(r.Violations) != 0 {
		t.Errorf("unknown answers must not deny: %v", r.Violations)
	}
}

// v1bNoReads fails the test on any cluster read a v1beta1 check makes.
type v1bNoReads struct {
	cluster.State
	t *testing.T
}

func (s v1bNoReads) Gateway(_ context.Context, ns, name string) (*networkingv1.Gateway, error) {
	s.t.Errorf("read Gateway %s/%s", ns, name)
	return nil, errAuthzRead
}
func (s v1bNoReads) Service(_ context.Context, ns, name string) (*corev1.Service, error) {
	s.t.Errorf("read Service %s/%s", ns, name)
	return nil, errAuthzRead
}
func (s v1bNoReads) APIRules(context.Context, string) ([]*apirule.APIRule, error) {
	s.t.Error("listed APIRules")
	return nil, errAuthzRead
}
func (s v1bNoReads) VirtualServices(context.Context, string) ([]*networkingv1.VirtualService, error) {
	s.t.Error("listed VirtualServices")
	return nil, errAuthzRead
}

func TestAPIRuleV1beta1ChecksOffSkipReads(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	// Every check of what a v1beta1 APIRule references.
	off := authzOff{APIRuleGateway.ID: true, APIRuleHostGateway.ID: true, APIRuleHostTaken.ID: true,
		APIRuleService.ID: true, APIRuleServiceSelector.ID: true, APIRuleSidecar.ID: true}
	ar := v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Host = v1bStr("httpbin") })
	r := authzRunState(t, ar, v1bNoReads{st, t}, off)
	if got := summary(append(append([]core.Finding{}, r.Violations...), r.Warnings...)); !reflect.DeepEqual(got, []string{"apirule-v1beta1-deprecated apiVersion"}) {
		t.Errorf("findings = %q, want only the deprecation", got)
	}
}

// v1bCase is one v1beta1 object and the findings of the checks under test.
type v1bCase struct {
	name       string
	ar         *apirule.V1beta1APIRule
	deny, warn []string
	frag       string // in the message of the first deny, else the first warn
}

// v1bRunCases runs each case against objs (v1bCluster when nil) and compares
// the findings of the checks whose "check field" lines start with prefix.
func v1bRunCases(t *testing.T, prefix string, cases []v1bCase, objs ...runtime.Object) {
	t.Helper()
	if objs == nil {
		objs = v1bCluster()
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ar, nil, objs...)
			authzAssert(t, r, prefix, tc.deny, tc.warn)
			fs, lines := r.Violations, tc.deny
			if len(lines) == 0 {
				fs, lines = r.Warnings, tc.warn
			}
			if tc.frag == "" {
				return
			}
			id, fld, _ := strings.Cut(lines[0], " ")
			if !hasFinding(fs, id, fld, tc.frag) {
				t.Errorf("no %s message at %s with %q: %v", id, fld, tc.frag, fs)
			}
		})
	}
}

// v1bHost is the valid v1beta1 APIRule with another host (nil: none) and gateway.
func v1bHost(host *string, gateway string) *apirule.V1beta1APIRule {
	return v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Host, ar.Spec.Gateway = host, v1bStr(gateway) })
}

func TestAPIRuleV1beta1HostGateway(t *testing.T) {
	const id = "apirule-host-gateway"
	const kyma, team = "kyma-gateway.kyma-system.svc.cluster.local", "team/team-gateway"
	deny := authzLines(id + " spec.host")
	v1bRunCases(t, id+" ", []v1bCase{
		{"fqdn under the gateway wildcard", v1bHost(v1bStr("httpbin.local.kyma.dev"), kyma), nil, nil, ""},
		{"fqdn two levels under the wildcard", v1bHost(v1bStr("a.b.local.kyma.dev"), kyma), nil, nil, ""},
		{"fqdn not served", v1bHost(v1bStr("httpbin.example.org"), kyma), deny, nil, "gateway kyma-system/kyma-gateway does not serve this host (it serves *.local.kyma.dev)"},
		{"fqdn on another gateway", v1bHost(v1bStr("portal.team.example.com"), team), nil, nil, ""},
		{"fqdn on a server host of another namespace", v1bHost(v1bStr("portal.team-only.example.com"), "team-only.team.svc.cluster.local"), deny, nil,
			"serves this host only to VirtualServices of other namespaces"},
		{"fqdn of another gateway", v1bHost(v1bStr("portal.team.example.com"), kyma), deny, nil, "does not serve this host"},
		{"short host under the kyma-gateway domain", v1bHost(v1bStr("httpbin"), kyma), nil, nil, ""},
		{"short host on another gateway takes the kyma-gateway domain", v1bHost(v1bStr("httpbin"), team), deny, nil, "gateway team/team-gateway does not serve httpbin.local.kyma.dev (it serves *.team.example.com)"},
		{"no host", v1bHost(nil, kyma), authzLines(id + " spec.host"), nil, "Required value"},
		{"gateway not found: left to apirule-v1beta1-gateway-not-found", v1bHost(v1bStr("httpbin.example.org"), "kyma-system/missing"), nil, nil, ""},
	})
	noKyma := []runtime.Object{v1bGateway("team", "team-gateway", "*.team.example.com"), v1bService("apps", "httpbin", 8000)}
	v1bRunCases(t, id+" ", []v1bCase{
		{"short host without kyma-gateway", v1bHost(v1bStr("httpbin"), team), deny, nil, "takes its domain from gateway kyma-system/kyma-gateway, which does not exist"},
		{"fqdn without kyma-gateway", v1bHost(v1bStr("httpbin.team.example.com"), team), nil, nil, ""},
	}, noKyma...)
	multi := []runtime.Object{arGateway("kyma-system", "kyma-gateway", []string{"*.local.kyma.dev"}, []string{"*.other.dev"}), v1bService("apps", "httpbin", 8000)}
	v1bRunCases(t, id+" ", []v1bCase{
		{"short host, kyma-gateway without one *.domain", v1bHost(v1bStr("httpbin"), kyma), deny, nil, "serves both *.local.kyma.dev and *.other.dev"},
		{"fqdn on a gateway of two domains", v1bHost(v1bStr("httpbin.other.dev"), kyma), nil, nil, ""},
	}, multi...)
}

// v1bJWTConfig is a valid Istio-form jwt handler config.
const v1bJWTConfig = `{"authentications":[{"issuer":"https://idp.example.com","jwksUri":"https://idp.example.com/keys"}]}`

// jwtRule gives every rule of ar the jwt access strategy.
func jwtRule(ar *apirule.V1beta1APIRule) *apirule.V1beta1APIRule {
	for i := range ar.Spec.Rules {
		ar.Spec.Rules[i].AccessStrategies = []*apirule.Handler{v1bHandler("jwt", v1bJWTConfig)}
	}
	return ar
}

func TestAPIRuleV1beta1ServiceSelector(t *testing.T) {
	const id = "apirule-service-selector"
	withRuleService := func(svc *apirule.Service) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Rules[0].Service = svc })
	}
	v1bRunCases(t, id+" ", []v1bCase{
		{"service with a selector", v1bRule(nil), nil, nil, ""},
		{"spec service without a selector, jwt rule", jwtRule(v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Service = v1bSvc("headless", 80) })),
			authzLines(id + " spec.service.name"), nil, "service apps/headless has no selector"},
		{"rule service without a selector, jwt rule", jwtRule(withRuleService(v1bSvc("headless", 80))), authzLines(id + " spec.rules[0].service.name"), nil, "Target service label selectors are not defined"},
		{"ExternalName service, jwt rule", jwtRule(withRuleService(v1bSvc("external", 443))), authzLines(id + " spec.rules[0].service.name"), nil, "(ExternalName)"},
		// Kyma's v1beta1 validator checks the selector for jwt access strategies only.
		{"service without a selector, no_auth rule", v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Service = v1bSvc("headless", 80) }), nil, nil, ""},
		{"missing service: apirule-v1beta1-service-not-found only", withRuleService(v1bSvc("nope", 80)), nil, nil, ""},
	})
}

// v1bJWT is a v1beta1 APIRule with one rule whose access strategies are hs.
func v1bJWT(hs ...*apirule.Handler) *apirule.V1beta1APIRule {
	return v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Rules[0].AccessStrategies = hs })
}

// v1bHandler is a handler with a JSON config ("" for none).
func v1bHandler(name, config string) *apirule.Handler {
	h := &apirule.Handler{Name: name}
	if config != "" {
		h.Config = &runtime.RawExtension{Raw: []byte(config)}
	}
	return h
}

func TestAPIRuleV1beta1JWT(t *testing.T) {
	const id = "apirule-jwt"
	const cp = id + " spec.rules[0].accessStrategies[0].config"
	const auth = `{"issuer":"https://idp.example.com","jwksUri":"https://idp.example.com/keys"}`
	jwt := func(config string) *apirule.V1beta1APIRule { return v1bJWT(v1bHandler("jwt", config)) }
	v1bRunCases(t, id+" ", []v1bCase{
		{"ory form", jwt(`{"trusted_issuers":["https://idp.example.com"],"jwks_urls":["https://idp.example.com/keys"],"required_scope":["read"]}`), nil, nil, ""},
		{"istio form", jwt(`{"authentications":[` + auth + `],"authorizations":[{"requiredScopes":["read"]}]}`), nil, nil, ""},
		{"no config: Oathkeeper's defaults", jwt(""), nil, nil, ""},
		{"istio form without authentications", jwt(`{"authentications":[]}`), authzLines(cp + ".authentications"), nil, "at least one authentication"},
		{"istio authorizations only", jwt(`{"authorizations":[{"audiences":["a"]}]}`), authzLines(cp + ".authentications"), nil, ""},
		{"istio authentication without issuer", jwt(`{"authentications":[{"jwksUri":"https://idp.example.com/keys"}]}`), authzLines(cp + ".authentications[0].issuer"), nil, ""},
		{"istio empty scope and audience", jwt(`{"authentications":[` + auth + `],"authorizations":[{"requiredScopes":["read",""],"audiences":[" "]},{}]}`),
			authzLines(cp+".authorizations[0].audiences[0]", cp+".authorizations[0].requiredScopes[1]"), authzLines(cp + ".authorizations[1]"), "empty audience"},
		{"istio empty requiredScopes list", jwt(`{"authentications":[` + auth + `],"authorizations":[{"requiredScopes":[],"audiences":["a"]}]}`),
			authzLines(cp + ".authorizations[0].requiredScopes"), nil, "requiredScopes is present but empty"},
		{"ory empty entries", jwt(`{"trusted_issuers":[""],"jwks_urls":["https://idp.example.com/keys"," "],"required_scope":["read",""],"target_audience":[""]}`),
			authzLines(cp+".jwks_urls[1]", cp+".required_scope[1]", cp+".target_audience[0]", cp+".trusted_issuers[0]"), nil, "empty JWKS URL"},
		{"both forms", jwt(`{"jwks_urls":["https://idp.example.com/keys"],"authentications":[` + auth + `]}`), authzLines(cp), nil, "mixes the Ory form"},
		{"not a jwt config", jwt(`{"trusted_issuers":"https://idp.example.com"}`), authzLines(cp), nil, "not a jwt config"},
		{"second handler of the rule", v1bJWT(v1bHandler("noop", ""), v1bHandler("jwt", `{"authentications":[]}`)),
			authzLines(id + " spec.rules[0].accessStrategies[1].config.authentications"), nil, ""},
		{"other handlers' config is not a jwt config", v1bJWT(v1bHandler("oauth2_introspection", `{"required_scope":[""]}`)), nil, nil, ""},
	})
}

// TestAPIRuleV1beta1HandlerMapping checks the v2 equivalents the deprecation
// warning names (v2Equivalent), and the handlers it says have none.
func TestAPIRuleV1beta1HandlerMapping(t *testing.T) {
	const id = "apirule-v1beta1-deprecated"
	rules := func(handlers ...[]string) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) {
			ar.Spec.Rules = nil
			for i, hs := range handlers {
				rule := apirule.V1beta1Rule{Path: "/r" + string(rune('a'+i)), Methods: []string{"GET"}}
				for _, h := range hs {
					rule.AccessStrategies = append(rule.AccessStrategies, &apirule.Handler{Name: h})
				}
				ar.Spec.Rules = append(ar.Spec.Rules, rule)
			}
		})
	}
	none := func(at string) string { return id + " spec.rules" + at + ".handler" }
	cases := []struct {
		name     string
		ar       *apirule.V1beta1APIRule
		mapped   string   // the list in the deprecation warning, after "as namespace/name"
		noV2     []string // the "no v2 equivalent" warnings, as "check field"
		noV2Frag string
	}{
		{"allow is noAuth", rules([]string{"allow"}), ", allow → noAuth: true", nil, ""},
		{"noop is noAuth", rules([]string{"noop"}), ", noop → noAuth: true", nil, ""},
		{"no_auth is noAuth", rules([]string{"no_auth"}), ", no_auth → noAuth: true", nil, ""},
		{"jwt is jwt", rules([]string{"jwt"}), ", jwt → jwt", nil, ""},
		{"oauth2_introspection is extAuth", rules([]string{"oauth2_introspection"}), ", oauth2_introspection → extAuth", nil, ""},
		{"oauth2_client_credentials has none", rules([]string{"oauth2_client_credentials"}), "", authzLines(none("[0].accessStrategies[0]")), `access strategy "oauth2_client_credentials" has no v2 equivalent`},
		{"cookie_session has none", rules([]string{"cookie_session"}), "", authzLines(none("[0].accessStrategies[0]")), `"cookie_session" has no v2 equivalent`},
		{"anonymous has none", rules([]string{"anonymous"}), "", authzLines(none("[0].accessStrategies[0]")), `"anonymous" has no v2 equivalent`},
		{"unauthorized has none", rules([]string{"unauthorized"}), "", authzLines(none("[0].accessStrategies[0]")), `"unauthorized" has no v2 equivalent`},
		{"unknown handler has none", rules([]string{"magic"}), "", authzLines(none("[0].accessStrategies[0]")), `"magic" has no v2 equivalent`},
		{"mixed, each named once, at its first use", rules([]string{"allow"}, []string{"noop", "cookie_session"}, []string{"cookie_session", "oauth2_introspection"}),
			", allow → noAuth: true, noop → noAuth: true, oauth2_introspection → extAuth", authzLines(none("[1].accessStrategies[1]")), "use jwt or extAuth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.ar, nil, v1bCluster()...)
			want := append(authzLines(id+" apiVersion"), tc.noV2...)
			authzAssert(t, r, id+" ", nil, want)
			if !hasFinding(r.Warnings, id, "apiVersion", "spec.gateway as namespace/name"+tc.mapped+")") {
				t.Errorf("deprecation warning does not end in %q: %v", tc.mapped+")", r.Warnings)
			}
			if tc.noV2Frag != "" {
				_, fld, _ := strings.Cut(tc.noV2[0], " ")
				if !hasFinding(r.Warnings, id, fld, tc.noV2Frag) {
					t.Errorf("no warning at %s with %q: %v", fld, tc.noV2Frag, r.Warnings)
				}
			}
		})
	}
}
