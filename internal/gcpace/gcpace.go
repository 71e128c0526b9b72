// Package gcpace lets the heap grow further between collections while it is
// small against the memory limit, and no further than Go's default once it is
// not.
//
// An admission allocates about the same whatever is stored, so the collector's
// cost per admission grows with the heap it has to mark: with 10,000 APIRules
// cached, GOGC=100 put the p99 of an APIRule admission at 1.5 to 1.8 times a
// bare TLS server's, and GOGC=300 at 1.15 times (docs/benchmarks.md, "The
// collector's pacing"). A fixed GOGC=300 would let the replica running the
// audit hold four times its live heap, so after each collection the pacer
// chooses GOGC from what the collection found live: the heap may grow to a
// target (a share of GOMEMLIMIT), by at least 100% and at most 300% of the
// live heap. GOMEMLIMIT itself stays at the container's limit as the guard
// against running out of memory.
//
// bytedance/gopkg's gctuner does the same from runtime.ReadMemStats, which
// stops the world after every collection; this reads the live heap the
// collector measured from runtime/metrics, which does not.
package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	// MinPercent is Go's default: the pacer never collects more often.
	MinPercent = 100
	// MaxPercent is the GOGC measured to bring the collector's share of an
	// admission at 10,000 stored APIRules back to that at none.
	MaxPercent = 300
)

const liveMetric = "/gc/heap/live:bytes"

// Pacer re-chooses GOGC after every collection until Stop.
type Pacer struct {
	target uint64
	sample []metrics.Sample

	// mu keeps an adjust that is running from setting GOGC after Stop.
	mu      sync.Mutex
	stopped bool
	before  int
	percent int
}

// Start paces collections so that the heap grows to at most target bytes
// between them (within MinPercent and MaxPercent of the live heap).
func Start(target uint64) *Pacer {
	p := &Pacer{target: target, sample: []metrics.Sample{{Name: liveMetric}}}
	p.before, p.percent = debug.SetGCPercent(MinPercent), MinPercent
	p.arm()
	return p
}

// sentinel carries a pointer so that it is never placed by the tiny
// allocator, whose blocks may outlive it and delay its cleanup.
type sentinel struct{ _ *byte }

// arm has the next collection call adjust: a cleanup runs once the
// collection that found its object unreachable has finished, and each
// adjust arms the next, so adjusts run one at a time.
func (p *Pacer) arm() {
	runtime.AddCleanup(new(sentinel), (*Pacer).adjust, p)
}

func (p *Pacer) adjust() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		if pct := Percent(p.sample[0].Value.Uint64(), p.target); pct != p.percent {
			p.percent = pct
			debug.SetGCPercent(pct)
		}
	}
	p.arm()
}

// Percent is the GOGC that lets a heap of live bytes grow to target before
// the next collection, within MinPercent and MaxPercent.
func Percent(live, target uint64) int {
	if live == 0 || target <= live {
		return MinPercent
	}
	pct := float64(target-live) / float64(live) * 100
	return int(math.Max(MinPercent, math.Min(MaxPercent, pct)))
}

// Target is the heap size the pacer lets the heap grow to.
func (p *Pacer) Target() uint64 { return p.target }

// GCPercent is the GOGC the pacer chose last.
func (p *Pacer) GCPercent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.percent
}

// Stop leaves GOGC as it was before Start.
func (p *Pacer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		debug.SetGCPercent(p.before)
	}
}
