// Command gatewarden-local (hack/local) runs the e2e harness as a
// long-lived local cluster: a real kube-apiserver and etcd, the CRDs, a local
// OIDC issuer and gatewarden built from the working tree. `make demo` and
// `make up` use it.
//
//	gatewarden-local -root DIR -state DIR
//
// It writes STATE/env (shell variables: KUBECONFIG, issuer URLs) and
// STATE/pid once everything is ready, logs "gatewarden-local: ready
// (gatewarden pid N)", then runs until SIGTERM or SIGINT, stopping what it
// started. SIGHUP restarts gatewarden only, from bin/gatewarden as it is then
// (so after `make build`), keeping the cluster; each restart ends with a line
// "gatewarden-local: restart N done (gatewarden pid N)" or
// "gatewarden-local: restart N failed: ...".
//
// The scripts start it with setsid, so everything it runs stays in its
// session, which is how hack/down.sh finds what is left if it dies.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/gatewarden/gatewarden/e2e/framework"
)

func main() {
	root := flag.String("root", ".", "repository root")
	state := flag.String("state", ".e2e/local", "directory for the kubeconfig, certificates, logs and pid")
	flag.Parse()
	if err := run(*root, *state); err != nil {
		fmt.Fprintln(os.Stderr, "gatewarden-local:", err)
		os.Exit(1)
	}
}

func run(root, state string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	state, err = filepath.Abs(state)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	// SIGTERM or SIGINT cancels ctx, also while the cluster is starting;
	// SIGHUP asks for a restart (several pending ones make one).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	hups := make(chan struct{}, 1)
	go func() {
		for sig := range sigs {
			if sig != syscall.SIGHUP {
				cancel()
				return
			}
			select {
			case hups <- struct{}{}:
			default:
			}
		}
	}()

	c, err := framework.Start(ctx, framework.Options{Root: root, StateDir: state, Log: os.Stderr})
	defer c.Stop()
	if err != nil {
		return err
	}
	env := fmt.Sprintf(`export KUBECONFIG=%s
export GATEWARDEN_ISSUER_GOOD=%s
export GATEWARDEN_ISSUER_WRONG=%s
export GATEWARDEN_ISSUER_BROKEN_JWKS=%s
export GATEWARDEN_ISSUER_UNREACHABLE_JWKS=%s
export GATEWARDEN_UNREACHABLE_JWKS_URI=%s
export GATEWARDEN_ISSUER_CA=%s
export GATEWARDEN_WEBHOOK=%s
export GATEWARDEN_LOG=%s
`, c.Kubeconfig, c.Issuer.Good(), c.Issuer.WrongIssuer(), c.Issuer.BrokenJWKS(),
		c.Issuer.UnreachableJWKS(), c.Issuer.UnreachableJWKSURI(), c.PKI.CAFile, c.WebhookURL,
		filepath.Join(state, "gatewarden.log"))
	if err := os.WriteFile(filepath.Join(state, "env"), []byte(env), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(state, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(state, "pid"))
	fmt.Fprintf(os.Stderr, "gatewarden-local: ready (gatewarden pid %d)\n", c.PID())
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-hups:
		}
		fmt.Fprintf(os.Stderr, "gatewarden-local: restart %d: starting gatewarden from %s\n", n, describeBinary(filepath.Join(root, "bin", "gatewarden")))
		if err := c.StartGatewarden(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "gatewarden-local: restart %d failed: %v\n", n, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "gatewarden-local: restart %d done (gatewarden pid %d)\n", n, c.PID())
	}
}

// describeBinary names a file with its modification time, so the log shows
// which build a restart runs.
func describeBinary(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return path + " (" + err.Error() + ")"
	}
	return fmt.Sprintf("%s (built %s)", path, fi.ModTime().Format("2006-01-02 15:04:05"))
}
