package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/review"
)

// The chart is checked against the real API server: every object of every
// mode is created with server-side dry-run, so schema, CRD validation and
// references between kinds are the API server's verdict, not a linter's.

const chartNamespace = "gatewarden-chart"

var chartDir = filepath.Join("..", "charts", "gatewarden")

type chartMode struct {
	name    string
	release string
	args    []string
	// skipped are the kinds whose CRD the test control plane lacks.
	skipped []string
}

func chartModes() []chartMode {
	return []chartMode{
		{name: "self-managed", release: "chart-self"},
		{name: "cert-manager", release: "chart-cm", args: []string{"--set", "certManager.enabled=true"}},
		{name: "url", release: "chart-url", args: []string{"--set", "webhook.url=https://127.0.0.1:9443", "--set", "webhook.caBundle=Cg=="}},
		{name: "extras", release: "chart-extras", args: []string{
			"--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true",
			"--set", "networkPolicy.egress[0].ports[0].port=443",
			"--set", "trust.allowCIDRs={10.0.0.0/8}",
			"--set-string", "trust.caBundle=" + chartTestCA,
			"--set", "priorityClassName=system-cluster-critical",
			"--set", "webhook.mutating.enabled=false", "--set", "webhook.failurePolicy=Ignore",
			"--set", "gatewayNamespaces={istio-system,kyma-system}",
			"--set", "meshConfigNamespace=kyma-system",
		}, skipped: []string{"ServiceMonitor"}},
	}
}

// chartTestCA is any PEM certificate; the chart only mounts it.
const chartTestCA = `-----BEGIN CERTIFICATE-----
MIIBeTCCAR+gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDEwlnYXRld2Fy
ZGVuMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFDESMBAGA1UEAxMJ
Z2F0ZXdhcmRlbjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA==
-----END CERTIFICATE-----`

func renderChart(t *testing.T, m chartMode) []*unstructured.Unstructured {
	t.Helper()
	return renderChartIn(t, m.release, chartNamespace, m.args...)
}

// renderChartIn renders the chart for release in ns with extra helm args.
func renderChartIn(t *testing.T, release, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := env.Helm(append([]string{"template", release, chartDir, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("rendered chart is not YAML: %v\n%s", err, doc)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		// UnmarshalJSON keeps integers int64, as the API server's objects have them.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("rendered object: %v\n%s", err, doc)
		}
		objs = append(objs, u)
	}
}

func chartNS(t *testing.T) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, n := range []string{"istio-system", "kyma-system"} {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: n}, &corev1.Namespace{}); err != nil {
			t.Fatalf("namespace %s (Roles go there): %v", n, err)
		}
	}
}

func TestChartLint(t *testing.T) {
	for _, m := range chartModes() {
		if out, err := env.Helm(append([]string{"lint", chartDir, "--strict", "--namespace", chartNamespace}, m.args...)...); err != nil {
			t.Errorf("%s: %v\n%s", m.name, err, out)
		}
	}
}

// TestChartDryRun applies every rendered object of every mode with
// server-side dry-run.
func TestChartDryRun(t *testing.T) {
	chartNS(t)
	for _, m := range chartModes() {
		t.Run(m.name, func(t *testing.T) {
			objs := renderChart(t, m)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
			var skipped []string
			for _, o := range objs {
				gvk := o.GroupVersionKind()
				if _, err := env.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
					if meta.IsNoMatchError(err) {
						skipped = append(skipped, gvk.Kind)
						continue
					}
					t.Fatalf("%s: %v", gvk, err)
				}
				if err := env.Client.Create(context.Background(), o, client.DryRunAll); err != nil {
					t.Errorf("%s %s/%s refused: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
				}
			}
			if !slices.Equal(skipped, m.skipped) {
				t.Errorf("skipped kinds without CRD %v, want exactly %v", skipped, m.skipped)
			}
		})
	}
}

func chartKinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.GetKind())
	}
	sort.Strings(ks)
	return slices.Compact(ks)
}

func chartFind(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func chartNested[T any](t *testing.T, o *unstructured.Unstructured, fields ...string) T {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, fields...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no %s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	}
	tv, ok := v.(T)
	if !ok {
		t.Fatalf("%s %s: %s is %T", o.GetKind(), o.GetName(), strings.Join(fields, "."), v)
	}
	return tv
}

func chartContainer(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	cs := chartNested[[]any](t, chartFind(t, objs, "Deployment", ""), "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)
}

func chartArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	for _, a := range chartContainer(t, objs)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func TestChartModes(t *testing.T) {
	all := []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "MutatingWebhookConfiguration",
		"PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount", "ValidatingWebhookConfiguration",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	for _, tc := range []struct {
		mode  chartMode
		kinds []string
	}{
		{chartModes()[0], append(slices.Clone(all), "Secret")},
		{chartModes()[1], append(slices.Clone(all), "Certificate", "Issuer")},
		{chartModes()[2], []string{"ClusterRole", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}},
		{chartModes()[3], append(slices.DeleteFunc(slices.Clone(all), func(k string) bool { return k == "MutatingWebhookConfiguration" }),
			"NetworkPolicy", "Secret", "ServiceMonitor")},
	} {
		t.Run(tc.mode.name, func(t *testing.T) {
			objs := renderChart(t, tc.mode)
			want := slices.Clone(tc.kinds)
			sort.Strings(want)
			if got := chartKinds(objs); !slices.Equal(got, want) {
				t.Errorf("kinds %v\nwant  %v", got, want)
			}
		})
	}

	t.Run("self-managed details", func(t *testing.T) {
		objs := renderChart(t, chartModes()[0])
		a := chartArgs(t, objs)
		for _, want := range []string{"--self-managed-certs", "--cert-secret=" + chartNamespace + "/chart-self-gatewarden-cert",
			"--service-name=chart-self-gatewarden", "--validating-webhook-config-name=chart-self-gatewarden",
			"--mutating-webhook-config-name=chart-self-gatewarden", "--secret-namespaces=istio-system", "--shutdown-delay=5s",
			"--mesh-config-namespace=istio-system"} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
		vols := chartNested[[]any](t, chartFind(t, objs, "Deployment", ""), "spec", "template", "spec", "volumes")
		if !strings.Contains(fmt.Sprint(vols), "emptyDir") {
			t.Errorf("self-managed certificates need a writable cert dir: %v", vols)
		}
		for _, k := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
			if len(chartFind(t, objs, k, "").GetAnnotations()) != 0 {
				t.Errorf("%s has annotations %v; gatewarden injects the CA itself", k, chartFind(t, objs, k, "").GetAnnotations())
			}
		}
	})

	t.Run("cert-manager details", func(t *testing.T) {
		objs := renderChart(t, chartModes()[1])
		for _, o := range objs {
			if o.GetKind() == "ValidatingWebhookConfiguration" || o.GetKind() == "MutatingWebhookConfiguration" {
				from := o.GetAnnotations()["cert-manager.io/inject-ca-from"]
				if from != chartNamespace+"/chart-cm-gatewarden" {
					t.Errorf("%s inject-ca-from %q", o.GetKind(), from)
				}
				chartFind(t, objs, "Certificate", strings.TrimPrefix(from, chartNamespace+"/"))
			}
		}
		serving := chartFind(t, objs, "Certificate", "chart-cm-gatewarden")
		dns := fmt.Sprint(chartNested[[]any](t, serving, "spec", "dnsNames"))
		if !strings.Contains(dns, "chart-cm-gatewarden."+chartNamespace+".svc") {
			t.Errorf("serving certificate names %s, not the Service", dns)
		}
		issuer := chartNested[string](t, serving, "spec", "issuerRef", "name")
		caSecret := chartNested[string](t, chartFind(t, objs, "Issuer", issuer), "spec", "ca", "secretName")
		ca := chartFind(t, objs, "Certificate", "chart-cm-gatewarden-ca")
		if !chartNested[bool](t, ca, "spec", "isCA") || chartNested[string](t, ca, "spec", "secretName") != caSecret {
			t.Errorf("CA issuer %s does not use the CA certificate's Secret", issuer)
		}
		chartNested[map[string]any](t, chartFind(t, objs, "Issuer", chartNested[string](t, ca, "spec", "issuerRef", "name")), "spec", "selfSigned")
		if slices.Contains(chartArgs(t, objs), "--self-managed-certs") {
			t.Error("cert-manager mode also manages its own certificates")
		}
		vols := fmt.Sprint(chartNested[[]any](t, chartFind(t, objs, "Deployment", ""), "spec", "template", "spec", "volumes"))
		if !strings.Contains(vols, chartNested[string](t, serving, "spec", "secretName")) {
			t.Errorf("pod does not mount the serving certificate's Secret: %s", vols)
		}
		for _, o := range objs {
			if strings.HasSuffix(o.GetName(), "-certs") {
				t.Errorf("%s %s: certificate-management RBAC in cert-manager mode", o.GetKind(), o.GetName())
			}
		}
	})

	t.Run("extras details", func(t *testing.T) {
		objs := renderChart(t, chartModes()[3])
		a := chartArgs(t, objs)
		for _, want := range []string{"--allow-cidr=10.0.0.0/8", "--ca-file=/etc/gatewarden/trust/ca.crt",
			"--mutating-webhook-config-name=", "--secret-namespaces=istio-system,kyma-system", "--mesh-config-namespace=kyma-system"} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
		// gatewarden reads the mesh ConfigMap where its Role lets it.
		if ns := chartFind(t, objs, "Role", "chart-extras-gatewarden-meshconfig").GetNamespace(); ns != "kyma-system" {
			t.Errorf("mesh config Role in %q, want kyma-system as --mesh-config-namespace says", ns)
		}
		trust := chartFind(t, objs, "ConfigMap", "chart-extras-gatewarden-trust")
		if strings.TrimSpace(chartNested[string](t, trust, "data", "ca.crt")) != chartTestCA {
			t.Error("trust ConfigMap does not hold trust.caBundle")
		}
		if p := chartNested[string](t, chartFind(t, objs, "Deployment", ""), "spec", "template", "spec", "priorityClassName"); p != "system-cluster-critical" {
			t.Errorf("priorityClassName %q", p)
		}
		wh := chartNested[[]any](t, chartFind(t, objs, "ValidatingWebhookConfiguration", ""), "webhooks")[0].(map[string]any)
		if wh["failurePolicy"] != "Ignore" {
			t.Errorf("failurePolicy %v, want Ignore from values", wh["failurePolicy"])
		}
		types := fmt.Sprint(chartNested[[]any](t, chartFind(t, objs, "NetworkPolicy", ""), "spec", "policyTypes"))
		if types != "[Ingress Egress]" {
			t.Errorf("policyTypes %s", types)
		}
	})
}

// TestChartProductionDefaults pins what keeps the webhook available and the
// pod locked down.
func TestChartProductionDefaults(t *testing.T) {
	objs := renderChart(t, chartModes()[0])
	dep := chartFind(t, objs, "Deployment", "")
	if r := chartNested[int64](t, dep, "spec", "replicas"); r != 2 {
		t.Errorf("replicas %d", r)
	}
	if u := chartNested[int64](t, dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"); u != 0 {
		t.Errorf("maxUnavailable %d", u)
	}
	res := chartContainer(t, objs)["resources"]
	if got := fmt.Sprint(res); !strings.Contains(got, "requests:map[cpu:50m memory:64Mi]") || !strings.Contains(got, "limits:map[memory:512Mi]") {
		t.Errorf("resources %s: want cpu and memory requests and a memory limit", got)
	}
	if m := chartNested[int64](t, chartFind(t, objs, "PodDisruptionBudget", ""), "spec", "minAvailable"); m != 1 {
		t.Errorf("PDB minAvailable %d", m)
	}
	spread := chartNested[[]any](t, dep, "spec", "template", "spec", "topologySpreadConstraints")[0].(map[string]any)
	if spread["topologyKey"] != "kubernetes.io/hostname" || spread["whenUnsatisfiable"] != "ScheduleAnyway" {
		t.Errorf("topology spread %v", spread)
	}
	if g := chartNested[int64](t, dep, "spec", "template", "spec", "terminationGracePeriodSeconds"); g <= 5+10 {
		t.Errorf("terminationGracePeriodSeconds %d does not cover the 5 s shutdown delay and drain", g)
	}
	pod := chartNested[map[string]any](t, dep, "spec", "template", "spec", "securityContext")
	if pod["runAsNonRoot"] != true || fmt.Sprint(pod["seccompProfile"]) != "map[type:RuntimeDefault]" {
		t.Errorf("pod securityContext %v", pod)
	}
	c := chartContainer(t, objs)
	sc := c["securityContext"].(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || fmt.Sprint(sc["capabilities"]) != "map[drop:[ALL]]" {
		t.Errorf("container securityContext %v", sc)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		p := c[probe].(map[string]any)["httpGet"].(map[string]any)
		if p["path"] != path || p["port"] != "probes" {
			t.Errorf("%s %v", probe, p)
		}
	}
	if fmt.Sprint(c["ports"]) == "" || !strings.Contains(fmt.Sprint(c["ports"]), "containerPort:8081") {
		t.Errorf("probe port 8081 not declared: %v", c["ports"])
	}
	svcPorts := fmt.Sprint(chartNested[[]any](t, chartFind(t, objs, "Service", ""), "spec", "ports"))
	for _, want := range []string{"port:443", "targetPort:webhook", "port:8080"} {
		if !strings.Contains(svcPorts, want) {
			t.Errorf("Service ports %s lack %s", svcPorts, want)
		}
	}

	// The rendered config file is one gatewarden accepts.
	cm := chartFind(t, objs, "ConfigMap", "chart-self-gatewarden")
	if _, err := config.Parse([]byte(chartNested[string](t, cm, "data", "config.yaml"))); err != nil {
		t.Errorf("rendered config refused by gatewarden: %v", err)
	}

	for _, k := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		wh := chartNested[[]any](t, chartFind(t, objs, k, ""), "webhooks")[0].(map[string]any)
		if wh["sideEffects"] != "None" || fmt.Sprint(wh["admissionReviewVersions"]) != "[v1]" || wh["timeoutSeconds"] != int64(5) ||
			wh["failurePolicy"] != "Fail" || wh["matchPolicy"] != "Equivalent" {
			t.Errorf("%s: %v", k, wh)
		}
		sel := fmt.Sprint(wh["namespaceSelector"])
		if !strings.Contains(sel, "values:[kube-system "+chartNamespace+"]") {
			t.Errorf("%s namespaceSelector %s does not exclude kube-system and the release namespace", k, sel)
		}
		svc := fmt.Sprint(wh["clientConfig"])
		if !strings.Contains(svc, "name:chart-self-gatewarden") || !strings.Contains(svc, "port:443") {
			t.Errorf("%s clientConfig %s", k, svc)
		}
	}
}

// TestChartLeastPrivilege: reads only, Secrets only by Role in the gateway
// namespaces, writes only to named objects for certificate management, and
// to the audit's own results (OpenReports, PolicyReports, Events) and its
// leader lease.
func TestChartLeastPrivilege(t *testing.T) {
	readOnly := []string{"get", "list", "watch"}
	for _, m := range []chartMode{chartModes()[0], chartModes()[1], chartModes()[3]} {
		t.Run(m.name, func(t *testing.T) {
			objs := renderChart(t, m)
			secretRoles := map[string]bool{}
			gatewayNS := map[string]bool{"istio-system": true}
			if m.name == "extras" {
				gatewayNS["kyma-system"] = true
			}
			for _, o := range objs {
				if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
					continue
				}
				if o.GetKind() == "ClusterRole" && (strings.HasSuffix(o.GetName(), "-exception-author") || strings.HasSuffix(o.GetName(), "-enforcement-label-admin")) {
					continue // for people, bound by the operator: TestChartExceptionAuthorRole, TestHostileEnforcementLabelPolicy
				}
				for _, r := range chartNested[[]any](t, o, "rules") {
					rule := r.(map[string]any)
					verbs := fmt.Sprint(rule["verbs"])
					resources := fmt.Sprint(rule["resources"])
					names, named := rule["resourceNames"]
					auditOwn := resources == "[policyreports]" || resources == "[events]" ||
						(resources == "[reports]" && fmt.Sprint(rule["apiGroups"]) == "[openreports.io]") ||
						(resources == "[leases]" && o.GetKind() == "Role" && o.GetNamespace() == chartNamespace)
					for _, v := range rule["verbs"].([]any) {
						if auditOwn {
							continue
						}
						if !slices.Contains(readOnly, v.(string)) && !named {
							t.Errorf("%s %s: %s on %s without resourceNames", o.GetKind(), o.GetName(), verbs, resources)
						}
						if v == "*" || v == "create" || v == "delete" {
							t.Errorf("%s %s: verb %s", o.GetKind(), o.GetName(), v)
						}
					}
					if strings.Contains(resources, "*") {
						t.Errorf("%s %s: wildcard resources", o.GetKind(), o.GetName())
					}
					if strings.Contains(resources, "secrets") {
						if o.GetKind() == "ClusterRole" {
							t.Errorf("ClusterRole %s grants Secrets", o.GetName())
						}
						if !named {
							secretRoles[o.GetNamespace()] = true
						} else if m.name == "self-managed" && fmt.Sprint(names) != "[chart-self-gatewarden-cert]" {
							t.Errorf("Secret update beyond the cert Secret: %v", names)
						}
					}
					meshNS := "istio-system"
					if m.name == "extras" {
						meshNS = "kyma-system" // meshConfigNamespace in that mode
					}
					// ConfigMaps: the mesh ConfigMap by name, and every one in a
					// gateway namespace (client CAs named configmap://), as Secrets.
					if strings.Contains(resources, "configmaps") && (o.GetKind() != "Role" ||
						(named && (o.GetNamespace() != meshNS || fmt.Sprint(names) != "[istio]")) ||
						(!named && !gatewayNS[o.GetNamespace()])) {
						t.Errorf("%s %s/%s: ConfigMaps beyond %s/istio and the gateway namespaces", o.GetKind(), o.GetNamespace(), o.GetName(), meshNS)
					}
				}
			}
			want := map[string]bool{"istio-system": true}
			if m.name == "extras" {
				want["kyma-system"] = true
			}
			if m.name != "cert-manager" {
				want[chartNamespace] = true // the rotator's own Secret
			}
			if fmt.Sprint(secretRoles) != fmt.Sprint(want) {
				t.Errorf("Secrets readable in %v, want %v", secretRoles, want)
			}
		})
	}
}

func TestChartRejectsBadValues(t *testing.T) {
	for set, want := range map[string]string{
		"webhook.failurePolicy=Never":       "failurePolicy",
		"webhook.timeoutSeconds=31":         "timeoutSeconds",
		"replicaCount=0":                    "replicaCount",
		"config.checks.some-check=block":    "config/checks",
		"config.unknownKey=1":               "unknownKey",
		"replicacount=3":                    "replicacount",
		"config.settings.bogus=1":           "/config/settings",
		"config.defaults.bogus=1":           "/config/defaults",
		"config.settings.minTLSVersion=1.2": "minTLSVersion",
		"webhook.url=https://127.0.0.1":     "caBundle",
		"terminationGracePeriodSeconds=8":   "must exceed shutdownDelaySeconds",
		"admissionBudget=5s":                "must be below webhook.timeoutSeconds",
		"admissionBudget=2m":                "seconds or milliseconds",
	} {
		_, err := env.Helm("template", "bad", chartDir, "--namespace", chartNamespace, "--set", set)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: want an error mentioning %q, got %v", set, want, err)
		}
	}
}

// The chart's webhook rules route exactly the kinds, versions and
// resources of the table of kinds: a version added to one and not the other
// would go unchecked, or reach a webhook that cannot decode it.
func TestChartRulesMatchKinds(t *testing.T) {
	rendered, err := env.RenderWebhooks()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range review.Kinds {
		for _, v := range k.Versions {
			want[k.Group+"/"+v.Name+"/"+k.Resource] = true
		}
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	configs := 0
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		configs++
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		for _, h := range hooks {
			got := map[string]bool{}
			rules, _, _ := unstructured.NestedSlice(h.(map[string]any), "rules")
			for _, r := range rules {
				rm := r.(map[string]any)
				groups, _, _ := unstructured.NestedStringSlice(rm, "apiGroups")
				versions, _, _ := unstructured.NestedStringSlice(rm, "apiVersions")
				resources, _, _ := unstructured.NestedStringSlice(rm, "resources")
				for _, g := range groups {
					for _, v := range versions {
						for _, res := range resources {
							got[g+"/"+v+"/"+res] = true
						}
					}
				}
			}
			for k := range want {
				if !got[k] {
					t.Errorf("%s %s: the table of kinds has %s, the chart's rules do not route it", u.GetKind(), h.(map[string]any)["name"], k)
				}
			}
			for k := range got {
				if !want[k] {
					t.Errorf("%s %s: the chart routes %s, which the table of kinds does not know", u.GetKind(), h.(map[string]any)["name"], k)
				}
			}
		}
	}
	if configs != 2 {
		t.Fatalf("want a validating and a mutating configuration, got %d", configs)
	}
}
