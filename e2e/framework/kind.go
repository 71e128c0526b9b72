package framework

// Kind mode: the same e2e suite against gatewarden installed by its chart in
// a kind cluster (hack/kind-e2e.sh). This file holds what that mode
// configures, as functions the unit tests in kind_test.go check: the kind
// cluster and the chart values. hack/kind/kindfiles writes them out for the
// script.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// KubeconfigEnv names the variable that switches the suite to kind mode: the
// kubeconfig of a cluster where the chart is already installed.
const KubeconfigEnv = "GATEWARDEN_E2E_KUBECONFIG"

// KindOptions describe the kind cluster and the release in it.
type KindOptions struct {
	// ClusterName is the kind cluster (default gatewarden-e2e).
	ClusterName string
	// NodeImage is the kindest/node image; empty: kind's default.
	NodeImage string
	// Workers is the number of worker nodes (default 2, so the two replicas
	// and their topology spread are exercised).
	Workers int
	// Image is the gatewarden image loaded into the nodes (default
	// gatewarden:e2e); it is never pulled.
	Image string
	// Namespace and Release of the chart (default gatewarden-system, gatewarden).
	Namespace string
	Release   string
	// IssuerCAPEM and IssuerIP let the webhook reach and trust the suite's
	// OIDC issuer on the host (the Docker network gateway of the kind
	// nodes); both empty: no issuer trust is configured.
	IssuerCAPEM []byte
	IssuerIP    string
}

// WithDefaults fills the empty fields.
func (o KindOptions) WithDefaults() KindOptions {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.ClusterName, "gatewarden-e2e")
	def(&o.Image, "gatewarden:e2e")
	def(&o.Namespace, "gatewarden-system")
	def(&o.Release, "gatewarden")
	if o.Workers == 0 {
		o.Workers = 2
	}
	return o
}

// SplitImage splits an image reference into repository, tag and digest.
// A port in the registry host is not a tag.
func SplitImage(ref string) (repo, tag, digest string, err error) {
	if ref == "" || strings.ContainsAny(ref, " \t\n") {
		return "", "", "", fmt.Errorf("bad image reference %q", ref)
	}
	repo = ref
	if i := strings.Index(repo, "@"); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return "", "", "", fmt.Errorf("bad digest in image reference %q", ref)
		}
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	if repo == "" || (tag == "" && digest == "" && strings.HasSuffix(ref, ":")) {
		return "", "", "", fmt.Errorf("bad image reference %q", ref)
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	return repo, tag, digest, nil
}

// KindConfig is the kind cluster configuration: one control-plane node and
// Workers workers.
func KindConfig(o KindOptions) ([]byte, error) {
	o = o.WithDefaults()
	if o.Workers < 0 {
		return nil, errors.New("kind: negative worker count")
	}
	node := func(role string) map[string]any {
		n := map[string]any{"role": role}
		if o.NodeImage != "" {
			n["image"] = o.NodeImage
		}
		return n
	}
	nodes := []any{node("control-plane")}
	for range o.Workers {
		nodes = append(nodes, node("worker"))
	}
	return yaml.Marshal(map[string]any{
		"kind":       "Cluster",
		"apiVersion": "kind.x-k8s.io/v1alpha4",
		"name":       o.ClusterName,
		"nodes":      nodes,
		// kubelet 1.35 and later refuse to start on a cgroup v1 host unless
		// told otherwise, and kind's own kubeadm configuration does not; on
		// a cgroup v2 host the setting changes nothing.
		"kubeadmConfigPatches": []string{KubeletCgroupV1Patch},
	})
}

// KubeletCgroupV1Patch is the kubeadm config patch that lets kubelet run on
// a cgroup v1 host.
const KubeletCgroupV1Patch = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: false\n"

// KindValues are the chart values of kind mode: the locally built image,
// self-managed certificates, production availability settings, and the
// namespaces and trust the e2e suite uses.
func KindValues(o KindOptions) ([]byte, error) {
	o = o.WithDefaults()
	repo, tag, digest, err := SplitImage(o.Image)
	if err != nil {
		return nil, err
	}
	image := map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"}
	if digest != "" {
		// kind load keeps the tag, not the digest: refuse rather than pull.
		return nil, fmt.Errorf("kind: load a tagged image, not %q", o.Image)
	}
	trust, err := issuerTrust(o.IssuerCAPEM, o.IssuerIP)
	if err != nil {
		return nil, err
	}
	values := map[string]any{
		"image":        image,
		"replicaCount": 2,
		"certManager":  map[string]any{"enabled": false},
		"webhook": map[string]any{
			"failurePolicy":  "Fail",
			"timeoutSeconds": 5,
		},
		"gatewayNamespaces": []string{"istio-system", "kyma-system"},
		// shutdownDelaySeconds stays the chart's: the pod deletion, drain and
		// upgrade tests measure the chart's own behaviour.
	}
	if trust != nil {
		values["trust"] = trust
	}
	return yaml.Marshal(values)
}

// issuerTrust is the chart's trust block for an issuer at ip signed by
// caPEM: exactly that address allowed, that CA trusted. Both empty: nil.
func issuerTrust(caPEM []byte, ip string) (map[string]any, error) {
	switch {
	case ip == "" && len(caPEM) == 0:
		return nil, nil
	case ip == "" || len(caPEM) == 0:
		return nil, errors.New("kind: IssuerIP and IssuerCAPEM go together")
	}
	addr := net.ParseIP(ip)
	if addr == nil {
		return nil, fmt.Errorf("kind: bad issuer IP %q", ip)
	}
	bits := 128
	if addr.To4() != nil {
		bits = 32
	}
	return map[string]any{
		"allowCIDRs": []string{fmt.Sprintf("%s/%d", addr, bits)},
		"caBundle":   string(caPEM),
	}, nil
}

// WriteKindFiles writes kind.yaml and values.yaml into dir, for
// hack/kind-e2e.sh (through hack/kind/kindfiles).
func WriteKindFiles(dir string, o KindOptions) error {
	cfg, err := KindConfig(o)
	if err != nil {
		return err
	}
	values, err := KindValues(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kind.yaml"), cfg, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "values.yaml"), values, 0o644)
}
