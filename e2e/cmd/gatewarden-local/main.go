// Command gatewarden-local runs the e2e harness as a long-lived local
// cluster: a real kube-apiserver and etcd, the CRDs, a local OIDC issuer and
// gatewarden built from the working tree. `make demo` and `make up` use it.
//
//	gatewarden-local -root DIR -state DIR
//
// It writes STATE/env (shell variables: KUBECONFIG, issuer URLs) and
// STATE/pid once everything is ready, then runs until SIGTERM or SIGINT.
// SIGHUP restarts gatewarden only, from bin/gatewarden as it is then (so
// after `make build`), keeping the cluster; each restart ends with a line
// "gatewarden-local: restart N done" or "gatewarden-local: restart N failed".
//
// STATE/pids lists every process it runs, one "role pid starttime session"
// a line (starttime is field 22 of /proc/PID/stat, so a recycled pid is
// told apart): itself from the start, then etcd, kube-apiserver and
// gatewarden once they are up, rewritten after each restart. hack/down.sh
// stops exactly these, also when gatewarden-local itself died and left them
// running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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

	pids := filepath.Join(state, "pids")
	if err := writePids(pids, 0); err != nil {
		return err
	}
	c, err := framework.Start(ctx, framework.Options{Root: root, StateDir: state, Log: os.Stderr})
	defer c.Stop()
	if err != nil {
		return err
	}
	if err := writePids(pids, c.PID()); err != nil {
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
	fmt.Fprintln(os.Stderr, "gatewarden-local: ready")
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-hups:
		}
		fmt.Fprintf(os.Stderr, "gatewarden-local: restart %d: starting gatewarden from %s\n", n, describeBinary(filepath.Join(root, "bin", "gatewarden")))
		err := c.StartGatewarden(ctx)
		if werr := writePids(pids, c.PID()); err == nil {
			err = werr
		}
		if err != nil {
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

// writePids records this process and its children (etcd, kube-apiserver,
// gatewarden: what the harness runs), replacing the file atomically.
// gatewarden is the pid of `gatewarden serve`, 0 when it is not running.
func writePids(path string, gatewarden int) error {
	self := os.Getpid()
	var b strings.Builder
	b.WriteString("# role pid starttime session: what `make down` (hack/down.sh) stops\n")
	add := func(role string, pid int) error {
		st, err := framework.ReadProcStat(pid)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %s %d\n", role, pid, st.Start, st.Session)
		return nil
	}
	if err := add("gatewarden-local", self); err != nil {
		return err
	}
	var children []int
	if err := framework.EachProc(func(pid int, st framework.ProcStat) {
		if st.PPID == self && st.State != "Z" {
			children = append(children, pid)
		}
	}); err != nil {
		return err
	}
	seen := false
	for _, pid := range children {
		role := "child"
		if exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); err == nil {
			role = filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
		}
		if pid == gatewarden {
			role, seen = "gatewarden", true
		}
		if err := add(role, pid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if gatewarden != 0 && !seen {
		return fmt.Errorf("gatewarden (pid %d) is not a child of gatewarden-local (pid %d)", gatewarden, self)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
