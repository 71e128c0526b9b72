package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/gatewarden/gatewarden/mutators"   // registers the defaults
	_ "github.com/gatewarden/gatewarden/validators" // registers the checks
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, doc string
		// errs are substrings that must each appear in the error, in
		// this order; none means the document is accepted.
		errs []string
	}{
		{"empty", ``, nil},
		{"full", "checks: {gateway-mtls-credential: warn}\nnetworkErrorAction: deny\nexemptNamespaces: [a]\nnamespaceLabel: x/y\n" +
			"settings: {minTLSVersion: TLSV1_3, gatewaySecretNamespace: gw, certExpiryWarning: 240h, allowHTTPHosts: [IdP.local, 127.0.0.1, '::1'],\n" +
			"  trustedIssuers: ['https://login.example.com', 'https://tenants.example.com/*', 'http://idp.local:8080/realms/a'], requireAuthLabel: example.com/auth}\n" +
			"defaults: {disabled: [default-gateway], minTLSVersion: TLSV1_3, defaultGateway: a/b}\n", nil},
		{"unknown check", "checks: {no-such-check: deny}\n", []string{`checks[no-such-check]: Invalid value: "no-such-check": unknown check`}},
		{"bad action", "checks: {gateway-mtls-credential: block}\n", []string{`checks[gateway-mtls-credential]: Unsupported value: "block": supported values: "deny", "warn", "off"`}},
		{"bad network action", "networkErrorAction: never\n", []string{`networkErrorAction: Unsupported value: "never": supported values: "warn", "deny"`}},
		{"network action off", "networkErrorAction: 'off'\n", []string{`networkErrorAction: Unsupported value: "off"`}},
		{"unquoted off", "checks: {gateway-mtls-credential: off, apirule-gateway: 'off'}\n", nil},
		{"true is no action", "checks: {gateway-mtls-credential: true}\n", []string{`checks[gateway-mtls-credential]: Unsupported value: "true"`}},
		{"unknown key", "chekcs: {}\n", []string{`unknown field "chekcs"`}},
		{"unknown settings key", "settings: {minTLS: TLSV1_3}\n", []string{`unknown field "minTLS"`}},
		{"warnings is not a key", "warnings: [x]\n", []string{`unknown field "warnings"`}},
		{"unknown default", "defaults: {disabled: [default-nothing]}\n", []string{`defaults.disabled[0]: Invalid value: "default-nothing": unknown default`}},
		{"default gateway form", "defaults: {defaultGateway: kyma-gateway}\n", []string{`defaults.defaultGateway: Invalid value: "kyma-gateway": want namespace/name`}},
		{"settings TLS typo", "settings: {minTLSVersion: TLS1_3}\n", []string{`settings.minTLSVersion: Unsupported value: "TLS1_3": supported values: "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"`}},
		{"settings TLS case", "settings: {minTLSVersion: tlsv1_3}\n", []string{`settings.minTLSVersion: Unsupported value: "tlsv1_3"`}},
		{"settings TLS auto", "settings: {minTLSVersion: TLS_AUTO}\n", []string{`settings.minTLSVersion: Unsupported value: "TLS_AUTO"`}},
		{"defaults TLS typo", "defaults: {minTLSVersion: TLSv1_2}\n", []string{`defaults.minTLSVersion: Unsupported value: "TLSv1_2"`}},
		{"defaults TLS below settings", "settings: {minTLSVersion: TLSV1_2}\ndefaults: {minTLSVersion: TLSV1_1}\n",
			[]string{`defaults.minTLSVersion: Invalid value: "TLSV1_1": below settings.minTLSVersion (TLSV1_2)`}},
		{"defaults TLS below the settings default", "defaults: {minTLSVersion: TLSV1_0}\n",
			[]string{`defaults.minTLSVersion: Invalid value: "TLSV1_0": below settings.minTLSVersion (TLSV1_2)`}},
		{"defaults TLS below raised settings", "settings: {minTLSVersion: TLSV1_3}\ndefaults: {minTLSVersion: TLSV1_2}\n",
			[]string{`defaults.minTLSVersion: Invalid value: "TLSV1_2": below settings.minTLSVersion (TLSV1_3)`}},
		{"defaults TLS above settings", "settings: {minTLSVersion: TLSV1_0}\ndefaults: {minTLSVersion: TLSV1_1}\n", nil},
		{"gateway secret namespace", "settings: {gatewaySecretNamespace: Istio_System}\n", []string{`settings.gatewaySecretNamespace: Invalid value: "Istio_System": not a namespace name`}},
		{"negative expiry", "settings: {certExpiryWarning: -1h}\n", []string{`settings.certExpiryWarning: Invalid value: "-1h0m0s": must not be negative`}},
		{"bad expiry", "settings: {certExpiryWarning: soon}\n", []string{`invalid duration "soon"`}},
		{"issuer without scheme", "settings: {trustedIssuers: [login.example.com]}\n", []string{`settings.trustedIssuers[0]: Invalid value: "login.example.com": want an issuer URL`}},
		{"issuer prefix without scheme", "settings: {trustedIssuers: ['https://ok.example.com', 'login.example.com/*']}\n", []string{`settings.trustedIssuers[1]: Invalid value: "login.example.com/*": a prefix must start with https://`}},
		{"issuer inner star", "settings: {trustedIssuers: ['https://*.example.com']}\n", []string{`settings.trustedIssuers[0]: Invalid value: "https://*.example.com": ` + "`*` is only allowed at the end"}},
		{"issuer other scheme", "settings: {trustedIssuers: ['ftp://idp.example.com']}\n", []string{`settings.trustedIssuers[0]: Invalid value: "ftp://idp.example.com"`}},
		{"http host with scheme", "settings: {allowHTTPHosts: ['http://idp.local']}\n", []string{`settings.allowHTTPHosts[0]: Invalid value: "http://idp.local": want a host name`}},
		{"http host with port", "settings: {allowHTTPHosts: [ok.local, 'idp.local:8080']}\n", []string{`settings.allowHTTPHosts[1]: Invalid value: "idp.local:8080"`}},
		{"require-auth label", "settings: {requireAuthLabel: 'needs auth'}\n", []string{`settings.requireAuthLabel: Invalid value: "needs auth": not a label key`}},
		{"namespace label", "namespaceLabel: 'a/b/c'\n", []string{`namespaceLabel: Invalid value: "a/b/c": not a label key`}},
		{"exempt namespace", "exemptNamespaces: [ok, Not_OK]\n", []string{`exemptNamespaces[1]: Invalid value: "Not_OK": not a namespace name`}},
		{"every problem at once", "networkErrorAction: never\nexemptNamespaces: [A]\nsettings: {minTLSVersion: x}\ndefaults: {minTLSVersion: y}\n",
			[]string{"config: 4 problems:", "\n* networkErrorAction:", "\n* exemptNamespaces[0]:", "\n* settings.minTLSVersion:", "\n* defaults.minTLSVersion:"}},
		{"renamed ID", "checks: {apirule-v1beta1-gateway-not-found: warn}\n", nil},
		{"renamed IDs agree", "checks: {apirule-v1beta1-service-not-found: warn, apirule-v1beta1-service-port: warn, apirule-service: warn}\n", nil},
		{"renamed ID disagrees with the current one", "checks: {apirule-service: deny, apirule-v1beta1-service-port: off}\n",
			[]string{`checks[apirule-v1beta1-service-port]: Invalid value: "off": checks.apirule-service sets the same check (apirule-service) to deny: keep one of the two entries`}},
		{"two renamed IDs disagree", "checks: {apirule-v1beta1-service-not-found: warn, apirule-v1beta1-service-port: off}\n",
			[]string{`checks[apirule-v1beta1-service-port]: Invalid value: "off": checks.apirule-v1beta1-service-not-found sets the same check (apirule-service) to warn`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.errs)
			}
			rest := err.Error()
			for _, want := range tc.errs {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("want %q (in this order) in:\n%v", want, err)
				}
				rest = rest[i+len(want):]
			}
		})
	}
}

func TestParseErrorListsFieldErrors(t *testing.T) {
	_, err := Parse([]byte("settings: {minTLSVersion: TLS1_3, gatewaySecretNamespace: '-'}\n"))
	var cerr *Error
	if !errors.As(err, &cerr) || len(cerr.Errs) != 2 {
		t.Fatalf("want a *config.Error with 2 field errors, got %#v", err)
	}
	if got := cerr.Errs[0].Field; got != "settings.gatewaySecretNamespace" {
		t.Errorf("first error's field %q", got)
	}
}

func TestRenamedChecks(t *testing.T) {
	c, err := Parse([]byte("checks: {apirule-v1beta1-gateway-not-found: warn, apirule-v1beta1-host-occupied: off, apirule-v1beta1-service-port: warn}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]action{"apirule-gateway": warn, "apirule-host-taken": off, "apirule-service": warn}
	if len(c.Checks) != len(want) {
		t.Errorf("checks %v, want %v", c.Checks, want)
	}
	for id, a := range want {
		if c.Checks[id] != a {
			t.Errorf("checks[%s] = %q, want %q", id, c.Checks[id], a)
		}
	}
	if len(c.Warnings) != 3 {
		t.Fatalf("want one warning per renamed key, got %q", c.Warnings)
	}
	for i, key := range []string{"apirule-v1beta1-gateway-not-found", "apirule-v1beta1-host-occupied", "apirule-v1beta1-service-port"} {
		if w := c.Warnings[i]; !strings.Contains(w, "checks."+key+":") || !strings.Contains(w, "now configures "+renamedChecks[key]) {
			t.Errorf("warning %d: %q, want it to name checks.%s and %s", i, w, key, renamedChecks[key])
		}
	}
	if d := Default(); len(d.Warnings) != 0 {
		t.Errorf("no file, warnings %q", d.Warnings)
	}
	// Every rename points at a registered check, and no retired ID is
	// also a target.
	for from, to := range renamedChecks {
		if _, ok := checkByID(to); !ok {
			t.Errorf("%s is renamed to %s, which is not a registered check", from, to)
		}
		if _, chained := renamedChecks[to]; chained {
			t.Errorf("%s is renamed to %s, itself renamed", from, to)
		}
	}
}

func TestFillDefaults(t *testing.T) {
	for _, tc := range []struct {
		doc                   string
		settingsTLS, default_ string
	}{
		{"", "TLSV1_2", "TLSV1_2"},
		{"settings: {minTLSVersion: TLSV1_3}\n", "TLSV1_3", "TLSV1_3"},
		{"settings: {minTLSVersion: TLSV1_0}\n", "TLSV1_0", "TLSV1_2"},
		{"settings: {minTLSVersion: TLSV1_0}\ndefaults: {minTLSVersion: TLSV1_1}\n", "TLSV1_0", "TLSV1_1"},
	} {
		c, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if c.Settings.MinTLSVersion != tc.settingsTLS || c.Defaults.MinTLSVersion != tc.default_ {
			t.Errorf("%q: settings %s defaults %s, want %s and %s", tc.doc, c.Settings.MinTLSVersion, c.Defaults.MinTLSVersion, tc.settingsTLS, tc.default_)
		}
	}
	c, err := Parse([]byte("settings: {certExpiryWarning: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.CertExpiryWarning.Duration != 30*24*time.Hour || c.NetworkErrorAction != warn || c.NamespaceLabel != DefaultNamespaceLabel {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestPolicy(t *testing.T) {
	c, err := Parse([]byte("checks: {gateway-mtls-credential: warn, apirule-v1beta1-service-port: off}\nexemptNamespaces: [legacy]\nnetworkErrorAction: deny\n"))
	if err != nil {
		t.Fatal(err)
	}
	denyCheck, _ := checkByID("apirule-gateway")
	warned, _ := checkByID("gateway-mtls-credential")
	service, _ := checkByID("apirule-service")
	// A check that still reports under a retired ID follows the entry of
	// its current ID.
	retired := &check{ID: "apirule-v1beta1-service-not-found", Default: deny}
	cases := []struct {
		ns     string
		labels map[string]string
		check  *check
		want   action
		net    action
	}{
		{"app", nil, denyCheck, deny, deny},
		{"app", nil, warned, warn, deny},
		{"app", nil, service, off, deny},
		{"app", nil, retired, off, deny},
		{"app", map[string]string{DefaultNamespaceLabel: "warn"}, denyCheck, warn, warn},
		{"app", map[string]string{DefaultNamespaceLabel: "off"}, denyCheck, off, deny},
		{"legacy", nil, denyCheck, off, deny},
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
	if slices.Contains(c.ExemptNamespaces, "app") {
		t.Fatal("app is not exempt")
	}
}
