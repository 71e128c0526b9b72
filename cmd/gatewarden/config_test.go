package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config with a retired check ID is accepted; check prints the warning on
// stderr (its stdout is the report) and applies the entry to the current ID.
func TestCheckPrintsConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("checks: {apirule-v1beta1-gateway-not-found: warn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rule := filepath.Join(dir, "rule.yaml")
	if err := os.WriteFile(rule, []byte(`apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: r, namespace: default}
spec:
  hosts: [r.example.com]
  gateway: kyma-system/no-such-gateway
  service: {name: s, port: 80}
  rules: [{path: /*, methods: [GET], noAuth: true}]
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: default}
spec: {selector: {app: s}, ports: [{port: 80}]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCaptured(t, "check", "--no-network", "--config", cfg, "-f", rule, "-o", "json")
	if !strings.Contains(stderr, "warning: config: checks.apirule-v1beta1-gateway-not-found:") || !strings.Contains(stderr, "apirule-gateway") {
		t.Errorf("stderr lacks the rename warning:\n%s", stderr)
	}
	if strings.Contains(stdout, "warning: config") {
		t.Errorf("the warning went to stdout:\n%s", stdout)
	}
	if code != 0 || !strings.Contains(stdout, `"check": "apirule-gateway"`) {
		t.Errorf("exit %d, want 0 with apirule-gateway as a warning:\n%s\n%s", code, stdout, stderr)
	}

	if err := os.WriteFile(cfg, []byte("settings: {minTLSVersion: TLS1_3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCaptured(t, "check", "--no-network", "--config", cfg, "-f", rule)
	if code != 2 || !strings.Contains(stderr, `settings.minTLSVersion: Unsupported value: "TLS1_3"`) {
		t.Errorf("exit %d, want 2 naming settings.minTLSVersion:\n%s", code, stderr)
	}
}
