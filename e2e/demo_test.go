package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeDemo runs the script behind `make demo` (its own control plane,
// stopped at the end) and checks that every example gets the answer its
// title announces.
func TestMakeDemo(t *testing.T) {
	requireLocal(t)
	root, _ := filepath.Abs("..")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "demo.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	// Each section, up to the next title, must hold its fragments.
	sections := map[string][]string{}
	title := ""
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "== "); i >= 0 {
			title = strings.TrimSuffix(line[i+3:], "\033[0m")
			continue
		}
		sections[title] = append(sections[title], line)
	}
	for title, want := range map[string][]string{
		"cluster setup: the Kyma gateway and a Service": {"gateway.networking.istio.io/kyma-gateway created", "service/httpbin created"},
		"an mTLS Gateway with no CA is denied":          {`The Gateway "partner-mtls" is invalid`, "spec.servers[0].tls.credentialName", "[gateway-mtls-credential]"},
		"a v1beta1 APIRule is admitted with a deprecation warning": {"Warning:", "[apirule-v1beta1-deprecated]",
			"apirule.gateway.kyma-project.io/legacy-httpbin created"},
		"a correct v2 APIRule is admitted": {"apirule.gateway.kyma-project.io/httpbin created"},
		"an APIRule with several problems is denied, all of them listed": {`The APIRule "broken" is invalid`,
			"[apirule-gateway]", "[apirule-service]", "[apirule-rule-order]"},
		"a JWT issuer whose discovery names another issuer is denied": {"spec.rules[0].jwt.authentications[0].issuer", "[jwt-issuer-discovery]"},
		"defaults: gateway and jwksUri filled in (server-side dry run)": {"gatewarden.io/defaulted: spec.gateway,spec.rules[0].jwt.authentications[0].jwksUri",
			"gateway: kyma-system/kyma-gateway", "jwksUri: https://127.0.0.1:"},
		"gatewarden check runs the same checks offline, no cluster needed": {"apirule.gateway.kyma-project.io/broken (namespace default, gateway.kyma-project.io/v2): denied",
			"error: spec.rules[1].path", "kyma-gateway (namespace kyma-system, networking.istio.io/v1): allowed"},
	} {
		got := strings.Join(sections[title], "\n")
		if got == "" {
			t.Errorf("demo has no section %q:\n%s", title, out)
			continue
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("section %q lacks %q:\n%s", title, w, got)
			}
		}
	}
	if !strings.Contains(string(out), ">> done; stopping the local control plane") {
		t.Errorf("demo did not finish:\n%s", out)
	}
}
