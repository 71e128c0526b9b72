package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/e2e/framework"
)

// TestReadyOnlyAfterCacheSync: /readyz answers OK only once the informer
// cache has synced, so a new replica gets no admissions it would answer
// from an empty cache; /healthz answers all along. gatewarden runs as an
// identity with no permissions (its lists are refused, the cache cannot
// sync) until the test binds one.
func TestReadyOnlyAfterCacheSync(t *testing.T) {
	requireLocal(t)
	ns := namespace(t, nil)
	dir := t.TempDir()
	user, groups := framework.ServiceAccountIdentity(ns, "gatewarden")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.ImpersonatingKubeconfig(kubeconfig, user, groups...); err != nil {
		t.Fatal(err)
	}
	probe := "http://127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	p := startLive(t, filepath.Join(dir, "gatewarden.log"), []string{"serve",
		"--kubeconfig", kubeconfig, "--host", "127.0.0.1", "--port", strconv.Itoa(freeLoopbackPort(t)),
		"--cert-dir", env.PKI.CertDir, "--metrics-bind-address", "0",
		"--health-probe-bind-address", probe[len("http://"):],
		"--secret-namespaces", "istio-system", "--audit-interval", "0", "--shutdown-delay", "1s",
	})
	status := func(path string) (int, error) {
		if err := p.exited(); err != nil {
			t.Fatalf("gatewarden exited: %v", err)
		}
		r, err := http.Get(probe + path)
		if err != nil {
			return 0, err
		}
		r.Body.Close()
		return r.StatusCode, nil
	}
	waitFor(t, 60*time.Second, "/healthz answering 200 without permissions", func() error {
		if c, err := status("/healthz"); err != nil || c != http.StatusOK {
			return fmt.Errorf("status %d, %v", c, err)
		}
		return nil
	})
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if c, err := status("/readyz"); err == nil && c == http.StatusOK {
			t.Fatal("/readyz answered 200 although the cache cannot sync (every list is forbidden)")
		}
	}

	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "gatewarden-ready-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	mustCreate(t, binding)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), binding) })
	// Informers retry a refused list with a backoff of up to 30s.
	waitFor(t, 120*time.Second, "/readyz answering 200 once the lists are allowed", func() error {
		if c, err := status("/readyz"); err != nil || c != http.StatusOK {
			return fmt.Errorf("status %d, %v", c, err)
		}
		return nil
	})
}
