package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func jwtRule(t *testing.T, ns, name, issuer, jwksURI string) *unstructured.Unstructured {
	jwks := ""
	if jwksURI != "" {
		jwks = "\n        jwksUri: " + jwksURI
	}
	u := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: %s}
spec:
  hosts: [%s]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /api/{**}
    methods: [GET]
    jwt:
      authentications:
      - issuer: %s%s
`, name, name, issuer, jwks))
	u.SetNamespace(ns)
	return u
}

func TestJWTIssuersResolveAtAdmission(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, w := newClient(t)
	is := env.Issuer

	// A good issuer and its JWKS: admitted, no warnings about trust.
	admitted(t, eventually(func() error {
		return c.Create(ctx, jwtRule(t, ns, "good", is.Good(), is.Good()+"/jwks"), client.DryRunAll)
	}))
	notWarned(t, w, "[jwt-")

	// The JWKS URL answers 404: no keys there, denied at the jwksUri field.
	denied(t, c.Create(ctx, jwtRule(t, ns, "nokeys", is.BrokenJWKS(), is.BrokenJWKS()+"/jwks"), client.DryRunAll),
		"spec.rules[0].jwt.authentications[0].jwksUri", "jwt-jwks-usable")

	// Discovery names another issuer: denied, showing both values.
	denied(t, c.Create(ctx, jwtRule(t, ns, "wrong", is.WrongIssuer(), is.WrongIssuer()+"/jwks"), client.DryRunAll),
		"spec.rules[0].jwt.authentications[0].issuer", "jwt-issuer-discovery", is.WrongIssuer(), is.URL+"/someone-else")

	// Trailing slash: the issuer must match byte for byte.
	denied(t, c.Create(ctx, jwtRule(t, ns, "slash", is.Good()+"/", is.Good()+"/jwks"), client.DryRunAll),
		"spec.rules[0].jwt.authentications[0].issuer", "jwt-issuer-discovery")

	// Nothing listens: a network failure, which warns by default.
	l, err := net.Listen("tcp", net.JoinHostPort(is.Host(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close()
	admitted(t, c.Create(ctx, jwtRule(t, ns, "dead", dead, dead+"/jwks"), client.DryRunAll))
	warned(t, w, "spec.rules[0].jwt.authentications[0]", "refused")

	// jwksUri left out: the mutating webhook fills it from discovery.
	rule := jwtRule(t, ns, "defaulted", is.Good(), "")
	admitted(t, c.Create(ctx, rule, client.DryRunAll))
	auths, _, _ := unstructured.NestedSlice(rule.Object, "spec", "rules")
	if got := toJSON(t, auths); !strings.Contains(got, `"jwksUri":"`+is.Good()+`/jwks"`) {
		t.Errorf("jwksUri not defaulted from discovery: %s", got)
	}
}

func TestRequestAuthenticationTrust(t *testing.T) {
	ns := namespace(t, nil)
	c, _ := newClient(t)
	ra := obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: wrong, namespace: %s}
spec:
  jwtRules:
  - issuer: %s
    jwksUri: %s/jwks
`, ns, env.Issuer.WrongIssuer(), env.Issuer.WrongIssuer()))
	denied(t, c.Create(context.Background(), ra, client.DryRunAll), "spec.jwtRules[0].issuer", "jwt-issuer-discovery")

	leak := obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: leak, namespace: %s}
spec:
  jwtRules:
  - issuer: issuer@example.com
    jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}'
`, ns))
	denied(t, c.Create(context.Background(), leak, client.DryRunAll), "spec.jwtRules[0].jwks", "jwt-inline-jwks-usable")
}
