package validators

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

func arPtr[T any](v T) *T { return &v }

func arGateway(ns, name string, hosts ...[]string) *networkingv1.Gateway {
	gw := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingapi.Gateway{Selector: map[string]string{"istio": "ingressgateway"}}}
	for i, h := range hosts {
		gw.Spec.Servers = append(gw.Spec.Servers, &networkingapi.Server{
			Port: &networkingapi.Port{Number: uint32(443 + i), Name: "p" + string(rune('a'+i)), Protocol: "HTTPS"}, Hosts: h})
	}
	return gw
}

func arService(ns, name string, selector map[string]string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: selector}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p})
	}
	return s
}

func arStored(ns, name string, hosts ...any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"hosts": hosts, "gateway": "kyma-system/kyma-gateway",
			"rules": []any{map[string]any{"path": "/*", "methods": []any{"GET"}, "noAuth": true}}},
	}}
}

func arVirtualService(ns, name string, labels map[string]string, hosts ...string) *networkingv1.VirtualService {
	return &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: networkingapi.VirtualService{Hosts: hosts, Gateways: []string{"kyma-system/kyma-gateway"}}}
}

// arPod is a pod's metadata; injected pods carry the annotation istio's
// sidecar injector writes.
func arPod(ns, name string, labels map[string]string, injected bool) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	if injected {
		pod.Annotations = map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`}
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "proxyv2"})
	}
	return pod
}

// arExternalGateway is a Kyma ExternalGateway.
func arExternalGateway(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{"externalDomain": "partner.example.com"}}}
	u.SetGroupVersionKind(cluster.KymaExternalGateway)
	return u
}

func arMesh(data string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"}, Data: map[string]string{"mesh": data}}
}

// arCluster is the cluster every APIRule case runs against.
func arCluster() []runtime.Object {
	return []runtime.Object{
		arGateway("kyma-system", "kyma-gateway", []string{"*.example.com"}, []string{"*.example.com"}),
		arGateway("default", "multi", []string{"a.example.com"}, []string{"ns1/b.example.org"}),
		arGateway("default", "any", []string{"*"}),
		arGateway("default", "scoped", []string{"*/c.example.net", "./d.example.net"}),
		arGateway("default", "star-scoped", []string{"*/*.example.com"}),
		arService("default", "httpbin", map[string]string{"app": "httpbin"}, 8000, 9000),
		arService("default", "headless", nil, 80),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "external"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "api.example.org"}},
		arService("other", "orders", map[string]string{"app": "orders"}, 8080),
		arPod("default", "httpbin-1", map[string]string{"app": "httpbin", "pod-template-hash": "1"}, true),
		arPod("other", "orders-1", map[string]string{"app": "orders"}, true),
		arExternalGateway("kyma-system", "ext"),
		// The object itself, as stored before an update: not a conflict.
		arStored("default", "x", "httpbin"),
		arStored("team-b", "taken", "taken"),
		arVirtualService("team-b", "taken-vs", map[string]string{LegacyOwnerLabel: "taken.team-b"}, "taken.example.com"),
		arVirtualService("team-c", "legacy", nil, "legacy.example.com"),
		arVirtualService("default", "x-vs", map[string]string{LegacyOwnerLabel: "x.default"}, "owned.example.com"),
		// Kyma 3.5 and later: the name/namespace pair, no ownerReference.
		arVirtualService("default", "x-vs-2", map[string]string{OwnerLabelName: "x", OwnerLabelNamespace: "default"}, "owned2.example.com"),
		arVirtualService("team-b", "taken-vs-2", map[string]string{OwnerLabelName: "taken", OwnerLabelNamespace: "team-b"}, "taken2.example.com"),
		arMesh("extensionProviders:\n- name: oauth2-proxy\n  envoyExtAuthzHttp: {service: oauth2-proxy.x.svc.cluster.local, port: 80}\n- name: opa-grpc\n  envoyExtAuthzGrpc: {service: opa.x.svc.cluster.local, port: 9191}\n- name: otel\n  opentelemetry: {port: 4317}\n"),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "locked", Labels: map[string]string{"gatewarden.io/require-auth": "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
	}
}

// goodAPIRule passes every check against arCluster.
func goodAPIRule() *apirule.APIRule {
	return &apirule.APIRule{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"},
		Spec: apirule.Spec{
			Hosts:   []string{"httpbin"},
			Gateway: arPtr("kyma-system/kyma-gateway"),
			Service: &apirule.Service{Name: arPtr("httpbin"), Port: arPtr(int64(8000))},
			Rules:   []apirule.Rule{{Path: "/headers", Methods: []string{"GET"}, NoAuth: arPtr(true)}},
		},
	}
}

func arJWTRule(path string, j *apirule.JWT) apirule.Rule {
	return apirule.Rule{Path: path, Methods: []string{"GET"}, JWT: j}
}

func arOKJWT() *apirule.JWT {
	return &apirule.JWT{Authentications: []apirule.JWTAuthentication{{Issuer: "https://idp.example.com", JwksURI: "https://idp.example.com/keys"}}}
}

// arChecks are the checks of apirule.go and ruleorder.go.
var arChecks = []*core.Check{APIRuleGateway, APIRuleHostGateway, APIRuleHostTaken, APIRuleService, APIRuleServiceSelector,
	APIRuleSidecar, APIRuleHostForm, APIRuleCORS, APIRuleSharedWorkload, APIRulePath, APIRuleMethods, APIRuleRuleDuplicate, APIRuleAccess, APIRuleTimeout, APIRuleJWT, APIRuleExtAuth,
	APIRuleRequireAuth, APIRuleRuleOrder, APIRuleRuleOverlap}

// arMine keeps the findings of these checks: trust.go adds its own to jwt
// rules.
func arMine(fs []core.Finding) []string {
	ids := map[string]bool{}
	for _, c := range arChecks {
		ids[c.ID] = true
	}
	var out []string
	for _, s := range summary(fs) {
		if id, _, _ := strings.Cut(s, " "); ids[id] {
			out = append(out, s)
		}
	}
	return out
}

func TestAPIRule(t *testing.T) {
	cases := []struct {
		name       string
		mutate     func(ar *apirule.APIRule)
		deny, warn []string // "check field", sorted
		fragments  []string // in some violation's or warning's message
	}{
		{name: "valid", mutate: func(ar *apirule.APIRule) {}},

		// 1. gateway
		{name: "no gateway", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway = nil },
			deny: []string{"apirule-gateway spec.gateway"}, fragments: []string{"set gateway to an Istio Gateway"}},
		{name: "gateway and externalGateway", mutate: func(ar *apirule.APIRule) { ar.Spec.ExternalGateway = arPtr("kyma-system/ext") },
			deny: []string{"apirule-gateway spec.externalGateway"}, fragments: []string{"keep only one"}},
		{name: "gateway not namespace/name", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway = arPtr("kyma-gateway") },
			deny: []string{"apirule-gateway spec.gateway"}, fragments: []string{"not in namespace/name form"}},
		{name: "gateway in v1beta1 form", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway = arPtr("kyma-gateway.kyma-system.svc.cluster.local") },
			deny: []string{"apirule-gateway spec.gateway"}, fragments: []string{"write it as kyma-system/kyma-gateway"}},
		{name: "gateway not found", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway = arPtr("kyma-system/kyma-gatewy") },
			deny: []string{"apirule-gateway spec.gateway"}, fragments: []string{`"kyma-system/kyma-gatewy": no such Istio Gateway`}},
		{name: "externalGateway only: form checked, hosts not", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.ExternalGateway = nil, arPtr("kyma-system/ext")
		}},
		{name: "externalGateway that does not exist", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.ExternalGateway = nil, arPtr("kyma-system/partner")
		}, deny: []string{"apirule-gateway spec.externalGateway"}, fragments: []string{`"kyma-system/partner": no such Kyma ExternalGateway`}},
		{name: "externalGateway malformed", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway, ar.Spec.ExternalGateway = nil, arPtr("ext") },
			deny: []string{"apirule-gateway spec.externalGateway"}},

		// 2. hosts and the gateway
		{name: "fqdn under the gateway wildcard", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"httpbin.example.com"} }},
		{name: "fqdn two levels under the wildcard", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"a.b.example.com"} }},
		{name: "fqdn not served", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"httpbin.other.org"} },
			deny: []string{"apirule-host-gateway spec.hosts[0]"}, fragments: []string{"gateway kyma-system/kyma-gateway does not serve this host (it serves *.example.com)"}},
		{name: "apex is not under the wildcard", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"example.com"} },
			deny: []string{"apirule-host-gateway spec.hosts[0]"}},
		{name: "fqdn on a ns/host server host of another namespace", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.Hosts = arPtr("default/multi"), []string{"b.example.org"}
		}, deny: []string{"apirule-host-gateway spec.hosts[0]"}, fragments: []string{"serves this host only to VirtualServices of other namespaces", "it serves a.example.com"}},
		{name: "fqdn on a */host server host", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.Hosts = arPtr("default/scoped"), []string{"c.example.net"}
		}},
		{name: "fqdn on a ./host server host of the APIRule's namespace", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.Hosts = arPtr("default/scoped"), []string{"d.example.net"}
		}},
		{name: "short host on a */*.domain server host", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway = arPtr("default/star-scoped") },
			deny: []string{"apirule-host-gateway spec.hosts[0]"}, fragments: []string{`serves "*/*.example.com" with a namespace part`, "use an FQDN"}},
		{name: "fqdn on a */*.domain server host", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.Hosts = arPtr("default/star-scoped"), []string{"httpbin.example.com"}
		}},
		{name: "short host, gateway without one *.domain", mutate: func(ar *apirule.APIRule) { ar.Spec.Gateway = arPtr("default/multi") },
			deny: []string{"apirule-host-gateway spec.hosts[0]"}, fragments: []string{"gateway default/multi serves a.example.com, and Kyma expands short hosts only", "use an FQDN"}},

		// 2b. host form
		{name: "upper-case host", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"HTTPBIN.example.com"} },
			deny: []string{"apirule-host-form spec.hosts[0]"}, fragments: []string{"host names are lower case: write httpbin.example.com"}},
		{name: "trailing dot", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"httpbin.example.com."} },
			deny: []string{"apirule-host-form spec.hosts[0]"}, fragments: []string{"no trailing dot: write httpbin.example.com"}},
		{name: "double wildcard", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"*.*.example.com"} },
			deny: []string{"apirule-host-form spec.hosts[0]"}, fragments: []string{"one leading *. only"}},
		{name: "one-letter TLD", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"httpbin.example.c"} },
			deny: []string{"apirule-host-form spec.hosts[0]"}, fragments: []string{"a top-level domain of 2 to 63"}},
		{name: "wildcard host under the gateway", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"*.example.com"} }},
		{name: "* serves every fqdn", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway, ar.Spec.Hosts = arPtr("default/any"), []string{"what.ever.io"}
		}},
		{name: "no hosts", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = nil },
			deny: []string{"apirule-host-gateway spec.hosts"}},

		// 3. hosts taken
		{name: "short host of another APIRule, reported once", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"taken"} },
			deny: []string{"apirule-host-taken spec.hosts[0]"}, fragments: []string{"host taken.example.com is already exposed by APIRule team-b/taken"}},
		{name: "fqdn of another APIRule's short host", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"taken.example.com"} },
			deny: []string{"apirule-host-taken spec.hosts[0]"}},
		{name: "host of a foreign VirtualService", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"legacy"} },
			deny: []string{"apirule-host-taken spec.hosts[0]"}, fragments: []string{"already exposed by VirtualService team-c/legacy"}},
		{name: "host of our own VirtualService", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"owned"} }},
		{name: "host of our own VirtualService, Kyma 3.5 labels", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"owned2"} }},
		{name: "host of another APIRule's VirtualService, Kyma 3.5 labels", mutate: func(ar *apirule.APIRule) { ar.Spec.Hosts = []string{"taken2"} },
			deny: []string{"apirule-host-taken spec.hosts[0]"}, fragments: []string{"APIRule team-b/taken (VirtualService team-b/taken-vs-2)"}},
		{name: "same name in another namespace is another APIRule", mutate: func(ar *apirule.APIRule) {
			ar.Namespace, ar.Spec.Hosts = "team-b", []string{"httpbin"}
			ar.Spec.Service.Namespace = arPtr("default")
		}, deny: []string{"apirule-host-taken spec.hosts[0]"}, fragments: []string{"APIRule default/x"}},

		// 4. services
		{name: "no service anywhere", mutate: func(ar *apirule.APIRule) { ar.Spec.Service = nil },
			deny: []string{"apirule-service spec.rules[0].service"}},
		{name: "service not found", mutate: func(ar *apirule.APIRule) { ar.Spec.Service.Name = arPtr("htpbin") },
			deny: []string{"apirule-service spec.service.name"}, fragments: []string{`"htpbin": no such Service in namespace default`}},
		{name: "port not on the service", mutate: func(ar *apirule.APIRule) { ar.Spec.Service.Port = arPtr(int64(8080)) },
			deny: []string{"apirule-service spec.service.port"}, fragments: []string{"its ports: 8000, 9000"}},
		{name: "rule service in its own namespace", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0].Service = &apirule.Service{Name: arPtr("orders"), Namespace: arPtr("other"), Port: arPtr(int64(8080))}
		}},
		{name: "rule service takes spec.service.namespace", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Service = &apirule.Service{Name: arPtr("orders"), Namespace: arPtr("other"), Port: arPtr(int64(8080))}
			ar.Spec.Rules[0].Service = &apirule.Service{Name: arPtr("orders"), Port: arPtr(int64(8080))}
		}},
		{name: "rule service without namespace is looked up in the APIRule's", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0].Service = &apirule.Service{Name: arPtr("orders"), Port: arPtr(int64(8080))}
		}, deny: []string{"apirule-service spec.rules[0].service.name"}},
		{name: "spec service checked once for two rules", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Service.Port = arPtr(int64(1))
			ar.Spec.Rules = append(ar.Spec.Rules, apirule.Rule{Path: "/ip", Methods: []string{"GET"}, NoAuth: arPtr(true)})
		}, deny: []string{"apirule-service spec.service.port"}},
		{name: "service without selector", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Service = &apirule.Service{Name: arPtr("headless"), Port: arPtr(int64(80))}
		}, deny: []string{"apirule-service-selector spec.service.name"}, fragments: []string{"service default/headless has no selector (selector-less)", "Target service label selectors are not defined"}},
		{name: "ExternalName service", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Service = &apirule.Service{Name: arPtr("external"), Port: arPtr(int64(8000))}
		}, deny: []string{"apirule-service-selector spec.service.name"}, fragments: []string{"has no selector (ExternalName)"}},
		{name: "service without port", mutate: func(ar *apirule.APIRule) { ar.Spec.Service.Port = nil },
			deny: []string{"apirule-service spec.service.port"}},

		// 5. rules: paths
		{name: "path with {**} in the middle", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/{**}/items" }},
		{name: "path /* alone", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/*" }},
		{name: "path with a bare *", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/a/*" },
			deny: []string{"apirule-path spec.rules[0].path"}, fragments: []string{"whole segments {*}"}},
		{name: "path with a regex", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/.*" },
			deny: []string{"apirule-path spec.rules[0].path"}},
		{name: "operator after {**}", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/{**}/{*}" },
			deny: []string{"apirule-path spec.rules[0].path"}, fragments: []string{"{**} must be the last operator"}},
		{name: "two {**}", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/{**}/a/{**}" },
			deny: []string{"apirule-path spec.rules[0].path"}},
		{name: "path without slash", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "headers" },
			deny: []string{"apirule-path spec.rules[0].path"}},
		{name: "path with a space", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/a b" },
			deny: []string{"apirule-path spec.rules[0].path"}, fragments: []string{"percent-encode it"}},
		{name: "percent-encoded path", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Path = "/a%20b" }},

		// 5. rules: methods, duplicates, access, timeouts
		{name: "lower-case method", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Methods = []string{"get"} },
			deny: []string{"apirule-methods spec.rules[0].methods[0]"}, fragments: []string{"write GET"}},
		{name: "unknown method", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Methods = []string{"GET", "FETCH"} },
			deny: []string{"apirule-methods spec.rules[0].methods[1]"}, fragments: []string{`Unsupported value: "FETCH"`}},
		{name: "method twice", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Methods = []string{"GET", "POST", "GET"} },
			deny: []string{"apirule-methods spec.rules[0].methods[2]"}},
		{name: "no methods", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].Methods = nil },
			deny: []string{"apirule-methods spec.rules[0].methods"}},
		{name: "same path and method twice: duplicate, not rule order", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules = append(ar.Spec.Rules, apirule.Rule{Path: "/headers", Methods: []string{"POST", "GET"}, NoAuth: arPtr(true)})
		}, deny: []string{"apirule-rule-duplicate spec.rules[1].path"}, fragments: []string{"rule 0 already has this path for GET"}},
		{name: "same path, other methods", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules = append(ar.Spec.Rules, apirule.Rule{Path: "/headers", Methods: []string{"POST"}, NoAuth: arPtr(true)})
		}},
		{name: "general rule first", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules = []apirule.Rule{{Path: "/{**}", Methods: []string{"GET"}, NoAuth: arPtr(true)}, arJWTRule("/admin", arOKJWT())}
		}, deny: []string{"apirule-rule-order spec.rules[1].path"}},
		{name: "partly overlapping rules", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules = []apirule.Rule{{Path: "/a/{*}", Methods: []string{"GET"}, NoAuth: arPtr(true)}, arJWTRule("/{*}/b", arOKJWT())}
		}, warn: []string{"apirule-rule-overlap spec.rules[1].path"}},
		{name: "no access strategy", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].NoAuth = nil },
			deny: []string{"apirule-access spec.rules[0]"}},
		{name: "noAuth false is no access strategy", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].NoAuth = arPtr(false) },
			deny: []string{"apirule-access spec.rules[0]"}},
		{name: "noAuth false with jwt", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].NoAuth, ar.Spec.Rules[0].JWT = arPtr(false), arOKJWT() }},
		{name: "noAuth and jwt", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0].JWT = arOKJWT() },
			deny: []string{"apirule-access spec.rules[0]"}, fragments: []string{"sets noAuth and jwt"}},
		{name: "timeouts out of range", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Timeout, ar.Spec.Rules[0].Timeout = arPtr(int64(0)), arPtr(int64(3901))
		},
			deny: []string{"apirule-timeout spec.rules[0].timeout", "apirule-timeout spec.timeout"}},
		{name: "timeouts at the bounds", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Timeout, ar.Spec.Rules[0].Timeout = arPtr(int64(1)), arPtr(int64(3900))
		}},

		// 6. jwt
		{name: "jwt without authentications", mutate: func(ar *apirule.APIRule) { ar.Spec.Rules[0] = arJWTRule("/a", &apirule.JWT{}) },
			deny: []string{"apirule-jwt spec.rules[0].jwt.authentications"}},
		{name: "jwt without issuer and jwksUri", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = arJWTRule("/a", &apirule.JWT{Authentications: []apirule.JWTAuthentication{{Issuer: " "}}})
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authentications[0].issuer", "apirule-jwt spec.rules[0].jwt.authentications[0].jwksUri"}},
		{name: "jwt empty scope and audience", mutate: func(ar *apirule.APIRule) {
			j := arOKJWT()
			j.Authorizations = []apirule.JWTAuthorization{{RequiredScopes: []string{"read", ""}, Audiences: []string{""}}, {}}
			ar.Spec.Rules[0] = arJWTRule("/a", j)
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authorizations[0].audiences[0]", "apirule-jwt spec.rules[0].jwt.authorizations[0].requiredScopes[1]"},
			warn: []string{"apirule-jwt spec.rules[0].jwt.authorizations[1]"}, fragments: []string{"an empty authorization adds no condition"}},
		{name: "jwt lists present but empty", mutate: func(ar *apirule.APIRule) {
			j := arOKJWT()
			j.Authorizations = []apirule.JWTAuthorization{{RequiredScopes: []string{}, Audiences: []string{"a"}}, {Audiences: []string{}}}
			ar.Spec.Rules[0] = arJWTRule("/a", j)
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authorizations[0].requiredScopes", "apirule-jwt spec.rules[0].jwt.authorizations[1].audiences"},
			fragments: []string{`requiredScopes is present but empty: Kyma refuses it ("value is empty")`}},
		{name: "jwt authorizations present but empty", mutate: func(ar *apirule.APIRule) {
			j := arOKJWT()
			j.Authorizations = []apirule.JWTAuthorization{}
			ar.Spec.Rules[0] = arJWTRule("/a", j)
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authorizations"}, fragments: []string{"authorizations defined, but no configuration exists"}},
		{name: "jwt two fromHeaders, two fromParams", mutate: func(ar *apirule.APIRule) {
			j := arOKJWT()
			j.Authentications[0].FromHeaders = []apirule.JWTHeader{{Name: "a"}, {Name: "b"}}
			j.Authentications = append(j.Authentications, apirule.JWTAuthentication{Issuer: "https://other.example.com", JwksURI: "https://other.example.com/keys", FromParams: []string{"t", "u"}})
			ar.Spec.Rules[0] = arJWTRule("/a", j)
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authentications[0].fromHeaders", "apirule-jwt spec.rules[0].jwt.authentications[1].fromParams",
			"apirule-jwt spec.rules[0].jwt.authentications[1].fromParams"}, fragments: []string{"multiple fromHeaders are not supported", "multiple fromParams are not supported", "authentication 0 takes its token from fromHeaders"}},
		{name: "jwt params then headers", mutate: func(ar *apirule.APIRule) {
			j := arOKJWT()
			j.Authentications[0].FromParams = []string{"t"}
			j.Authentications = append(j.Authentications, apirule.JWTAuthentication{Issuer: "https://other.example.com", JwksURI: "https://other.example.com/keys", FromHeaders: []apirule.JWTHeader{{Name: "x"}}})
			ar.Spec.Rules[0] = arJWTRule("/a", j)
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authentications[1].fromHeaders"}, fragments: []string{"authentication 0 takes its token from fromParams"}},
		{name: "jwt headers and params in one authentication", mutate: func(ar *apirule.APIRule) {
			j := arOKJWT()
			j.Authentications[0].FromParams = []string{"t"}
			j.Authentications[0].FromHeaders = []apirule.JWTHeader{{Name: "x"}}
			ar.Spec.Rules[0] = arJWTRule("/a", j)
		}, deny: []string{"apirule-jwt spec.rules[0].jwt.authentications[0].fromParams"}, fragments: []string{"this authentication sets both fromHeaders and fromParams"}},
		{name: "jwt one issuer, two token sources across rules", mutate: func(ar *apirule.APIRule) {
			other := arOKJWT()
			other.Authentications[0].FromHeaders = []apirule.JWTHeader{{Name: "x-jwt", Prefix: "Bearer "}}
			ar.Spec.Rules = []apirule.Rule{arJWTRule("/a", arOKJWT()), arJWTRule("/b", other)}
		}, deny: []string{"apirule-jwt spec.rules[1].jwt.authentications[0]"},
			fragments: []string{"multiple jwt configurations that differ for the same issuer", "at spec.rules[0].jwt.authentications[0]"}},
		{name: "jwt one issuer, same token source across rules", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules = []apirule.Rule{arJWTRule("/a", arOKJWT()), arJWTRule("/b", arOKJWT())}
		}},
		{name: "extAuth restrictions are a jwt config too", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"oauth2-proxy"}, Restrictions: &apirule.JWT{}}}
		}, deny: []string{"apirule-jwt spec.rules[0].extAuth.restrictions.authentications"}},

		// 7. extAuth
		{name: "registered authorizer", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"oauth2-proxy"}}}
		}},
		{name: "unknown authorizer", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"oauth2-proxy", "oauth2"}}}
		}, deny: []string{"apirule-extauth spec.rules[0].extAuth.authorizers[1]"}, fragments: []string{`"oauth2": not a registered authorizer: use one of oauth2-proxy`}},
		{name: "gRPC ext_authz provider", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"opa-grpc"}}}
		}, deny: []string{"apirule-extauth spec.rules[0].extAuth.authorizers[0]"}, fragments: []string{`"opa-grpc": an envoyExtAuthzGrpc provider; APIRule extAuth accepts only envoyExtAuthzHttp providers`, "use one of oauth2-proxy"}},
		{name: "provider that is not ext_authz", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"otel"}}}
		}, deny: []string{"apirule-extauth spec.rules[0].extAuth.authorizers[0]"}, fragments: []string{`"otel": an extension provider, but not ext_authz`}},
		{name: "no authorizers", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{}}
		}, deny: []string{"apirule-extauth spec.rules[0].extAuth.authorizers"}},

		// Several problems, all reported in one answer.
		{name: "several problems together", mutate: func(ar *apirule.APIRule) {
			ar.Spec.Gateway = arPtr("kyma-system/kyma-gatewy")
			ar.Spec.Service.Port = arPtr(int64(80))
			ar.Spec.Timeout = arPtr(int64(5000))
			ar.Spec.Rules = []apirule.Rule{
				{Path: "/anything/{**}", Methods: []string{"POST"}, NoAuth: arPtr(true)},
				{Path: "/anything/{*}/one", Methods: []string{"POST", "get"}, NoAuth: arPtr(true), JWT: arOKJWT()},
				{Path: "/files/*", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"nope"}}},
			}
		}, deny: []string{
			"apirule-access spec.rules[1]",
			"apirule-extauth spec.rules[2].extAuth.authorizers[0]",
			"apirule-gateway spec.gateway",
			"apirule-methods spec.rules[1].methods[1]",
			"apirule-path spec.rules[2].path",
			"apirule-rule-order spec.rules[1].path",
			"apirule-service spec.service.port",
			"apirule-timeout spec.timeout",
		}, fragments: []string{"never reached for POST: rule 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar := goodAPIRule()
			tc.mutate(ar)
			r := run(t, ar, nil, arCluster()...)
			if got := arMine(r.Violations); !reflect.DeepEqual(got, tc.deny) {
				t.Errorf("violations = %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if got := arMine(r.Warnings); !reflect.DeepEqual(got, tc.warn) {
				t.Errorf("warnings = %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			all := append(append([]core.Finding{}, r.Violations...), r.Warnings...)
			for _, frag := range tc.fragments {
				found := false
				for _, f := range all {
					found = found || strings.Contains(f.Message, frag)
				}
				if !found {
					t.Errorf("no message contains %q: %v", frag, all)
				}
			}
		})
	}
}

// arPolicy turns checks that are off by default on.
type arPolicy map[string]core.Action

func (p arPolicy) Action(c *core.Check) core.Action {
	if a, ok := p[c.ID]; ok {
		return a
	}
	return c.Default
}
func (arPolicy) NetworkAction() core.Action { return core.Warn }

func runAPIRuleWith(t *testing.T, ar *apirule.APIRule, p core.Policy, st cluster.State) *core.Report {
	t.Helper()
	r := core.NewReport(p)
	Validate(context.Background(), &core.Object{Namespace: cluster.NamespaceOrDefault(ar.Namespace), Name: ar.Name, Operation: "CREATE", Typed: ar},
		&core.Env{Cluster: st, Trust: trust.Offline{}, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return testNow }}, r)
	return r
}

func TestAPIRuleRequireAuth(t *testing.T) {
	st, err := cluster.FromObjects(append(arCluster(), arService("locked", "httpbin", map[string]string{"app": "h"}, 8000))...)
	if err != nil {
		t.Fatal(err)
	}
	on := arPolicy{APIRuleRequireAuth.ID: core.Deny}
	cases := []struct {
		name      string
		namespace string
		jwt       bool
		policy    core.Policy
		deny      []string
	}{
		{"noAuth in a labelled namespace", "locked", false, on, []string{"apirule-require-auth spec.rules[0].noAuth"}},
		{"jwt in a labelled namespace", "locked", true, on, nil},
		{"noAuth in an unlabelled namespace", "default", false, on, nil},
		{"off by default", "locked", false, core.DefaultPolicy, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar := goodAPIRule()
			ar.Namespace, ar.Spec.Hosts = tc.namespace, []string{"h-" + tc.namespace}
			if tc.jwt {
				ar.Spec.Rules[0] = arJWTRule("/a", arOKJWT())
			}
			r := runAPIRuleWith(t, ar, tc.policy, st)
			if got := arMine(r.Violations); !reflect.DeepEqual(got, tc.deny) {
				t.Fatalf("violations = %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if tc.deny != nil && !hasFinding(r.Violations, APIRuleRequireAuth.ID, "spec.rules[0].noAuth", "namespace locked requires authentication", "jwt or extAuth") {
				t.Fatalf("message: %v", r.Violations)
			}
		})
	}
}

func TestAPIRuleNoMeshConfig(t *testing.T) {
	ar := goodAPIRule()
	ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"oauth2-proxy"}}}
	r := run(t, ar, nil, arGateway("kyma-system", "kyma-gateway", []string{"*.example.com"}), arService("default", "httpbin", map[string]string{"a": "b"}, 8000))
	if !hasFinding(r.Violations, APIRuleExtAuth.ID, "spec.rules[0].extAuth.authorizers[0]", "no envoyExtAuthzHttp authorizers are registered") {
		t.Fatalf("violations: %v", r.Violations)
	}
}

// arFailing is a cluster whose reads fail.
type arFailing struct{ cluster.State }

var errARCache = errors.New("cache not synced")

func (arFailing) Gateway(context.Context, string, string) (*networkingv1.Gateway, error) {
	return nil, errARCache
}
func (arFailing) Service(context.Context, string, string) (*corev1.Service, error) {
	return nil, errARCache
}
func (arFailing) APIRules(context.Context, string) ([]*apirule.APIRule, error) {
	return nil, errARCache
}
func (arFailing) VirtualServices(context.Context, string) ([]*networkingv1.VirtualService, error) {
	return nil, errARCache
}
func (arFailing) Mesh(context.Context) (*cluster.Mesh, error) { return nil, errARCache }
func (arFailing) Namespace(context.Context, string) (*corev1.Namespace, error) {
	return nil, errARCache
}

func TestAPIRuleClusterErrorsWarn(t *testing.T) {
	st, err := cluster.FromObjects()
	if err != nil {
		t.Fatal(err)
	}
	ar := goodAPIRule()
	ar.Spec.Hosts = []string{"httpbin.example.com"}
	ar.Spec.Rules = append(ar.Spec.Rules, apirule.Rule{Path: "/b", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{"x"}}})
	r := runAPIRuleWith(t, ar, arPolicy{APIRuleRequireAuth.ID: core.Deny}, arFailing{st})
	if got := arMine(r.Violations); len(got) != 0 {
		t.Fatalf("unknown answers must not deny: %v", r.Violations)
	}
	want := []string{
		"apirule-extauth spec.rules[1].extAuth.authorizers",
		"apirule-gateway spec.gateway",
		"apirule-host-taken spec.hosts",
		"apirule-host-taken spec.hosts",
		"apirule-require-auth spec.rules[0].noAuth",
		"apirule-service spec.service.name",
	}
	if got := arMine(r.Warnings); !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings = %q, want %q", got, want)
	}
	if !hasFinding(r.Warnings, APIRuleGateway.ID, "spec.gateway", "could not read Gateway kyma-system/kyma-gateway", "did not run", "cache not synced") {
		t.Fatalf("message: %v", r.Warnings)
	}
}

// TestAPIRuleExtAuthRegistries: an authorizer counts as registered when the
// mesh config or a Kyma Istio CR names it, each on its own.
func TestAPIRuleExtAuthRegistries(t *testing.T) {
	const id = "apirule-extauth"
	var noMesh []runtime.Object
	for _, o := range arCluster() {
		if _, isCM := o.(*corev1.ConfigMap); !isCM {
			noMesh = append(noMesh, o)
		}
	}
	withKyma := func(objs []runtime.Object) []runtime.Object {
		return append(append([]runtime.Object{}, objs...), authzKymaIstio("kyma-authz"))
	}
	deny := []string{id + " spec.rules[0].extAuth.authorizers[0]"}
	cases := []struct {
		name       string
		objs       []runtime.Object
		authorizer string
		deny       []string
		frag       string
	}{
		{"mesh ext_authz provider", arCluster(), "oauth2-proxy", nil, ""},
		{"Kyma Istio CR authorizer, not in the mesh config", withKyma(arCluster()), "kyma-authz", nil, ""},
		{"Kyma Istio CR authorizer, no mesh config at all", withKyma(noMesh), "kyma-authz", nil, ""},
		{"Kyma Istio CR authorizer without the CR", arCluster(), "kyma-authz", deny, `"kyma-authz": not a registered authorizer: use one of oauth2-proxy`},
		{"registered nowhere, both registries listed", withKyma(arCluster()), "nowhere", deny, `"nowhere": not a registered authorizer: use one of kyma-authz, oauth2-proxy`},
		{"registered nowhere, Kyma Istio CR only", withKyma(noMesh), "nowhere", deny, "use one of kyma-authz, or register it"},
		{"no registry at all", noMesh, "kyma-authz", deny, "no envoyExtAuthzHttp authorizers are registered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar := goodAPIRule()
			ar.Spec.Rules[0] = apirule.Rule{Path: "/a", Methods: []string{"GET"}, ExtAuth: &apirule.ExtAuth{Authorizers: []string{tc.authorizer}}}
			r := run(t, ar, nil, tc.objs...)
			authzAssert(t, r, id+" ", tc.deny, nil)
			if tc.frag != "" && !hasFinding(r.Violations, id, "spec.rules[0].extAuth.authorizers[0]", tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Violations)
			}
			if got := arMine(r.Violations); tc.deny == nil && len(got) != 0 {
				t.Errorf("violations of other checks: %q", got)
			}
		})
	}
}
