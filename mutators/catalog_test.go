package mutators

import (
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Catalog() {
		if seen[d.ID] || d.Description == "" || len(d.Kinds) == 0 {
			t.Errorf("catalogue entry %+v: duplicate or incomplete", d)
		}
		seen[d.ID] = true
		if got, ok := Lookup(d.ID); !ok || got.ID != d.ID {
			t.Errorf("Lookup(%q) = %+v, %v", d.ID, got, ok)
		}
	}
	for _, id := range []string{DefaultGateway, DefaultServicePort, DefaultJWKSURI, DefaultMinTLSVersion, DefaultedAnnotation} {
		if !seen[id] {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
	if _, ok := Lookup("default-methods"); ok {
		t.Error("Lookup found an unknown ID")
	}
	Catalog()[0].Kinds[0] = "changed"
	if Catalog()[0].Kinds[0] == "changed" {
		t.Error("Catalog hands out its own slices")
	}
}

func TestSettingsValidate(t *testing.T) {
	cases := []struct {
		name string
		s    Settings
		err  string
	}{
		{"empty", Settings{}, ""},
		{"filled", Settings{}.WithDefaults(), ""},
		{"disabled known", Settings{Disabled: []string{DefaultJWKSURI, DefaultedAnnotation}}, ""},
		{"disabled unknown", Settings{Disabled: []string{"default-jwks"}}, `unknown default "default-jwks"`},
		{"gateway not a ref", Settings{DefaultGateway: "kyma-gateway.kyma-system.svc.cluster.local"}, "want namespace/name"},
		{"tls version", Settings{MinTLSVersion: "TLSV1_3"}, ""},
		{"tls auto", Settings{MinTLSVersion: "TLS_AUTO"}, "minTLSVersion"},
		{"tls typo", Settings{MinTLSVersion: "TLS1.2"}, "minTLSVersion"},
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
	s := Settings{}.WithDefaults()
	if s.DefaultGateway != "kyma-system/kyma-gateway" || s.MinTLSVersion != "TLSV1_2" {
		t.Fatalf("got %+v", s)
	}
	if kept := (Settings{DefaultGateway: "a/b", MinTLSVersion: "TLSV1_3"}).WithDefaults(); kept.DefaultGateway != "a/b" || kept.MinTLSVersion != "TLSV1_3" {
		t.Fatalf("overrode configured values: %+v", kept)
	}
}
