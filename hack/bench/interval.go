package main

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
)

// bootstrapIterations is how many resamples an interval takes; 2,000 give
// its 2.5th and 97.5th percentiles to about a hundredth.
const bootstrapIterations = 2000

// ratioInterval is a 95% bootstrap interval of the ratio of the q-th
// percentiles of a's and b's latencies. Each setting's phases are resampled
// whole, with replacement: what moves a p99 on a shared machine comes in
// phases (one of them meets a burst of the API server's or etcd's own
// work), so the phase, not the single create, is the independent unit.
// Paired phases (a[i] and b[i] ran interleaved, meeting the same bursts) are
// drawn together, by the same index. The seed is fixed: a report reads the
// same on every print.
func ratioInterval(a, b [][]time.Duration, q float64, paired bool) (lo, hi float64) {
	if len(a) == 0 || len(b) == 0 || (paired && len(a) != len(b)) {
		return 0, 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ratios := make([]float64, 0, bootstrapIterations)
	draw := func(n int, into []int) []int {
		into = into[:0]
		for range n {
			into = append(into, rng.IntN(n))
		}
		return into
	}
	var pa, pb []time.Duration
	var ia, jb []int
	for range bootstrapIterations {
		ia = draw(len(a), ia)
		pa = resample(a, ia, pa[:0])
		ib := ia
		if !paired {
			jb = draw(len(b), jb)
			ib = jb
		}
		pb = resample(b, ib, pb[:0])
		if p := loadgen.Percentile(pb, q); p > 0 {
			ratios = append(ratios, float64(loadgen.Percentile(pa, q))/float64(p))
		}
	}
	if len(ratios) == 0 {
		return 0, 0
	}
	slices.Sort(ratios)
	at := func(f float64) float64 { return ratios[min(len(ratios)-1, int(f*float64(len(ratios))))] }
	return at(0.025), at(0.975)
}

// resample puts the phases at idx into into, sorted.
func resample(phases [][]time.Duration, idx []int, into []time.Duration) []time.Duration {
	for _, i := range idx {
		into = append(into, phases[i]...)
	}
	slices.Sort(into)
	return into
}

// settled says where an interval lies against a target ratio.
func settled(lo, hi, target float64) string {
	switch {
	case hi <= target:
		return "met with 95% confidence"
	case lo > target:
		return "missed with 95% confidence"
	}
	return "not settled at 95% confidence"
}

// medianPhase is the median of the phases' q-th percentiles: what a phase
// without the API server's bursts gives, which the pooled percentile hides
// when a few phases meet one.
func medianPhase(phases [][]time.Duration, q float64) time.Duration {
	if len(phases) == 0 {
		return 0
	}
	ps := make([]time.Duration, 0, len(phases))
	for _, ph := range phases {
		sorted := slices.Clone(ph)
		slices.Sort(sorted)
		ps = append(ps, loadgen.Percentile(sorted, q))
	}
	slices.Sort(ps)
	if n := len(ps); n%2 == 0 {
		return (ps[n/2-1] + ps[n/2]) / 2
	}
	return ps[len(ps)/2]
}
