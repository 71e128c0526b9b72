package e2e

// The chart's RBAC and its default certificate mode, exercised for real: the
// rest of the suite runs gatewarden with admin credentials and certificates
// it is handed, so neither the least-privilege Roles nor the self-managed
// CA (Secret filled by gatewarden, caBundle injected into its webhook
// configurations) would be noticed broken there. Here the chart is rendered
// in its default mode and installed without its Deployment (this control
// plane has no nodes); a second gatewarden process runs with the
// Deployment's arguments and the chart ServiceAccount's permissions, through
// a kubeconfig that impersonates it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
	"github.com/gatewarden/gatewarden/webhook"
)

// liveSelectorLabel is the only label the live test's webhook
// configurations match (namespaces and objects); nothing carries it, so the
// API server never calls the process this test starts.
const liveSelectorLabel = "e2e.gatewarden.io/live-release"

// liveStartTimeout bounds startup: certificate bootstrap, cache sync and
// caBundle injection on a loaded two-core machine.
const liveStartTimeout = 3 * time.Minute

func TestChartRBACSelfManagedLive(t *testing.T) {
	requireLocal(t) // attach mode installs the chart for real; this test stands in for that install
	ctx := context.Background()

	relNS := namespace(t, nil)
	appsNS := relNS + "-apps"
	mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appsNS}})
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appsNS}})
	})
	// A release name of its own: the cluster-scoped objects (ClusterRoles,
	// webhook configurations) are unique per run, and the ClusterRole's
	// resourceNames still name the webhook configurations as rendered.
	release := "live-" + randomHex(t, 3)
	objs := renderChartIn(t, release, relNS) // the default mode: self-managed certificates

	// What the Deployment would run, and the names it hands gatewarden.
	args := chartArgs(t, objs)
	flags := liveFlags(t, args)
	fullname := chartFind(t, objs, "Deployment", "").GetName()
	certSecret := chartFind(t, objs, "Secret", "").GetName()
	for flag, want := range map[string]string{
		"--self-managed-certs":             "",
		"--cert-secret":                    relNS + "/" + certSecret,
		"--service-name":                   chartFind(t, objs, "Service", "").GetName(),
		"--validating-webhook-config-name": chartFind(t, objs, "ValidatingWebhookConfiguration", "").GetName(),
		"--mutating-webhook-config-name":   chartFind(t, objs, "MutatingWebhookConfiguration", "").GetName(),
		"--secret-namespaces":              "istio-system",
	} {
		got, ok := flags[flag]
		if !ok || got != want {
			t.Fatalf("the Deployment's args %q: %s is %q (set: %v), want %q", args, flag, got, ok, want)
		}
	}
	serviceDNS := fmt.Sprintf("%s.%s.svc", flags["--service-name"], relNS)
	vwcName, mwcName := flags["--validating-webhook-config-name"], flags["--mutating-webhook-config-name"]
	sa := chartNested[string](t, chartFind(t, objs, "Deployment", ""), "spec", "template", "spec", "serviceAccountName")
	chartFind(t, objs, "ServiceAccount", sa)

	// Install everything but the workload, webhook configurations made inert.
	applyLiveChart(t, release, objs)

	// The state the checks read: the mTLS credential (as newMTLSSetup makes
	// it) in istio-system, and a stored Gateway for the audit to report on.
	creds := &mtlsSetup{ns: appsNS, gateway: "mtls", secret: "live-" + relNS, host: appsNS + ".example.com"}
	creds.ca = pkitest.New(t, pkitest.Options{CN: "client-ca", CA: true})
	creds.leaf = pkitest.New(t, pkitest.Options{CN: creds.host, DNSNames: []string{creds.host}, Parent: creds.ca})
	mustCreate(t, creds.secretObject(false))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), creds.secretObject(false)) })
	mustCreate(t, httpGateway(appsNS, "stored"))
	// An issuer on a loopback port where nothing listens: the suite's
	// gatewarden (--allow-cidr 127.0.0.0/8) admits it with a "connection
	// refused" warning; the chart's arguments allow no private addresses, so
	// the live process's audit finds the address blocked, a finding only it
	// reports, as an Event its ServiceAccount must be allowed to create.
	closed := fmt.Sprintf("https://127.0.0.1:%d", freeLoopbackPort(t))
	mustCreate(t, obj(t, fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: loopback-issuer, namespace: %s}
spec:
  jwtRules:
  - issuer: %s
    jwksUri: %s/jwks
`, appsNS, closed, closed)))

	// The ServiceAccount's identity, by impersonation.
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	user, groups := framework.ServiceAccountIdentity(relNS, sa)
	if err := env.ImpersonatingKubeconfig(kubeconfig, user, groups...); err != nil {
		t.Fatal(err)
	}
	saCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	saClient, err := client.New(saCfg, client.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	who, err := kubernetes.NewForConfigOrDie(saCfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview through the impersonating kubeconfig: %v", err)
	}
	if who.Status.UserInfo.Username != user {
		t.Fatalf("the impersonating kubeconfig authenticates as %q, want %q", who.Status.UserInfo.Username, user)
	}

	// The second gatewarden, as the Deployment would start it.
	configFile := filepath.Join(dir, "config.yaml")
	cm := chartFind(t, objs, "ConfigMap", fullname)
	if err := os.WriteFile(configFile, []byte(chartNested[string](t, cm, "data", filepath.Base(flags["--config"]))), 0o600); err != nil {
		t.Fatal(err)
	}
	port, probe, metrics := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	runArgs := liveServeArgs(t, args, map[string]string{
		"--config":                    configFile,
		"--port":                      strconv.Itoa(port),
		"--cert-dir":                  filepath.Join(dir, "certs"),
		"--metrics-bind-address":      fmt.Sprintf("127.0.0.1:%d", metrics),
		"--health-probe-bind-address": fmt.Sprintf("127.0.0.1:%d", probe),
	}, "--host=127.0.0.1", "--kubeconfig="+kubeconfig)
	if _, ok := flags["--leader-elect"]; ok {
		// In a pod the Lease goes to the pod's namespace; outside one it must be named.
		runArgs = append(runArgs, "--leader-election-namespace="+relNS)
	}
	proc := startLive(t, filepath.Join(dir, "gatewarden.log"), runArgs)

	probeURL := fmt.Sprintf("http://127.0.0.1:%d/readyz", probe)
	waitFor(t, liveStartTimeout, "gatewarden ready as "+user, func() error {
		if err := proc.exited(); err != nil {
			t.Fatalf("gatewarden exited before it was ready: %v", err)
		}
		resp, err := http.Get(probeURL)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		return nil
	})

	// gatewarden filled the Secret the chart created empty.
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: relNS, Name: certSecret}, secret); err != nil {
		t.Fatalf("self-managed Secret: %v", err)
	}
	for _, k := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		if len(secret.Data[k]) == 0 {
			t.Fatalf("Secret %s/%s has no %s (keys %v)", relNS, certSecret, k, slices.Sorted(maps.Keys(secret.Data)))
		}
	}
	ca := parseCACert(t, secret.Data["ca.crt"], "ca.crt of the Secret")

	// Both webhook configurations carry that CA in every webhook.
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: vwcName}, vwc); err != nil {
		t.Fatal(err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: mwcName}, mwc); err != nil {
		t.Fatal(err)
	}
	var bundles []struct{ where, pem string }
	for _, w := range vwc.Webhooks {
		bundles = append(bundles, struct{ where, pem string }{"ValidatingWebhookConfiguration " + vwcName + " " + w.Name, string(w.ClientConfig.CABundle)})
	}
	for _, w := range mwc.Webhooks {
		bundles = append(bundles, struct{ where, pem string }{"MutatingWebhookConfiguration " + mwcName + " " + w.Name, string(w.ClientConfig.CABundle)})
	}
	if len(bundles) != 2 {
		t.Fatalf("want one webhook in each configuration, got %d", len(bundles))
	}
	for _, b := range bundles {
		if b.pem != string(secret.Data["ca.crt"]) {
			t.Errorf("%s: caBundle is not the Secret's ca.crt:\n%s", b.where, b.pem)
		}
		parseCACert(t, []byte(b.pem), b.where+" caBundle")
	}
	caBundle := []byte(bundles[0].pem)

	// What the process serves verifies against the caBundle, for the name
	// the API server dials, and is the certificate in the Secret.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatal("caBundle holds no certificate")
	}
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: serviceDNS, MinVersion: tls.VersionTLS12}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), tlsCfg)
	if err != nil {
		t.Fatalf("TLS to gatewarden as %s, verified against the caBundle: %v", serviceDNS, err)
	}
	served := conn.ConnectionState().PeerCertificates
	conn.Close()
	inSecret, _ := pem.Decode(secret.Data["tls.crt"])
	if inSecret == nil || !bytes.Equal(served[0].Raw, inSecret.Bytes) {
		t.Errorf("served certificate (%s) is not the Secret's tls.crt", served[0].Subject)
	}
	if err := served[0].CheckSignatureFrom(ca); err != nil {
		t.Errorf("served certificate not signed by the Secret's CA: %v", err)
	}

	// Admissions straight to /validate (the path the chart's
	// ValidatingWebhookConfiguration names), over TLS verified as above.
	if p := vwc.Webhooks[0].ClientConfig.Service; p == nil || p.Path == nil || *p.Path != webhook.ValidatePath {
		t.Fatalf("ValidatingWebhookConfiguration calls %+v, want path %s", vwc.Webhooks[0].ClientConfig.Service, webhook.ValidatePath)
	}
	https := liveHTTPSClient(tlsCfg, port)
	deny := mtlsWithoutCA()
	deny.SetNamespace(appsNS)
	body, uid := admissionReview(t, deny, "gateways")
	resp, err := postReview(ctx, https, webhook.ValidatePath, body, uid)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Allowed {
		t.Errorf("MUTUAL Gateway without a CA admitted: %s", toJSON(t, resp))
	} else if resp.Result == nil || !strings.Contains(resp.Result.Message, "[gateway-mtls-credential]") {
		t.Errorf("MUTUAL Gateway without a CA denied without check gateway-mtls-credential: %s", toJSON(t, resp.Result))
	}
	// The credential in istio-system is readable through the chart's Role
	// there: the same kind of Gateway naming it is admitted.
	waitFor(t, time.Minute, "MUTUAL Gateway with its credential in istio-system admitted", func() error {
		body, uid := admissionReview(t, creds.gatewayObject(t, creds.secret), "gateways")
		resp, err := postReview(ctx, https, webhook.ValidatePath, body, uid)
		if err != nil {
			return err
		}
		if !resp.Allowed {
			return fmt.Errorf("denied: %s", toJSON(t, resp.Result))
		}
		return nil
	})

	// The audit runs on the elected leader: the Lease is held in the release
	// namespace (the chart's leader-election Role) and a run completes.
	if _, ok := flags["--leader-elect"]; ok {
		waitFor(t, 2*time.Minute, "audit Lease held", func() error {
			lease := &coordinationv1.Lease{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: relNS, Name: "gatewarden-audit"}, lease); err != nil {
				return err
			}
			if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
				return errors.New("no holder")
			}
			return nil
		})
	}
	if flags["--audit-interval"] != "0" {
		metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
		lastRun := regexp.MustCompile(`(?m)^gatewarden_audit_last_run_timestamp_seconds ([0-9.e+]+)$`)
		waitFor(t, 2*time.Minute, "an audit run completed", func() error {
			resp, err := http.Get(metricsURL)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			m := lastRun.FindSubmatch(data)
			if m == nil {
				return errors.New("no gatewarden_audit_last_run_timestamp_seconds")
			}
			if v, err := strconv.ParseFloat(string(m[1]), 64); err != nil || v <= 0 {
				return fmt.Errorf("gatewarden_audit_last_run_timestamp_seconds %s", m[1])
			}
			return nil
		})
	}

	// The audit's own writes: an Event only this process can have recorded.
	waitFor(t, 2*time.Minute, "audit Event on the RequestAuthentication, recorded by the live process", func() error {
		events := &corev1.EventList{}
		if err := env.Client.List(ctx, events, client.InNamespace(appsNS)); err != nil {
			return err
		}
		var seen []string
		for _, e := range events.Items {
			if e.InvolvedObject.Kind != "RequestAuthentication" || e.InvolvedObject.Name != "loopback-issuer" {
				continue
			}
			if strings.Contains(e.Message, "--allow-cidr 127.0.0.1/32") {
				return nil
			}
			seen = append(seen, e.Message)
		}
		return fmt.Errorf("events on it: %q", seen)
	})

	// What the ServiceAccount may do, and what it must not.
	dry := client.DryRunAll
	if err := saClient.List(ctx, &corev1.SecretList{}, client.InNamespace("istio-system")); err != nil {
		t.Errorf("listing Secrets in istio-system (a gateway namespace) as the ServiceAccount: %v", err)
	}
	if err := saClient.List(ctx, &corev1.SecretList{}, client.InNamespace(appsNS)); !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets in %s (not a gateway namespace) as the ServiceAccount: want forbidden, got %v", appsNS, err)
	}
	if err := saClient.Create(ctx, httpGateway(appsNS, "by-gatewarden"), dry); !apierrors.IsForbidden(err) {
		t.Errorf("creating a Gateway as the ServiceAccount: want forbidden, got %v", err)
	}
	if err := saClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: relNS, Name: "not-the-cert"}}, dry); !apierrors.IsForbidden(err) {
		t.Errorf("creating a Secret in the release namespace as the ServiceAccount: want forbidden, got %v", err)
	}
	own := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(secret), own); err != nil {
		t.Fatal(err)
	}
	if err := saClient.Update(ctx, own, dry); err != nil {
		t.Errorf("updating its own cert Secret as the ServiceAccount: %v", err)
	}
	ownVWC := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: vwcName}, ownVWC); err != nil {
		t.Fatal(err)
	}
	if err := saClient.Update(ctx, ownVWC, dry); err != nil {
		t.Errorf("updating its own ValidatingWebhookConfiguration as the ServiceAccount: %v", err)
	}
	suiteVWC := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "gatewarden"}, suiteVWC); err != nil {
		t.Fatalf("the suite's ValidatingWebhookConfiguration: %v", err)
	}
	if err := saClient.Update(ctx, suiteVWC, dry); !apierrors.IsForbidden(err) {
		t.Errorf("updating another release's ValidatingWebhookConfiguration as the ServiceAccount: want forbidden, got %v", err)
	}

	// A clean stop, then the whole log: no request was refused.
	if err := proc.stop(); err != nil {
		t.Errorf("stopping gatewarden: %v", err)
	}
	log, err := os.ReadFile(proc.log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte("serving certificate ready")) {
		t.Errorf("log %s lacks the self-managed certificate bootstrap; is it the right log?", proc.log)
	}
	refused := regexp.MustCompile(`(?i)forbidden|cannot (get|list|watch|create|update|patch|delete) resource`)
	for _, line := range strings.Split(string(log), "\n") {
		// Other tests delete their namespaces meanwhile: a write refused
		// because the namespace is terminating is not an RBAC refusal.
		if refused.MatchString(line) && !strings.Contains(line, "because it is being terminated") {
			t.Errorf("gatewarden was refused a request as %s: %s", user, line)
		}
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	p, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// applyLiveChart creates the rendered objects except the workload (no nodes
// here: the test runs the process itself), and deletes them in a cleanup.
// The webhook configurations keep their names, rules and clientConfig, but
// match only a label nothing carries and fail open, so the API server never
// calls the Service that has no pods behind it.
func applyLiveChart(t *testing.T, release string, objs []*unstructured.Unstructured) {
	t.Helper()
	var created []*unstructured.Unstructured
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			if err := env.Client.Delete(context.Background(), created[i]); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("cleanup: deleting %s %s/%s: %v", created[i].GetKind(), created[i].GetNamespace(), created[i].GetName(), err)
			}
		}
	})
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment", "Service", "PodDisruptionBudget":
			continue
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Secret",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			o = o.DeepCopy()
			only := map[string]any{"matchLabels": map[string]any{liveSelectorLabel: release}}
			hooks := chartNested[[]any](t, o, "webhooks")
			for _, h := range hooks {
				h := h.(map[string]any)
				h["namespaceSelector"] = only
				h["objectSelector"] = only
				h["failurePolicy"] = "Ignore"
			}
		default:
			t.Fatalf("the default chart renders a %s %s: decide whether this test installs it", o.GetKind(), o.GetName())
		}
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		created = append(created, o)
	}
}

// liveFlags indexes `--name=value` and `--name` arguments.
func liveFlags(t *testing.T, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, value, _ := strings.Cut(a, "=")
		if _, dup := out[name]; dup {
			t.Fatalf("the Deployment passes %s twice: %q", name, args)
		}
		out[name] = value
	}
	return out
}

// liveServeArgs are the Deployment's arguments with the values in replace
// substituted (each must be present: a chart that stopped passing one
// would otherwise go unnoticed) and extra appended. Any other argument
// naming a file in the pod fails the test.
func liveServeArgs(t *testing.T, args []string, replace map[string]string, extra ...string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if v, ok := replace[name]; ok {
			out = append(out, name+"="+v)
			seen[name] = true
			continue
		}
		if strings.Contains(a, "=/") {
			t.Fatalf("the Deployment passes %s, a path in the pod this test does not provide", a)
		}
		out = append(out, a)
	}
	for name := range replace {
		if !seen[name] {
			t.Fatalf("the Deployment does not pass %s: %q", name, args)
		}
	}
	return append(out, extra...)
}

func parseCACert(t *testing.T, data []byte, what string) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s is not a PEM certificate: %q", what, data)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("%s holds more than one PEM block", what)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Fatalf("%s (%s) is not a CA certificate", what, c.Subject)
	}
	return c
}

// liveHTTPSClient sends what postReview addresses to env.WebhookURL to the
// live process's port instead, verifying its certificate with tlsCfg.
func liveHTTPSClient(tlsCfg *tls.Config, port int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsCfg.Clone(),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		},
	}}
}

// liveProc is the gatewarden process this test started.
type liveProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // valid once done is closed
	once sync.Once
	serr error
}

// startLive starts bin/gatewarden with args, its output in logPath, and
// stops it in a cleanup; the end of its log is printed if the test failed.
func startLive(t *testing.T, logPath string, args []string) *liveProc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &liveProc{cmd: exec.Command(filepath.Join("..", "bin", "gatewarden"), args...), log: logPath, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	t.Logf("starting gatewarden %s (log %s)", strings.Join(args, " "), logPath)
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("stopping gatewarden: %v", err)
		}
		if t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				t.Logf("end of the gatewarden log:\n%s", strings.Join(lines, "\n"))
			}
		}
	})
	return p
}

// exited is the process's exit error (or a note that it exited cleanly)
// once it has exited, nil while it runs.
func (p *liveProc) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return errors.New("exit status 0")
		}
		return p.err
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for a clean exit (the shutdown delay plus the
// graceful drain), killing the process only if it overstays. Only the first
// call does this and reports how it went; later ones return nil.
func (p *liveProc) stop() error {
	first := false
	p.once.Do(func() {
		first = true
		select {
		case <-p.done:
			p.serr = fmt.Errorf("had already exited: %v", p.err)
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				p.serr = fmt.Errorf("exit after SIGTERM: %v", p.err)
			}
		case <-time.After(90 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.serr = errors.New("still running 90s after SIGTERM; killed")
		}
	})
	if !first {
		return nil
	}
	return p.serr
}
