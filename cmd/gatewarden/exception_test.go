package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// `check -f` reads GatewardenExceptions from its input like any other
// state: the one for the mTLS Gateway admits it with a warning naming it,
// and the exception is checked itself.
func TestCheckReadsExceptionsFromFiles(t *testing.T) {
	expires := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	exceptionYAML := fmt.Sprintf(`apiVersion: gatewarden.io/v1alpha1
kind: GatewardenException
metadata: {name: mtls-later, namespace: team}
spec:
  checks: [gateway-mtls-credential]
  target: {kind: Gateway, name: mtls}
  reason: client CA arrives with the partner onboarding
  expiresAt: %s
`, expires)
	blanketYAML := strings.NewReplacer("mtls-later", "everything", "[gateway-mtls-credential]", `["*"]`).Replace(exceptionYAML)
	p := writeFile(t, "all.yaml", mutualGatewayYAML+"---\n"+exceptionYAML+"---\n"+blanketYAML)
	code, out, errOut := runCaptured(t, "check", "-f", p, "-o", "json", "--no-network")
	var doc struct {
		Results []struct {
			Kind, Name string
			Allowed    bool
			Violations []map[string]string
			Warnings   []map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("exit %d, output not JSON: %v\n%s\n%s", code, err, out, errOut)
	}
	if code != 1 || len(doc.Results) != 3 {
		t.Fatalf("exit %d, %d results, want 1 (the blanket exception is denied) and 3:\n%s", code, len(doc.Results), out)
	}
	gw, ex, blanket := doc.Results[0], doc.Results[1], doc.Results[2]
	if !gw.Allowed {
		t.Errorf("the excepted Gateway is denied: %v", gw.Violations)
	}
	found := false
	for _, w := range gw.Warnings {
		if w["check"] == "gateway-mtls-credential" && w["exception"] == "team/mtls-later" &&
			strings.Contains(w["note"], "excepted by GatewardenException team/mtls-later until "+expires+": client CA arrives") {
			found = true
		}
	}
	if !found {
		t.Errorf("Gateway warnings %v, want gateway-mtls-credential excepted by team/mtls-later", gw.Warnings)
	}
	if ex.Kind != "GatewardenException" || !ex.Allowed || len(ex.Warnings) != 0 {
		t.Errorf("exception result %+v, want allowed without findings", ex)
	}
	if blanket.Allowed || len(blanket.Violations) != 1 || blanket.Violations[0]["check"] != "exception-checks" || blanket.Violations[0]["field"] != "spec.checks[0]" {
		t.Errorf("blanket exception %+v, want denied by exception-checks at spec.checks[0]", blanket)
	}
}
