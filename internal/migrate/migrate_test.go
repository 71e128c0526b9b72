package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
)

type fakeLookup struct {
	gateways map[string]*networkingv1.Gateway
	mesh     *cluster.Mesh
}

func (f fakeLookup) Gateway(_ context.Context, ns, name string) (*networkingv1.Gateway, error) {
	return f.gateways[ns+"/"+name], nil
}

func (f fakeLookup) Mesh(context.Context) (*cluster.Mesh, error) {
	if f.mesh == nil {
		return &cluster.Mesh{RootNamespace: "istio-system"}, nil
	}
	return f.mesh, nil
}

func gateway(ns, name string, servers ...*networkingapi.Server) *networkingv1.Gateway {
	return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: networkingapi.Gateway{Servers: servers}}
}

func server(protocol string, hosts ...string) *networkingapi.Server {
	return &networkingapi.Server{Port: &networkingapi.Port{Number: 443, Protocol: protocol, Name: strings.ToLower(protocol)}, Hosts: hosts}
}

// kymaLookup is a cluster with Kyma's default gateway on local.kyma.dev
// and another gateway on example.com.
func kymaLookup() fakeLookup {
	return fakeLookup{gateways: map[string]*networkingv1.Gateway{
		"kyma-system/kyma-gateway": gateway("kyma-system", "kyma-gateway", server("HTTPS", "*.local.kyma.dev"), server("HTTP", "*.local.kyma.dev")),
		"apps/custom":              gateway("apps", "custom", server("HTTPS", "*.example.com")),
		"apps/same-domain":         gateway("apps", "same-domain", server("HTTPS", "*.local.kyma.dev")),
	}}
}

// fakeTrust answers discovery from a table; anything else fails.
type fakeTrust map[string]*trust.Discovery

func (f fakeTrust) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	for k, d := range f {
		if trust.DiscoveryURL(k) == trust.DiscoveryURL(issuer) {
			return d, nil
		}
	}
	return nil, &trust.FetchError{URL: trust.DiscoveryURL(issuer), Kind: trust.Status, Status: 404}
}

func (f fakeTrust) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	return nil, errors.New("not used")
}

func v1beta1(t *testing.T, y string) *apirule.V1beta1APIRule {
	t.Helper()
	r := &apirule.V1beta1APIRule{}
	if err := yaml.Unmarshal([]byte("apiVersion: gateway.kyma-project.io/v1beta1\nkind: APIRule\nmetadata: {name: r, namespace: apps}\nspec:\n"+indent(y)), r); err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	return r
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func specJSON(t *testing.T, y string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	return m
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const defaultCORS = `
corsPolicy:
  allowOrigins: [{regex: ".*"}]
  allowMethods: [GET, POST, PUT, DELETE, PATCH]
  allowHeaders: [Authorization, Content-Type, "*"]
`

func TestConvert(t *testing.T) {
	oneAuthorizer := kymaLookup()
	oneAuthorizer.mesh = &cluster.Mesh{KymaAuthorizers: []string{"oauth2-proxy"}}
	twoAuthorizers := kymaLookup()
	twoAuthorizers.mesh = &cluster.Mesh{KymaAuthorizers: []string{"oauth2-proxy"}, ExtAuthzProviders: []string{"ext-authz"}, ExtAuthzHTTPProviders: []string{"ext-authz"}}
	ias := fakeTrust{"https://tenant.accounts.ondemand.com": {Issuer: "https://tenant.accounts.ondemand.com", JWKSURI: "https://tenant.accounts.ondemand.com/oauth2/certs"}}

	for _, tc := range []struct {
		name       string
		spec       string
		env        Env
		status     Status
		want       string   // v2 spec
		notes      []string // each some note contains it (with its field)
		refusals   []string // each some refusal contains it
		noNotesFor []string // no note names these fields
	}{{
		name: "noop on the legacy gateway form keeps the short host and writes Kyma's CORS defaults",
		spec: `
host: httpbin
gateway: kyma-gateway.kyma-system.svc.cluster.local
service: {name: httpbin, port: 8000}
rules:
- path: /.*
  methods: [GET, POST]
  accessStrategies: [{handler: noop}]
  mutators: []`,
		status: MigratedWithNotes,
		want: `
hosts: [httpbin]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
rules:
- path: /{**}
  methods: [GET, POST]
  noAuth: true` + defaultCORS,
		notes: []string{"spec.corsPolicy: not set: v1beta1 applied Kyma's default CORS policy",
			"spec.rules: Kyma's Ory jwt handler (Kyma's default when kyma-system/api-gateway-config does not name one) created no AuthorizationPolicies for v1beta1, so in-cluster callers reached the workload directly"},
		noNotesFor: []string{"spec.host"},
	}, {
		name: "no_auth with a corsPolicy is migrated without notes",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, namespace: other, port: 8000}
timeout: 60
corsPolicy:
  allowOrigins: [{exact: "https://app.example.com"}]
  allowMethods: [GET]
  allowCredentials: true
  maxAge: 5m
rules:
- path: /headers
  methods: [GET]
  timeout: 10
  accessStrategies: [{handler: no_auth}]`,
		env:    Env{JWTHandler: HandlerIstio},
		status: Migrated,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, namespace: other, port: 8000}
timeout: 60
corsPolicy:
  allowOrigins: [{exact: "https://app.example.com"}]
  allowMethods: [GET]
  allowCredentials: true
  maxAge: 300
rules:
- path: /headers
  methods: [GET]
  timeout: 10
  noAuth: true`,
	}, {
		name: "allow routed every method and admitted in-cluster callers",
		spec: `
host: app.example.com
gateway: apps/custom
service: {name: app, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /headers
  methods: [HEAD]
  accessStrategies: [{handler: allow}]`,
		env:    Env{JWTHandler: HandlerIstio},
		status: MigratedWithNotes,
		want: `
hosts: [app.example.com]
gateway: apps/custom
service: {name: app, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /headers
  methods: [HEAD]
  noAuth: true`,
		notes: []string{"spec.rules[0].methods: the allow strategy routed every HTTP method", "spec.rules: rule 0 admitted in-cluster callers"},
	}, {
		name: "a short host under another gateway's domain becomes the v1beta1 FQDN",
		spec: `
host: shop
gateway: apps/custom
service: {name: shop, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /orders, methods: [GET], accessStrategies: [{handler: no_auth}]}`,
		status: MigratedWithNotes,
		want: `
hosts: [shop.local.kyma.dev]
gateway: apps/custom
service: {name: shop, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /orders, methods: [GET], noAuth: true}`,
		notes: []string{`spec.host: v1beta1 put the short host "shop" under the domain of kyma-system/kyma-gateway (local.kyma.dev); v2 would use the domain of spec.gateway apps/custom, which serves *.example.com`},
	}, {
		name: "a short host stays short on another gateway with the same domain; bare gateway names are in the APIRule's namespace",
		spec: `
host: shop
gateway: same-domain
service: {name: shop, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /orders, methods: [GET], accessStrategies: [{handler: no_auth}]}`,
		env:    Env{JWTHandler: HandlerIstio},
		status: Migrated,
		want: `
hosts: [shop]
gateway: apps/same-domain
service: {name: shop, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /orders, methods: [GET], noAuth: true}`,
	}, {
		name: "Istio jwt with authorizations and mutators is copied, headers and cookies included",
		spec: `
host: istio.example.com
gateway: kyma-system/kyma-gateway
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /.*
  service: {name: orders-service, port: 80}
  methods: [GET, POST]
  mutators:
  - handler: header
    config: {headers: {X-Custom-Auth: "%REQ(Authorization)%", X-Some-Data: some-data}}
  - handler: cookie
    config: {cookies: {some-data: data}}
  accessStrategies:
  - handler: jwt
    config:
      authentications:
      - issuer: https://example.com/
        jwksUri: https://example.com/.well-known/jwks.json
        fromHeaders: [{name: X-JWT-Assertion, prefix: "Kyma "}]
      authorizations:
      - requiredScopes: [a, b]
        audiences: [audA, audB]`,
		status: MigratedWithNotes,
		want: `
hosts: [istio.example.com]
gateway: kyma-system/kyma-gateway
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /{**}
  service: {name: orders-service, port: 80}
  methods: [GET, POST]
  request:
    headers: {X-Custom-Auth: "%REQ(Authorization)%", X-Some-Data: some-data}
    cookies: {some-data: data}
  jwt:
    authentications:
    - issuer: https://example.com/
      jwksUri: https://example.com/.well-known/jwks.json
      fromHeaders: [{name: X-JWT-Assertion, prefix: "Kyma "}]
    authorizations:
    - requiredScopes: [a, b]
      audiences: [audA, audB]`,
		notes: []string{"spec.rules: rule 0 admitted in-cluster callers"},
	}, {
		name: "Ory jwt with one issuer and one JWKS, as Kyma converts it, without an empty authorization",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /anything
  methods: [POST]
  accessStrategies:
  - handler: jwt
    config:
      trusted_issuers: [https://tenant.accounts.ondemand.com]
      jwks_urls: [https://tenant.accounts.ondemand.com/oauth2/certs]`,
		status: MigratedWithNotes,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /anything
  methods: [POST]
  jwt:
    authentications:
    - {issuer: https://tenant.accounts.ondemand.com, jwksUri: https://tenant.accounts.ondemand.com/oauth2/certs}`,
		notes: []string{"spec.rules[0].accessStrategies[0].config: Oathkeeper read the token only from the Authorization header",
			"spec.rules: Kyma's Ory jwt handler (implied by the Ory form of the jwt config) created no AuthorizationPolicies"},
	}, {
		name: "Ory jwt with only jwks_urls takes the issuer from the IdP's discovery document",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /.*
  methods: [GET]
  accessStrategies:
  - handler: jwt
    config:
      jwks_urls: [https://tenant.accounts.ondemand.com/oauth2/certs]
      required_scope: [read]
      target_audience: [app]`,
		env:    Env{Trust: ias},
		status: MigratedWithNotes,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /{**}
  methods: [GET]
  jwt:
    authentications:
    - {issuer: https://tenant.accounts.ondemand.com, jwksUri: https://tenant.accounts.ondemand.com/oauth2/certs}
    authorizations:
    - {requiredScopes: [read], audiences: [app]}`,
		notes: []string{`spec.rules[0].accessStrategies[0].config.trusted_issuers: not set: Oathkeeper accepted tokens of any issuer signed with keys from https://tenant.accounts.ondemand.com/oauth2/certs; v2 accepts only issuer "https://tenant.accounts.ondemand.com"`},
	}, {
		name: "Ory jwt with only jwks_urls is refused offline, with the fix",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
rules:
- path: /.*
  methods: [GET]
  accessStrategies:
  - handler: jwt
    config: {jwks_urls: [https://tenant.accounts.ondemand.com/oauth2/certs]}`,
		env:      Env{Trust: trust.Offline{}},
		status:   Refused,
		refusals: []string{"spec.rules[0].accessStrategies[0].config.trusted_issuers: Required value: v2 needs the issuer of the tokens jwks_urls[0] verifies, and issuer lookups are off (--no-network): add it to trusted_issuers"},
	}, {
		name: "Ory jwt with several issuers and URLs pairs them by position",
		spec: `
host: a.example.com
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /a
  methods: [GET]
  accessStrategies:
  - handler: jwt
    config:
      trusted_issuers: [https://one.example.com, https://two.example.com]
      jwks_urls: [https://one.example.com/jwks, https://two.example.com/jwks]
      token_from: {header: X-Token}`,
		status: MigratedWithNotes,
		want: `
hosts: [a.example.com]
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /a
  methods: [GET]
  jwt:
    authentications:
    - {issuer: https://one.example.com, jwksUri: https://one.example.com/jwks, fromHeaders: [{name: X-Token}]}
    - {issuer: https://two.example.com, jwksUri: https://two.example.com/jwks, fromHeaders: [{name: X-Token}]}`,
		notes: []string{"spec.rules[0].accessStrategies[0].config: trusted_issuers[n] is paired with jwks_urls[n]"},
	}, {
		name: "Ory jwt with more URLs than issuers is refused",
		spec: `
host: a.example.com
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
rules:
- path: /a
  methods: [GET]
  accessStrategies:
  - handler: jwt
    config:
      trusted_issuers: [https://one.example.com]
      jwks_urls: [https://one.example.com/jwks, https://one.example.com/old-jwks]`,
		status:   Refused,
		refusals: []string{"spec.rules[0].accessStrategies[0].config.jwks_urls: Invalid value: \"https://one.example.com/jwks, https://one.example.com/old-jwks\": 2 JWKS URLs for 1 issuers"},
	}, {
		name: "oauth2_introspection moves to the only registered authorizer",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-gateway.kyma-system
service: {name: httpbin, namespace: test, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /anything
  methods: [POST]
  accessStrategies:
  - handler: oauth2_introspection
    config:
      introspection_url: https://tenant.accounts.ondemand.com/oauth2/introspect
      required_scope: [write]`,
		env:    Env{Lookup: oneAuthorizer},
		status: MigratedWithNotes,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, namespace: test, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /anything
  methods: [POST]
  extAuth: {authorizers: [oauth2-proxy]}`,
		notes: []string{`spec.rules[0].accessStrategies[0].config: Oathkeeper introspected tokens as configured here (introspection_url, required_scope); v2 hands each request to authorizer "oauth2-proxy"`},
	}, {
		name: "oauth2_introspection without a registered authorizer is refused",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
rules:
- path: /anything
  methods: [POST]
  accessStrategies: [{handler: oauth2_introspection, config: {introspection_url: "https://idp/introspect"}}]`,
		status:   Refused,
		refusals: []string{`spec.rules[0].accessStrategies[0].handler: Invalid value: "oauth2_introspection": v2 delegates token introspection to an external authorizer, and none is registered in the mesh config`},
	}, {
		name: "oauth2_introspection with several authorizers needs --authorizer, and takes it",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /anything
  methods: [POST]
  accessStrategies: [{handler: oauth2_introspection}]`,
		env:    Env{Lookup: twoAuthorizers, Authorizer: "ext-authz"},
		status: MigratedWithNotes,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /anything, methods: [POST], extAuth: {authorizers: [ext-authz]}}`,
	}, {
		name: "every problem is reported at once",
		spec: `
host: Bad_Host
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}], maxAge: soon}
rules:
- path: /foo.*
  methods: [GET]
  accessStrategies: [{handler: unauthorized}]
- path: /a
  methods: [GET]
  accessStrategies: [{handler: jwt, config: {trusted_issuers: [https://i], jwks_urls: [https://i/k]}}]
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}, {handler: id_token}]
- path: /b
  methods: [GET]
  accessStrategies: [{handler: jwt, config: {trusted_issuers: [https://i], jwks_urls: [https://i/k]}}, {handler: oauth2_introspection}]
- path: /c
  methods: [GET]
  accessStrategies: [{handler: cookie_session}]`,
		env:    Env{Lookup: oneAuthorizer},
		status: Refused,
		refusals: []string{
			`spec.host: Invalid value: "Bad_Host": '_' is not allowed`,
			`spec.corsPolicy.maxAge: Invalid value: "soon"`,
			`spec.rules[0].path: Invalid value: "/foo.*": matches "/foo" followed by anything`,
			`spec.rules[0].accessStrategies[0].handler: Invalid value: "unauthorized": rejects every request`,
			`spec.rules[1].mutators[0].config.headers[X-User]: Invalid value: "{{ print .Subject }}": an Oathkeeper template`,
			`spec.rules[1].mutators[1].handler: Invalid value: "id_token"`,
			`spec.rules[2].accessStrategies: Invalid value: "jwt, oauth2_introspection": Oathkeeper let a request through when any of these strategies accepted it`,
			`spec.rules[3].accessStrategies[0].handler: Invalid value: "cookie_session"`,
		},
	}, {
		name: "mutators of no_auth rules were never applied and stay out; a second rule with the same path was never routed",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- path: /a
  methods: [GET]
  accessStrategies: [{handler: no_auth}]
  mutators: [{handler: header, config: {headers: {X-A: a}}}]
- path: /a
  methods: [POST]
  accessStrategies: [{handler: no_auth}]`,
		status: MigratedWithNotes,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /a, methods: [GET], noAuth: true}
- {path: /a, methods: [POST], noAuth: true}`,
		notes: []string{
			"spec.rules[0].mutators: allow and no_auth routed past the mutators",
			"spec.rules[1].path: rule 0 has the same path, and Kyma's v1beta1 VirtualService kept only the first rule of a path, so this rule's methods [POST] were never routed",
		},
	}, {
		name: "a regex path with alternatives becomes one rule per path; '.' is read literally",
		spec: `
host: httpbin.local.kyma.dev
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}], maxAge: 1500ms}
rules:
- path: /(favicon.ico|robots\.txt)
  methods: [GET]
  accessStrategies: [{handler: no_auth}]`,
		status: MigratedWithNotes,
		want: `
hosts: [httpbin.local.kyma.dev]
gateway: kyma-system/kyma-gateway
service: {name: httpbin, port: 8000}
corsPolicy: {allowOrigins: [{regex: ".*"}], maxAge: 1}
rules:
- {path: /favicon.ico, methods: [GET], noAuth: true}
- {path: /robots.txt, methods: [GET], noAuth: true}`,
		notes: []string{
			"spec.corsPolicy.maxAge: 1500ms is cut to 1 seconds",
			`spec.rules[0].path: the regex "/(favicon.ico|robots\\.txt)" also matched any character where it has '.'`,
			"spec.rules[0].path: the regex \"/(favicon.ico|robots\\\\.txt)\" matches the same requests as the v2 paths /favicon.ico, /robots.txt",
		},
	}, {
		name: "with the Ory handler, /* was a regex for slashes only",
		spec: `
host: a.example.com
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules: [{path: /*, methods: [GET], accessStrategies: [{handler: noop}]}]`,
		env:    Env{JWTHandler: HandlerOry},
		status: MigratedWithNotes,
		want: `
hosts: [a.example.com]
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules: [{path: /*, methods: [GET], noAuth: true}]`,
		notes: []string{`spec.rules[0].path: Kyma's Ory jwt handler (configured in kyma-system/api-gateway-config) matched "/*" as a regex`,
			"spec.rules: Kyma's Ory jwt handler (configured in kyma-system/api-gateway-config) created no AuthorizationPolicies"},
	}, {
		name: "with the Istio handler, an APIRule without jwt or no_auth rules had no policies",
		spec: `
host: a.example.com
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /*, methods: [GET], accessStrategies: [{handler: noop}]}
- {path: /b, methods: [GET], accessStrategies: [{handler: allow}]}`,
		env:        Env{JWTHandler: HandlerIstio},
		status:     MigratedWithNotes,
		notes:      []string{"spec.rules: rules 0, 1 admitted in-cluster callers in v1beta1"},
		noNotesFor: []string{"spec.rules[0].path"},
		want: `
hosts: [a.example.com]
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
corsPolicy: {allowOrigins: [{regex: ".*"}]}
rules:
- {path: /*, methods: [GET], noAuth: true}
- {path: /b, methods: [GET], noAuth: true}`,
	}, {
		name: "an unknown gateway with a short host cannot be expanded",
		spec: `
host: shop
gateway: apps/missing
service: {name: shop, port: 80}
rules:
- {path: /orders, methods: [GET], accessStrategies: [{handler: no_auth}]}`,
		env:    Env{Lookup: fakeLookup{}},
		status: Refused,
		refusals: []string{
			`spec.host: Invalid value: "shop": a short host needs a domain, and neither kyma-system/kyma-gateway (it does not exist) nor spec.gateway apps/missing serves one *.domain host`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env.Lookup == nil {
				env.Lookup = kymaLookup()
			}
			res := Convert(context.Background(), Input{Rule: v1beta1(t, tc.spec), Source: "test"}, env)
			if res.Status != tc.status {
				t.Errorf("status %q, want %q; refusals: %v; notes: %v", res.Status, tc.status, res.Refusals, res.Notes)
			}
			for _, want := range tc.refusals {
				found := false
				for _, e := range res.Refusals {
					found = found || strings.Contains(e.Error(), want)
				}
				if !found {
					t.Errorf("no refusal contains %q; refusals:\n%v", want, res.Refusals)
				}
			}
			if tc.status == Refused {
				if res.Object != nil {
					t.Error("a refused migration returned an object")
				}
				if len(tc.refusals) > 0 && len(res.Refusals) != len(tc.refusals) {
					t.Errorf("%d refusals, want %d:\n%v", len(res.Refusals), len(tc.refusals), res.Refusals)
				}
				return
			}
			for _, want := range tc.notes {
				found := false
				for _, n := range res.Notes {
					found = found || strings.Contains(n.String(), want)
				}
				if !found {
					t.Errorf("no note contains %q; notes:\n%v", want, res.Notes)
				}
			}
			for _, f := range tc.noNotesFor {
				for _, n := range res.Notes {
					if n.Field == f {
						t.Errorf("unexpected note on %s: %s", f, n)
					}
				}
			}
			if res.Object == nil {
				t.Fatal("no object")
			}
			if res.Object.APIVersion != "gateway.kyma-project.io/v2" || res.Object.Kind != "APIRule" || res.Object.Name != "r" || res.Object.Namespace != "apps" {
				t.Errorf("object identity: %s %s %s/%s", res.Object.APIVersion, res.Object.Kind, res.Object.Namespace, res.Object.Name)
			}
			got, want := toMap(t, res.Object.Spec), specJSON(t, tc.want)
			if !reflect.DeepEqual(got, want) {
				g, _ := yaml.Marshal(got)
				w, _ := yaml.Marshal(want)
				t.Errorf("spec:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

func TestConvertKeepsMetadataButNotKymasConversionAnnotations(t *testing.T) {
	in := v1beta1(t, `
host: a.example.com
gateway: kyma-system/kyma-gateway
service: {name: a, port: 80}
rules: [{path: /a, methods: [GET], accessStrategies: [{handler: no_auth}]}]`)
	in.Labels = map[string]string{"app": "a"}
	in.Annotations = map[string]string{
		AnnotationOriginalVersion: "v1beta1", AnnotationV1beta1Spec: "{}", AnnotationV2alpha1Rules: "[]",
		"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "blue",
	}
	res := Convert(context.Background(), Input{Rule: in}, Env{Lookup: kymaLookup()})
	if res.Object == nil {
		t.Fatalf("refused: %v", res.Refusals)
	}
	if !reflect.DeepEqual(res.Object.Labels, map[string]string{"app": "a"}) || !reflect.DeepEqual(res.Object.Annotations, map[string]string{"team": "blue"}) {
		t.Errorf("labels %v annotations %v", res.Object.Labels, res.Object.Annotations)
	}
}

func TestTranslateGateway(t *testing.T) {
	for in, want := range map[string]string{
		"kyma-system/kyma-gateway":                   "kyma-system/kyma-gateway",
		"kyma-gateway.kyma-system.svc.cluster.local": "kyma-system/kyma-gateway",
		"kyma-gateway.kyma-system.svc.cluster":       "kyma-system/kyma-gateway",
		"kyma-gateway.kyma-system.svc":               "kyma-system/kyma-gateway",
		"kyma-gateway.kyma-system":                   "kyma-system/kyma-gateway",
		"my-gateway":                                 "apps/my-gateway",
		"my_gateway.kyma-system":                     "",
		"a.b.c.d":                                    "",
	} {
		got, err := TranslateGateway(in, "apps")
		if want == "" {
			if err == nil {
				t.Errorf("%s: want an error, got %s", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
}
