package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// gatewarden runs bin/gatewarden with args and returns its exit code and
// output.
func gatewarden(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin", "gatewarden"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("running gatewarden: %v", err)
	}
	return 0, stdout.String(), stderr.String()
}

func validateSARIF(t *testing.T, out string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "cmd", "gatewarden", "testdata", "schemas", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("not valid SARIF 2.1.0: %v\n%s", err, out)
	}
}

// The live check renders stored objects for CI too: stored objects have no
// file, so SARIF names the object and JUnit groups by namespace.
func TestLiveCheckCIFormats(t *testing.T) {
	s := newMTLSSetup(t)
	s.setExpired(t, true)

	code, out, stderr := gatewarden(t, "check", "--kubeconfig", env.Kubeconfig, "-n", s.ns, "--no-network", "-o", "sarif")
	if code != 1 {
		t.Fatalf("sarif: exit %d, want 1; stderr %s", code, stderr)
	}
	validateSARIF(t, out)
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID    string
				Level     string
				Locations []struct {
					PhysicalLocation *json.RawMessage
					LogicalLocations []struct{ FullyQualifiedName string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range doc.Runs[0].Results {
		if r.RuleID == "gateway-mtls-ca" && r.Level == "error" {
			l := r.Locations[0]
			found = l.PhysicalLocation == nil && l.LogicalLocations[0].FullyQualifiedName == "networking.istio.io.Gateway/"+s.ns+"/mtls"
		}
	}
	if !found {
		t.Errorf("no gateway-mtls-ca error located at the stored Gateway:\n%s", out)
	}

	code, out, stderr = gatewarden(t, "check", "--kubeconfig", env.Kubeconfig, "-n", s.ns, "--no-network", "-o", "junit")
	if code != 1 {
		t.Fatalf("junit: exit %d, want 1; stderr %s", code, stderr)
	}
	var suites struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Text string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if len(suites.Suites) != 1 || suites.Suites[0].Name != "namespace "+s.ns || suites.Suites[0].Failures != 1 {
		t.Fatalf("suites %+v, want one for namespace %s with one failure", suites.Suites, s.ns)
	}
	tc := suites.Suites[0].Cases[0]
	if tc.Name != s.ns+"/mtls" || tc.Failure == nil || !strings.Contains(tc.Failure.Text, "[gateway-mtls-ca]") {
		t.Errorf("testcase %+v, want %s/mtls failing gateway-mtls-ca", tc, s.ns)
	}
}

// `gatewarden test` from the built binary: met expectations exit 0, a
// mismatch exits 1 and says what differs.
func TestGatewardenTestCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("gateways.yaml", `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mtls, namespace: team}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: MUTUAL, serverCertificate: /etc/certs/tls.crt, privateKey: /etc/certs/tls.key}
`)
	write("gatewarden-test.yaml", `apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [gateways.yaml]
expect:
- {kind: Gateway, namespace: team, name: mtls, verdict: denied, deny: [gateway-mtls-credential], warn: []}
`)
	if code, out, stderr := gatewarden(t, "test", dir, "--no-network"); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, stderr)
	}
	write("gatewarden-test.yaml", `apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [gateways.yaml]
expect:
- {kind: Gateway, namespace: team, name: mtls, verdict: allowed}
`)
	code, out, _ := gatewarden(t, "test", dir, "--no-network")
	if code != 1 || !strings.Contains(out, "verdict: want allowed, got denied") {
		t.Errorf("exit %d, want 1 and the verdict mismatch:\n%s", code, out)
	}
}
