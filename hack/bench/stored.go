package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
)

// Stored APIRules live in storedNamespaces namespaces, each with its own
// httpbin Service, so that one Service has a known share of them.
const storedNamespaces = 100

func storedNamespace(i int) string { return fmt.Sprintf("bench-%03d", i%storedNamespaces) }
func storedName(i int) string      { return fmt.Sprintf("stored-%05d", i) }
func storedHost(i int) string      { return storedName(i) + ".local.kyma.dev" }

// storedRule is the i-th stored APIRule: valid (its Gateway, Service and
// issuer exist), with a jwt rule and a noAuth rule, a host of its own.
func storedRule(i int, issuer string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: loadgen.APIRuleV2(storedName(i), storedHost(i), issuer)}
	u.SetNamespace(storedNamespace(i))
	return u
}

// ensureNamespaces creates the stored rules' namespaces and Services.
func ensureNamespaces(ctx context.Context, cl client.Client) error {
	for i := 0; i < storedNamespaces; i++ {
		if err := ensureNamespace(ctx, cl, storedNamespace(i)); err != nil {
			return err
		}
	}
	return nil
}

// growStored creates the stored APIRules from, up to to (exclusive), 16 at a
// time.
func growStored(ctx context.Context, cl client.Client, issuer string, from, to int) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := cl.Create(ctx, storedRule(i, issuer)); err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("creating %s: %w", storedName(i), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// waitSeen waits until a gatewarden's cache holds the stored APIRule i: an
// APIRule claiming its host is then denied.
func waitSeen(ctx context.Context, base loadgen.Options, url, issuer string, i int) error {
	obj := loadgen.APIRuleV2("bench-seen-probe", storedHost(i), issuer)
	body, err := loadgen.Review(obj)
	if err != nil {
		return err
	}
	o := base
	o.URL, o.Requests, o.Concurrency, o.MaxRequests = url, []loadgen.Request{{Name: "probe", Path: "/validate", Body: body}}, 1, 1
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r, err := loadgen.Run(ctx, o)
		if err != nil {
			return err
		}
		if r.Denied == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not see %s after 3 minutes (%s)", url, storedName(i), r)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// auditChange is the audit's work after one change.
type auditChange struct {
	what    string
	objects float64
	took    float64 // seconds, the run's own duration
	ok      bool
}

func (a auditChange) String() string {
	if !a.ok {
		return a.what + ": n/a"
	}
	return fmt.Sprintf("%s: %.0f objects re-checked in %.3f s", a.what, a.objects, a.took)
}

const (
	auditRuns    = `gatewarden_audit_runs_total{run="changes"}`
	auditChecked = `gatewarden_audit_checked_objects_total{run="changes"}`
	auditTook    = `gatewarden_audit_last_run_duration_seconds{run="changes"}`
)

// settleAudit waits until the audit has not re-checked anything for quiet.
func settleAudit(ctx context.Context, metrics string, quiet time.Duration) {
	last, since := -1.0, time.Now()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, err := scrape(metrics, "gatewarden_audit_")
		if err != nil {
			return
		}
		n := m[`gatewarden_audit_checked_objects_total{run="changes"}`] + m[`gatewarden_audit_checked_objects_total{run="full"}`]
		if m["gatewarden_audit_running"] != 0 {
			// A run in progress counts nothing until it completes.
			since = time.Now()
		} else if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// measureAuditChange applies change and reads what the audit of gatewarden
// (metrics endpoint) re-checked for it.
func measureAuditChange(ctx context.Context, metrics, what string, change func() error) (auditChange, error) {
	res := auditChange{what: what}
	before, err := scrape(metrics, "gatewarden_audit_")
	if err != nil {
		return res, err
	}
	if _, ok := before[auditRuns]; !ok {
		return res, change() // a gatewarden without these metrics
	}
	if err := change(); err != nil {
		return res, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
		after, err := scrape(metrics, "gatewarden_audit_")
		if err != nil {
			return res, err
		}
		if after[auditRuns] > before[auditRuns] {
			res.objects, res.took, res.ok = after[auditChecked]-before[auditChecked], after[auditTook], true
			return res, nil
		}
	}
	return res, fmt.Errorf("no audit run after %s", what)
}

// auditChanges are the changes whose audit work a level measures: one
// APIRule's host, one namespace's Service (which the APIRules of that
// namespace use), and a Secret no Gateway uses.
func auditChanges(ctx context.Context, cl client.Client, metrics string, stored int, issuer string) []auditChange {
	if stored == 0 {
		return nil
	}
	var out []auditChange
	changes := []struct {
		what string
		do   func() error
	}{
		{"one APIRule's host", func() error {
			u := storedRule(7%stored, issuer)
			if err := cl.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
				return err
			}
			hosts, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "hosts")
			next := "moved-" + hosts[0]
			if strings.HasPrefix(hosts[0], "moved-") {
				next = strings.TrimPrefix(hosts[0], "moved-")
			}
			_ = unstructured.SetNestedStringSlice(u.Object, []string{next}, "spec", "hosts")
			return cl.Update(ctx, u)
		}},
		{fmt.Sprintf("the Service of %d APIRules", (stored+storedNamespaces-1-7)/storedNamespaces), func() error {
			svc := &corev1.Service{}
			if err := cl.Get(ctx, client.ObjectKey{Namespace: storedNamespace(7), Name: "httpbin"}, svc); err != nil {
				return err
			}
			if svc.Labels == nil {
				svc.Labels = map[string]string{}
			}
			svc.Labels["bench-touched"] = time.Now().Format("150405.000")
			svc.Labels["bench-touched"] = strings.ReplaceAll(svc.Labels["bench-touched"], ".", "")
			return cl.Update(ctx, svc)
		}},
		{"a Secret no Gateway uses", func() error {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "bench-unused"}}
			err := cl.Get(ctx, client.ObjectKeyFromObject(sec), sec)
			sec.StringData = map[string]string{"at": time.Now().String()}
			if apierrors.IsNotFound(err) {
				return cl.Create(ctx, sec)
			}
			if err != nil {
				return err
			}
			return cl.Update(ctx, sec)
		}},
	}
	for _, ch := range changes {
		settleAudit(ctx, metrics, 3*time.Second)
		r, err := measureAuditChange(ctx, metrics, ch.what, ch.do)
		if err != nil {
			logf("audit after %s: %v", ch.what, err)
		}
		fmt.Printf("    audit after %s\n", r)
		out = append(out, r)
	}
	return out
}

// heapInUse is go_memstats_heap_inuse_bytes of a gatewarden.
func heapInUse(metrics string) float64 {
	m, err := scrape(metrics, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return 0
	}
	return m["go_memstats_heap_inuse_bytes"]
}

// pacing is what a gatewarden's collector found live at its last collection
// and the GOGC it paces by since.
func pacing(metrics string) string {
	m, err := scrape(metrics, "go_gc_heap_live_bytes", "go_gc_gogc_percent")
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("live %s, GOGC %.0f", mib(int64(m["go_gc_heap_live_bytes"])), m["go_gc_gogc_percent"])
}
