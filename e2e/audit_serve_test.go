package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/audit"
	"github.com/gatewarden/gatewarden/review"
)

// TestServeAuditIssuerStops runs the audit inside the `gatewarden serve`
// process the API server calls: an APIRule admitted while its issuer
// answered gets a PolicyReport entry and an Event once the issuer stops,
// and `check --kubeconfig` lists the same finding.
func TestServeAuditIssuerStops(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	// Short cache lifetimes so the stopped issuer shows within seconds
	// rather than after the default hour of last-known-good keys.
	if err := env.RestartWith(ctx, "--audit-interval", "2s",
		"--trust-ttl", "1s", "--trust-negative-ttl", "1s", "--trust-stale-for", "1s"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.RestartWith(ctx); err != nil {
			t.Errorf("restoring gatewarden: %v", err)
		}
	})
	is, err := env.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()

	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, w := newClient(t)
	rule := jwtRule(t, ns, "idp", is.Good(), is.Good()+"/jwks")
	admitted(t, eventually(func() error { return c.Create(ctx, rule.DeepCopy()) }))
	notWarned(t, w, "[jwt-")
	t.Cleanup(func() { _ = env.Client.Delete(ctx, rule) })

	trustFinding := func(res []policyReportResult) *policyReportResult {
		for i, r := range res {
			if strings.HasPrefix(r.Rule, "jwt-") && len(r.Resources) == 1 && r.Resources[0].Kind == "APIRule" && r.Resources[0].Name == "idp" {
				return &res[i]
			}
		}
		return nil
	}
	waitFor(t, 60*time.Second, "a report for the namespace, without trust findings", func() error {
		res, err := policyReportResults(ns)
		if err != nil {
			return err
		}
		if f := trustFinding(res); f != nil {
			return fmt.Errorf("trust finding while the issuer is up: %+v", *f)
		}
		return nil
	})

	is.Close()
	var finding policyReportResult
	waitFor(t, 60*time.Second, "a trust finding in the PolicyReport after the issuer stopped", func() error {
		res, err := policyReportResults(ns)
		if err != nil {
			return err
		}
		f := trustFinding(res)
		if f == nil || !strings.Contains(f.Message, "refused") {
			return fmt.Errorf("results %+v", res)
		}
		finding = *f
		return nil
	})
	// A network failure follows the network-error action, warn by default.
	if finding.Result != "warn" {
		t.Errorf("report result %q, want warn (the default network-error action)", finding.Result)
	}
	waitFor(t, 30*time.Second, "a GatewardenAudit event on the APIRule", func() error {
		var evs corev1.EventList
		if err := env.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == audit.EventReason && e.InvolvedObject.Kind == "APIRule" && e.InvolvedObject.Name == "idp" &&
				strings.Contains(e.Message, finding.Rule) && strings.Contains(e.Message, "refused") {
				return nil
			}
		}
		return fmt.Errorf("%d events, none from the audit about the APIRule", len(evs.Items))
	})

	// The live check names the same check for the same object.
	code, out, stderr := gatewardenCheckNetwork(t, "-n", ns)
	var checks []string
	for _, r := range out.Results {
		if r.Kind == "APIRule" && r.Name == "idp" {
			for _, f := range append(r.Violations, r.Warnings...) {
				checks = append(checks, f.Check)
			}
		}
	}
	if code != 0 || !strings.Contains(strings.Join(checks, ","), finding.Rule) {
		t.Errorf("check --kubeconfig: exit %d, APIRule findings %v, want %s as in the report; stderr %s", code, checks, finding.Rule, stderr)
	}
}

// TestCheckPatchMatchesWebhook: `gatewarden check` shows in `patch` exactly
// the defaults the mutating webhook applies through the API server.
func TestCheckPatchMatchesWebhook(t *testing.T) {
	ctx := context.Background()
	// warn: the Gateway's missing secret does not stop the dry run, and
	// defaults apply all the same.
	ns := namespace(t, map[string]string{"gatewarden.io/enforcement": "warn"})
	kymaGateway(t)
	httpbin(t, ns)
	c, _ := newClient(t)

	rule := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: defaults}
spec:
  hosts: [defaults]
  service: {name: httpbin}
  rules:
  - path: /api/{**}
    methods: [GET]
    jwt:
      authentications:
      - issuer: %s
`, env.Issuer.Good()))
	gw := obj(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: defaults}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["defaults.example.com"]
    tls: {mode: SIMPLE, credentialName: not-there-yet}
`)
	for _, tc := range []struct {
		name string
		u    *unstructured.Unstructured
		want []string // paths the patch must hold
	}{
		{"APIRule", rule, []string{"/spec/gateway", "/spec/service/port", "/spec/rules/0/jwt/authentications/0/jwksUri"}},
		{"Gateway", gw, []string{"/spec/servers/0/tls/minProtocolVersion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeTemp(t, "obj.yaml", toYAML(t, tc.u, true))
			code, out, stderr := gatewardenCheckNetwork(t, "-n", ns, "-f", file)
			if code != 0 || len(out.Results) != 1 {
				t.Fatalf("check: exit %d, results %+v; stderr %s", code, out.Results, stderr)
			}
			var ops []jsonpatch.JsonPatchOperation
			var paths []string
			for _, op := range out.Results[0].Patch {
				ops = append(ops, jsonpatch.JsonPatchOperation{Operation: op.Op, Path: op.Path, Value: op.Value})
				paths = append(paths, op.Path)
			}
			for _, p := range tc.want {
				if !strings.Contains(strings.Join(paths, " "), p) {
					t.Errorf("check patch paths %v lack %s", paths, p)
				}
			}

			in := tc.u.DeepCopy()
			in.SetNamespace(ns)
			raw, err := json.Marshal(in.Object)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := review.ApplyPatch(raw, ops)
			if err != nil {
				t.Fatalf("check's patch does not apply: %v", err)
			}
			var want map[string]any
			if err := json.Unmarshal(patched, &want); err != nil {
				t.Fatal(err)
			}

			got := in.DeepCopy()
			admitted(t, eventually(func() error { g := in.DeepCopy(); err := c.Create(ctx, g, client.DryRunAll); got = g; return err }))
			// Compared as JSON: numbers decode as float64 here and int64 in
			// the client's object.
			if w, g := toJSON(t, want["spec"]), toJSON(t, got.Object["spec"]); w != g {
				t.Errorf("spec after check's patch:\n%s\nspec the webhook stored in the dry run:\n%s", w, g)
			}
			wantAnn, _, _ := unstructured.NestedString(want, "metadata", "annotations", "gatewarden.io/defaulted")
			if gotAnn := got.GetAnnotations()["gatewarden.io/defaulted"]; wantAnn == "" || gotAnn != wantAnn {
				t.Errorf("gatewarden.io/defaulted: check %q, webhook %q", wantAnn, gotAnn)
			}
		})
	}
}
