package e2e

// Reliability: what the API server sees when the things gatewarden depends on
// misbehave (an issuer that hangs or flaps), while its own serving
// certificate rotates, and when gatewarden itself is stopped (SIGTERM) or
// killed (SIGKILL). Tests here restart or kill gatewarden; each one restores
// the default process and webhook configurations in a cleanup, so the rest
// of the suite is unaffected whichever way it ends. Every loop is bounded and
// everything listens on loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// webhookTimeout is the webhook configurations' timeoutSeconds: the API
// server never waits longer for one webhook.
const webhookTimeout = 5 * time.Second

// restoreGatewarden registers a cleanup that puts back what reliability
// tests change: the default webhook configurations (failurePolicy Fail),
// a gatewarden process with the default flags (restarted when flagsChanged
// or when it is not running), and a webhook that answers.
func restoreGatewarden(t *testing.T, flagsChanged bool) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if rendered, err := env.RenderWebhooks(); err != nil {
			t.Errorf("restore: rendering webhooks: %v", err)
		} else if err := env.Apply(ctx, rendered); err != nil {
			t.Errorf("restore: applying webhooks: %v", err)
		}
		if flagsChanged || env.PID() == 0 {
			if err := env.RestartWith(ctx); err != nil {
				t.Errorf("restore: restarting gatewarden: %v", err)
				return
			}
		}
		if err := waitWebhookDenies(ctx); err != nil {
			t.Errorf("restore: %v", err)
		}
	})
}

// waitWebhookDenies waits until the API server calls a live gatewarden: a
// Gateway it always denies comes back denied by the webhook (not refused
// because the webhook is unreachable).
func waitWebhookDenies(ctx context.Context) error {
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err = env.Client.Create(ctx, mtlsWithoutCA(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("webhook does not answer after 30s (last: %v)", err)
}

func mtlsWithoutCA() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "reliability-probe", "namespace": "default"},
		"spec": map[string]any{"servers": []any{map[string]any{
			"port":  map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"},
			"hosts": []any{"probe.example.com"}, "tls": map[string]any{"mode": "MUTUAL"}}}},
	}}
}

// httpGateway is a Gateway gatewarden admits.
func httpGateway(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"selector": map[string]any{"istio": "ingressgateway"},
			"servers": []any{map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": []any{name + ".local.kyma.dev"}}}},
	}}
}

var reviewSeq atomic.Int64

// admissionReview is the body the API server would send to /validate or
// /mutate for a dry-run CREATE of u, with a fresh UID.
func admissionReview(t *testing.T, u *unstructured.Unstructured, resource string) (body []byte, uid types.UID) {
	t.Helper()
	raw, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	gvk := u.GroupVersionKind()
	uid = types.UID(fmt.Sprintf("reliability-%d", reviewSeq.Add(1)))
	dry := true
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource},
			Namespace: u.GetNamespace(), Name: u.GetName(),
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
			DryRun:    &dry,
		},
	}
	if body, err = json.Marshal(rev); err != nil {
		t.Fatal(err)
	}
	return body, uid
}

// postReview sends one AdmissionReview straight to gatewarden and checks the
// answer is a well-formed AdmissionReview for the same UID.
func postReview(ctx context.Context, c *http.Client, path string, body []byte, uid types.UID) (*admissionv1.AdmissionResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &rev); err != nil {
		return nil, fmt.Errorf("answer is not an AdmissionReview: %v: %s", err, data)
	}
	if rev.Response == nil || rev.Response.UID != uid {
		return nil, fmt.Errorf("answer has no response for UID %s: %s", uid, data)
	}
	return rev.Response, nil
}

// loadResult is what one request of a load saw.
type loadResult struct {
	start, end time.Time
	err        error
}

// runLoad sends requests from workers goroutines until stop is closed or
// the bound passes, each request checked by send; it returns every result.
func runLoad(workers int, bound time.Duration, stop <-chan struct{}, send func(ctx context.Context) error) []loadResult {
	var (
		mu  sync.Mutex
		out []loadResult
		wg  sync.WaitGroup
	)
	deadline := time.Now().Add(bound)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r := loadResult{start: time.Now()}
				r.err = send(ctx)
				r.end = time.Now()
				cancel()
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return out
}

// An issuer that accepts connections and never answers must not make the
// API server wait past the webhook timeout: the admission budget and the
// fetch timeout answer first, with the network-error action (warn).
func TestReliabilityHangingIssuer(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, w := newClient(t)
	is := env.Issuer
	hang := is.Hang(fmt.Sprint(time.Now().UnixNano()))
	// Let the webhook see the service first, so only the issuer is slow.
	admitted(t, eventually(func() error {
		return c.Create(ctx, jwtRule(t, ns, "warm", is.Good(), is.Good()+"/jwks"), client.DryRunAll)
	}))

	before := is.Requests()
	start := time.Now()
	err := c.Create(ctx, jwtRule(t, ns, "hang", hang, hang+"/jwks"), client.DryRunAll)
	took := time.Since(start)
	t.Logf("create naming a hanging issuer answered in %s", took.Round(time.Millisecond))
	admitted(t, err)
	if limit := webhookTimeout + time.Second; took >= limit {
		t.Errorf("create took %s, want < %s (the webhook timeout plus a margin)", took, limit)
	}
	if is.Requests() == before {
		t.Errorf("gatewarden never asked the hanging issuer")
	}
	warned(t, w, "spec.rules[0].jwt.authentications[0]", "timed out")

	// A second create while the failure is remembered is answered too, and
	// still within the bound.
	start = time.Now()
	admitted(t, c.Create(ctx, jwtRule(t, ns, "hang2", hang, hang+"/jwks"), client.DryRunAll))
	if took := time.Since(start); took >= webhookTimeout+time.Second {
		t.Errorf("second create took %s", took)
	}
}

// An issuer that flaps: a good answer is cached; the issuer then fails; an
// admission after the positive TTL still succeeds on the last-known-good
// keys, with a warning that the answer is stale; past --trust-stale-for the
// failure itself is the answer; once the issuer is back, no warning.
func TestReliabilityFlappingIssuer(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	restoreGatewarden(t, true)
	const ttl, staleFor = time.Second, 6 * time.Second
	if err := env.RestartWith(ctx, "--trust-ttl", ttl.String(), "--trust-negative-ttl", "1s", "--trust-stale-for", staleFor.String()); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	is := env.Issuer
	flaky := is.Flaky(fmt.Sprint(time.Now().UnixNano()))
	t.Cleanup(func() { is.FlakyDown.Store(false) })

	// 1. Good answers, fetched and cached.
	c, w := newClient(t)
	admitted(t, eventually(func() error {
		return c.Create(ctx, jwtRule(t, ns, "flaky", flaky, flaky+"/jwks"), client.DryRunAll)
	}))
	cachedAt := time.Now()
	for _, msg := range w.all() {
		if strings.Contains(msg, "stale") {
			t.Errorf("stale warning while the issuer is up: %s", msg)
		}
	}

	// 2. The issuer fails; past the positive TTL the refresh fails and the
	// last good copy is served, marked stale.
	is.FlakyDown.Store(true)
	time.Sleep(ttl + 300*time.Millisecond)
	c, w = newClient(t)
	admitted(t, c.Create(ctx, jwtRule(t, ns, "flaky", flaky, flaky+"/jwks"), client.DryRunAll))
	warned(t, w, "spec.rules[0].jwt.authentications[0].issuer", "discovery answer is stale", "503")
	warned(t, w, "spec.rules[0].jwt.authentications[0].jwksUri", "answer is stale", "503")
	for _, msg := range w.all() {
		t.Logf("while down: %s", msg)
	}

	// 3. Older than --trust-stale-for, the copy is no longer served: the
	// issuer's 503 is the answer (a definitive one, so the check denies).
	time.Sleep(time.Until(cachedAt.Add(staleFor + 500*time.Millisecond)))
	c, w = newClient(t)
	err := c.Create(ctx, jwtRule(t, ns, "flaky", flaky, flaky+"/jwks"), client.DryRunAll)
	if err == nil {
		for _, msg := range w.all() {
			if strings.Contains(msg, "stale") {
				t.Errorf("copy older than --trust-stale-for still served: %s", msg)
			}
		}
		warned(t, w, "503")
	} else {
		denied(t, err, "spec.rules[0].jwt.authentications[0]", "503")
	}

	// 4. The issuer recovers: after the negative TTL, fresh answers again.
	is.FlakyDown.Store(false)
	time.Sleep(1200 * time.Millisecond)
	c, w = newClient(t)
	admitted(t, eventually(func() error {
		return c.Create(ctx, jwtRule(t, ns, "flaky", flaky, flaky+"/jwks"), client.DryRunAll)
	}))
	for _, msg := range w.all() {
		if strings.Contains(msg, "[jwt-") {
			t.Errorf("trust warning after the issuer recovered: %s", msg)
		}
	}
}

// The serving certificate is replaced on disk while admissions run, both
// through the API server and straight at the webhook with a new TLS
// handshake per request: none fails, and the server then presents the new
// certificate without a restart.
func TestReliabilityCertificateRotationUnderLoad(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	restoreGatewarden(t, false)
	ns := namespace(t, nil)
	pid := env.PID()
	old, err := env.PKI.ServingSerial(env.WebhookURL)
	if err != nil {
		t.Fatal(err)
	}

	direct := env.TLSClient()
	direct.Transport.(*http.Transport).DisableKeepAlives = true // every request is a new handshake
	gw := httpGateway(ns, "rotation")
	body, uid := admissionReview(t, gw, "gateways")
	if resp, err := postReview(ctx, direct, "/validate", body, uid); err != nil || !resp.Allowed {
		t.Fatalf("before rotation: %+v, %v", resp, err)
	}
	c, _ := newClient(t)
	if err := eventually(func() error { return c.Create(ctx, gw.DeepCopy(), client.DryRunAll) }); err != nil {
		t.Fatalf("before rotation, through the API server: %v", err)
	}

	stop := make(chan struct{})
	var directRes, apiRes []loadResult
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		directRes = runLoad(3, 20*time.Second, stop, func(ctx context.Context) error {
			body, uid := admissionReview(t, gw, "gateways")
			resp, err := postReview(ctx, direct, "/validate", body, uid)
			if err == nil && !resp.Allowed {
				err = fmt.Errorf("not allowed: %+v", resp.Result)
			}
			return err
		})
	}()
	go func() {
		defer wg.Done()
		apiRes = runLoad(2, 20*time.Second, stop, func(ctx context.Context) error {
			return c.Create(ctx, gw.DeepCopy(), client.DryRunAll)
		})
	}()

	time.Sleep(1500 * time.Millisecond)
	serial, err := env.PKI.RotateServing()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	rotated := time.Now()
	var now *big.Int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if now, err = env.PKI.ServingSerial(env.WebhookURL); err == nil && now.Cmp(serial) == 0 {
			break
		}
	}
	t.Logf("rotation picked up after %s", time.Since(rotated).Round(time.Millisecond))
	// Keep the load on a while with the new certificate, ~5s in all.
	time.Sleep(time.Until(rotated.Add(3500 * time.Millisecond)))
	close(stop)
	wg.Wait()

	if now == nil || now.Cmp(serial) != 0 {
		t.Errorf("server presents serial %v after rotation, want the new %v (old %v); last dial error: %v", now, serial, old, err)
	}
	if env.PID() != pid {
		t.Errorf("gatewarden restarted during rotation (pid %d -> %d)", pid, env.PID())
	}
	for name, res := range map[string][]loadResult{"direct": directRes, "API server": apiRes} {
		failed := 0
		for _, r := range res {
			if r.err != nil {
				failed++
				if failed <= 5 {
					t.Errorf("%s admission at %+.3fs from rotation failed: %v", name, r.start.Sub(rotated).Seconds(), r.err)
				}
			}
		}
		t.Logf("%s: %d admissions, %d failed", name, len(res), failed)
		if len(res) < 10 {
			t.Errorf("%s: only %d admissions ran", name, len(res))
		}
	}
}

// SIGTERM while admissions run: gatewarden reports not ready at once, keeps
// answering for --shutdown-delay (1s in e2e), lets in-flight admissions
// finish (one of them held ~2-3s by a hanging issuer) and exits. Every
// request started before the signal gets a well-formed answer.
func TestReliabilitySIGTERMDrains(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	restoreGatewarden(t, false)
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	if env.PID() == 0 {
		t.Fatal("gatewarden is not running")
	}
	probeURL := env.ProbeURL
	if resp, err := http.Get(probeURL + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("not ready before the signal: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	c := env.TLSClient() // keep-alive, like the API server
	gw := httpGateway(ns, "sigterm")
	stop := make(chan struct{})
	var res []loadResult
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		res = runLoad(3, 20*time.Second, stop, func(ctx context.Context) error {
			body, uid := admissionReview(t, gw, "gateways")
			resp, err := postReview(ctx, c, "/validate", body, uid)
			if err == nil && !resp.Allowed {
				err = fmt.Errorf("not allowed: %+v", resp.Result)
			}
			return err
		})
	}()

	// A slow admission in flight when the signal comes: the issuer it names
	// never answers, so it takes the fetch timeout (2s) or the budget (3s).
	hang := env.Issuer.Hang(fmt.Sprint(time.Now().UnixNano()))
	slowBody, slowUID := admissionReview(t, jwtRule(t, ns, "slow", hang, hang+"/jwks"), "apirules")
	type slowResult struct {
		resp *admissionv1.AdmissionResponse
		err  error
		took time.Duration
	}
	slow := make(chan slowResult, 1)
	time.Sleep(time.Second)
	hangingBefore := env.Issuer.Hanging()
	slowStart := time.Now()
	go func() {
		resp, err := postReview(ctx, c, "/validate", slowBody, slowUID)
		slow <- slowResult{resp, err, time.Since(slowStart)}
	}()
	for deadline := time.Now().Add(2 * time.Second); env.Issuer.Hanging() <= hangingBefore && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if env.Issuer.Hanging() <= hangingBefore {
		t.Log("the slow admission has not reached the issuer yet; signalling anyway")
	}

	signalled := time.Now()
	if err := env.Signal(syscall.SIGTERM); err != nil {
		close(stop)
		<-loadDone
		t.Fatal(err)
	}
	// /readyz turns not ready during the delay, while the process still runs.
	notReady := false
	for time.Since(signalled) < 900*time.Millisecond {
		resp, err := http.Get(probeURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				notReady = true
				t.Logf("/readyz answered %d %s after the signal", resp.StatusCode, time.Since(signalled).Round(time.Millisecond))
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !notReady {
		t.Errorf("/readyz did not report not ready during the shutdown delay")
	}
	// Answers during the delay close their connection, so none is left
	// idle for the API server to reuse as the server goes away.
	body, _ := admissionReview(t, gw, "gateways")
	req, err := http.NewRequest(http.MethodPost, env.WebhookURL+"/validate", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := c.Do(req); err != nil {
		t.Errorf("admission during the shutdown delay: %v", err)
	} else {
		resp.Body.Close()
		if !resp.Close {
			t.Errorf("an answer during the shutdown delay keeps its connection alive (Connection: %q)", resp.Header.Get("Connection"))
		}
	}

	exitErr := env.WaitGatewarden(30 * time.Second)
	exited := time.Now()
	close(stop)
	<-loadDone
	if exitErr != nil && strings.Contains(exitErr.Error(), "still running") {
		t.Fatalf("gatewarden did not exit after SIGTERM: %v", exitErr)
	}
	t.Logf("gatewarden exited %s after SIGTERM (%v)", exited.Sub(signalled).Round(time.Millisecond), exitErr)
	if exitErr != nil {
		t.Errorf("gatewarden exited with an error after SIGTERM: %v", exitErr)
	}
	if d := exited.Sub(signalled); d < time.Second {
		t.Errorf("gatewarden exited %s after SIGTERM, before its 1s shutdown delay", d)
	}

	select {
	case s := <-slow:
		switch {
		case s.err != nil:
			t.Errorf("the admission in flight at SIGTERM failed after %s: %v", s.took, s.err)
		case !s.resp.Allowed:
			t.Errorf("the admission in flight at SIGTERM was denied: %+v", s.resp.Result)
		default:
			t.Logf("the admission in flight at SIGTERM was answered after %s, warnings %q", s.took.Round(time.Millisecond), s.resp.Warnings)
			for _, w := range s.resp.Warnings {
				// The admission's budget is detached from the server's
				// request context, so the shutdown must not cut its fetch.
				if strings.Contains(w, "context canceled") {
					t.Errorf("the in-flight admission's fetch was cut short by the shutdown: %q", w)
				}
			}
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the admission in flight at SIGTERM never returned")
	}

	var before, beforeFailed, after, afterFailed int
	for _, r := range res {
		if r.start.Before(signalled) {
			before++
			if r.err != nil {
				beforeFailed++
				t.Errorf("request started %s before the signal failed: %v", signalled.Sub(r.start).Round(time.Millisecond), r.err)
			}
			continue
		}
		after++
		if r.err != nil {
			afterFailed++
		}
	}
	t.Logf("requests started before SIGTERM: %d (%d failed); after: %d (%d failed, expected once the server closed)", before, beforeFailed, after, afterFailed)
	if before < 10 {
		t.Errorf("only %d requests ran before the signal", before)
	}

	if err := env.StartGatewarden(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitWebhookDenies(ctx); err != nil {
		t.Fatal(err)
	}
}

// gatewarden killed: with failurePolicy Fail the API server refuses the
// objects gatewarden checks, naming the webhook; rendered with Ignore they
// are admitted unchecked; Fail and a running gatewarden are then restored.
func TestReliabilitySIGKILLFailurePolicy(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	restoreGatewarden(t, false)
	ns := namespace(t, nil)
	c, _ := newClient(t)
	gw := httpGateway(ns, "killed")
	admitted(t, eventually(func() error { return c.Create(ctx, gw.DeepCopy(), client.DryRunAll) }))

	if err := env.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGatewarden(10 * time.Second); err != nil && strings.Contains(err.Error(), "still running") {
		t.Fatal(err)
	}

	// failurePolicy Fail: refused, with an error that names the webhook.
	err := c.Create(ctx, gw.DeepCopy(), client.DryRunAll)
	if err == nil {
		t.Fatal("admitted although gatewarden is down and failurePolicy is Fail")
	}
	msg := err.Error()
	if !strings.Contains(msg, "failed calling webhook") || !strings.Contains(msg, ".gatewarden.io") {
		t.Errorf("refusal does not name the webhook: %v", err)
	}
	t.Logf("with gatewarden down and Fail: %v", err)

	// failurePolicy Ignore: admitted (unchecked) while gatewarden is down.
	rendered, err := env.RenderWebhooks("--set", "webhook.failurePolicy=Ignore")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rendered, []byte("failurePolicy: Ignore")) {
		t.Fatalf("rendered webhooks do not say failurePolicy: Ignore:\n%s", rendered)
	}
	if err := env.Apply(ctx, rendered); err != nil {
		t.Fatal(err)
	}
	admitted(t, eventually(func() error { return c.Create(ctx, gw.DeepCopy(), client.DryRunAll) }))
	// Even an object gatewarden would deny passes: nothing checks it.
	admitted(t, c.Create(ctx, mtlsWithoutCA(), client.DryRunAll))

	// Restore Fail: refused again while gatewarden is still down.
	if rendered, err = env.RenderWebhooks(); err != nil {
		t.Fatal(err)
	}
	if err := env.Apply(ctx, rendered); err != nil {
		t.Fatal(err)
	}
	if err := eventuallyRefused(func() error { return c.Create(ctx, gw.DeepCopy(), client.DryRunAll) }); err == nil {
		t.Errorf("still admitted with gatewarden down after restoring failurePolicy Fail")
	}
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("admissionregistration.k8s.io/v1")
		list.SetKind(kind + "List")
		if err := env.Client.List(ctx, list); err != nil {
			t.Fatal(err)
		}
		for _, item := range list.Items {
			hooks, _, _ := unstructured.NestedSlice(item.Object, "webhooks")
			for _, h := range hooks {
				m, _ := h.(map[string]any)
				if name, _ := m["name"].(string); strings.HasSuffix(name, ".gatewarden.io") && m["failurePolicy"] != "Fail" {
					t.Errorf("%s %s webhook %s: failurePolicy %v after restore", kind, item.GetName(), name, m["failurePolicy"])
				}
			}
		}
	}

	// Restart: checked again.
	if err := env.StartGatewarden(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitWebhookDenies(ctx); err != nil {
		t.Fatal(err)
	}
	admitted(t, c.Create(ctx, gw.DeepCopy(), client.DryRunAll))
}

// eventuallyRefused retries f until it fails (up to 5s); nil when it never did.
func eventuallyRefused(f func() error) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = f(); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
