package validators

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

func wlNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// wlAPIRule is an APIRule in namespace ns routing to service svc.
func wlAPIRule(ns, svc string) *apirule.APIRule {
	ar := goodAPIRule()
	ar.Namespace = ns
	ar.Spec.Hosts = []string{"wl-" + ns}
	ar.Spec.Service = &apirule.Service{Name: arPtr(svc), Port: arPtr(int64(8000))}
	return ar
}

// wlFindings are the "check field" lines of one check.
func wlFindings(fs []core.Finding, id string) []string {
	var out []string
	for _, s := range summary(fs) {
		if strings.HasPrefix(s, id+" ") {
			out = append(out, s)
		}
	}
	return out
}

func TestAPIRuleSidecar(t *testing.T) {
	const id = "apirule-sidecar"
	app := map[string]string{"app": "web"}
	optOut := map[string]string{"app": "web", "sidecar.istio.io/inject": "false"}
	cases := []struct {
		name       string
		objs       []runtime.Object
		deny, warn []string
		fragments  []string
	}{
		{name: "injected pod", objs: []runtime.Object{wlNamespace("shop", nil), arPod("shop", "web-1", app, true)}},
		{name: "pod without sidecar, namespace without injection",
			objs: []runtime.Object{wlNamespace("shop", nil), arPod("shop", "web-1", app, false)},
			deny: []string{id + " spec.service.name"},
			fragments: []string{`pod shop/web-1, selected by service shop/web, has no istio-proxy sidecar (namespace shop has neither istio-injection=enabled nor istio.io/rev)`,
				`"Pod shop/web-1 does not have an injected istio sidecar"`, "label the namespace istio-injection=enabled"}},
		{name: "pod opted out in an injected namespace",
			objs: []runtime.Object{wlNamespace("shop", map[string]string{"istio-injection": "enabled"}), arPod("shop", "web-1", optOut, false)},
			deny: []string{id + " spec.service.name"}, fragments: []string{"it opts out with sidecar.istio.io/inject=false"}},
		{name: "ambient namespace",
			objs: []runtime.Object{wlNamespace("shop", map[string]string{"istio.io/dataplane-mode": "ambient"}), arPod("shop", "web-1", app, false)},
			deny: []string{id + " spec.service.name"}, fragments: []string{"ambient mode"}},
		{name: "pod older than the injection label",
			objs: []runtime.Object{wlNamespace("shop", map[string]string{"istio-injection": "enabled"}), arPod("shop", "web-1", app, false)},
			deny: []string{id + " spec.service.name"}, fragments: []string{"it started before injection was enabled", "restart it"}},
		{name: "one finding names the first pod and counts the rest",
			objs: []runtime.Object{wlNamespace("shop", nil), arPod("shop", "web-2", app, false), arPod("shop", "web-1", app, false), arPod("shop", "web-3", app, true)},
			deny: []string{id + " spec.service.name"}, fragments: []string{"pod shop/web-1 (and 1 more of its 3 pods)"}},
		{name: "pods of other workloads do not count",
			objs: []runtime.Object{wlNamespace("shop", nil), arPod("shop", "db-1", map[string]string{"app": "db"}, false), arPod("shop", "web-1", app, true)}},
		{name: "no pods, namespace without injection",
			objs: []runtime.Object{wlNamespace("shop", nil)},
			warn: []string{id + " spec.service.name"}, fragments: []string{"service shop/web selects no pods yet, and namespace shop has neither istio-injection=enabled nor istio.io/rev"}},
		{name: "no pods, injection disabled",
			objs: []runtime.Object{wlNamespace("shop", map[string]string{"istio-injection": "disabled", "istio.io/rev": "canary"})},
			warn: []string{id + " spec.service.name"}, fragments: []string{"namespace shop has istio-injection=disabled"}},
		{name: "no pods, injected namespace", objs: []runtime.Object{wlNamespace("shop", map[string]string{"istio-injection": "enabled"})}},
		{name: "no pods, revision label", objs: []runtime.Object{wlNamespace("shop", map[string]string{"istio.io/rev": "canary"})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := append(arCluster(), arService("shop", "web", app, 8000))
			r := run(t, wlAPIRule("shop", "web"), nil, append(objs, tc.objs...)...)
			if got := wlFindings(r.Violations, id); !reflect.DeepEqual(got, tc.deny) {
				t.Errorf("violations = %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if got := wlFindings(r.Warnings, id); !reflect.DeepEqual(got, tc.warn) {
				t.Errorf("warnings = %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			all := append(append([]core.Finding{}, r.Violations...), r.Warnings...)
			for _, f := range tc.fragments {
				if !hasFinding(all, id, "spec.service.name", f) {
					t.Errorf("no %s message with %q: %v", id, f, all)
				}
			}
		})
	}
}

func TestAPIRuleSidecarV1beta1JWTRulesOnly(t *testing.T) {
	bare := func(handler string) *apirule.V1beta1APIRule {
		return v1bRule(func(ar *apirule.V1beta1APIRule) {
			ar.Spec.Service = v1bSvc("bare", 80)
			ar.Spec.Rules[0].AccessStrategies = []*apirule.Handler{v1bHandler(handler, "")}
			if handler == "jwt" {
				ar.Spec.Rules[0].AccessStrategies[0] = v1bHandler("jwt", v1bJWTConfig)
			}
		})
	}
	if r := run(t, bare("no_auth"), nil, v1bCluster()...); len(wlFindings(r.Violations, "apirule-sidecar")) != 0 {
		t.Errorf("no_auth rule: Kyma's v1beta1 validator does not check sidecars, got %v", r.Violations)
	}
	r := run(t, bare("jwt"), nil, v1bCluster()...)
	if !hasFinding(r.Violations, "apirule-sidecar", "spec.service.name", "pod apps/bare-1") {
		t.Errorf("jwt rule: want a sidecar denial for pod apps/bare-1, got %v", r.Violations)
	}
}

// wlPodsFail is a cluster whose pod reads fail.
type wlPodsFail struct{ cluster.State }

func (wlPodsFail) Pods(context.Context, string, map[string]string) ([]*metav1.PartialObjectMetadata, error) {
	return nil, errors.New("cache not synced")
}

func TestAPIRuleSidecarReadErrorWarns(t *testing.T) {
	st, err := cluster.FromObjects(arCluster()...)
	if err != nil {
		t.Fatal(err)
	}
	r := authzRunState(t, goodAPIRule(), wlPodsFail{st}, core.DefaultPolicy)
	if len(wlFindings(r.Violations, "apirule-sidecar")) != 0 ||
		!hasFinding(r.Warnings, "apirule-sidecar", "spec.service.name", "could not read the pods of Service default/httpbin", "cache not synced") {
		t.Errorf("violations %v, warnings %v", r.Violations, r.Warnings)
	}
	// Off: the pods are not read at all.
	r = authzRunState(t, goodAPIRule(), wlPodsFail{st}, authzOff{APIRuleSidecar.ID: true})
	if got := wlFindings(r.Warnings, "apirule-sidecar"); len(got) != 0 {
		t.Errorf("check off, warnings = %v", got)
	}
}

func TestAPIRuleSharedWorkload(t *testing.T) {
	const id = "apirule-shared-workload"
	web := map[string]string{"app": "web"}
	jwtStored := func(name, svc string) runtime.Object {
		u := arStored("shop", name, "wl-"+name)
		u.Object["spec"].(map[string]any)["service"] = map[string]any{"name": svc, "port": int64(8000)}
		u.Object["spec"].(map[string]any)["rules"] = []any{map[string]any{"path": "/{**}", "methods": []any{"GET"},
			"jwt": map[string]any{"authentications": []any{map[string]any{"issuer": "https://idp.example.com", "jwksUri": "https://idp.example.com/keys"}}}}}
		return u
	}
	openStored := func(name, svc string) runtime.Object {
		u := arStored("shop", name, "wl-"+name)
		u.Object["spec"].(map[string]any)["service"] = map[string]any{"name": svc, "port": int64(8000)}
		return u
	}
	jwtRule := func(ar *apirule.APIRule) *apirule.APIRule {
		ar.Spec.Rules = []apirule.Rule{arJWTRule("/api/{**}", arOKJWT())}
		return ar
	}
	bothRules := func(ar *apirule.APIRule) *apirule.APIRule {
		ar.Spec.Rules = append(ar.Spec.Rules, arJWTRule("/api/{**}", arOKJWT()))
		return ar
	}
	base := []runtime.Object{
		wlNamespace("shop", map[string]string{"istio-injection": "enabled"}),
		arService("shop", "web", web, 8000),
		arService("shop", "web-v1", map[string]string{"app": "web", "version": "v1"}, 8000),
		arService("shop", "db", map[string]string{"app": "db"}, 8000),
		arPod("shop", "web-1", map[string]string{"app": "web", "version": "v1"}, true),
		arPod("shop", "db-1", map[string]string{"app": "db"}, true),
	}
	cases := []struct {
		name  string
		ar    *apirule.APIRule
		objs  []runtime.Object
		warn  []string
		frags []string
	}{
		{"noAuth next to another APIRule's jwt", wlAPIRule("shop", "web"), []runtime.Object{jwtStored("protected", "web")},
			[]string{id + " spec.rules[0].noAuth"}, []string{"APIRule shop/protected protects the same workload with jwt (its rule 0)", "gets 401"}},
		{"noAuth on a Service whose selector includes the other's", wlAPIRule("shop", "web-v1"), []runtime.Object{jwtStored("protected", "web")},
			[]string{id + " spec.rules[0].noAuth"}, nil},
		{"jwt next to another APIRule's noAuth", jwtRule(wlAPIRule("shop", "web")), []runtime.Object{openStored("public", "web")},
			[]string{id + " spec.rules[0].path"}, []string{"APIRule shop/public exposes the same workload without auth"}},
		{"other workload", wlAPIRule("shop", "db"), []runtime.Object{jwtStored("protected", "web")}, nil, nil},
		{"both without auth", wlAPIRule("shop", "web"), []runtime.Object{openStored("public", "web")}, nil, nil},
		{"itself, stored before an update", jwtRule(wlAPIRule("shop", "web")), []runtime.Object{openStored("x", "web")}, nil, nil},
		// Each rule once, with the first APIRule (by name) that pairs with
		// it; the search goes on past the first finding for the other rule.
		{"both sorts of rule, several others", bothRules(wlAPIRule("shop", "web")),
			[]runtime.Object{jwtStored("a-protected", "web"), jwtStored("b-protected", "web"), openStored("c-public", "web"), openStored("d-public", "web")},
			[]string{id + " spec.rules[0].noAuth", id + " spec.rules[1].path"},
			[]string{"APIRule shop/a-protected protects the same workload", "APIRule shop/c-public exposes the same workload"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.ar.Name = "x"
			r := run(t, tc.ar, nil, append(append(arCluster(), base...), tc.objs...)...)
			if got := wlFindings(r.Violations, id); len(got) != 0 {
				t.Errorf("violations = %q, want none", got)
			}
			if got := wlFindings(r.Warnings, id); !reflect.DeepEqual(got, tc.warn) {
				t.Errorf("warnings = %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			for i, f := range tc.frags {
				if !hasFinding(r.Warnings, id, strings.TrimPrefix(tc.warn[min(i, len(tc.warn)-1)], id+" "), f) {
					t.Errorf("no message with %q: %v", f, r.Warnings)
				}
			}
		})
	}
}

func TestAPIRuleCORS(t *testing.T) {
	const id = "apirule-cors"
	yes := true
	cases := []struct {
		name  string
		cors  *apirule.CorsPolicy
		opts  bool
		warn  []string
		frags []string
	}{
		{"no corsPolicy", nil, false, nil, nil},
		{"corsPolicy without OPTIONS", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"exact": "https://app.example.com"}}}, false,
			[]string{id + " spec.corsPolicy"}, []string{"no rule lists OPTIONS", "gets 404", "spec.rules[0].methods: GET, OPTIONS"}},
		{"corsPolicy with OPTIONS", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"exact": "https://app.example.com"}}}, true, nil, nil},
		{"credentials with regex .*", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"regex": ".*"}}, AllowCredentials: &yes}, true,
			[]string{id + " spec.corsPolicy.allowOrigins[0]"}, []string{"matches any origin while allowCredentials is true"}},
		{"credentials with an empty prefix", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"exact": "https://a.example.com"}, {"prefix": ""}}, AllowCredentials: &yes}, true,
			[]string{id + " spec.corsPolicy.allowOrigins[1]"}, nil},
		{"credentials with exact *", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"exact": "*"}}, AllowCredentials: &yes}, true,
			[]string{id + " spec.corsPolicy.allowOrigins[0]"}, nil},
		{"any origin without credentials", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"regex": ".*"}}}, true, nil, nil},
		{"credentials with listed origins", &apirule.CorsPolicy{AllowOrigins: []map[string]string{{"regex": `https://.*\.example\.com`}}, AllowCredentials: &yes}, true, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar := goodAPIRule()
			ar.Spec.CorsPolicy = tc.cors
			if tc.opts {
				ar.Spec.Rules[0].Methods = []string{"GET", "OPTIONS"}
			}
			r := run(t, ar, nil, arCluster()...)
			if got := wlFindings(r.Violations, id); len(got) != 0 {
				t.Errorf("violations = %q, want none", got)
			}
			if got := wlFindings(r.Warnings, id); !reflect.DeepEqual(got, tc.warn) {
				t.Errorf("warnings = %q, want %q\n%v", got, tc.warn, r.Warnings)
			}
			for _, f := range tc.frags {
				if !hasFinding(r.Warnings, id, strings.TrimPrefix(tc.warn[0], id+" "), f) {
					t.Errorf("no message with %q: %v", f, r.Warnings)
				}
			}
		})
	}
}

func TestAPIRuleV1beta1RuleDuplicate(t *testing.T) {
	const id = "apirule-rule-duplicate"
	rule := func(path string, methods ...string) apirule.V1beta1Rule {
		return apirule.V1beta1Rule{Path: path, Methods: methods, AccessStrategies: []*apirule.Handler{{Name: "no_auth"}}}
	}
	cases := []struct {
		name  string
		rules []apirule.V1beta1Rule
		deny  []string
		frag  string
	}{
		{"same path, shared method", []apirule.V1beta1Rule{rule("/headers", "GET"), rule("/headers", "GET", "POST")},
			[]string{id + " spec.rules[1].path"}, `rule 0 already has this path for GET: Kyma refuses the APIRule ("multiple rules defined for the same path and method")`},
		{"same path, other methods", []apirule.V1beta1Rule{rule("/headers", "GET"), rule("/headers", "POST")}, nil, ""},
		{"same path, no methods", []apirule.V1beta1Rule{rule("/headers"), rule("/headers")}, []string{id + " spec.rules[1].path"}, "rule 0 already has this path:"},
		// v1beta1 paths are regular expressions: Kyma compares them as written.
		{"paths that overlap as regexes", []apirule.V1beta1Rule{rule("/.*", "GET"), rule("/headers", "GET")}, nil, ""},
		{"reported once per rule", []apirule.V1beta1Rule{rule("/a", "GET"), rule("/a", "GET"), rule("/a", "GET")},
			[]string{id + " spec.rules[1].path", id + " spec.rules[2].path"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar := v1bRule(func(ar *apirule.V1beta1APIRule) { ar.Spec.Rules = tc.rules })
			r := run(t, ar, nil, v1bCluster()...)
			if got := wlFindings(r.Violations, id); !reflect.DeepEqual(got, tc.deny) {
				t.Errorf("violations = %q, want %q\n%v", got, tc.deny, r.Violations)
			}
			if tc.frag != "" && !hasFinding(r.Violations, id, "spec.rules[1].path", tc.frag) {
				t.Errorf("no message with %q: %v", tc.frag, r.Violations)
			}
		})
	}
}

func TestAPIRuleV1beta1JWTEqualityAcrossRules(t *testing.T) {
	withHeader := `{"authentications":[{"issuer":"https://idp.example.com","jwksUri":"https://idp.example.com/keys","fromHeaders":[{"name":"x-jwt"}]}]}`
	ar := v1bRule(func(ar *apirule.V1beta1APIRule) {
		ar.Spec.Rules = []apirule.V1beta1Rule{
			{Path: "/a", Methods: []string{"GET"}, AccessStrategies: []*apirule.Handler{v1bHandler("jwt", v1bJWTConfig)}},
			{Path: "/b", Methods: []string{"GET"}, AccessStrategies: []*apirule.Handler{v1bHandler("jwt", withHeader)}},
		}
	})
	r := run(t, ar, nil, v1bCluster()...)
	if !hasFinding(r.Violations, "apirule-jwt", "spec.rules[1].accessStrategies[0].config.authentications[0]", "multiple jwt configurations that differ for the same issuer") {
		t.Errorf("violations: %v", r.Violations)
	}
}
