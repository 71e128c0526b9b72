package audit

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/cluster/informertest"
)

// benchNamespaces spreads the stored APIRules as hack/bench does: one
// httpbin Service per namespace, used by every APIRule there.
const benchNamespaces = 100

// storedRules are n APIRules over benchNamespaces namespaces, each with a
// jwt rule and a noAuth rule on the namespace's httpbin (so each warns of
// sharing the workload with the others there) and a host of its own.
func storedRules(n int) []client.Object {
	var objs []client.Object
	for i := range benchNamespaces {
		ns := fmt.Sprintf("bench-%03d", i)
		objs = append(objs, namespace(ns, nil), service(ns, "httpbin", "httpbin"))
	}
	for i := range n {
		objs = append(objs, storedRule(i))
	}
	return objs
}

func storedRule(i int) *unstructured.Unstructured {
	u := changesRule(fmt.Sprintf("bench-%03d", i%benchNamespaces), fmt.Sprintf("stored-%05d", i), fmt.Sprintf("stored-%05d.local.kyma.dev", i), "httpbin")
	rules := []any{
		map[string]any{"path": "/api/{**}", "methods": []any{"GET"},
			"jwt": map[string]any{"authentications": []any{map[string]any{"issuer": "https://issuer.example.com", "jwksUri": "https://issuer.example.com/jwks"}}}},
		map[string]any{"path": "/health", "methods": []any{"GET"}, "noAuth": true},
	}
	_ = unstructured.SetNestedSlice(u.Object, rules, "spec", "rules")
	return u
}

// BenchmarkAuditChanges measures a run on the changes of one APIRule's
// host, of one namespace's Service and of a Secret no Gateway uses, over
// serve's cache holding 1,000 and 10,000 APIRules; objects/op is what
// each run re-checked. The full run that seeds the audit is not measured
// (it is logged: each APIRule's shared-workload check reads the APIRules
// of its Service's namespace from an index, so it grows with the
// APIRules, about 4 s at 10,000 on 2 cores).
//
//	go test -run '^$' -bench 'AuditChanges' -benchtime 3x ./audit/
func BenchmarkAuditChanges(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("stored=%d", n), func(b *testing.B) {
			benchChanges(b, n)
		})
	}
}

func benchChanges(b *testing.B, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := informertest.New(ctx, triggers(), Indexes(), storedRules(n)...)
	if err != nil {
		b.Fatal(err)
	}
	f := newChangesFixtureOver(b, ctx, c)
	start := time.Now()
	if err := f.a.Run(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored=%d: full run checked %d objects in %s", n, len(f.a.last.checked), time.Since(start).Round(time.Millisecond))

	changes := []struct {
		name string
		do   func(i int) error
	}{
		{"host", func(i int) error {
			return c.Modify(changesRuleHost(storedRule(7), fmt.Sprintf("moved-%d.local.kyma.dev", i)))
		}},
		{"service", func(i int) error {
			svc := service("bench-007", "httpbin", "httpbin")
			svc.Labels = map[string]string{"touched": fmt.Sprint(i)}
			return c.Modify(svc)
		}},
		{"secret", func(i int) error {
			return c.Modify(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "unused"},
				Data: map[string][]byte{"at": []byte(fmt.Sprint(i))}})
		}},
	}
	for _, ch := range changes {
		b.Run(ch.name, func(b *testing.B) {
			checked := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				f.change(b, func(*informertest.Cache) error { return ch.do(i) })
				b.StartTimer()
				if err := f.a.RunChanges(ctx); err != nil {
					b.Fatal(err)
				}
				if f.a.last.run != runChanges {
					b.Fatalf("run %q, want changes", f.a.last.run)
				}
				checked += len(f.a.last.checked)
			}
			b.ReportMetric(float64(checked)/float64(b.N), "objects/op")
		})
	}
	b.Logf("stored=%d: the findings held %.1f MB", n, float64(dropFindings(f.a))/1e6)
}

func changesRuleHost(u *unstructured.Unstructured, host string) *unstructured.Unstructured {
	_ = unstructured.SetNestedStringSlice(u.Object, []string{host}, "spec", "hosts")
	return u
}

// dropFindings drops the audit's findings and returns the heap that
// frees.
func dropFindings(a *Auditor) uint64 {
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	a.state, a.texts = nil, texts{}
	runtime.GC()
	runtime.ReadMemStats(&without)
	if without.HeapAlloc > with.HeapAlloc {
		return 0
	}
	return with.HeapAlloc - without.HeapAlloc
}
