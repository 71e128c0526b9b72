package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeUpDown runs the scripts behind `make up` and `make down` against
// local clusters of their own (beside the suite's): kubectl applies through
// the printed kubeconfig and is answered by gatewarden, the issuer variants
// behave as up.sh describes them, a re-run restarts gatewarden only, and
// down leaves none of the processes behind, also when gatewarden-local was
// SIGKILLed and left its children running.
func TestMakeUpDown(t *testing.T) {
	requireLocal(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("up, restart, down", func(t *testing.T) {
		state := localState(t, root)
		out := runHack(t, root, state, "up.sh")
		m := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("up printed no KUBECONFIG:\n%s", out)
		}
		kubeconfig := m[1]
		first := recordedProcs(t, state)
		t.Cleanup(func() { killProcs(first) })
		session := sessionProcs(first["gatewarden-local"])

		res, err := localKubectl(root, kubeconfig, mutualGateway, "apply", "-f", "-")
		if err == nil || !strings.Contains(res, "gateway-mtls-credential") {
			t.Fatalf("kubectl apply through the printed kubeconfig: want gatewarden's denial, got %v:\n%s", err, res)
		}

		// The issuer variants answer as up.sh says: 404 is denied,
		// connection refused (a network failure) is warned about.
		env := localEnv(t, state)
		if res, err := localKubectl(root, kubeconfig, "", "apply", "-f", filepath.Join(root, "examples", "demo", "00-setup.yaml")); err != nil {
			t.Fatalf("apply examples/demo/00-setup.yaml: %v\n%s", err, res)
		}
		res, err = localKubectl(root, kubeconfig, issuerVariantRule(env["GATEWARDEN_ISSUER_UNREACHABLE_JWKS"]), "apply", "--dry-run=server", "-f", "-")
		if err != nil || !strings.Contains(res, "Warning:") || !strings.Contains(res, "[jwt-jwks-usable]") ||
			!strings.Contains(res, "connection refused") || !strings.Contains(res, env["GATEWARDEN_UNREACHABLE_JWKS_URI"]) {
			t.Errorf("unreachable JWKS: want admitted with a jwt-jwks-usable warning naming %s and the refused connection, got %v:\n%s",
				env["GATEWARDEN_UNREACHABLE_JWKS_URI"], err, res)
		}
		res, err = localKubectl(root, kubeconfig, issuerVariantRule(env["GATEWARDEN_ISSUER_BROKEN_JWKS"]), "apply", "--dry-run=server", "-f", "-")
		if err == nil || !strings.Contains(res, "[jwt-jwks-usable]") || !strings.Contains(res, "404") {
			t.Errorf("JWKS answering 404: want a jwt-jwks-usable denial naming the 404, got %v:\n%s", err, res)
		}

		// A second `up` reuses the cluster and restarts gatewarden only,
		// from bin/gatewarden.
		out = runHack(t, root, state, "up.sh")
		if !strings.Contains(out, "already running") || !strings.Contains(out, "gatewarden restarted") {
			t.Fatalf("second up did not restart gatewarden in the running cluster:\n%s", out)
		}
		second := recordedProcs(t, state)
		t.Cleanup(func() { killProcs(second) })
		for _, role := range []string{"gatewarden-local", "etcd", "kube-apiserver"} {
			if first[role] != second[role] {
				t.Errorf("second up replaced %s: %+v → %+v", role, first[role], second[role])
			}
		}
		oldGW, newGW := first["gatewarden"], second["gatewarden"]
		if newGW.pid == oldGW.pid {
			t.Errorf("second up did not restart gatewarden: pid %d both times", newGW.pid)
		}
		if oldGW.running() {
			t.Errorf("the first gatewarden (pid %d) still runs after the restart", oldGW.pid)
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", newGW.pid)); err != nil || exe != filepath.Join(root, "bin", "gatewarden") {
			t.Errorf("restarted gatewarden runs %q (%v), want %s", exe, err, filepath.Join(root, "bin", "gatewarden"))
		}
		res, err = localKubectl(root, kubeconfig, mutualGateway, "apply", "-f", "-")
		if err == nil || !strings.Contains(res, "gateway-mtls-credential") {
			t.Fatalf("after the restart: want gatewarden's denial, got %v:\n%s", err, res)
		}

		session = append(session, sessionProcs(first["gatewarden-local"])...)
		runHack(t, root, state, "down.sh")
		assertAllGone(t, state, first["gatewarden-local"], append(append(procList(first), procList(second)...), session...))
	})

	t.Run("down after gatewarden-local was SIGKILLed", func(t *testing.T) {
		state := localState(t, root)
		runHack(t, root, state, "up.sh")
		procs := recordedProcs(t, state)
		t.Cleanup(func() { killProcs(procs) })
		session := sessionProcs(procs["gatewarden-local"])

		leader := procs["gatewarden-local"]
		if err := syscall.Kill(leader.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for leader.running() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if leader.running() {
			t.Fatalf("gatewarden-local (pid %d) survived SIGKILL", leader.pid)
		}
		// Its children are orphaned, not gone: what down has to clean up.
		for _, role := range []string{"etcd", "kube-apiserver", "gatewarden"} {
			if !procs[role].running() {
				t.Fatalf("%s (pid %d) died with gatewarden-local: nothing left for down to stop", role, procs[role].pid)
			}
		}

		out := runHack(t, root, state, "down.sh")
		if !strings.Contains(out, "left running") {
			t.Errorf("down did not report the orphans it stopped:\n%s", out)
		}
		assertAllGone(t, state, leader, append(procList(procs), session...))
	})
}

// localState is a state directory for up.sh; if a test stops before its
// down.sh, cleanup runs down.sh.
func localState(t *testing.T, root string) string {
	state := t.TempDir()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(state, "session")); err == nil {
			cmd := exec.Command("bash", filepath.Join(root, "hack", "down.sh"))
			cmd.Env = append(os.Environ(), "GATEWARDEN_LOCAL_STATE="+state)
			_ = cmd.Run()
		}
	})
	return state
}

func runHack(t *testing.T, root, state, script string) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "hack", script))
	cmd.Env = append(os.Environ(), "GATEWARDEN_LOCAL_STATE="+state)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

func localKubectl(root, kubeconfig, stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// issuerVariantRule needs examples/demo/00-setup.yaml; jwksUri is left for
// gatewarden to fill in from the issuer's discovery.
func issuerVariantRule(issuer string) string {
	return fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: issuer-variant, namespace: default}
spec:
  hosts: [variant]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /{**}
    methods: [GET]
    jwt:
      authentications:
      - issuer: %s
`, issuer)
}

// localEnv parses the `export NAME=value` lines gatewarden-local writes.
func localEnv(t *testing.T, state string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(state, "env"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			env[k] = v
		}
	}
	return env
}

// localProc is a process told apart from a later one with the same pid by its
// start time, as hack/session.sh tells them apart.
type localProc struct {
	pid   int
	start string
}

// psRow is one line of ps about a process.
type psRow struct {
	pid, ppid, sid int
	stat, start    string
	exe            string // the first word of its command line
}

// ps lists the processes the selection names (-p PID, -s SID).
func ps(sel ...string) []psRow {
	out, _ := exec.Command("ps", append([]string{"-o", "pid=,ppid=,sid=,stat=,lstart=,args="}, sel...)...).Output()
	var rows []psRow
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		ppid, _ := strconv.Atoi(f[1])
		sid, _ := strconv.Atoi(f[2])
		// lstart is five words: Thu Dec  3 19:40:01 2026.
		rows = append(rows, psRow{pid: pid, ppid: ppid, sid: sid, stat: f[3], start: strings.Join(f[4:9], " "), exe: f[9]})
	}
	return rows
}

func (r psRow) proc() localProc { return localProc{pid: r.pid, start: r.start} }

// running: the process exists, is this one, and is not a zombie (an orphan
// that was killed may stay one if nobody reaps it).
func (p localProc) running() bool {
	rows := ps("-p", strconv.Itoa(p.pid))
	return len(rows) == 1 && !strings.HasPrefix(rows[0].stat, "Z") && rows[0].start == p.start
}

// recordedProcs finds, by role, what up.sh started: STATE/session names
// gatewarden-local, which leads its own session, and etcd, kube-apiserver
// and gatewarden run in that session as its children.
func recordedProcs(t *testing.T, state string) map[string]localProc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(state, "session"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw))
	if len(f) != 6 {
		t.Fatalf("session file %q: want the session id and a start time", raw)
	}
	sid, _ := strconv.Atoi(f[0])
	procs := map[string]localProc{}
	for _, r := range ps("-s", strconv.Itoa(sid)) {
		if !strings.HasPrefix(r.stat, "Z") {
			procs[filepath.Base(r.exe)] = r.proc()
		}
	}
	leader, ok := procs["gatewarden-local"]
	if !ok || leader.pid != sid || leader.start != strings.Join(f[1:], " ") {
		t.Fatalf("gatewarden-local is not the recorded session leader: %+v, session file %q", procs, raw)
	}
	for _, role := range []string{"etcd", "kube-apiserver", "gatewarden"} {
		p, ok := procs[role]
		if rows := ps("-p", strconv.Itoa(p.pid)); !ok || len(rows) != 1 || rows[0].ppid != leader.pid {
			t.Fatalf("%s is not running as a child of gatewarden-local (pid %d) in its session: %+v", role, leader.pid, procs)
		}
	}
	return procs
}

// sessionProcs lists what runs in the session the leader started: whatever
// up started, whatever its role.
func sessionProcs(leader localProc) []localProc {
	var out []localProc
	for _, r := range ps("-s", strconv.Itoa(leader.pid)) {
		out = append(out, r.proc())
	}
	return out
}

// assertAllGone: none of procs runs, nothing runs in the leader's session
// any more, and the state directory is gone.
func assertAllGone(t *testing.T, state string, leader localProc, procs []localProc) {
	t.Helper()
	seen := map[localProc]bool{}
	for _, p := range append(procs, sessionProcs(leader)...) {
		if !seen[p] && p.running() {
			t.Errorf("process %d still running after down", p.pid)
		}
		seen[p] = true
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("down left %s behind (%v)", state, err)
	}
}

func procList(m map[string]localProc) []localProc {
	var out []localProc
	for _, p := range m {
		out = append(out, p)
	}
	return out
}

func killProcs(procs map[string]localProc) {
	for _, p := range procs {
		if p.running() {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}
