package mutators

import (
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/core"
)

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range core.Defaults() {
		if seen[d.ID] || d.Description == "" || len(d.Kinds) == 0 {
			t.Errorf("catalogue entry %+v: duplicate or incomplete", d)
		}
		seen[d.ID] = true
		if got, ok := core.LookupDefault(d.ID); !ok || got.ID != d.ID {
			t.Errorf("core.LookupDefault(%q) = %+v, %v", d.ID, got, ok)
		}
	}
	for _, id := range []string{DefaultGateway, DefaultServicePort, DefaultJWKSURI, DefaultMinTLSVersion, DefaultedAnnotation} {
		if !seen[id] {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
	if _, ok := core.LookupDefault("default-methods"); ok {
		t.Error("Lookup found an unknown ID")
	}
	core.Defaults()[0].Kinds[0] = "changed"
	if core.Defaults()[0].Kinds[0] == "changed" {
		t.Error("Catalog hands out its own slices")
	}
}

func TestSettingsValidate(t *testing.T) {
	cases := []struct {
		name string
		s    core.DefaultSettings
		err  string
	}{
		{"empty", core.DefaultSettings{}, ""},
		{"filled", core.DefaultSettings{}.WithDefaults(), ""},
		{"disabled known", core.DefaultSettings{Disabled: []string{DefaultJWKSURI, DefaultedAnnotation}}, ""},
		{"disabled unknown", core.DefaultSettings{Disabled: []string{"default-jwks"}}, `unknown default "default-jwks"`},
		{"gateway not a ref", core.DefaultSettings{DefaultGateway: "kyma-gateway.kyma-system.svc.cluster.local"}, "want namespace/name"},
		{"tls version", core.DefaultSettings{MinTLSVersion: "TLSV1_3"}, ""},
		{"tls auto", core.DefaultSettings{MinTLSVersion: "TLS_AUTO"}, "minTLSVersion"},
		{"tls typo", core.DefaultSettings{MinTLSVersion: "TLS1.2"}, "minTLSVersion"},
	}
	for _, tc := range cases {
		err := tc.s.Validate()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	s := core.DefaultSettings{}.WithDefaults()
	if s.DefaultGateway != "kyma-system/kyma-gateway" || s.MinTLSVersion != "TLSV1_2" {
		t.Fatalf("got %+v", s)
	}
	if kept := (core.DefaultSettings{DefaultGateway: "a/b", MinTLSVersion: "TLSV1_3"}).WithDefaults(); kept.DefaultGateway != "a/b" || kept.MinTLSVersion != "TLSV1_3" {
		t.Fatalf("overrode configured values: %+v", kept)
	}
}
