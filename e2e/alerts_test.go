package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The chart's alerts query metrics by name; a renamed metric would leave an
// alert that never fires. Every gatewarden metric the rules name must be one
// the running gatewarden serves.
func TestPrometheusRuleNamesServedMetrics(t *testing.T) {
	requireLocal(t)
	objs := renderChartIn(t, "alerts", "gatewarden-system", "--set", "prometheusRule.enabled=true",
		"--set", "prometheusRule.certificateExpiryDays=21", "--set", "prometheusRule.notReadyFor=7m")
	var rule *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "PrometheusRule" {
			rule = o
		}
	}
	if rule == nil {
		t.Fatal("no PrometheusRule rendered with prometheusRule.enabled=true")
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	rules, _, _ := unstructured.NestedSlice(groups[0].(map[string]any), "rules")
	exprs := map[string]string{}
	fors := map[string]string{}
	for _, r := range rules {
		m := r.(map[string]any)
		exprs[m["alert"].(string)] = m["expr"].(string)
		fors[m["alert"].(string)] = m["for"].(string)
	}
	for _, a := range []string{"GatewardenServingCertificateExpiresSoon", "GatewardenWebhookCallsFailing", "GatewardenAdmissionErrors", "GatewardenWebhookNotReady"} {
		if exprs[a] == "" {
			t.Errorf("alert %s missing", a)
		}
	}
	if !strings.Contains(exprs["GatewardenServingCertificateExpiresSoon"], "< 21 * 86400") || fors["GatewardenWebhookNotReady"] != "7m" {
		t.Errorf("values not applied: %q, for %q", exprs["GatewardenServingCertificateExpiresSoon"], fors["GatewardenWebhookNotReady"])
	}
	if !strings.Contains(exprs["GatewardenWebhookNotReady"], `deployment="alerts-gatewarden"`) {
		t.Errorf("readiness alert does not select the release's Deployment: %s", exprs["GatewardenWebhookNotReady"])
	}

	// One admission, so the admission counters have series to show.
	c, _ := newClient(t)
	gw := obj(t, mutualGateway)
	gw.SetNamespace(namespace(t, nil))
	_ = c.Create(context.Background(), gw, client.DryRunAll)
	resp, err := http.Get(env.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := map[string]bool{}
	for _, l := range strings.Split(string(scrape), "\n") {
		if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
			served[strings.Fields(name)[0]] = true
		}
	}
	names := regexp.MustCompile(`\bgatewarden_[a-z_]+`)
	for alert, expr := range exprs {
		for _, n := range names.FindAllString(expr, -1) {
			if !served[n] {
				t.Errorf("alert %s queries %s, which gatewarden does not serve", alert, n)
			}
		}
	}
}
