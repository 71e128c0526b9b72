package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/internal/gcpace"
)

const mutualGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mtls}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: MUTUAL}
`

const plainGateway = `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: plain}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
`

func TestGatewayMutualWithoutCADenied(t *testing.T) {
	ns := namespace(t, nil)
	c, _ := newClient(t)
	gw := obj(t, mutualGateway)
	gw.SetNamespace(ns)
	err := c.Create(context.Background(), gw)
	denied(t, err, "spec.servers[0].tls.credentialName", "gateway-mtls-credential", `Gateway "mtls" is invalid`)

	// Every served version goes through the same checks.
	for _, v := range []string{"networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"} {
		gw := obj(t, mutualGateway)
		gw.SetNamespace(ns)
		gw.SetAPIVersion(v)
		denied(t, c.Create(context.Background(), gw), "spec.servers[0].tls.credentialName")
	}
}

func TestPlainGatewayAdmittedAndUpdateChecked(t *testing.T) {
	ns := namespace(t, nil)
	c, w := newClient(t)
	gw := obj(t, plainGateway)
	gw.SetNamespace(ns)
	admitted(t, c.Create(context.Background(), gw))
	if len(w.all()) != 0 {
		t.Errorf("a plain HTTP gateway should draw no warnings, got %q", w.all())
	}

	// An update that breaks it is refused and the stored object is unchanged.
	bad := obj(t, mutualGateway)
	bad.SetNamespace(ns)
	bad.SetName("plain")
	bad.SetResourceVersion(gw.GetResourceVersion())
	denied(t, c.Update(context.Background(), bad), "spec.servers[0].tls.credentialName")
	stored := obj(t, plainGateway)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "plain"}, stored); err != nil {
		t.Fatal(err)
	}
	servers, _, _ := unstructuredSlice(stored.Object, "spec", "servers")
	if len(servers) != 1 || strings.Contains(toJSON(t, servers), "MUTUAL") {
		t.Errorf("stored object changed: %s", toJSON(t, servers))
	}
}

func TestDryRunHasNoSideEffects(t *testing.T) {
	ns := namespace(t, nil)
	c, _ := newClient(t)
	bad := obj(t, mutualGateway)
	bad.SetNamespace(ns)
	denied(t, c.Create(context.Background(), bad, client.DryRunAll), "spec.servers[0].tls.credentialName")

	good := obj(t, plainGateway)
	good.SetNamespace(ns)
	admitted(t, c.Create(context.Background(), good, client.DryRunAll))
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "plain"}, obj(t, plainGateway)); err == nil {
		t.Fatal("a dry-run create stored the object")
	}
}

func TestAPIRuleV1beta1Warned(t *testing.T) {
	ns := namespace(t, nil)
	c, w := newClient(t)
	rule := obj(t, `
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: legacy}
spec:
  host: legacy.example.com
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /.*
    methods: [GET]
    accessStrategies: [{handler: noop}]
`)
	rule.SetNamespace(ns)
	_ = c.Create(context.Background(), rule, client.DryRunAll)
	warned(t, w, "apirule-v1beta1-deprecated", "gateway.kyma-project.io/v2", "noAuth")
}

func TestNamespaceLabelSoftensAndExempts(t *testing.T) {
	c, w := newClient(t)
	warnNS := namespace(t, map[string]string{"gatewarden.io/enforcement": "warn"})
	gw := obj(t, mutualGateway)
	gw.SetNamespace(warnNS)
	admitted(t, c.Create(context.Background(), gw, client.DryRunAll))
	warned(t, w, "spec.servers[0].tls.credentialName", "gateway-mtls-credential")

	offNS := namespace(t, map[string]string{"gatewarden.io/enforcement": "off"})
	gw = obj(t, mutualGateway)
	gw.SetNamespace(offNS)
	admitted(t, c.Create(context.Background(), gw, client.DryRunAll))
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	requireLocal(t)
	hc := env.TLSClient()
	for name, body := range map[string]string{
		"not json":      "{{{",
		"not a review":  `{"kind":"Pod"}`,
		"no object":     `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"networking.istio.io","version":"v1","kind":"Gateway"},"operation":"CREATE"}}`,
		"truncated":     `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":`,
		"broken object": `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"networking.istio.io","version":"v1","kind":"Gateway"},"operation":"CREATE","object":{"spec":{"servers":"nope"}}}}`,
	} {
		resp, err := hc.Post(env.WebhookURL+"/validate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(out, []byte(`"allowed":false`)) || !bytes.Contains(out, []byte(`"message":"`)) {
			t.Errorf("%s: want a refusal with a message, got %d %s", name, resp.StatusCode, out)
		}
	}
	// One byte over the 7 MiB limit: the server stops reading at the limit
	// and the byte left over is small enough for it to drain, so the answer
	// reaches the client instead of a reset connection.
	big := bytes.Repeat([]byte("a"), 7<<20+1)
	resp, err := hc.Post(env.WebhookURL+"/validate", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatalf("oversized body: %v", err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(out, []byte("too large")) || !bytes.Contains(out, []byte(`"allowed":false`)) {
		t.Errorf("oversized body: want a refusal saying it is too large, got %d %s", resp.StatusCode, out)
	}
	// Still serving after all that.
	r, err := http.Get(env.ProbeURL + "/healthz")
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("healthz after bad input: %v %v", r, err)
	}
	r.Body.Close()
}

func TestMetricsExposed(t *testing.T) {
	requireLocal(t)
	// Make sure at least one decision has been counted.
	c, _ := newClient(t)
	ns := namespace(t, nil)
	gw := obj(t, mutualGateway)
	gw.SetNamespace(ns)
	_ = c.Create(context.Background(), gw, client.DryRunAll)
	resp, err := http.Get(env.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gatewarden_admission_decisions_total{decision="denied",kind="Gateway",operation="CREATE"}`,
		`gatewarden_check_results_total{check="gateway-mtls-credential",result="deny"}`,
		`gatewarden_admission_duration_seconds_bucket{kind="Gateway",webhook="validate",le="0.0001"}`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The chart's memory limit reaches gatewarden as GOMEMLIMIT, and gatewarden
// paces its collector to a share of it: with the little this suite stores,
// the heap may grow by gcpace.MaxPercent between collections.
func TestCollectorPacedToTheMemoryLimit(t *testing.T) {
	requireLocal(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	chartEnv, err := framework.ChartEnv(root)
	if err != nil || len(chartEnv) != 1 {
		t.Fatalf("the chart's environment: %v, %v", chartEnv, err)
	}
	limit, err := metricValue("go_gc_gomemlimit_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("GOMEMLIMIT=%.0f", limit); got != chartEnv[0] {
		t.Errorf("gatewarden runs with %s, the chart gives %s", got, chartEnv[0])
	}
	// The pacer chooses after each collection; an idle Go process still
	// collects every two minutes.
	var gogc float64
	for deadline := time.Now().Add(150 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if gogc, err = metricValue("go_gc_gogc_percent"); err == nil && gogc == gcpace.MaxPercent {
			return
		}
	}
	t.Fatalf("go_gc_gogc_percent is %v (%v), want %d", gogc, err, gcpace.MaxPercent)
}

// The webhook's TLS: 1.2 at least, and HTTP/2 off unless --enable-http2
// (HTTP/2 rapid reset, CVE-2023-44487).
func TestWebhookTLSVersionAndNoHTTP2(t *testing.T) {
	requireLocal(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.PKI.CAPEM)
	addr := strings.TrimPrefix(env.WebhookURL, "https://")

	old := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} //nolint:gosec // the point of the test
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS 1.2+ handshake: %v", err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Errorf("negotiated %q: HTTP/2 is on by default", p)
	}
}
