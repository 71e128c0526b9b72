// The e2e suite: a real kube-apiserver and etcd call the real gatewarden
// binary over TLS through webhook configurations rendered from the chart.
// Tests create, update and dry-run objects through a client and assert what
// the API server answered: allowed, denied with the field path, warnings.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/internal/cluster"
)

var env *framework.Cluster

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	state, err := os.MkdirTemp("", "gatewarden-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(state)
	// Attach mode (hack/kind-e2e.sh): the chart is installed in a cluster
	// already; otherwise the suite starts its own control plane.
	attach, attached, err := framework.AttachOptionsFromEnv(root, state, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if attached {
		env, err = framework.Attach(context.Background(), attach)
	} else {
		env, err = framework.Start(context.Background(), framework.Options{Root: root, StateDir: state, Log: os.Stderr})
	}
	defer env.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup failed:", err)
		if log, rerr := os.ReadFile(filepath.Join(state, "gatewarden.log")); rerr == nil {
			os.Stderr.Write(log)
		}
		return 1
	}
	return m.Run()
}

// requireLocal skips a test in attach mode: it needs the gatewarden process
// the suite starts itself (signals, restarts with other flags, direct access
// to its webhook, probe and metrics ports) or the suite's own control plane.
func requireLocal(t *testing.T) {
	t.Helper()
	if env.Attached() {
		t.Skip("attach mode: needs the gatewarden process and control plane the suite starts itself")
	}
}

// warnings collects the warnings the API server relays from webhooks.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// newClient is a client whose warnings the test can read.
func newClient(t *testing.T) (client.Client, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}
