package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kymaGateway is the gateway every Kyma cluster has, serving *.local.kyma.dev.
func kymaGateway(t *testing.T) {
	t.Helper()
	mustCreate(t, obj(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyma-gateway, namespace: kyma-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.local.kyma.dev"]
`))
}

func httpbin(t *testing.T, ns string) {
	t.Helper()
	mustCreate(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "httpbin"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}})
}

func TestAPIRuleSeveralProblemsReportedTogether(t *testing.T) {
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, _ := newClient(t)
	rule := obj(t, `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: broken}
spec:
  hosts: [broken.local.kyma.dev]
  gateway: kyma-system/kyma-gatewy
  service: {name: httpbin, port: 8080}
  rules:
  - path: /anything/{**}
    methods: [POST]
    noAuth: true
  - path: /anything/{*}/one
    methods: [POST]
    noAuth: true
  - path: /x
    methods: [GET]
    extAuth: {authorizers: [oauth2-proxy]}
`)
	rule.SetNamespace(ns)
	err := eventuallyDenied(func() error { return c.Create(context.Background(), rule.DeepCopy()) })
	denied(t, err, "spec.gateway", "apirule-gateway", "spec.service.port", "apirule-service",
		"spec.rules[1].path", "apirule-rule-order", "spec.rules[2].extAuth.authorizers[0]", "apirule-extauth")
}

func TestAPIRuleGoodAdmittedAndDefaulted(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, _ := newClient(t)
	src := `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  service: {name: httpbin}
  futureField: {kept: true}
  rules:
  - path: /headers
    methods: [GET]
    noAuth: true
`
	// A dry run shows the defaults without storing anything.
	dry := obj(t, src)
	dry.SetNamespace(ns)
	admitted(t, eventually(func() error { d := dry.DeepCopy(); err := c.Create(ctx, d, client.DryRunAll); dry = d; return err }))
	if gw, _, _ := unstructured.NestedString(dry.Object, "spec", "gateway"); gw != "kyma-system/kyma-gateway" {
		t.Fatalf("dry run: gateway not defaulted: %v", dry.Object["spec"])
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "httpbin"}, obj(t, src)); err == nil {
		t.Fatal("dry run stored the APIRule")
	}

	rule := obj(t, src)
	rule.SetNamespace(ns)
	admitted(t, c.Create(ctx, rule))
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(rule.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "httpbin"}, stored); err != nil {
		t.Fatal(err)
	}
	gw, _, _ := unstructured.NestedString(stored.Object, "spec", "gateway")
	port, _, _ := unstructured.NestedInt64(stored.Object, "spec", "service", "port")
	kept, _, _ := unstructured.NestedBool(stored.Object, "spec", "futureField", "kept")
	ann := stored.GetAnnotations()["gatewarden.io/defaulted"]
	if gw != "kyma-system/kyma-gateway" || port != 8000 || !kept {
		t.Errorf("stored spec: gateway %q port %d futureField kept %v", gw, port, kept)
	}
	if !strings.Contains(ann, "spec.gateway") || !strings.Contains(ann, "spec.service.port") {
		t.Errorf("annotation gatewarden.io/defaulted = %q", ann)
	}

	// Re-applying the stored object changes nothing: no drift loop for GitOps.
	gen := stored.GetGeneration()
	if err := c.Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if stored.GetGeneration() != gen || stored.GetAnnotations()["gatewarden.io/defaulted"] != ann {
		t.Errorf("re-apply changed the object: generation %d→%d, annotation %q→%q", gen, stored.GetGeneration(), ann, stored.GetAnnotations()["gatewarden.io/defaulted"])
	}
}

func TestAuthorizationPolicyChecks(t *testing.T) {
	ns := namespace(t, nil)
	c, w := newClient(t)
	custom := obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: %s}
spec:
  action: CUSTOM
  provider: {name: not-registered}
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
`, ns))
	denied(t, c.Create(context.Background(), custom, client.DryRunAll), "spec.provider.name", "authorizationpolicy-custom-provider")

	allowNothing := obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: nothing, namespace: %s}
spec:
  selector: {matchLabels: {app: nobody}}
`, ns))
	admitted(t, c.Create(context.Background(), allowNothing, client.DryRunAll))
	warned(t, w, "authorizationpolicy-allow-nothing")
	warned(t, w, "spec.selector", "authorizationpolicy-selector-no-workload")
}

func TestRequestAuthenticationHeaderNames(t *testing.T) {
	ns := namespace(t, nil)
	c, _ := newClient(t)
	ra := obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: bad-header, namespace: %s}
spec:
  jwtRules:
  - issuer: https://issuer.example.com
    jwks: '{"keys":[]}'
    fromHeaders: [{name: "x token"}]
`, ns))
	denied(t, c.Create(context.Background(), ra, client.DryRunAll), "spec.jwtRules[0].fromHeaders[0].name", "requestauthentication-header-name")
}

// TestAPIRuleExternalGateway: the webhook's cache reads Kyma ExternalGateways,
// so an APIRule naming one that exists is admitted and one naming a missing
// one is denied, as Kyma's validateGateway puts it in Error.
func TestAPIRuleExternalGateway(t *testing.T) {
	ns := namespace(t, map[string]string{"istio-injection": "enabled"})
	httpbin(t, ns)
	mustCreate(t, obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v1alpha1
kind: ExternalGateway
metadata: {name: partner, namespace: %s}
spec: {externalDomain: partner.example.com}
`, ns)))
	c, _ := newClient(t)
	rule := func(ref string) *unstructured.Unstructured {
		r := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: partner}
spec:
  hosts: [api.partner.example.com]
  externalGateway: %s
  service: {name: httpbin, port: 8000}
  rules:
  - path: /*
    methods: [GET]
    noAuth: true
`, ref))
		r.SetNamespace(ns)
		return r
	}
	admitted(t, eventually(func() error { return c.Create(context.Background(), rule(ns+"/partner"), client.DryRunAll) }))
	err := eventuallyDenied(func() error { return c.Create(context.Background(), rule(ns+"/missing"), client.DryRunAll) })
	denied(t, err, "spec.externalGateway", ns+"/missing", "no such Kyma ExternalGateway", "apirule-gateway")
}
