package framework

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAttachOptionsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		kubeconfig, hostIP        string
		wantAttached, wantErr     bool
		wantNamespace, wantRelese string
	}{
		{name: "unset: own control plane"},
		{name: "kubeconfig without host address", kubeconfig: "/k", wantAttached: true, wantErr: true},
		{name: "bad host address", kubeconfig: "/k", hostIP: "kind-gw", wantAttached: true, wantErr: true},
		{name: "defaults", kubeconfig: "/k", hostIP: "172.18.0.1", wantAttached: true, wantNamespace: "gatewarden-system", wantRelese: "gatewarden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(KubeconfigEnv, tc.kubeconfig)
			t.Setenv(HostIPEnv, tc.hostIP)
			t.Setenv(NamespaceEnv, "")
			t.Setenv(ReleaseEnv, "")
			o, attached, err := AttachOptionsFromEnv("/root", "/state", nil)
			if attached != tc.wantAttached || (err != nil) != tc.wantErr {
				t.Fatalf("attached %v err %v; want attached %v, error %v", attached, err, tc.wantAttached, tc.wantErr)
			}
			if err == nil && attached && (o.Namespace != tc.wantNamespace || o.Release != tc.wantRelese || o.Kubeconfig != tc.kubeconfig) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

// TestAttachTrustValuesRender layers the values Attach upgrades a release
// with over the kind values, as `helm upgrade --reuse-values --values` does:
// the Deployment then trusts exactly the issuer's address and CA.
func TestAttachTrustValuesRender(t *testing.T) {
	if _, err := AttachTrustValues(nil, "172.18.0.1"); err == nil {
		t.Error("trust values without a CA accepted")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	helm := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Fatal("bin/helm missing: run make tools (make e2e does)")
	}
	dir := t.TempDir()
	if err := WriteKindFiles(dir, KindOptions{}); err != nil {
		t.Fatal(err)
	}
	trust, err := AttachTrustValues([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), "172.18.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "attach.yaml"), trust, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", "gatewarden", filepath.Join(root, "charts", "gatewarden"),
		"--namespace", "gatewarden-system", "--values", filepath.Join(dir, "values.yaml"), "--values", filepath.Join(dir, "attach.yaml"),
		"--show-only", "templates/deployment.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("chart refuses the attach values: %v\n%s", err, out)
	}
	for _, want := range []string{"--allow-cidr=172.18.0.1/32", "--ca-file=", "imagePullPolicy: Never"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered Deployment lacks %q", want)
		}
	}
}
