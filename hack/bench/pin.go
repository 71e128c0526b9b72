package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cpuSplit places the create phases' processes the way a cluster does: the
// control plane (kube-apiserver, etcd, kube-controller-manager) and its
// client (this program) on some CPUs, the webhook servers on others, so
// that what a webhook does in the background (informer events, the audit)
// does not take a core from the API server a create waits for.
type cpuSplit struct {
	control, webhooks []int
}

// parseSplit reads "0/1" or "0,1/2,3": the control plane's CPUs, then the
// webhook servers'.
func parseSplit(s string) (*cpuSplit, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return nil, fmt.Errorf("-pin %q: want CONTROL/WEBHOOKS, e.g. 0/1", s)
	}
	var sp cpuSplit
	for i, part := range []string{a, b} {
		for _, f := range strings.Split(part, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 || n >= runtime.NumCPU() {
				return nil, fmt.Errorf("-pin %q: %q is not a CPU of this machine (0 to %d)", s, f, runtime.NumCPU()-1)
			}
			if i == 0 {
				sp.control = append(sp.control, n)
			} else {
				sp.webhooks = append(sp.webhooks, n)
			}
		}
	}
	return &sp, nil
}

func (sp *cpuSplit) String() string {
	return fmt.Sprintf("control plane and client on CPU %s, webhook servers on CPU %s", ints(sp.control), ints(sp.webhooks))
}

func ints(l []int) string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// apply pins the webhook servers (their pids) to the webhook CPUs and this
// process and every other child of it (the control plane envtest started)
// to the control CPUs.
func (sp *cpuSplit) apply(webhooks ...int) error {
	hooks := map[int]bool{}
	for _, pid := range webhooks {
		if pid == 0 {
			continue
		}
		hooks[pid] = true
		if err := pin(pid, sp.webhooks); err != nil {
			return err
		}
	}
	control := []int{os.Getpid()}
	for _, pid := range children(os.Getpid()) {
		if !hooks[pid] {
			control = append(control, pid)
		}
	}
	for _, pid := range control {
		if err := pin(pid, sp.control); err != nil {
			return err
		}
	}
	return nil
}

// release lets every process use every CPU again.
func (sp *cpuSplit) release(webhooks ...int) error {
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	for _, pid := range append(append([]int{os.Getpid()}, children(os.Getpid())...), webhooks...) {
		if pid == 0 {
			continue
		}
		if err := pin(pid, all); err != nil {
			return err
		}
	}
	return nil
}

// pin sets the affinity of every thread of pid. Threads started later
// inherit it from the thread that starts them; the loop repeats until a pass
// finds no thread left to move, so that one started during a pass from a
// thread not yet moved is caught too.
func pin(pid int, cpus []int) error {
	var want unix.CPUSet
	for _, c := range cpus {
		want.Set(c)
	}
	for pass := 0; pass < 10; pass++ {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("pinning pid %d: %w", pid, err)
		}
		moved := 0
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			var have unix.CPUSet
			if unix.SchedGetaffinity(tid, &have) == nil && have == want {
				continue
			}
			// A thread that ended meanwhile is fine to miss.
			if err := unix.SchedSetaffinity(tid, &want); err == nil {
				moved++
			}
		}
		if moved == 0 {
			return nil
		}
	}
	return fmt.Errorf("pinning pid %d: threads kept appearing", pid)
}

// children are the pids whose parent is pid.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	parent := strconv.Itoa(pid)
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces; the fields after its
		// closing parenthesis are state, then the parent's pid.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == parent {
			out = append(out, n)
		}
	}
	return out
}
