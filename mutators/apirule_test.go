package mutators

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

func TestDefaultGateway(t *testing.T) {
	const rule = `"rules":[{"path":"/*","methods":["GET"],"noAuth":true}]`
	cases := []struct {
		name     string
		gvk      bool // v2alpha1 instead of v2
		spec     string
		settings core.DefaultSettings
		want     []string
	}{
		{"neither set", false, `{"hosts":["a"],` + rule + `}`, core.DefaultSettings{}, []string{`add /spec/gateway "kyma-system/kyma-gateway"`}},
		{"neither set v2alpha1", true, `{"hosts":["a"],` + rule + `}`, core.DefaultSettings{}, []string{`add /spec/gateway "kyma-system/kyma-gateway"`}},
		{"configured gateway", false, `{"hosts":["a"],` + rule + `}`, core.DefaultSettings{DefaultGateway: "ns/gw"}, []string{`add /spec/gateway "ns/gw"`}},
		{"empty string counts as unset", false, `{"gateway":"","hosts":["a"],` + rule + `}`, core.DefaultSettings{}, []string{`add /spec/gateway "kyma-system/kyma-gateway"`}},
		{"gateway set", false, `{"gateway":"x/y","hosts":["a"],` + rule + `}`, core.DefaultSettings{}, nil},
		{"externalGateway set", false, `{"externalGateway":"x/ext","hosts":["a"],` + rule + `}`, core.DefaultSettings{}, nil},
		{"disabled", false, `{"hosts":["a"],` + rule + `}`, core.DefaultSettings{Disabled: []string{DefaultGateway}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gvk := apirule.V2
			if tc.gvk {
				gvk = apirule.V2alpha1
			}
			ops, _ := mutate(t, gvk, v2(tc.spec), &core.Env{Defaults: tc.settings})
			if got := specOps(t, ops); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultGatewayNotOnV1beta1(t *testing.T) {
	ops, _ := mutate(t, apirule.V1beta1, v1beta1(`{"host":"a","rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"allow"}]}]}`), &core.Env{})
	if len(ops) != 0 {
		t.Fatalf("v1beta1 got %q, want no operations", opLines(t, ops))
	}
}

func TestDefaultServicePort(t *testing.T) {
	const gw = `"gateway":"x/y","hosts":["a"],`
	rule := func(svc string) string {
		if svc == "" {
			return `{"path":"/*","methods":["GET"],"noAuth":true}`
		}
		return `{"path":"/*","methods":["GET"],"noAuth":true,"service":` + svc + `}`
	}
	cases := []struct {
		name     string
		spec     string
		want     []string
		warnings []string
	}{
		{"spec service one port", `{` + gw + `"service":{"name":"one"},"rules":[` + rule("") + `]}`,
			[]string{`add /spec/service/port 8080`}, nil},
		{"spec service namespace", `{` + gw + `"service":{"name":"one","namespace":"other"},"rules":[` + rule("") + `]}`,
			[]string{`add /spec/service/port 9090`}, nil},
		{"port set", `{` + gw + `"service":{"name":"one","port":81},"rules":[` + rule("") + `]}`, nil, nil},
		{"external service", `{` + gw + `"service":{"name":"one","external":true},"rules":[` + rule("") + `]}`, nil, nil},
		{"two ports", `{` + gw + `"service":{"name":"two"},"rules":[` + rule("") + `]}`,
			nil, []string{"default-service-port spec.service.port"}},
		{"no ports", `{` + gw + `"service":{"name":"none"},"rules":[` + rule("") + `]}`,
			nil, []string{"default-service-port spec.service.port"}},
		{"service missing", `{` + gw + `"service":{"name":"gone"},"rules":[` + rule("") + `]}`,
			nil, []string{"default-service-port spec.service.port"}},
		{"rule service", `{` + gw + `"rules":[` + rule(`{"name":"one","port":1}`) + `,` + rule(`{"name":"one"}`) + `]}`,
			[]string{`add /spec/rules/1/service/port 8080`}, nil},
		{"rule inherits spec namespace", `{` + gw + `"service":{"name":"two","namespace":"other","port":80},"rules":[` + rule(`{"name":"one"}`) + `]}`,
			[]string{`add /spec/rules/0/service/port 9090`}, nil},
		{"rule namespace wins", `{` + gw + `"service":{"name":"one","namespace":"other","port":80},"rules":[` + rule(`{"name":"one","namespace":"default"}`) + `]}`,
			[]string{`add /spec/rules/0/service/port 8080`}, nil},
		{"spec and rule", `{` + gw + `"service":{"name":"one"},"rules":[` + rule("") + `,` + rule(`{"name":"one","namespace":"other"}`) + `]}`,
			[]string{`add /spec/service/port 8080`, `add /spec/rules/1/service/port 9090`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, warns := mutate(t, apirule.V2, v2(tc.spec), &core.Env{Cluster: stdCluster(t)})
			if got := specOps(t, ops); !slices.Equal(got, tc.want) {
				t.Errorf("ops %q, want %q", got, tc.want)
			}
			if got := warningLines(warns); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %q, want %q", got, tc.warnings)
			}
		})
	}
}

func TestDefaultServicePortV1beta1(t *testing.T) {
	raw := v1beta1(`{"host":"a","gateway":"kyma-gateway.kyma-system.svc.cluster.local","service":{"name":"one"},` +
		`"rules":[{"path":"/.*","methods":["GET"],"service":{"name":"one","namespace":"other"},"accessStrategies":[{"handler":"allow"}]}]}`)
	ops, _ := mutate(t, apirule.V1beta1, raw, &core.Env{Cluster: stdCluster(t)})
	want := []string{`add /spec/service/port 8080`, `add /spec/rules/0/service/port 9090`}
	if got := specOps(t, ops); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// The Service is looked up in the object's namespace (which the review has
// settled: the request's, else the object's, else default).
func TestServicePortObjectNamespace(t *testing.T) {
	for ns, want := range map[string]string{"other": `add /spec/service/port 9090`, "default": `add /spec/service/port 8080`} {
		raw := `{"metadata":{"name":"r"},"spec":{"gateway":"x/y","hosts":["a"],` +
			`"service":{"name":"one"},"rules":[{"path":"/*","methods":["GET"],"noAuth":true}]}}`
		obj := &core.Object{GVK: apirule.V2, Namespace: ns, Operation: "CREATE", Typed: decode(t, apirule.V2, raw)}
		ops, _ := runObj(obj, &core.Env{Cluster: stdCluster(t)})
		if got := specOps(t, ops); !slices.Equal(got, []string{want}) {
			t.Errorf("namespace %s: got %q, want %q", ns, got, want)
		}
	}
}

func TestDefaultJWKSURI(t *testing.T) {
	jwt := func(auths string) string {
		return `{"gateway":"x/y","hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"jwt":{"authentications":[` + auths + `]}}]}`
	}
	extAuth := func(auths string) string {
		return `{"gateway":"x/y","hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"extAuth":{"authorizers":["oauth2"],"restrictions":{"authentications":[` + auths + `]}}}]}`
	}
	const idp, other = `{"issuer":"https://idp.example.com"}`, `{"issuer":"https://other.example.com"}`
	cases := []struct {
		name     string
		spec     string
		want     []string
		warnings []string
	}{
		{"discovered", jwt(idp),
			[]string{`add /spec/rules/0/jwt/authentications/0/jwksUri "https://idp.example.com/keys"`}, nil},
		{"empty jwksUri counts as unset", jwt(`{"issuer":"https://idp.example.com","jwksUri":""}`),
			[]string{`add /spec/rules/0/jwt/authentications/0/jwksUri "https://idp.example.com/keys"`}, nil},
		{"jwksUri set", jwt(`{"issuer":"https://idp.example.com","jwksUri":"https://k"}`), nil, nil},
		{"no issuer", jwt(`{"fromParams":["t"]}`), nil, nil},
		{"second of two", jwt(`{"issuer":"https://idp.example.com","jwksUri":"https://k"},` + other),
			[]string{`add /spec/rules/0/jwt/authentications/1/jwksUri "https://other.example.com/keys"`}, nil},
		{"discovery fails", jwt(`{"issuer":"https://down.example.com"}`),
			nil, []string{"default-jwks-uri spec.rules[0].jwt.authentications[0].jwksUri"}},
		{"issuer differs in document", jwt(`{"issuer":"https://mismatch.example.com"}`),
			nil, []string{"default-jwks-uri spec.rules[0].jwt.authentications[0].jwksUri"}},
		{"one fails one resolves", jwt(`{"issuer":"https://down.example.com"},` + idp),
			[]string{`add /spec/rules/0/jwt/authentications/1/jwksUri "https://idp.example.com/keys"`},
			[]string{"default-jwks-uri spec.rules[0].jwt.authentications[0].jwksUri"}},
		{"extAuth restrictions", extAuth(idp),
			[]string{`add /spec/rules/0/extAuth/restrictions/authentications/0/jwksUri "https://idp.example.com/keys"`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, warns := mutate(t, apirule.V2, v2(tc.spec), &core.Env{Trust: stdTrust()})
			if got := specOps(t, ops); !slices.Equal(got, tc.want) {
				t.Errorf("ops %q, want %q", got, tc.want)
			}
			if got := warningLines(warns); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %q, want %q", got, tc.warnings)
			}
		})
	}
}

func TestDefaultJWKSURIWarningSaysWhy(t *testing.T) {
	cases := []struct {
		name, issuer string
		tr           trust.Resolver
		fragment     string
	}{
		{"http status", "https://down.example.com", stdTrust(), "HTTP 404"},
		{"offline", "https://idp.example.com", trust.Offline{}, "network checks are disabled"},
		{"nil resolver", "https://idp.example.com", nil, "discovery is not available"},
		{"issuer mismatch", "https://mismatch.example.com", stdTrust(), `names issuer "https://mismatch.example.com/"`},
		{"no jwks_uri", "https://bare.example.com", newFakeTrust(map[string]*trust.Discovery{
			"https://bare.example.com": {Issuer: "https://bare.example.com"}}), "no jwks_uri"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := `{"gateway":"x/y","hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"jwt":{"authentications":[{"issuer":"` + tc.issuer + `"}]}}]}`
			ops, warns := mutate(t, apirule.V2, v2(spec), &core.Env{Trust: tc.tr})
			if len(ops) != 0 {
				t.Errorf("ops %q, want none", opLines(t, ops))
			}
			if len(warns) != 1 || !strings.Contains(warns[0].Message, tc.fragment) {
				t.Errorf("warnings %v, want one containing %q", warns, tc.fragment)
			}
		})
	}
}

func TestDefaultJWKSURIOneWarningPerAuthentication(t *testing.T) {
	spec := `{"gateway":"x/y","hosts":["a"],"rules":[` +
		`{"path":"/a","methods":["GET"],"jwt":{"authentications":[{"issuer":"https://idp.example.com"},{"issuer":"https://idp.example.com"}]}},` +
		`{"path":"/b","methods":["GET"],"extAuth":{"authorizers":["x"],"restrictions":{"authentications":[{"issuer":"https://other.example.com"}]}}}]}`
	want := []string{
		"default-jwks-uri spec.rules[0].jwt.authentications[0].jwksUri",
		"default-jwks-uri spec.rules[0].jwt.authentications[1].jwksUri",
		"default-jwks-uri spec.rules[1].extAuth.restrictions.authentications[0].jwksUri",
	}
	for name, tr := range map[string]trust.Resolver{"nil": nil, "offline": trust.Offline{}} {
		t.Run(name, func(t *testing.T) {
			ops, warns := mutate(t, apirule.V2, v2(spec), &core.Env{Trust: tr})
			if len(ops) != 0 {
				t.Errorf("ops %q, want none", opLines(t, ops))
			}
			if got := warningLines(warns); !slices.Equal(got, want) {
				t.Errorf("warnings %q, want %q", got, want)
			}
		})
	}
}

// With the review's trust memo, an issuer named twice is discovered once.
func TestDefaultJWKSURIDiscoversOncePerIssuer(t *testing.T) {
	spec := `{"gateway":"x/y","hosts":["a"],"rules":[` +
		`{"path":"/a","methods":["GET"],"jwt":{"authentications":[{"issuer":"https://idp.example.com"}]}},` +
		`{"path":"/b","methods":["GET"],"jwt":{"authentications":[{"issuer":"https://idp.example.com"}]}}]}`
	tr := stdTrust()
	ops, _ := mutate(t, apirule.V2, v2(spec), &core.Env{Trust: trust.Memo(tr)})
	if len(specOps(t, ops)) != 2 || tr.calls["https://idp.example.com"] != 1 {
		t.Fatalf("ops %q, discoveries %v: want 2 operations from 1 discovery", opLines(t, ops), tr.calls)
	}
}

func TestDefaultJWKSURLsV1beta1(t *testing.T) {
	rule := func(handlers string) string {
		return v1beta1(`{"host":"a","gateway":"kyma-system/kyma-gateway","rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[` + handlers + `]}]}`)
	}
	cases := []struct {
		name     string
		raw      string
		want     []string
		warnings []string
	}{
		{"one issuer", rule(`{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com"]}}`),
			[]string{`add /spec/rules/0/accessStrategies/0/config/jwks_urls ["https://idp.example.com/keys"]`}, nil},
		{"two issuers", rule(`{"handler":"allow"},{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com","https://other.example.com"]}}`),
			[]string{`add /spec/rules/0/accessStrategies/1/config/jwks_urls ["https://idp.example.com/keys","https://other.example.com/keys"]`}, nil},
		{"shared key set listed once", rule(`{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com","https://alias.example.com"]}}`),
			[]string{`add /spec/rules/0/accessStrategies/0/config/jwks_urls ["https://idp.example.com/keys"]`}, nil},
		{"one fails: nothing", rule(`{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com","https://down.example.com"]}}`),
			nil, []string{"default-jwks-uri spec.rules[0].accessStrategies[0].config.jwks_urls"}},
		{"jwks_urls set", rule(`{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com"],"jwks_urls":["https://k"]}}`), nil, nil},
		{"no trusted_issuers", rule(`{"handler":"jwt","config":{"required_scope":["read"]}}`), nil, nil},
		{"not a jwt handler", rule(`{"handler":"oauth2_introspection","config":{"trusted_issuers":["https://idp.example.com"]}}`), nil, nil},
		{"istio dialect", rule(`{"handler":"jwt","config":{"authentications":[{"issuer":"https://idp.example.com"}]}}`),
			[]string{`add /spec/rules/0/accessStrategies/0/config/authentications/0/jwksUri "https://idp.example.com/keys"`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, warns := mutate(t, apirule.V1beta1, tc.raw, &core.Env{Trust: stdTrust()})
			if got := specOps(t, ops); !slices.Equal(got, tc.want) {
				t.Errorf("ops %q, want %q", got, tc.want)
			}
			if got := warningLines(warns); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %q, want %q", got, tc.warnings)
			}
		})
	}
}
