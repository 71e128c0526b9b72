package e2e

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Warnings reach kubectl through the admission warnings API while the
// object is admitted.
func TestAPIRuleWarningsReachTheClient(t *testing.T) {
	ns := namespace(t, nil)
	kymaGateway(t)
	// A Service with no pods yet, in a namespace without sidecar injection:
	// the pods that start there will lack the sidecar Kyma requires.
	mustCreate(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "external"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}})
	c, w := newClient(t)
	rule := obj(t, `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: warned}
spec:
  hosts: [warned]
  gateway: kyma-system/kyma-gateway
  service: {name: external, port: 8000}
  rules:
  - path: /api/{*}/items
    methods: [GET]
    noAuth: true
  - path: /api/v1/{*}
    methods: [GET]
    noAuth: true
`)
	rule.SetNamespace(ns)
	admitted(t, eventually(func() error { return c.Create(context.Background(), rule.DeepCopy(), client.DryRunAll) }))
	warned(t, w, "apirule-sidecar", "spec.service")
	// /api/v1/items goes to the first rule, /api/v1/other to the second.
	warned(t, w, "apirule-rule-overlap", "spec.rules[1].path")
}

func TestRequestAuthenticationWithoutWorkloadWarned(t *testing.T) {
	ns := namespace(t, nil)
	c, w := newClient(t)
	ra := obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: nobody}
spec:
  selector: {matchLabels: {app: no-such-workload}}
  jwtRules:
  - issuer: %s
    jwksUri: %s/jwks
`, env.Issuer.Good(), env.Issuer.Good()))
	ra.SetNamespace(ns)
	admitted(t, c.Create(context.Background(), ra, client.DryRunAll))
	warned(t, w, "requestauthentication-selector-no-workload", "spec.selector.matchLabels")
	notWarned(t, w, "[jwt-")
}

func TestAPIRuleV1beta1Denied(t *testing.T) {
	ns := namespace(t, nil)
	kymaGateway(t)
	c, w := newClient(t)
	rule := obj(t, `
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: legacy-missing}
spec:
  host: legacy-missing.local.kyma.dev
  gateway: kyma-system/kyma-gateway
  service: {name: no-such-service, port: 8000}
  rules:
  - path: /.*
    methods: [GET]
    accessStrategies: [{handler: noop}]
`)
	rule.SetNamespace(ns)
	denied(t, c.Create(context.Background(), rule, client.DryRunAll), "apirule-service", "no-such-service")
	// The deprecation warning comes with the denial.
	warned(t, w, "apirule-v1beta1-deprecated")
}
