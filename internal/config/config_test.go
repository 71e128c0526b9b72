package config

import (
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/core"
	_ "github.com/gatewarden/gatewarden/mutators"   // registers the defaults
	_ "github.com/gatewarden/gatewarden/validators" // registers the checks
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, doc, err string
	}{
		{"empty", ``, ""},
		{"full", "checks: {gateway-mtls-credential: warn}\nnetworkErrorAction: deny\nexemptNamespaces: [a]\nnamespaceLabel: x/y\nsettings: {minTLSVersion: TLSV1_3}\ndefaults: {disabled: [default-gateway]}\n", ""},
		{"unknown check", "checks: {no-such-check: deny}\n", `unknown check "no-such-check"`},
		{"bad action", "checks: {gateway-mtls-credential: block}\n", `unknown action "block"`},
		{"bad network action", "networkErrorAction: off\n", "networkErrorAction"},
		{"unknown key", "chekcs: {}\n", "chekcs"},
		{"unknown default", "defaults: {disabled: [default-nothing]}\n", "defaults"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("want error containing %q, got %v", tc.err, err)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	c, err := Parse([]byte("checks: {gateway-mtls-credential: warn}\nexemptNamespaces: [legacy]\nnetworkErrorAction: deny\n"))
	if err != nil {
		t.Fatal(err)
	}
	denyCheck, _ := core.Lookup("apirule-gateway")
	warned, _ := core.Lookup("gateway-mtls-credential")
	cases := []struct {
		ns     string
		labels map[string]string
		check  *core.Check
		want   core.Action
		net    core.Action
	}{
		{"app", nil, denyCheck, core.Deny, core.Deny},
		{"app", nil, warned, core.Warn, core.Deny},
		{"app", map[string]string{DefaultNamespaceLabel: "warn"}, denyCheck, core.Warn, core.Warn},
		{"app", map[string]string{DefaultNamespaceLabel: "off"}, denyCheck, core.Off, core.Deny},
		{"legacy", nil, denyCheck, core.Off, core.Deny},
	}
	for _, tc := range cases {
		p := c.Policy(c.EnforcementFor(tc.ns, tc.labels))
		if got := p.Action(tc.check); got != tc.want {
			t.Errorf("%s %v %s: action %s, want %s", tc.ns, tc.labels, tc.check.ID, got, tc.want)
		}
		if got := p.NetworkAction(); got != tc.net {
			t.Errorf("%s %v: network action %s, want %s", tc.ns, tc.labels, got, tc.net)
		}
	}
}
