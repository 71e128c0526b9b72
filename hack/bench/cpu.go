package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// procCPU is the CPU time of this program and each of its child processes
// (the control plane, both gatewardens, the no-op webhook), by name.
type procCPU map[string]float64

// readProcCPU reads the CPU seconds of this program and its children; names
// gives the label of pids that share a command name (the two gatewardens).
func readProcCPU(names map[int]string) procCPU {
	out := procCPU{"bench": cpuSeconds(0)}
	for _, pid := range children(os.Getpid()) {
		name, ok := names[pid]
		if !ok {
			name = commName(pid)
		}
		out[name] += cpuSeconds(pid)
	}
	return out
}

func commName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("pid %d", pid)
	}
	return strings.TrimSpace(string(b))
}

// perCall formats the CPU used since before, in milliseconds per call, the
// busiest process first.
func (c procCPU) perCall(before procCPU, calls int) string {
	type use struct {
		name string
		ms   float64
	}
	var uses []use
	total := 0.0
	for name, s := range c {
		d := (s - before[name]) * 1000 / float64(calls)
		total += d
		if d >= 0.05 {
			uses = append(uses, use{name, d})
		}
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].ms > uses[j].ms })
	parts := make([]string, 0, len(uses))
	for _, u := range uses {
		parts = append(parts, fmt.Sprintf("%s %.2f", u.name, u.ms))
	}
	return fmt.Sprintf("%.2f ms (%s)", total, strings.Join(parts, ", "))
}
