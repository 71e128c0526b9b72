package framework

// Attach mode: the suite runs against a cluster where the chart is already
// installed (kind, through hack/kind-e2e.sh) instead of starting its own
// control plane and gatewarden process. The API server then calls real pods
// through the chart's Service, with the certificates gatewarden manages
// itself. Tests that need the process the suite starts (signals, restarts
// with other flags, its metrics and probe ports) call Cluster.RequireLocal.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/cluster"
)

// Environment variables of attach mode besides KubeconfigEnv.
const (
	NamespaceEnv = "GATEWARDEN_E2E_NAMESPACE"
	ReleaseEnv   = "GATEWARDEN_E2E_RELEASE"
	// HostIPEnv is the address of this machine as the cluster's pods see
	// it (for kind: the gateway of the Docker network "kind"); the suite's
	// issuer listens there.
	HostIPEnv = "GATEWARDEN_E2E_HOST_IP"
)

// AttachOptions say which installed release to test.
type AttachOptions struct {
	Root       string
	StateDir   string
	Kubeconfig string
	Namespace  string // of the release (default gatewarden-system)
	Release    string // default gatewarden
	HostIP     string // where the issuer listens, reachable from the pods
	Log        io.Writer
}

// AttachOptionsFromEnv reads attach mode from the environment; ok is false
// when KubeconfigEnv is unset (the suite starts its own control plane).
func AttachOptionsFromEnv(root, stateDir string, log io.Writer) (o AttachOptions, ok bool, err error) {
	o = AttachOptions{
		Root: root, StateDir: stateDir, Log: log,
		Kubeconfig: os.Getenv(KubeconfigEnv),
		Namespace:  os.Getenv(NamespaceEnv),
		Release:    os.Getenv(ReleaseEnv),
		HostIP:     os.Getenv(HostIPEnv),
	}
	if o.Kubeconfig == "" {
		return o, false, nil
	}
	if o.Namespace == "" {
		o.Namespace = "gatewarden-system"
	}
	if o.Release == "" {
		o.Release = "gatewarden"
	}
	if o.HostIP == "" {
		return o, true, fmt.Errorf("%s is set but %s is not: the issuer must listen where the pods can reach it", KubeconfigEnv, HostIPEnv)
	}
	if net.ParseIP(o.HostIP) == nil {
		return o, true, fmt.Errorf("%s=%q is not an IP address", HostIPEnv, o.HostIP)
	}
	return o, true, nil
}

// Attach connects to the cluster, starts the suite's issuer on HostIP and
// upgrades the release so gatewarden trusts it (its CA and its address, both
// new on every run), then waits until the webhook answers.
func Attach(ctx context.Context, o AttachOptions) (*Cluster, error) {
	c := &Cluster{opts: Options{Root: o.Root, StateDir: o.StateDir, Log: o.Log}, attached: &o}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return c, err
	}
	for _, b := range []string{"helm", "gatewarden"} {
		if _, err := os.Stat(filepath.Join(o.Root, "bin", b)); err != nil {
			return c, fmt.Errorf("%s missing in %s/bin: run `make build tools` first", b, o.Root)
		}
	}
	ip := net.ParseIP(o.HostIP)
	if ip == nil {
		return c, errors.New("attach: HostIP is required")
	}
	var err error
	if c.PKI, err = newPKI(o.StateDir, ip); err != nil {
		return c, err
	}
	if c.Issuer, err = startIssuer(c.PKI, o.HostIP); err != nil {
		return c, fmt.Errorf("issuer on %s: %w", o.HostIP, err)
	}
	c.Kubeconfig = o.Kubeconfig
	if c.Config, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig); err != nil {
		return c, err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: cluster.Scheme}); err != nil {
		return c, err
	}
	for _, ns := range []string{"istio-system", "kyma-system"} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return c, err
		}
	}
	values, err := AttachTrustValues(c.PKI.CAPEM, o.HostIP)
	if err != nil {
		return c, err
	}
	valuesFile := filepath.Join(o.StateDir, "attach-values.yaml")
	if err := os.WriteFile(valuesFile, values, 0o600); err != nil {
		return c, err
	}
	c.logf("upgrading release %s/%s to trust the issuer at %s", o.Namespace, o.Release, c.Issuer.URL)
	if _, err := c.Helm("upgrade", o.Release, filepath.Join(o.Root, "charts", "gatewarden"),
		"--kubeconfig", o.Kubeconfig, "--namespace", o.Namespace,
		"--reuse-values", "--values", valuesFile, "--wait", "--timeout", "5m"); err != nil {
		return c, err
	}
	return c, c.waitWebhookActive(ctx)
}

// AttachTrustValues are the chart values that make an installed release
// trust the suite's issuer: its CA and exactly its address.
func AttachTrustValues(caPEM []byte, hostIP string) ([]byte, error) {
	trust, err := issuerTrust(caPEM, hostIP)
	if err != nil {
		return nil, err
	}
	if trust == nil {
		return nil, errors.New("attach: the issuer's CA and address are required")
	}
	return yaml.Marshal(map[string]any{"trust": trust})
}

// Attached reports attach mode.
func (c *Cluster) Attached() bool { return c.attached != nil }

// Release names the chart release attach mode tests: its namespace and
// name. Both are empty outside attach mode.
func (c *Cluster) Release() (namespace, name string) {
	if c.attached == nil {
		return "", ""
	}
	return c.attached.Namespace, c.attached.Release
}
