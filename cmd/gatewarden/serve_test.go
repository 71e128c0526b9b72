package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/go-logr/logr"
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

// The collector is paced to a share of GOMEMLIMIT, unless the operator chose
// GOGC, no GOMEMLIMIT gives a target, or the share is 0.
func TestPaceCollector(t *testing.T) {
	gogc, hadGOGC := os.LookupEnv("GOGC")
	defer func() {
		if hadGOGC {
			os.Setenv("GOGC", gogc)
		}
	}()
	limit := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(limit)

	cases := []struct {
		name   string
		share  float64
		gogc   string // "" unset
		limit  int64
		target uint64 // 0: not paced
	}{
		{"a share of the limit", 0.4, "", 500 << 20, 200 << 20},
		{"GOGC chosen", 0.4, "150", 500 << 20, 0},
		{"no limit", 0.4, "", math.MaxInt64, 0},
		{"off", 0, "", 500 << 20, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.Unsetenv("GOGC")
			if tc.gogc != "" {
				t.Setenv("GOGC", tc.gogc)
			}
			debug.SetMemoryLimit(tc.limit)
			f := &serveFlags{gcHeapShare: tc.share}
			p := f.paceCollector(logr.Discard())
			if p != nil {
				defer p.Stop()
			}
			switch {
			case tc.target == 0 && p != nil:
				t.Errorf("paced to %d bytes, want Go's own pacing", p.Target())
			case tc.target != 0 && p == nil:
				t.Errorf("not paced, want a target of %d bytes", tc.target)
			case p != nil && p.Target() != tc.target:
				t.Errorf("target %d bytes, want %d", p.Target(), tc.target)
			}
		})
	}
}
