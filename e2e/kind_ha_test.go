package e2e

// What only a real cluster shows about the chart's production settings: the
// replicas on different workers, the certificate the pods issue and inject
// themselves, no failed admission while a pod is deleted, a node drained or
// the release upgraded, and the pod's securityContext as the kernel applies
// it. These tests run in attach mode (make kind-e2e) and skip otherwise.

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/e2e/framework"
)

// UpgradeImageEnv names the image `make kind-e2e` loads into the nodes
// besides the installed one, for the upgrade test.
const upgradeImageEnv = "GATEWARDEN_E2E_UPGRADE_IMAGE"

// requireAttached skips a test outside attach mode: it needs the chart's pods
// in a cluster of several nodes, which the local control plane does not run.
func requireAttached(t *testing.T) {
	t.Helper()
	if !env.Attached() {
		t.Skip("needs attach mode (make kind-e2e): the chart's pods on a multi-node cluster; the local control plane runs gatewarden as one process")
	}
}

func kube(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// release is the installed release: namespace, Deployment name and the
// selector of its pods.
func release(t *testing.T) (ns, name, selector string) {
	t.Helper()
	ns, name = env.Release()
	return ns, name, "app.kubernetes.io/name=gatewarden,app.kubernetes.io/instance=" + name
}

// gatewardenPods are the release's pods that are not being deleted.
func gatewardenPods(t *testing.T) []corev1.Pod {
	t.Helper()
	ns, _, sel := release(t)
	list, err := kube(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitRolledOut waits until the Deployment has all its replicas updated,
// ready and available, and no old pod is left.
func waitRolledOut(t *testing.T, timeout time.Duration) *appsv1.Deployment {
	t.Helper()
	ns, name, _ := release(t)
	var d *appsv1.Deployment
	var err error
	deadline := time.Now().Add(timeout)
	for {
		d, err = kube(t).AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Spec.Replicas != nil {
			want := *d.Spec.Replicas
			s := d.Status
			if s.UpdatedReplicas == want && s.ReadyReplicas == want && s.AvailableReplicas == want && s.Replicas == want {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s/%s not rolled out after %s: %+v %v", ns, name, timeout, d.Status, err)
		}
		time.Sleep(time.Second)
	}
}

// admissionStream applies objects through the API server, and so through
// both webhooks (failurePolicy Fail), until stopped: creates of Gateways
// gatewarden admits, and dry-runs of one it denies. Any other answer, such
// as "failed calling webhook" while no pod answers, is a failed admission.
type admissionStream struct {
	stop    chan struct{}
	results chan []loadResult
}

func startAdmissionStream(t *testing.T, ns string) *admissionStream {
	t.Helper()
	s := &admissionStream{stop: make(chan struct{}), results: make(chan []loadResult, 1)}
	var seq atomic.Int64
	go func() {
		s.results <- runLoad(2, 10*time.Minute, s.stop, func(ctx context.Context) error {
			n := seq.Add(1)
			if n%2 == 0 {
				err := env.Client.Create(ctx, mtlsWithoutCA(), client.DryRunAll)
				if err != nil && strings.Contains(err.Error(), "denied the request") && strings.Contains(err.Error(), "[gateway-mtls-credential]") {
					return nil
				}
				return fmt.Errorf("want the gateway-mtls-credential denial, got %v", err)
			}
			return env.Client.Create(ctx, httpGateway(ns, fmt.Sprintf("stream-%d", n)))
		})
	}()
	return s
}

// finish stops the stream and fails the test on any failed admission. It
// returns the number of admissions, and wants at least atLeast of them.
func (s *admissionStream) finish(t *testing.T, atLeast int) int {
	t.Helper()
	close(s.stop)
	results := <-s.results
	var failed []string
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, r.start.Format("15:04:05.000")+" "+r.err.Error())
		}
	}
	t.Logf("admission stream: %d requests, %d failed", len(results), len(failed))
	if len(failed) > 0 {
		t.Errorf("%d of %d admissions failed; first: %s", len(failed), len(results), strings.Join(failed[:min(len(failed), 5)], "\n"))
	}
	if len(results) < atLeast {
		t.Errorf("only %d admissions during the test, want at least %d: the stream did not cover it", len(results), atLeast)
	}
	return len(results)
}

// issuerCIDR is exactly the address of the suite's issuer: on loopback
// locally, on the kind network's gateway in attach mode, where a `gatewarden
// check` on this machine must be allowed to fetch from it as the pods are.
func issuerCIDR(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(env.Issuer.URL)
	if err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil {
		t.Fatalf("issuer URL %s has no IP address", env.Issuer.URL)
	}
	if ip.To4() != nil {
		return ip.String() + "/32"
	}
	return ip.String() + "/128"
}

func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "bin", "kubectl"), append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestKindReplicasOnDifferentWorkers(t *testing.T) {
	requireAttached(t)
	d := waitRolledOut(t, 3*time.Minute)
	pods := gatewardenPods(t)
	if len(pods) != int(*d.Spec.Replicas) || len(pods) < 2 {
		t.Fatalf("%d pods for %d replicas, want at least 2", len(pods), *d.Spec.Replicas)
	}
	nodes := map[string]string{}
	for _, p := range pods {
		if !podReady(p) {
			t.Errorf("pod %s not Ready", p.Name)
		}
		if other, ok := nodes[p.Spec.NodeName]; ok {
			t.Errorf("pods %s and %s both on node %s: one node failure takes both", other, p.Name, p.Spec.NodeName)
		}
		nodes[p.Spec.NodeName] = p.Name
		node, err := kube(t).CoreV1().Nodes().Get(context.Background(), p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, cp := node.Labels["node-role.kubernetes.io/control-plane"]; cp {
			t.Errorf("pod %s runs on control-plane node %s", p.Name, node.Name)
		}
		t.Logf("pod %s Ready on worker %s", p.Name, p.Spec.NodeName)
	}
}

// The chart creates the certificate Secret empty; the pods fill it, and put
// its CA into both webhook configurations, which the API server then trusts.
func TestKindSelfManagedCertificate(t *testing.T) {
	requireAttached(t)
	ns, name, _ := release(t)
	ctx := context.Background()
	secret, err := kube(t).CoreV1().Secrets(ns).Get(ctx, name+"-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		if len(secret.Data[k]) == 0 {
			t.Fatalf("secret %s/%s has no %s", ns, secret.Name, k)
		}
	}
	var writers []string
	for _, mf := range secret.ManagedFields {
		if mf.FieldsV1 != nil && strings.Contains(mf.FieldsV1.GetRawString(), `"f:data"`) {
			writers = append(writers, mf.Manager)
		}
	}
	if len(writers) == 0 || slices.Contains(writers, "helm") {
		t.Errorf("secret data written by %q, want gatewarden, not helm", writers)
	}
	ca := parseCert(t, secret.Data["ca.crt"])
	leaf := parseCert(t, secret.Data["tls.crt"])
	if !ca.IsCA {
		t.Error("ca.crt is not a CA")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("tls.crt is not signed by ca.crt: %v", err)
	}
	wantDNS := name + "." + ns + ".svc"
	if !slices.Contains(leaf.DNSNames, wantDNS) {
		t.Errorf("serving certificate names %v, want %s", leaf.DNSNames, wantDNS)
	}
	t.Logf("secret %s/%s written by %v: CA %q, serving certificate for %v until %s", ns, secret.Name, writers, ca.Subject.CommonName, leaf.DNSNames, leaf.NotAfter.Format(time.RFC3339))

	vwc, err := kube(t).AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mwc, err := kube(t).AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bundles [][]byte
	for _, w := range vwc.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	for _, w := range mwc.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	for i, b := range bundles {
		if !caBundleHas(b, ca) {
			t.Errorf("webhook %d's caBundle lacks the CA of %s/%s", i, ns, secret.Name)
		}
	}
	// The API server reaches the pods through the Service with that trust:
	// a denial can only come from them.
	if err := waitWebhookDenies(ctx); err != nil {
		t.Fatal(err)
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caBundleHas(bundle []byte, ca *x509.Certificate) bool {
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return false
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && c.Equal(ca) {
			return true
		}
	}
}

// A pod deleted as a node drain or an eviction deletes it: the other replica
// answers, the terminating one stops getting requests before it stops
// serving, and no admission fails.
func TestKindPodDeletedUnderLoad(t *testing.T) {
	requireAttached(t)
	waitRolledOut(t, 3*time.Minute)
	ns := namespace(t, nil)
	rns, _, _ := release(t)
	victim := gatewardenPods(t)[0]
	s := startAdmissionStream(t, ns)
	time.Sleep(3 * time.Second)
	t.Logf("deleting pod %s on %s", victim.Name, victim.Spec.NodeName)
	if err := kube(t).CoreV1().Pods(rns).Delete(context.Background(), victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodGone(t, rns, victim.Name, 2*time.Minute)
	waitRolledOut(t, 3*time.Minute)
	time.Sleep(3 * time.Second)
	s.finish(t, 20)
	for _, p := range gatewardenPods(t) {
		if p.Name == victim.Name {
			t.Errorf("pod %s still there", p.Name)
		}
	}
}

func waitPodGone(t *testing.T, ns, pod string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := kube(t).CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
		if err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s not gone after %s", ns, pod, timeout)
		}
		time.Sleep(time.Second)
	}
}

// kubectl drain goes through the Eviction API, which the PodDisruptionBudget
// (minAvailable 1) guards: the first worker drains, its replica moves to the
// other worker; draining that one too must stop at the last ready replica,
// and the webhook answers throughout.
func TestKindDrainHeldByPDB(t *testing.T) {
	requireAttached(t)
	waitRolledOut(t, 3*time.Minute)
	pods := gatewardenPods(t)
	if len(pods) != 2 || pods[0].Spec.NodeName == pods[1].Spec.NodeName {
		t.Fatalf("want two replicas on two workers to start from, got %d", len(pods))
	}
	first, second := pods[0].Spec.NodeName, pods[1].Spec.NodeName
	t.Cleanup(func() {
		for _, n := range []string{first, second} {
			if out, err := kubectl(t, "uncordon", n); err != nil {
				t.Errorf("uncordon %s: %v\n%s", n, err, out)
			}
		}
		waitRolledOut(t, 3*time.Minute)
	})
	ns := namespace(t, nil)
	s := startAdmissionStream(t, ns)

	// Only gatewarden's pods are evicted: other tests leave bare pods (no
	// controller) on the workers, which a drain refuses to delete without
	// --force. The node is cordoned all the same.
	_, _, sel := release(t)
	out, err := kubectl(t, "drain", first, "--pod-selector", sel, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s")
	if err != nil {
		t.Fatalf("drain %s: %v\n%s", first, err, out)
	}
	t.Logf("drained %s", first)
	waitRolledOut(t, 3*time.Minute)
	for _, p := range gatewardenPods(t) {
		if p.Spec.NodeName != second {
			t.Fatalf("pod %s on %s after draining %s, want both on %s", p.Name, p.Spec.NodeName, first, second)
		}
	}

	// Both replicas on the second worker, nowhere else to go: the drain
	// evicts one and must then wait for the PDB until it gives up.
	out, err = kubectl(t, "drain", second, "--pod-selector", sel, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s")
	if err == nil {
		t.Fatalf("drain %s succeeded with no node left for gatewarden: the PDB did not hold\n%s", second, out)
	}
	if !strings.Contains(out, "disruption budget") {
		t.Errorf("drain %s failed, but not on the PodDisruptionBudget:\n%s", second, out)
	}
	t.Logf("drain %s held by the PodDisruptionBudget: %s", second, lastLine(out, "disruption budget"))
	ready := 0
	for _, p := range gatewardenPods(t) {
		if podReady(p) {
			ready++
		}
	}
	if ready < 1 {
		t.Errorf("%d ready replicas while the drain was held, want at least 1", ready)
	}
	if err := waitWebhookDenies(context.Background()); err != nil {
		t.Error(err)
	}
	s.finish(t, 20)
}

func lastLine(out, containing string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], containing) {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

// helm upgrade to another image tag replaces both pods one by one
// (maxUnavailable 0): no admission fails while it does.
func TestKindHelmUpgradeUnderLoad(t *testing.T) {
	requireAttached(t)
	image := os.Getenv(upgradeImageEnv)
	if image == "" {
		t.Fatalf("%s is not set: make kind-e2e loads a second tag of the image for this test", upgradeImageEnv)
	}
	repo, tag, _, err := framework.SplitImage(image)
	if err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, 3*time.Minute)
	rns, name, _ := release(t)
	before := map[string]bool{}
	for _, p := range gatewardenPods(t) {
		before[p.Name] = true
	}
	ns := namespace(t, nil)
	s := startAdmissionStream(t, ns)
	time.Sleep(3 * time.Second)
	if out, err := env.Helm("upgrade", name, filepath.Join("..", "charts", "gatewarden"), "--kubeconfig", env.Kubeconfig,
		"--namespace", rns, "--reuse-values", "--set", "image.repository="+repo, "--set", "image.tag="+tag,
		"--wait", "--timeout", "5m"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	d := waitRolledOut(t, 3*time.Minute)
	time.Sleep(3 * time.Second)
	s.finish(t, 20)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("deployment image %q after the upgrade, want %q", got, image)
	}
	for _, p := range gatewardenPods(t) {
		if before[p.Name] {
			t.Errorf("pod %s survived the upgrade", p.Name)
		}
		if p.Spec.Containers[0].Image != image {
			t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	t.Logf("upgraded to %s", image)
}

// The pod's securityContext as the kernel applies it, read on the node
// (a kind node is a Docker container): the process runs as 65532 with no
// capabilities, no new privileges and seccomp filtering, and its root
// filesystem refuses writes.
func TestKindSecurityContextHolds(t *testing.T) {
	requireAttached(t)
	waitRolledOut(t, 3*time.Minute)
	for _, p := range gatewardenPods(t) {
		node := p.Spec.NodeName
		// The node's crictl names the container's process.
		pidOut, err := dockerExec(node, "sh", "-c",
			fmt.Sprintf(`id=$(crictl ps -q --name gatewarden --pod "$(crictl pods -q --name %s)"); crictl inspect -o go-template --template '{{.info.pid}}' "$id"`, p.Name))
		if err != nil {
			t.Fatalf("finding pod %s's process on %s: %v\n%s", p.Name, node, err, pidOut)
		}
		pid := strings.TrimSpace(pidOut)
		status, err := dockerExec(node, "cat", "/proc/"+pid+"/status")
		if err != nil {
			t.Fatalf("%v\n%s", err, status)
		}
		fields := procStatus(status)
		want := map[string]string{
			"Uid": "65532\t65532\t65532\t65532", "Gid": "65532\t65532\t65532\t65532",
			"CapInh": "0000000000000000", "CapPrm": "0000000000000000", "CapEff": "0000000000000000",
			"CapBnd": "0000000000000000", "CapAmb": "0000000000000000",
			"NoNewPrivs": "1", "Seccomp": "2",
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("pod %s: %s is %q, want %q", p.Name, k, fields[k], v)
			}
		}
		// A write as root on the node into the container's root
		// filesystem: the read-only mount refuses it whoever asks.
		out, err := dockerExec(node, "touch", "/proc/"+pid+"/root/gatewarden-write-probe")
		if err == nil || !strings.Contains(out, "Read-only file system") {
			t.Errorf("pod %s: writing to its root filesystem: err %v, output %q; want Read-only file system", p.Name, err, out)
		}
		t.Logf("pod %s on %s: Uid %s, CapEff %s, CapBnd %s, NoNewPrivs %s, Seccomp %s; root write: %s",
			p.Name, node, strings.Fields(fields["Uid"])[0], fields["CapEff"], fields["CapBnd"], fields["NoNewPrivs"], fields["Seccomp"], strings.TrimSpace(out))
	}
}

func dockerExec(node string, args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"exec", node}, args...)...).CombinedOutput()
	return string(out), err
}

func procStatus(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
