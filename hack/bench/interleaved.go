package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
)

// withAuditOff is the second gatewarden (default checks, audit off) as a
// webhook: beside gatewarden with its audit, it shows what the audit's
// yielding to admissions moves onto the other settings' creates.
const withAuditOff setting = "gatewarden, audit off"

// interleavedSettings are the settings of one interleaved phase; each has a
// namespace of its own.
var interleavedSettings = []setting{withGatewarden, withAuditOff, withNoop, withNone}

func interleavedNamespace(s setting) string {
	return map[setting]string{withGatewarden: "paired-gatewarden", withAuditOff: "paired-audit-off",
		withNoop: "paired-noop", withNone: "paired-none"}[s]
}

// interleaved registers every webhook at once, each for one namespace: the
// chart's configurations, rendered once per server with the other settings'
// namespaces in webhook.excludeNamespaces (and, beside gatewarden's own, a
// name of their own). A phase then creates in all namespaces by turns, so a
// burst of the API server's or etcd's own work falls on every setting
// alike, instead of on whichever setting was installed at that moment.
type interleaved struct {
	// webhooks has the cluster, the framework's own rendering (restored at
	// the end) and the floor.
	*webhooks
	rendered map[setting][]byte
	servers  map[setting]*proc
}

// newInterleaved renders the configurations; main is gatewarden with the
// audit, auditOff the second gatewarden.
func newInterleaved(hooks *webhooks, main, auditOff *proc) (*interleaved, error) {
	w := &interleaved{webhooks: hooks, rendered: map[setting][]byte{},
		servers: map[setting]*proc{withGatewarden: main, withAuditOff: auditOff, withNoop: hooks.floor}}
	for _, s := range []setting{withGatewarden, withAuditOff, withNoop} {
		var exclude []string
		for _, o := range interleavedSettings {
			if o != s {
				exclude = append(exclude, interleavedNamespace(o))
			}
		}
		args := []string{"--set", "webhook.excludeNamespaces={" + strings.Join(exclude, ",") + "}"}
		if s != withGatewarden {
			args = append(args, "--set", "webhook.url="+w.servers[s].url, "--set", "fullnameOverride="+interleavedNamespace(s))
		}
		var err error
		if w.rendered[s], err = w.c.RenderWebhooks(args...); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// install creates the namespaces with the Service the APIRules name and
// registers the webhooks, then waits until each namespace's creates reach
// only its own server.
func (w *interleaved) install(ctx context.Context) error {
	for _, s := range interleavedSettings {
		if err := ensureNamespace(ctx, w.cl, interleavedNamespace(s)); err != nil {
			return err
		}
	}
	for _, s := range []setting{withGatewarden, withAuditOff, withNoop} {
		if err := w.c.Apply(ctx, w.rendered[s]); err != nil {
			return err
		}
	}
	return waitFor(ctx, func() error { return w.routes(ctx) })
}

// uninstall leaves the framework's registration of gatewarden alone, as
// before install.
func (w *interleaved) uninstall(ctx context.Context) error {
	for _, s := range []setting{withAuditOff, withNoop} {
		if err := deleteRendered(ctx, w.cl, w.rendered[s]); err != nil {
			return err
		}
	}
	return w.c.Apply(ctx, w.gatewarden)
}

// answered is how many admission reviews each server has answered.
func (w *interleaved) answered(ctx context.Context) (map[setting]float64, error) {
	out := map[setting]float64{}
	for s, p := range w.servers {
		if s == withNoop {
			n, err := floorAnswered(ctx, p)
			if err != nil {
				return nil, err
			}
			out[s] = float64(n)
			continue
		}
		out[s] = readGatewarden(p.metrics).admissions
	}
	return out, nil
}

// routes dry-runs an APIRule and a Gateway in each namespace and checks
// that its own server, and no other, answered them.
func (w *interleaved) routes(ctx context.Context) error {
	for _, s := range interleavedSettings {
		ns := interleavedNamespace(s)
		before, err := w.answered(ctx)
		if err != nil {
			return err
		}
		gwObj := &unstructured.Unstructured{Object: loadgen.MutualGatewayWithoutCA("bench-probe")}
		rule := &unstructured.Unstructured{Object: loadgen.APIRuleV2("bench-probe", "probe.local.kyma.dev", w.issuer)}
		for _, u := range []*unstructured.Unstructured{gwObj, rule} {
			u.SetNamespace(ns)
			// gatewarden denies the Gateway; the others allow both.
			if err := w.cl.Create(ctx, u, client.DryRunAll); err != nil && !strings.Contains(err.Error(), "gatewarden") {
				return fmt.Errorf("probe %s in %s: %w", u.GetKind(), ns, err)
			}
		}
		after, err := w.answered(ctx)
		if err != nil {
			return err
		}
		for o := range w.servers {
			if got := after[o] - before[o]; (o == s) != (got > 0) {
				return fmt.Errorf("creates in %s: %s answered %.0f reviews", ns, o, got)
			}
		}
	}
	return nil
}

// measure runs rounds phases; each creates n APIRules per setting, one at a
// time, the settings in a fresh random order for every n-th create.
func (w *interleaved) measure(ctx context.Context, n, rounds int, label string) (apiResult, error) {
	res := apiResult{phases: map[setting][][]time.Duration{}, calls: map[setting]float64{}, slow: map[setting]float64{}, paired: true}
	if err := w.install(ctx); err != nil {
		return res, err
	}
	// The same orders on every run.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < rounds; i++ {
		prefix := fmt.Sprintf("bench-%s-r%d", dnsLabel(label), i)
		if err := w.warm(ctx, rng, prefix+"-warm"); err != nil {
			return res, err
		}
		waited, busy := quietCPU(ctx, 0.25, 15*time.Second)
		gwBefore := map[setting]gatewardenCounters{}
		for _, s := range []setting{withGatewarden, withAuditOff} {
			gwBefore[s] = readGatewarden(w.servers[s].metrics)
		}
		apiBefore := readAPIServer(ctx, w.c.Config)
		cpuBefore := readProcCPU(w.names)
		lat, cleanup, err := w.createRound(ctx, rng, prefix, n)
		cpu := readProcCPU(w.names).perCall(cpuBefore, n*len(interleavedSettings))
		cleanup()
		if err != nil {
			return res, err
		}
		api := readAPIServer(ctx, w.c.Config).minus(apiBefore)
		var parts []string
		for _, s := range interleavedSettings {
			sorted := slices.Sorted(slices.Values(lat[s]))
			parts = append(parts, fmt.Sprintf("%s p50 %s p99 %s max %s", s, loadgen.Ms(loadgen.Percentile(sorted, 50)),
				loadgen.Ms(loadgen.Percentile(sorted, 99)), loadgen.Ms(sorted[len(sorted)-1])))
			res.phases[s] = append(res.phases[s], lat[s])
		}
		for _, s := range []setting{withGatewarden, withAuditOff} {
			gw := readGatewarden(w.servers[s].metrics).minus(gwBefore[s])
			res.calls[s] += gw.admissions
			res.slow[s] += gw.slow
			parts = append(parts, fmt.Sprintf("%s answered %.0f admissions, %.0f in more than 5 ms, %.0f GC cycles", s, gw.admissions, gw.slow, gw.gc))
		}
		parts = append(parts, fmt.Sprintf("API server: %.0f webhook calls (all webhooks), %.0f over 5 ms, %.0f GC cycles, %.0f requests; CPU per create %s",
			api.calls, api.slow, api.gc, api.requests, cpu))
		fmt.Printf("  %s phase %d (started after %s, CPU %.0f%% busy): %s\n", label, i+1,
			waited.Round(100*time.Millisecond), 100*busy, strings.Join(parts, "; "))
	}
	return res, w.uninstall(ctx)
}

// warm creates and deletes a few APIRules per setting, unmeasured.
func (w *interleaved) warm(ctx context.Context, rng *rand.Rand, prefix string) error {
	_, cleanup, err := w.createRound(ctx, rng, prefix, 10)
	cleanup()
	return err
}

// createRound creates n APIRules in each setting's namespace, the settings'
// order drawn anew for each i, and returns the latencies by setting and a
// function that deletes what was created (unmeasured).
func (w *interleaved) createRound(ctx context.Context, rng *rand.Rand, prefix string, n int) (map[setting][]time.Duration, func(), error) {
	lat := map[setting][]time.Duration{}
	var created []*unstructured.Unstructured
	cleanup := func() {
		for _, u := range created {
			_ = w.cl.Delete(context.WithoutCancel(ctx), u)
		}
	}
	order := slices.Clone(interleavedSettings)
	for i := 0; i < n; i++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, s := range order {
			ns := interleavedNamespace(s)
			name := fmt.Sprintf("%s-%d", prefix, i)
			u := &unstructured.Unstructured{Object: loadgen.APIRuleV2(name, name+"-"+ns+".local.kyma.dev", w.issuer)}
			u.SetNamespace(ns)
			start := time.Now()
			err := w.cl.Create(ctx, u)
			lat[s] = append(lat[s], time.Since(start))
			if err != nil {
				cleanup()
				return lat, func() {}, fmt.Errorf("create of APIRule %s/%s: %w", ns, name, err)
			}
			created = append(created, u)
		}
	}
	return lat, cleanup, nil
}

// ensureNamespace creates a namespace and the Service the bench's APIRules
// name, if they are missing.
func ensureNamespace(ctx context.Context, cl client.Client, ns string) error {
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "httpbin"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 8000, TargetPort: intstr.FromInt32(80)}}}}
	if err := cl.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
