package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startControllerManager runs kube-controller-manager with the namespace and
// garbage collector controllers: without them a deleted namespace stays
// Terminating for ever and owner references cascade nowhere, so day-2 flows
// (namespace teardown, finalizers removed while objects are deleted) could
// not be exercised. It serves no port of its own.
func (c *Cluster) startControllerManager() error {
	logPath := filepath.Join(c.opts.StateDir, "kube-controller-manager.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.opts.Root, "bin", "kube-controller-manager"),
		"--kubeconfig", c.Kubeconfig,
		"--controllers", "namespace,garbagecollector",
		"--leader-elect=false",
		"--secure-port", "0",
		"--concurrent-namespace-syncs", "5",
	)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("kube-controller-manager: %w", err)
	}
	c.kcm, c.kcmLog = cmd, log
	c.logf("started kube-controller-manager (log %s)", logPath)
	return nil
}

func (c *Cluster) stopControllerManager() {
	if c.kcm == nil {
		return
	}
	_ = c.kcm.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.kcm.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.kcm.Process.Kill()
		<-done
	}
	c.kcm = nil
	c.kcmLog.Close()
}
