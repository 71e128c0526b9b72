package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gatewarden/gatewarden/audit"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// mtlsSetup is a MUTUAL Gateway in its own namespace whose credential
// secret in istio-system can be switched between a valid and an expired
// client CA.
type mtlsSetup struct {
	ns, gateway, secret, host string
	ca, leaf, expiredCA       *pkitest.Cert
}

func newMTLSSetup(t *testing.T) *mtlsSetup {
	t.Helper()
	ns := namespace(t, nil)
	s := &mtlsSetup{ns: ns, gateway: "mtls", secret: "audit-" + ns, host: ns + ".example.com"}
	now := time.Now()
	s.ca = pkitest.New(t, pkitest.Options{CN: "client-ca", CA: true})
	s.leaf = pkitest.New(t, pkitest.Options{CN: s.host, DNSNames: []string{s.host}, Parent: s.ca})
	s.expiredCA = pkitest.New(t, pkitest.Options{CN: "expired-client-ca", CA: true,
		NotBefore: now.Add(-2 * 365 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})

	mustCreate(t, s.secretObject(false))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), s.secretObject(false)) })

	// The webhook sees the secret through its cache: retry until it does.
	c, _ := newClient(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Create(context.Background(), s.gatewayObject(t, s.secret))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating the MUTUAL gateway with a valid secret: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s
}

func (s *mtlsSetup) secretObject(expired bool) *corev1.Secret {
	ca := s.ca.CertPEM
	if expired {
		ca = s.expiredCA.CertPEM
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: s.secret},
		Data:       map[string][]byte{"cert": s.leaf.CertPEM, "key": s.leaf.KeyPEM, "cacert": ca},
	}
}

func (s *mtlsSetup) gatewayObject(t *testing.T, credential string) *unstructured.Unstructured {
	gw := obj(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %s}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [%q]
    tls: {mode: MUTUAL, credentialName: %s}
`, s.gateway, s.host, credential))
	gw.SetNamespace(s.ns)
	return gw
}

// setExpired swaps the client CA in the secret (Secrets are not checked on
// admission, so this is how a stored Gateway goes bad).
func (s *mtlsSetup) setExpired(t *testing.T, expired bool) {
	t.Helper()
	cur := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "istio-system", Name: s.secret}, cur); err != nil {
		t.Fatal(err)
	}
	cur.Data = s.secretObject(expired).Data
	if err := env.Client.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type policyReportResult struct {
	Rule      string `json:"rule"`
	Result    string `json:"result"`
	Message   string `json:"message"`
	Policy    string `json:"policy"`
	Source    string `json:"source"`
	Resources []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"resources"`
}

func policyReportResults(ns string) ([]policyReportResult, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(audit.PolicyReportGVK)
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: audit.ReportName}, u); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(u.Object["results"])
	if err != nil {
		return nil, err
	}
	var out []policyReportResult
	return out, json.Unmarshal(raw, &out)
}

func hasCAFailure(results []policyReportResult, gateway string) bool {
	for _, r := range results {
		if r.Rule == "gateway-mtls-ca" && r.Result == "fail" && r.Policy == "gatewarden" && r.Source == "gatewarden" &&
			len(r.Resources) == 1 && r.Resources[0].Kind == "Gateway" && r.Resources[0].Name == gateway &&
			strings.Contains(r.Message, "expired") {
			return true
		}
	}
	return false
}

func TestAuditReportsExpiredClientCA(t *testing.T) {
	requireLocal(t)
	s := newMTLSSetup(t)
	stored := s.gatewayObject(t, s.secret)
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(stored), stored); err != nil {
		t.Fatal(err)
	}

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 cluster.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
	})
	if err != nil {
		t.Fatal(err)
	}
	rv := &review.Reviewer{Config: config.Default(), Cluster: cluster.FromReader(mgr.GetCache()), Trust: trust.Offline{}}
	if err := audit.Add(mgr, rv, audit.Options{Interval: 3 * time.Second, Debounce: 300 * time.Millisecond, Namespace: s.ns}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})

	// A valid setup: a report for the namespace, without findings.
	waitFor(t, 30*time.Second, "an empty report for the valid gateway", func() error {
		res, err := policyReportResults(s.ns)
		if err != nil {
			return err
		}
		if len(res) != 0 {
			return fmt.Errorf("unexpected results %+v", res)
		}
		return nil
	})

	s.setExpired(t, true)
	waitFor(t, 30*time.Second, "a gateway-mtls-ca failure in the PolicyReport", func() error {
		res, err := policyReportResults(s.ns)
		if err != nil {
			return err
		}
		if !hasCAFailure(res, s.gateway) {
			return fmt.Errorf("results %+v", res)
		}
		return nil
	})
	waitFor(t, 30*time.Second, "a GatewardenAudit event on the gateway", func() error {
		var evs corev1.EventList
		if err := env.Client.List(context.Background(), &evs, client.InNamespace(s.ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == audit.EventReason && e.Type == corev1.EventTypeWarning && e.InvolvedObject.Kind == "Gateway" &&
				e.InvolvedObject.Name == s.gateway && strings.Contains(e.Message, "gateway-mtls-ca") {
				return nil
			}
		}
		return fmt.Errorf("%d events, none from the audit about the gateway", len(evs.Items))
	})

	// The audit never writes the object it checks.
	gw := s.gatewayObject(t, s.secret)
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(gw), gw); err != nil {
		t.Fatal(err)
	}
	if gw.GetResourceVersion() != stored.GetResourceVersion() {
		t.Errorf("the audited gateway was written: resourceVersion %s -> %s", stored.GetResourceVersion(), gw.GetResourceVersion())
	}

	s.setExpired(t, false)
	waitFor(t, 30*time.Second, "the fixed finding cleared from the PolicyReport", func() error {
		res, err := policyReportResults(s.ns)
		if err != nil {
			return err
		}
		if hasCAFailure(res, s.gateway) || len(res) != 0 {
			return fmt.Errorf("results %+v", res)
		}
		return nil
	})
}

type checkOutput struct {
	Results []struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Namespace  string         `json:"namespace"`
		Name       string         `json:"name"`
		Allowed    bool           `json:"allowed"`
		Violations []checkFinding `json:"violations"`
		Warnings   []checkFinding `json:"warnings"`
		Patch      []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		} `json:"patch"`
	} `json:"results"`
}

type checkFinding struct {
	Check, Field, Message string
}

// gatewardenCheck runs `bin/gatewarden check --no-network` with args.
func gatewardenCheck(t *testing.T, args ...string) (int, checkOutput, string) {
	t.Helper()
	return runCheck(t, append([]string{"--no-network"}, args...)...)
}

// gatewardenCheckNetwork runs `bin/gatewarden check` trusting the suite's
// local issuers, as serve does.
func gatewardenCheckNetwork(t *testing.T, args ...string) (int, checkOutput, string) {
	t.Helper()
	return runCheck(t, append([]string{"--allow-cidr", "127.0.0.0/8", "--allow-cidr", issuerCIDR(t), "--ca-file", env.PKI.CAFile}, args...)...)
}

func runCheck(t *testing.T, args ...string) (int, checkOutput, string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin", "gatewarden"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"check", "--kubeconfig", env.Kubeconfig, "-o", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running gatewarden check: %v", err)
	}
	var out checkOutput
	if code != 2 {
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("check output is not JSON (exit %d): %v\n%s\nstderr: %s", code, err, stdout.String(), stderr.String())
		}
	}
	return code, out, stderr.String()
}

func findResult(out checkOutput, ns, name string) (allowed bool, checks []string, ok bool) {
	for _, r := range out.Results {
		if r.Namespace == ns && r.Name == name && r.Kind == "Gateway" {
			for _, v := range r.Violations {
				checks = append(checks, v.Check)
			}
			return r.Allowed, checks, true
		}
	}
	return false, nil, false
}

func TestLiveCheckStoredObjects(t *testing.T) {
	s := newMTLSSetup(t)

	code, out, stderr := gatewardenCheck(t, "-n", s.ns)
	if code != 0 {
		t.Fatalf("valid setup: exit %d, want 0; stderr %s", code, stderr)
	}
	if allowed, _, ok := findResult(out, s.ns, s.gateway); !ok || !allowed || len(out.Results) != 1 {
		t.Fatalf("valid setup: results %+v, want the one gateway allowed", out.Results)
	}
	if r := out.Results[0]; r.APIVersion != "networking.istio.io/v1" {
		t.Errorf("apiVersion %q, want networking.istio.io/v1", r.APIVersion)
	}

	s.setExpired(t, true)
	code, out, stderr = gatewardenCheck(t, "-n", s.ns)
	allowed, checks, ok := findResult(out, s.ns, s.gateway)
	if code != 1 || !ok || allowed || !strings.Contains(strings.Join(checks, ","), "gateway-mtls-ca") {
		t.Fatalf("expired CA: exit %d, result found %v allowed %v checks %v; stderr %s", code, ok, allowed, checks, stderr)
	}

	// -A sees it too, among whatever else the cluster holds.
	code, out, _ = gatewardenCheck(t, "-A")
	if allowed, _, ok := findResult(out, s.ns, s.gateway); code != 1 || !ok || allowed {
		t.Errorf("-A: exit %d, gateway found %v allowed %v", code, ok, allowed)
	}

	// Files against the cluster's state: the secret is read from the
	// cluster, and the file objects go into -n.
	s.setExpired(t, false)
	good := writeTemp(t, "good.yaml", toYAML(t, s.gatewayObject(t, s.secret), true))
	code, out, stderr = gatewardenCheck(t, "-n", s.ns, "-f", good)
	if allowed, _, ok := findResult(out, s.ns, s.gateway); code != 0 || !ok || !allowed {
		t.Errorf("file with an existing secret: exit %d, found %v allowed %v; stderr %s", code, ok, allowed, stderr)
	}
	missing := writeTemp(t, "missing.yaml", toYAML(t, s.gatewayObject(t, "no-such-secret-"+s.ns), true))
	code, out, _ = gatewardenCheck(t, "-n", s.ns, "-f", missing)
	allowed, checks, ok = findResult(out, s.ns, s.gateway)
	if code != 1 || !ok || allowed || !strings.Contains(strings.Join(checks, ","), "gateway-tls-secret") {
		t.Errorf("file with a missing secret: exit %d, found %v allowed %v checks %v", code, ok, allowed, checks)
	}

	// An unreachable cluster is unusable input.
	if code, _, stderr := gatewardenCheck(t, "--context", "no-such-context"); code != 2 {
		t.Errorf("unknown context: exit %d, want 2; stderr %s", code, stderr)
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// toYAML renders an object as JSON (which is YAML), without its namespace
// when dropNS is set.
func toYAML(t *testing.T, u *unstructured.Unstructured, dropNS bool) string {
	t.Helper()
	u = u.DeepCopy()
	if dropNS {
		u.SetNamespace("")
	}
	return toJSON(t, u.Object)
}
