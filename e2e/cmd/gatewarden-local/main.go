// Command gatewarden-local runs the e2e harness as a long-lived local
// cluster: a real kube-apiserver and etcd, the CRDs, a local OIDC issuer and
// gatewarden built from the working tree. `make demo` and `make up` use it.
//
//	gatewarden-local -root DIR -state DIR
//
// It writes STATE/env (shell variables: KUBECONFIG, issuer URLs) and
// STATE/pid once everything is ready, then runs until SIGTERM or SIGINT.
// SIGHUP restarts gatewarden only (after a rebuild), keeping the cluster.
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
	ctx := context.Background()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	c, err := framework.Start(ctx, framework.Options{Root: root, StateDir: state, Log: os.Stderr})
	defer c.Stop()
	if err != nil {
		return err
	}
	env := fmt.Sprintf("export KUBECONFIG=%s\nexport GATEWARDEN_ISSUER_GOOD=%s\nexport GATEWARDEN_ISSUER_WRONG=%s\nexport GATEWARDEN_ISSUER_BROKEN_JWKS=%s\nexport GATEWARDEN_ISSUER_CA=%s\nexport GATEWARDEN_WEBHOOK=%s\nexport GATEWARDEN_LOG=%s\n",
		c.Kubeconfig, c.Issuer.Good(), c.Issuer.WrongIssuer(), c.Issuer.BrokenJWKS(), c.PKI.CAFile, c.WebhookURL,
		filepath.Join(state, "gatewarden.log"))
	if err := os.WriteFile(filepath.Join(state, "env"), []byte(env), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(state, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "gatewarden-local: ready")
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			break
		}
		fmt.Fprintln(os.Stderr, "gatewarden-local: restarting gatewarden")
		if err := c.StartGatewarden(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "gatewarden-local: restart failed:", err)
		}
	}
	os.Remove(filepath.Join(state, "pid"))
	return nil
}
