package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/manifest"
)

// migrateState is the cluster the offline migrations run against: Kyma's
// gateway on local.kyma.dev and the httpbin Service.
const migrateState = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyma-gateway, namespace: kyma-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.local.kyma.dev"]
    tls: {mode: SIMPLE, credentialName: kyma-gateway-certs}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.local.kyma.dev"]
    tls: {httpsRedirect: true}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: test}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000}]
`

const migrateInput = `# migrated with notes: Kyma's CORS defaults, allow's methods
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: open, namespace: test}
spec:
  host: httpbin
  gateway: kyma-gateway.kyma-system.svc.cluster.local
  service: {name: httpbin, port: 8000}
  rules:
  - {path: /anything, methods: [POST], accessStrategies: [{handler: noop}]}
  - {path: /headers, methods: [GET], accessStrategies: [{handler: allow}]}
  - {path: /.*, methods: [GET], accessStrategies: [{handler: no_auth}]}
---
# refused by the migration
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: closed, namespace: test}
spec:
  host: closed.local.kyma.dev
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - {path: /.*, methods: [GET], accessStrategies: [{handler: unauthorized}]}
---
# migrated, then denied by the checks: the Service has no port 8080
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: wrong-port, namespace: test}
spec:
  host: wrong-port.local.kyma.dev
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8080}
  corsPolicy: {allowOrigins: [{exact: "https://app.local.kyma.dev"}]}
  rules:
  - {path: /ip, methods: [GET], accessStrategies: [{handler: no_auth}]}
---
# v2 already: not touched
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: modern, namespace: test}
spec:
  hosts: [modern.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules: [{path: /ip, methods: [GET], noAuth: true}]
`

func TestMigrateOffline(t *testing.T) {
	state := writeFile(t, "state.yaml", migrateState)
	in := writeFile(t, "apirules.yaml", migrateInput)
	code, stdout, stderr := runCaptured(t, "migrate", "--no-network", "-f", state, "-f", in)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (something refused); stderr:\n%s", code, stderr)
	}
	var names []string
	for _, doc := range strings.Split(stdout, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("stdout is not YAML: %v\n%s", err, stdout)
		}
		if m["apiVersion"] != "gateway.kyma-project.io/v2" || m["kind"] != "APIRule" {
			t.Errorf("not a v2 APIRule: %v", m)
		}
		names = append(names, m["metadata"].(map[string]any)["name"].(string))
	}
	if !slices.Equal(names, []string{"open"}) {
		t.Fatalf("printed %v, want only [open]:\n%s", names, stdout)
	}
	for _, want := range []string{
		"apirule.gateway.kyma-project.io/closed (namespace test, from " + in + ":14): refused",
		`  error: spec.rules[0].accessStrategies[0].handler: Invalid value: "unauthorized": rejects every request`,
		"apirule.gateway.kyma-project.io/open (namespace test, from " + in + ":1): migrated with notes",
		"  note: spec.corsPolicy: not set: v1beta1 applied Kyma's default CORS policy",
		"  note: spec.rules[1].methods: the allow strategy routed every HTTP method",
		"apirule.gateway.kyma-project.io/wrong-port (namespace test, from " + in + ":25): refused",
		"  error: the v2 object fails gatewarden's checks: spec.service.port",
		"[apirule-service]",
		"3 APIRules: 0 migrated, 1 migrated with notes, 2 refused",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("report lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "modern") {
		t.Errorf("the v2 APIRule was reported:\n%s", stderr)
	}

	// What migrate printed passes check against the same state (the state's
	// Gateway is checked too, and fails for want of its TLS secret).
	out := writeFile(t, "migrated.yaml", stdout)
	_, checkOut, checkErr := runCaptured(t, "check", "--no-network", "-o", "json", "-f", state, "-f", out)
	var res struct{ Results []CheckResult }
	if err := json.Unmarshal([]byte(checkOut), &res); err != nil {
		t.Fatalf("check output: %v\n%s", err, checkErr)
	}
	checked := 0
	for _, r := range res.Results {
		if r.Kind == "APIRule" {
			checked++
			if !r.Allowed {
				t.Errorf("check denies migrated %s: %v", r.Name, r.Violations)
			}
		}
	}
	if checked != 1 {
		t.Errorf("check saw %d APIRules, want 1", checked)
	}
}

// Kyma's v1beta1 jwt handler decides what v1beta1 did to in-cluster
// callers: migrate reads it from kyma-system/api-gateway-config.
func TestMigrateReadsKymasJWTHandler(t *testing.T) {
	in := writeFile(t, "apirule.yaml", strings.Split(migrateInput, "---\n")[0])
	for handler, want := range map[string]string{
		"":      "Kyma's Ory jwt handler (Kyma's default when kyma-system/api-gateway-config does not name one)",
		"ory":   "Kyma's Ory jwt handler (configured in kyma-system/api-gateway-config)",
		"istio": "",
	} {
		args := []string{"migrate", "--no-network", "-f", writeFile(t, "state.yaml", migrateState), "-f", in}
		if handler != "" {
			args = append(args, "-f", writeFile(t, "config.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: api-gateway-config, namespace: kyma-system}
data:
  api-gateway-config: "jwtHandler: `+handler+`"
`))
		}
		code, _, stderr := runCaptured(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d\n%s", handler, code, stderr)
		}
		if want == "" {
			if strings.Contains(stderr, "in-cluster callers") {
				t.Errorf("istio handler: an APIRule with a no_auth rule had policies admitting only the gateway already:\n%s", stderr)
			}
		} else if !strings.Contains(stderr, want) {
			t.Errorf("%q: report lacks %q:\n%s", handler, want, stderr)
		}
	}
}

func TestMigrateJSONIsAList(t *testing.T) {
	state := writeFile(t, "state.yaml", migrateState)
	in := writeFile(t, "apirule.yaml", strings.Split(migrateInput, "---\n")[0])
	code, stdout, stderr := runCaptured(t, "migrate", "--no-network", "-o", "json", "-f", state, "-f", in)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var list struct {
		APIVersion, Kind string
		Items            []map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 1 {
		t.Fatalf("got %s %s with %d items", list.APIVersion, list.Kind, len(list.Items))
	}
	objs, err := manifest.Read([]string{writeFile(t, "list.json", stdout)}, nil)
	if err != nil || len(objs) != 1 || objs[0].GetName() != "open" {
		t.Fatalf("kubectl-style read of the List: %v, %d objects", err, len(objs))
	}
	if _, found := objs[0].GetAnnotations()["gateway.kyma-project.io/original-version"]; found {
		t.Error("the manifest sets original-version; Kyma sets it on apply")
	}
}

func TestMigrateNothingToDo(t *testing.T) {
	in := writeFile(t, "v2.yaml", strings.Split(migrateInput, "---\n")[3])
	code, stdout, stderr := runCaptured(t, "migrate", "--no-network", "-f", in)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "no APIRules v1beta1 found") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestMigrateBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"migrate"},
		{"migrate", "-f", "x.yaml", "-o", "table"},
		{"migrate", "-f", "x.yaml", "-A"},
		{"migrate", "-f", "does-not-exist.yaml"},
	} {
		if code, _, _ := runCaptured(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
