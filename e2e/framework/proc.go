package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcStat is the part of /proc/PID/stat that tells processes apart: the
// start time distinguishes a process from a later one given the same pid.
type ProcStat struct {
	State         string // "Z" for a zombie
	PPID, Session int
	Start         string // clock ticks since boot
}

// ReadProcStat reads /proc/PID/stat. The fields after the command name,
// which is in parentheses and may hold spaces, are state, ppid, pgrp,
// session, ... and (the 20th) the start time.
func ReadProcStat(pid int) (ProcStat, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return ProcStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ppid, _ := strconv.Atoi(f[1])
	session, _ := strconv.Atoi(f[3])
	return ProcStat{State: f[0], PPID: ppid, Session: session, Start: f[19]}, nil
}

// EachProc calls fn for every process whose stat can be read now.
func EachProc(fn func(pid int, st ProcStat)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := ReadProcStat(pid); err == nil {
			fn(pid, st)
		}
	}
	return nil
}
