package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMakeUpDown runs the scripts behind `make up` and `make down`: a second
// local cluster comes up, kubectl applies through the printed kubeconfig and
// is answered by gatewarden, a re-run restarts gatewarden only, and down
// leaves no process behind.
func TestMakeUpDown(t *testing.T) {
	requireLocal(t)
	root, _ := filepath.Abs("..")
	state := t.TempDir()
	run := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(root, "hack", script))
		cmd.Env = append(os.Environ(), "GATEWARDEN_LOCAL_STATE="+state)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	out := run("up.sh")
	m := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("up printed no KUBECONFIG:\n%s", out)
	}
	pidBytes, err := os.ReadFile(filepath.Join(state, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(pidBytes))
	children := descendants(pid)
	if len(children) < 3 {
		t.Fatalf("want etcd, kube-apiserver and gatewarden under pid %d, got %v", pid, children)
	}
	t.Cleanup(func() {
		for _, p := range append(children, pid) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})

	kubectl := exec.Command(filepath.Join(root, "bin", "kubectl"), "apply", "-f", "-")
	kubectl.Env = append(os.Environ(), "KUBECONFIG="+m[1])
	kubectl.Stdin = strings.NewReader(mutualGateway)
	res, err := kubectl.CombinedOutput()
	if err == nil || !strings.Contains(string(res), "gateway-mtls-credential") {
		t.Fatalf("kubectl apply through the printed kubeconfig: want gatewarden's denial, got %v:\n%s", err, res)
	}

	// A second `up` reuses the cluster and restarts gatewarden only.
	out = run("up.sh")
	if !strings.Contains(out, "already running") {
		t.Fatalf("second up did not reuse the cluster:\n%s", out)
	}
	if again, _ := os.ReadFile(filepath.Join(state, "pid")); string(again) != string(pidBytes) {
		t.Fatalf("second up replaced the cluster: pid %s → %s", pidBytes, again)
	}

	all := append(descendants(pid), pid)
	run("down.sh")
	for _, p := range all {
		if syscall.Kill(p, 0) == nil && !zombie(p) {
			t.Errorf("process %d still running after down", p)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "pid")); !os.IsNotExist(err) {
		t.Errorf("down left %s/pid", state)
	}
}

// descendants lists every process below pid, from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 {
			pp, _ := strconv.Atoi(fields[1])
			parent[p] = pp
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}
