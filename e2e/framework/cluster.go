// Package framework starts a real local control plane (kube-apiserver and
// etcd through controller-runtime's envtest) with the CRDs gatewarden reads,
// a local OIDC issuer over TLS, and the gatewarden binary as a separate
// process whose webhook configurations are rendered from the project's chart.
// The e2e suite, `make demo` and `make up` all start it the same way.
package framework

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewarden/gatewarden/internal/cluster"
)

// Options say where the project's files are.
type Options struct {
	// Root is the repository root (bin/, charts/, e2e/testdata).
	Root string
	// StateDir receives the kubeconfig, certificates and logs.
	StateDir string
	// ExtraArgs are appended to `gatewarden serve`.
	ExtraArgs []string
	// ExtraEnv are added to gatewarden's environment (NAME=value) after
	// ChartEnv's, which they override.
	ExtraEnv []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a running local control plane with gatewarden installed.
type Cluster struct {
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	Issuer     *Issuer
	PKI        *PKI
	// WebhookURL is where the API server calls gatewarden.
	WebhookURL string
	ProbeURL   string
	MetricsURL string
	// GatewardenEnv is what gatewarden's environment adds to this
	// process's: ChartEnv, then Options.ExtraEnv.
	GatewardenEnv []string

	opts     Options
	attached *AttachOptions // nil: the suite runs its own control plane
	env      *envtest.Environment
	proc     *exec.Cmd
	procErr  chan error
	logFile  *os.File
	kcm      *exec.Cmd
	kcmLog   *os.File
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Log != nil {
		fmt.Fprintf(c.opts.Log, "e2e: "+format+"\n", args...)
	}
}

// Start brings everything up; Stop tears it down, also after a failed Start.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return c, err
	}
	bin := filepath.Join(opts.Root, "bin")
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "etcd", "helm", "gatewarden", "crds"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return c, fmt.Errorf("%s missing in %s: run `make build tools crds` first", b, bin)
		}
	}
	var err error
	if c.PKI, err = newPKI(opts.StateDir); err != nil {
		return c, err
	}
	if c.Issuer, err = startIssuer(c.PKI, "127.0.0.1"); err != nil {
		return c, err
	}

	c.logf("starting kube-apiserver and etcd")
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths: []string{
			filepath.Join(bin, "crds"),
			filepath.Join(opts.Root, "e2e", "testdata", "crds"),
			// gatewarden's own CRDs, from the chart that ships them.
			filepath.Join(opts.Root, "charts", "gatewarden", "crds"),
		},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if c.Config, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("control plane: %w", err)
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: cluster.Scheme}); err != nil {
		return c, err
	}
	admin, err := c.env.AddUser(envtest.User{Name: "gatewarden-e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(opts.StateDir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return c, err
	}
	if err := c.startControllerManager(); err != nil {
		return c, err
	}
	for _, ns := range []string{"istio-system", "kyma-system"} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return c, err
		}
	}
	if err := c.StartGatewarden(ctx); err != nil {
		return c, err
	}
	if err := c.installWebhooks(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// FreePort is a loopback TCP port nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartGatewarden starts (or restarts) the gatewarden process and waits until
// it reports ready. The webhook port stays the same across restarts, so the
// installed webhook configurations keep pointing at it.
func (c *Cluster) StartGatewarden(ctx context.Context) error {
	c.StopGatewarden()
	port := 0
	if c.WebhookURL != "" {
		port, _ = strconv.Atoi(c.WebhookURL[strings.LastIndex(c.WebhookURL, ":")+1:])
	} else {
		var err error
		if port, err = FreePort(); err != nil {
			return err
		}
	}
	probe, err := FreePort()
	if err != nil {
		return err
	}
	metrics, err := FreePort()
	if err != nil {
		return err
	}
	c.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d", port)
	c.ProbeURL = fmt.Sprintf("http://127.0.0.1:%d", probe)
	c.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
	args := append([]string{"serve",
		"--kubeconfig", c.Kubeconfig,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--cert-dir", c.PKI.CertDir,
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probe),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metrics),
		"--allow-cidr", "127.0.0.0/8", "--ca-file", c.PKI.CAFile,
		"--secret-namespaces", "istio-system,kyma-system",
		"--shutdown-delay", "1s",
	}, c.opts.ExtraArgs...)
	logPath := filepath.Join(c.opts.StateDir, "gatewarden.log")
	if c.logFile, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	c.proc = exec.Command(filepath.Join(c.opts.Root, "bin", "gatewarden"), args...)
	chartEnv, err := ChartEnv(c.opts.Root)
	if err != nil {
		return err
	}
	c.GatewardenEnv = append(chartEnv, c.opts.ExtraEnv...)
	c.proc.Env = append(os.Environ(), c.GatewardenEnv...)
	c.proc.Stdout, c.proc.Stderr = c.logFile, c.logFile
	c.logf("starting gatewarden on %s (log %s)", c.WebhookURL, logPath)
	if err := c.proc.Start(); err != nil {
		return err
	}
	c.procErr = make(chan error, 1)
	go func(p *exec.Cmd, ch chan error) { ch <- p.Wait() }(c.proc, c.procErr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-c.procErr:
			c.proc = nil
			return fmt.Errorf("gatewarden exited: %v (see %s)", err, logPath)
		default:
		}
		if resp, err := http.Get(c.ProbeURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gatewarden not ready after 60s (see %s)", logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PID is the gatewarden process id, 0 when it is not running.
func (c *Cluster) PID() int {
	if c.proc == nil || c.proc.Process == nil {
		return 0
	}
	return c.proc.Process.Pid
}

// Signal sends sig to gatewarden.
func (c *Cluster) Signal(sig os.Signal) error {
	if c.proc == nil {
		return errors.New("gatewarden is not running")
	}
	return c.proc.Process.Signal(sig)
}

// WaitGatewarden waits for the process to exit after a signal.
func (c *Cluster) WaitGatewarden(timeout time.Duration) error {
	if c.proc == nil {
		return nil
	}
	select {
	case err := <-c.procErr:
		c.proc = nil
		return err
	case <-time.After(timeout):
		return fmt.Errorf("gatewarden still running after %s", timeout)
	}
}

// StopGatewarden stops the process (SIGTERM, then SIGKILL).
func (c *Cluster) StopGatewarden() {
	if c.proc != nil {
		_ = c.proc.Process.Signal(syscall.SIGTERM)
		if err := c.WaitGatewarden(15 * time.Second); err != nil && c.proc != nil {
			_ = c.proc.Process.Kill()
			<-c.procErr
		}
		c.proc = nil
	}
	if c.logFile != nil {
		c.logFile.Close()
		c.logFile = nil
	}
}

// Helm runs the project's helm binary.
func (c *Cluster) Helm(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.opts.Root, "bin", "helm"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm %v: %v: %s", args, err, stderr.String())
	}
	return out, nil
}

// RenderWebhooks renders the chart's webhook configurations in URL mode.
func (c *Cluster) RenderWebhooks(extra ...string) ([]byte, error) {
	args := append([]string{"template", "gatewarden", filepath.Join(c.opts.Root, "charts", "gatewarden"),
		"--namespace", "gatewarden-system",
		"--show-only", "templates/webhooks.yaml",
		"--set", "webhook.url=" + c.WebhookURL,
		"--set", "webhook.caBundle=" + base64.StdEncoding.EncodeToString(c.PKI.CAPEM),
	}, extra...)
	return c.Helm(args...)
}

// UninstallWebhooks deletes the webhook configurations the chart renders:
// the API server stops calling gatewarden, as before an install.
func (c *Cluster) UninstallWebhooks(ctx context.Context) error {
	rendered, err := c.RenderWebhooks()
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Client.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// InstallWebhooks applies the chart's webhook configurations and waits until
// the API server calls gatewarden.
func (c *Cluster) InstallWebhooks(ctx context.Context) error { return c.installWebhooks(ctx) }

func (c *Cluster) installWebhooks(ctx context.Context) error {
	rendered, err := c.RenderWebhooks()
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, rendered); err != nil {
		return err
	}
	return c.waitWebhookActive(ctx)
}

// Apply creates or replaces every object of a multi-document YAML.
func (c *Cluster) Apply(ctx context.Context, manifests []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		existing := u.DeepCopy()
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(u), existing)
		switch {
		case apierrors.IsNotFound(err):
			err = c.Client.Create(ctx, u)
		case err == nil:
			u.SetResourceVersion(existing.GetResourceVersion())
			err = c.Client.Update(ctx, u)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// waitWebhookActive waits until the API server calls the webhook: a
// dry-run of a Gateway gatewarden always denies comes back denied.
func (c *Cluster) waitWebhookActive(ctx context.Context) error {
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "gatewarden-probe", "namespace": "default"},
		"spec": map[string]any{"servers": []any{map[string]any{
			"port":  map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"},
			"hosts": []any{"probe.example.com"}, "tls": map[string]any{"mode": "MUTUAL"}}}},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "gatewarden") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not active after 30s (last answer: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops gatewarden, the issuer and the control plane.
func (c *Cluster) Stop() {
	c.StopGatewarden()
	c.stopControllerManager()
	if c.Issuer != nil {
		c.Issuer.Close()
	}
	if c.env != nil {
		_ = c.env.Stop()
	}
}

// TLSClient trusts the e2e CA, for talking to gatewarden directly.
func (c *Cluster) TLSClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PKI.CAPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// RestartWith restarts gatewarden with extra `serve` flags (replacing any
// given before); RestartWith(ctx) restores the defaults.
func (c *Cluster) RestartWith(ctx context.Context, extra ...string) error {
	c.opts.ExtraArgs = extra
	return c.StartGatewarden(ctx)
}
