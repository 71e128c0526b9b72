package framework

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestSplitImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string][3]string{
		"gatewarden:e2e":                    {"gatewarden", "e2e", ""},
		"ghcr.io/gatewarden/gatewarden:1.2": {"ghcr.io/gatewarden/gatewarden", "1.2", ""},
		"localhost:5000/gatewarden":         {"localhost:5000/gatewarden", "latest", ""},
		"localhost:5000/gatewarden:dev":     {"localhost:5000/gatewarden", "dev", ""},
		"gatewarden@" + digest:              {"gatewarden", "", digest},
	} {
		repo, tag, dig, err := SplitImage(ref)
		if err != nil || [3]string{repo, tag, dig} != want {
			t.Errorf("SplitImage(%q) = %q %q %q %v, want %q", ref, repo, tag, dig, err, want)
		}
	}
	for _, bad := range []string{"", "gatewarden:", "gate warden", "gatewarden@sha256:12"} {
		if _, _, _, err := SplitImage(bad); err == nil {
			t.Errorf("SplitImage(%q) accepted", bad)
		}
	}
}

type kindConfig struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Nodes      []struct {
		Role  string `json:"role"`
		Image string `json:"image"`
	} `json:"nodes"`
	KubeadmConfigPatches []string `json:"kubeadmConfigPatches"`
}

func parseKindConfig(t *testing.T, o KindOptions) kindConfig {
	t.Helper()
	data, err := KindConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	var c kindConfig
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("kind config is not the expected YAML: %v\n%s", err, data)
	}
	return c
}

func TestKindConfig(t *testing.T) {
	c := parseKindConfig(t, KindOptions{})
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" || c.Name != "gatewarden-e2e" {
		t.Errorf("header %+v", c)
	}
	roles := map[string]int{}
	for _, n := range c.Nodes {
		roles[n.Role]++
		if n.Image != "" {
			t.Errorf("node image %q set without NodeImage", n.Image)
		}
	}
	// Two workers so two replicas spread over two nodes.
	if len(c.Nodes) != 3 || roles["control-plane"] != 1 || roles["worker"] != 2 {
		t.Errorf("nodes %v, want 1 control-plane and 2 workers", roles)
	}

	c = parseKindConfig(t, KindOptions{ClusterName: "x", Workers: 1, NodeImage: "kindest/node:v1.35.0"})
	if c.Name != "x" || len(c.Nodes) != 2 || c.Nodes[1].Image != "kindest/node:v1.35.0" {
		t.Errorf("options ignored: %+v", c)
	}
	// kubelet must accept this machine's cgroup v1: the patch reaches the
	// KubeletConfiguration kind generates and sets exactly failCgroupV1.
	if len(c.KubeadmConfigPatches) != 1 {
		t.Fatalf("kubeadmConfigPatches %q, want the kubelet cgroup v1 patch", c.KubeadmConfigPatches)
	}
	var patch map[string]any
	if err := yaml.UnmarshalStrict([]byte(c.KubeadmConfigPatches[0]), &patch); err != nil {
		t.Fatalf("patch is not YAML: %v", err)
	}
	if patch["kind"] != "KubeletConfiguration" || patch["apiVersion"] != "kubelet.config.k8s.io/v1beta1" || patch["failCgroupV1"] != false || len(patch) != 3 {
		t.Errorf("patch %v, want KubeletConfiguration failCgroupV1: false only", patch)
	}
	if _, err := KindConfig(KindOptions{Workers: -1}); err == nil {
		t.Error("negative worker count accepted")
	}
}

type kindValues struct {
	Image struct {
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		PullPolicy string `json:"pullPolicy"`
	} `json:"image"`
	ReplicaCount int `json:"replicaCount"`
	CertManager  struct {
		Enabled bool `json:"enabled"`
	} `json:"certManager"`
	Trust struct {
		AllowCIDRs []string `json:"allowCIDRs"`
		CABundle   string   `json:"caBundle"`
	} `json:"trust"`
	GatewayNamespaces []string `json:"gatewayNamespaces"`
}

func parseKindValues(t *testing.T, o KindOptions) (kindValues, []byte) {
	t.Helper()
	data, err := KindValues(o)
	if err != nil {
		t.Fatal(err)
	}
	var v kindValues
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("values are not YAML: %v\n%s", err, data)
	}
	return v, data
}

func TestKindValues(t *testing.T) {
	v, _ := parseKindValues(t, KindOptions{})
	if v.Image.Repository != "gatewarden" || v.Image.Tag != "e2e" || v.Image.PullPolicy != "Never" {
		t.Errorf("image %+v, want the loaded gatewarden:e2e, never pulled", v.Image)
	}
	if v.ReplicaCount != 2 || v.CertManager.Enabled {
		t.Errorf("replicas %d certManager %v: kind mode runs two replicas with self-managed certificates", v.ReplicaCount, v.CertManager.Enabled)
	}
	if strings.Join(v.GatewayNamespaces, ",") != "istio-system,kyma-system" {
		t.Errorf("gateway namespaces %v, want the suite's", v.GatewayNamespaces)
	}
	if len(v.Trust.AllowCIDRs) != 0 || v.Trust.CABundle != "" {
		t.Errorf("trust %+v without an issuer", v.Trust)
	}

	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	v, _ = parseKindValues(t, KindOptions{Image: "registry.local:5000/gw:dev", IssuerIP: "172.18.0.1", IssuerCAPEM: []byte(pem)})
	if v.Image.Repository != "registry.local:5000/gw" || v.Image.Tag != "dev" {
		t.Errorf("image %+v", v.Image)
	}
	if strings.Join(v.Trust.AllowCIDRs, ",") != "172.18.0.1/32" || v.Trust.CABundle != pem {
		t.Errorf("trust %+v, want the issuer's address and CA", v.Trust)
	}
	v, _ = parseKindValues(t, KindOptions{IssuerIP: "fc00:f853:ccd:e793::1", IssuerCAPEM: []byte(pem)})
	if strings.Join(v.Trust.AllowCIDRs, ",") != "fc00:f853:ccd:e793::1/128" {
		t.Errorf("IPv6 issuer CIDRs %v", v.Trust.AllowCIDRs)
	}

	for name, o := range map[string]KindOptions{
		"IP without CA": {IssuerIP: "172.18.0.1"},
		"CA without IP": {IssuerCAPEM: []byte(pem)},
		"bad IP":        {IssuerIP: "host.docker.internal", IssuerCAPEM: []byte(pem)},
		"digest":        {Image: "gw@sha256:" + strings.Repeat("0", 64)},
	} {
		if _, err := KindValues(o); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestKindValuesRender renders the chart with the kind values: the chart's
// schema accepts them and the Deployment uses the loaded image.
func TestKindValuesRender(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	helm := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Fatal("bin/helm missing: run make tools (make e2e does)")
	}
	dir := t.TempDir()
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	if err := WriteKindFiles(dir, KindOptions{IssuerIP: "172.18.0.1", IssuerCAPEM: []byte(pem)}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", "gatewarden", filepath.Join(root, "charts", "gatewarden"),
		"--namespace", "gatewarden-system", "--values", filepath.Join(dir, "values.yaml"),
		"--show-only", "templates/deployment.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("chart refuses the kind values: %v\n%s", err, out)
	}
	for _, want := range []string{`image: "gatewarden:e2e"`, "imagePullPolicy: Never", "--allow-cidr=172.18.0.1/32",
		"--ca-file=", "--self-managed-certs", "--secret-namespaces=istio-system,kyma-system", "replicas: 2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered Deployment lacks %q", want)
		}
	}
}

// TestWriteKindFiles checks the files hack/kind/kindfiles writes for
// hack/kind-e2e.sh: exactly KindConfig and KindValues.
func TestWriteKindFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	o := KindOptions{ClusterName: "c1", Image: "gatewarden:e2e-1", NodeImage: "gatewarden-kind/node:v1.36.3-x"}
	if err := WriteKindFiles(dir, o); err != nil {
		t.Fatal(err)
	}
	for file, gen := range map[string]func(KindOptions) ([]byte, error){"kind.yaml": KindConfig, "values.yaml": KindValues} {
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		want, err := gen(o)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from what generates it:\n%s", file, got)
		}
	}
	if err := WriteKindFiles(dir, KindOptions{Image: "gw@sha256:" + strings.Repeat("0", 64)}); err == nil {
		t.Error("WriteKindFiles accepted a digest-only image")
	}
}
