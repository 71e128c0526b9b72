package main

import (
	"testing"
	"time"
)

// phasesOf makes n phases of 300 creates: most take base, and each phase
// has a tail of spikes, one phase in ten a far slower one.
func phasesOf(n int, base time.Duration, seed int) [][]time.Duration {
	out := make([][]time.Duration, n)
	for i := range out {
		// Three spikes of 2x in most phases, ten of 8x in the slow one.
		spike, every := 2*base, 100
		if (i+seed)%10 == 0 {
			spike, every = 8*base, 30
		}
		for j := range 300 {
			d := base + time.Duration(j%7)*base/10
			if j%every == 0 {
				d = spike
			}
			out[i] = append(out[i], d)
		}
	}
	return out
}

func TestRatioInterval(t *testing.T) {
	same := phasesOf(10, time.Millisecond, 0)
	lo, hi := ratioInterval(same, same, 99, false)
	if lo > 1 || hi < 1 {
		t.Errorf("one sample against itself: interval %.2f to %.2f leaves out 1", lo, hi)
	}
	if got := settled(lo, hi, 1.2); got == "missed with 95% confidence" {
		t.Errorf("equal settings: %s", got)
	}
	// Twice as slow in every phase: the whole interval is far above 1.2.
	lo, hi = ratioInterval(phasesOf(10, 2*time.Millisecond, 3), phasesOf(10, time.Millisecond, 5), 99, false)
	if lo <= 1.2 || hi < lo {
		t.Errorf("twice as slow: interval %.2f to %.2f", lo, hi)
	}
	if got := settled(lo, hi, 1.2); got != "missed with 95% confidence" {
		t.Errorf("twice as slow: %s", got)
	}
	if got := settled(0.7, 1.1, 1.2); got != "met with 95% confidence" {
		t.Errorf("0.7 to 1.1 against 1.2: %s", got)
	}
	// The phase is the unit: one slow phase among ten widens the interval
	// beyond what the creates' count alone would give.
	if lo, hi := ratioInterval(phasesOf(10, time.Millisecond, 0), phasesOf(10, time.Millisecond, 5), 99, false); hi-lo < 0.2 {
		t.Errorf("spiky phases: interval %.2f to %.2f is too narrow to hold the phase-to-phase spread", lo, hi)
	}
	if lo, hi := ratioInterval(nil, same, 99, false); lo != 0 || hi != 0 {
		t.Errorf("no phases: %.2f to %.2f", lo, hi)
	}
}

// Interleaved settings meet the same bursts: drawn in pairs, the slow
// phases of one are matched with the other's, and a 10% slower setting is
// told apart from an equal one, which unpaired draws cannot do.
func TestRatioIntervalPaired(t *testing.T) {
	base := phasesOf(10, time.Millisecond, 0)
	slower := make([][]time.Duration, len(base))
	for i, ph := range base {
		for _, d := range ph {
			slower[i] = append(slower[i], d*11/10)
		}
	}
	lo, hi := ratioInterval(slower, base, 99, true)
	if lo < 1.05 || hi > 1.15 {
		t.Errorf("paired, 10%% slower in every phase: interval %.2f to %.2f, want about 1.10", lo, hi)
	}
	if ulo, uhi := ratioInterval(slower, base, 99, false); uhi-ulo < 2*(hi-lo) {
		t.Errorf("unpaired %.2f to %.2f is not wider than paired %.2f to %.2f", ulo, uhi, lo, hi)
	}
	if lo, hi := ratioInterval(slower, base[:9], 99, true); lo != 0 || hi != 0 {
		t.Errorf("paired phases of different counts: %.2f to %.2f", lo, hi)
	}
}

func TestMedianPhase(t *testing.T) {
	ms := time.Millisecond
	phases := [][]time.Duration{{ms, 9 * ms}, {ms, 2 * ms}, {ms, 50 * ms}, {3 * ms, 4 * ms}}
	// p99 of each: 9, 2, 50, 4 ms; median of four: (4+9)/2.
	if got := medianPhase(phases, 99); got != 6500*time.Microsecond {
		t.Errorf("median of 9, 2, 50, 4 ms: %s", got)
	}
	if got := medianPhase(phases[:3], 99); got != 9*ms {
		t.Errorf("median of 9, 2, 50 ms: %s", got)
	}
	if got := medianPhase(nil, 99); got != 0 {
		t.Errorf("no phases: %s", got)
	}
}
