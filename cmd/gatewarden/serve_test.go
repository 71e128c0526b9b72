package main

import (
	"testing"
)

// The serve cache holds every ConfigMap of the gateway namespaces (client
// CAs named configmap://) and only the mesh ConfigMap elsewhere: nothing
// else's configuration in memory, and no more than the chart's RBAC grants.
func TestConfigMapNamespaces(t *testing.T) {
	cases := []struct {
		name     string
		gateways []string
		meshNS   string
		all      []string // namespaces read whole
		byName   string   // namespace read by the mesh ConfigMap's name only, "" for none
	}{
		{"mesh in a gateway namespace", []string{"istio-system", "kyma-system"}, "istio-system", []string{"istio-system", "kyma-system"}, ""},
		{"mesh elsewhere", []string{"istio-system"}, "mesh-system", []string{"istio-system"}, "mesh-system"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &serveFlags{secretNamespaces: tc.gateways}
			f.meshNS = tc.meshNS
			got := f.configMapNamespaces()
			want := len(tc.all)
			if tc.byName != "" {
				want++
			}
			if len(got) != want {
				t.Fatalf("namespaces %v, want %d", got, want)
			}
			for _, ns := range tc.all {
				c, ok := got[ns]
				if !ok || c.FieldSelector != nil {
					t.Errorf("%s: want every ConfigMap, got %+v (present %v)", ns, c, ok)
				}
			}
			if tc.byName != "" {
				c := got[tc.byName]
				if c.FieldSelector == nil || c.FieldSelector.String() != "metadata.name=istio" {
					t.Errorf("%s: want only metadata.name=istio, got %v", tc.byName, c.FieldSelector)
				}
			}
		})
	}
}
