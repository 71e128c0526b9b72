package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/audit"
	"github.com/gatewarden/gatewarden/internal/cluster"
)

// exceptionYAML is a GatewardenException in ns; checks is a flow list.
func exceptionYAML(t *testing.T, ns, name, checks, target string, expires time.Time) *unstructured.Unstructured {
	t.Helper()
	u := obj(t, fmt.Sprintf(`
apiVersion: gatewarden.io/v1alpha1
kind: GatewardenException
metadata: {name: %s}
spec:
  checks: %s
  target: %s
  reason: the service moves in next sprint
  expiresAt: %q
`, name, checks, target, expires.UTC().Format(time.RFC3339)))
	u.SetNamespace(ns)
	return u
}

// noServiceRule is an APIRule whose Service does not exist: denied by
// apirule-service alone.
func noServiceRule(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: %s}
spec:
  hosts: [%s.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: moving, port: 8000}
  rules:
  - path: /anything
    methods: [GET]
    noAuth: true
`, name, name))
	u.SetNamespace(ns)
	return u
}

// An exception for the APIRule lets the denied object in: the API server
// relays the finding as a warning naming the exception, its expiry and its
// reason. The exception is installed from the chart's CRD file.
func TestExceptionAdmitsWithWarning(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	c, w := newClient(t)
	denied(t, c.Create(ctx, noServiceRule(t, ns, "late"), client.DryRunAll), "[apirule-service]")

	expires := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	admitted(t, c.Create(ctx, exceptionYAML(t, ns, "svc-later", "[apirule-service]", "{kind: APIRule, name: late}", expires)))
	admitted(t, eventually(func() error { return c.Create(ctx, noServiceRule(t, ns, "late"), client.DryRunAll) }))
	warned(t, w, "[apirule-service]", "excepted by GatewardenException "+ns+"/svc-later until "+expires.UTC().Format(time.RFC3339), "the service moves in next sprint")

	// Another APIRule of the namespace is not covered.
	denied(t, c.Create(ctx, noServiceRule(t, ns, "other"), client.DryRunAll), "[apirule-service]")
}

// The webhook refuses exceptions that could not work or would cover too
// much, each with its field and check; the CRD's schema refuses a target
// that selects nothing.
func TestExceptionValidated(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	c, _ := newClient(t)
	soon := time.Now().Add(24 * time.Hour)
	for _, tc := range []struct {
		name      string
		u         *unstructured.Unstructured
		webhook   bool
		fragments []string
	}{
		{"blanket", exceptionYAML(t, ns, "all", `["*"]`, "{kind: APIRule, name: r}", soon), true,
			[]string{"spec.checks[0]", "`*` would except every check", "[exception-checks]"}},
		{"unknown check", exceptionYAML(t, ns, "typo", "[apirule-servce]", "{kind: APIRule, name: r}", soon), true,
			[]string{`spec.checks[0]: Invalid value: "apirule-servce": no such check`, "[exception-checks]"}},
		{"check of another kind", exceptionYAML(t, ns, "kind", "[gateway-mtls-ca]", "{kind: APIRule, name: r}", soon), true,
			[]string{"spec.checks[0]", "does not look at APIRules", "[exception-checks]"}},
		{"over-long", exceptionYAML(t, ns, "forever", "[apirule-service]", "{kind: APIRule, name: r}", time.Now().Add(365*24*time.Hour)), true,
			[]string{"spec.expiresAt", "exceptions last at most 90 days", "[exception-expiry]"}},
		{"expired", exceptionYAML(t, ns, "past", "[apirule-service]", "{kind: APIRule, name: r}", time.Now().Add(-time.Hour)), true,
			[]string{"spec.expiresAt", "already passed", "[exception-expiry]"}},
		{"no target", exceptionYAML(t, ns, "nothing", "[apirule-service]", "{kind: APIRule}", soon), false,
			[]string{"set target.name, target.matchLabels or both"}},
		{"unchecked kind", exceptionYAML(t, ns, "vs", "[apirule-service]", "{kind: VirtualService, name: r}", soon), false,
			[]string{"spec.target.kind", "supported values"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(ctx, tc.u, client.DryRunAll)
			if tc.webhook {
				denied(t, err, tc.fragments...)
				return
			}
			if err == nil || !apierrors.IsInvalid(err) {
				t.Fatalf("want the schema to refuse it, got %v", err)
			}
			for _, f := range tc.fragments {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error does not mention %q: %v", f, err)
				}
			}
		})
	}
}

// Only those bound to the chart's exception-author role may write
// exceptions: a namespace editor who may write APIRules may not, and the
// role is not aggregated into edit by default.
func TestExceptionRBAC(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)

	rendered, err := env.Helm("template", "gatewarden", filepath.Join("..", "charts", "gatewarden"), "--namespace", "gatewarden-system",
		"--show-only", "templates/exception-author.yaml")
	if err != nil {
		t.Fatal(err)
	}
	role := obj(t, string(rendered))
	if role.GetKind() != "ClusterRole" || role.GetName() != "gatewarden-exception-author" {
		t.Fatalf("rendered %s %s", role.GetKind(), role.GetName())
	}
	if l := role.GetLabels(); l["rbac.authorization.k8s.io/aggregate-to-edit"] != "" || l["rbac.authorization.k8s.io/aggregate-to-admin"] != "" {
		t.Errorf("aggregated into edit/admin by default: %v", l)
	}
	if err := env.Apply(ctx, rendered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, role) })

	// alice edits APIRules in the namespace; bob is also an exception author.
	mustCreate(t,
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "apirule-editor", Namespace: ns}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"gateway.kyma-project.io"}, Resources: []string{"apirules"}, Verbs: []string{"get", "list", "create", "update", "delete"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "editors", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "apirule-editor"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "User", Name: "bob"}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "exception-authors", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.GetName()},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob"}}},
	)
	as := func(user string) client.Client {
		path := filepath.Join(t.TempDir(), user+".kubeconfig")
		if err := env.ImpersonatingKubeconfig(path, user, "system:authenticated"); err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := as("alice"), as("bob")
	ex := exceptionYAML(t, ns, "svc-later", "[apirule-service]", "{kind: APIRule, name: late}", time.Now().Add(time.Hour))

	// alice's APIRule write reaches the webhook (RBAC let it through).
	denied(t, eventuallyDenied(func() error { return alice.Create(ctx, noServiceRule(t, ns, "late"), client.DryRunAll) }), "[apirule-service]")
	err = eventuallyDenied(func() error { return alice.Create(ctx, ex.DeepCopy(), client.DryRunAll) })
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "gatewardenexceptions") {
		t.Fatalf("alice created an exception, or was refused for another reason: %v", err)
	}
	admitted(t, eventually(func() error { return bob.Create(ctx, ex.DeepCopy()) }))
	admitted(t, eventually(func() error { return alice.Create(ctx, noServiceRule(t, ns, "late"), client.DryRunAll) }))
}

type exceptionReportResult struct {
	Rule       string            `json:"rule"`
	Result     string            `json:"result"`
	Message    string            `json:"message"`
	Properties map[string]string `json:"properties"`
	Resources  []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"resources"`
}

func exceptionReport(ns string) ([]exceptionReportResult, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(audit.PolicyReportGVK)
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: audit.ReportName}, u); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(u.Object["results"])
	if err != nil {
		return nil, err
	}
	var out []exceptionReportResult
	return out, json.Unmarshal(raw, &out)
}

func exceptionResult(res []exceptionReportResult, kind, name, rule string) *exceptionReportResult {
	for i, r := range res {
		if r.Rule == rule && len(r.Resources) == 1 && r.Resources[0].Kind == kind && r.Resources[0].Name == name {
			return &res[i]
		}
	}
	return nil
}

// The audit in the serve process reports an excepted finding as skip,
// naming the exception, and as fail once the exception has expired; the
// objects of a namespace labelled off are listed as skip.
func TestExceptionAudit(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	if err := env.RestartWith(ctx, "--audit-interval", "2s"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.RestartWith(ctx); err != nil {
			t.Errorf("restoring gatewarden: %v", err)
		}
	})
	ns := namespace(t, nil)
	off := ns + "-off"
	offNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: off, Labels: map[string]string{"gatewarden.io/enforcement": "off"}}}
	mustCreate(t, offNS)
	t.Cleanup(func() { _ = env.Client.Delete(ctx, offNS) })
	kymaGateway(t)
	c, _ := newClient(t)

	// Long enough to see it reported while it holds, short enough to
	// watch it run out.
	expires := time.Now().Add(45 * time.Second).Truncate(time.Second)
	admitted(t, c.Create(ctx, exceptionYAML(t, ns, "svc-later", "[apirule-service]", "{kind: APIRule, name: late}", expires)))
	admitted(t, eventually(func() error { return c.Create(ctx, noServiceRule(t, ns, "late")) }))
	// The webhook does not look at namespaces labelled off.
	admitted(t, c.Create(ctx, noServiceRule(t, off, "unchecked")))

	until := expires.UTC().Format(time.RFC3339)
	waitFor(t, 40*time.Second, "a skip result naming the exception", func() error {
		res, err := exceptionReport(ns)
		if err != nil {
			return err
		}
		r := exceptionResult(res, "APIRule", "late", "apirule-service")
		if r == nil || r.Result != "skip" || r.Properties["exception"] != ns+"/svc-later" ||
			!strings.Contains(r.Message, "excepted by GatewardenException "+ns+"/svc-later until "+until) {
			return fmt.Errorf("results %+v", res)
		}
		return nil
	})
	waitFor(t, 40*time.Second, "the namespace labelled off listed as skip", func() error {
		res, err := exceptionReport(off)
		if err != nil {
			return err
		}
		r := exceptionResult(res, "APIRule", "unchecked", audit.InternalCheck)
		if r == nil || r.Result != "skip" || !strings.Contains(r.Message, "labelled gatewarden.io/enforcement=off") || len(res) != 1 {
			return fmt.Errorf("results %+v", res)
		}
		return nil
	})
	waitFor(t, time.Until(expires)+60*time.Second, "a fail result after the exception expired", func() error {
		res, err := exceptionReport(ns)
		if err != nil {
			return err
		}
		r := exceptionResult(res, "APIRule", "late", "apirule-service")
		x := exceptionResult(res, "APIRule", "late", "exception-expired")
		if r == nil || r.Result != "fail" || x == nil || !strings.Contains(x.Message, ns+"/svc-later expired at "+until) {
			return fmt.Errorf("results %+v", res)
		}
		return nil
	})
}

// The exception-author role grants exactly the writes of exceptions, is
// bound to no one by the chart (gatewarden itself only reads exceptions),
// and joins edit and admin only when asked to.
func TestChartExceptionAuthorRole(t *testing.T) {
	for _, aggregate := range []bool{false, true} {
		t.Run(fmt.Sprintf("aggregateToEdit=%v", aggregate), func(t *testing.T) {
			objs := renderChartIn(t, "rel", chartNamespace, "--set", fmt.Sprintf("exceptions.aggregateToEdit=%v", aggregate))
			var role *unstructured.Unstructured
			for _, o := range objs {
				if o.GetKind() == "ClusterRole" && o.GetName() == "rel-gatewarden-exception-author" {
					role = o
				}
				if o.GetKind() == "ClusterRoleBinding" || o.GetKind() == "RoleBinding" {
					if name, _, _ := unstructured.NestedString(o.Object, "roleRef", "name"); strings.HasSuffix(name, "-exception-author") {
						t.Errorf("%s %s binds the exception-author role", o.GetKind(), o.GetName())
					}
				}
				if o.GetKind() == "ClusterRole" && o.GetName() == "rel-gatewarden" {
					rules := fmt.Sprint(o.Object["rules"])
					if !strings.Contains(rules, "apiGroups:[gatewarden.io] resources:[gatewardenexceptions] verbs:[get list watch]") {
						t.Errorf("gatewarden cannot read exceptions: %s", rules)
					}
				}
			}
			if role == nil {
				t.Fatal("no exception-author ClusterRole rendered")
			}
			if got := fmt.Sprint(role.Object["rules"]); got != "[map[apiGroups:[gatewarden.io] resources:[gatewardenexceptions] verbs:[get list watch create update patch delete]]]" {
				t.Errorf("rules %s", got)
			}
			l := role.GetLabels()
			if got := l["rbac.authorization.k8s.io/aggregate-to-edit"] == "true" && l["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"; got != aggregate {
				t.Errorf("labels %v, aggregated = %v, want %v", l, got, aggregate)
			}
		})
	}
}
