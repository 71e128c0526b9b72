package webhook

import (
	"sync/atomic"
	"time"
)

// Inflight counts the admissions being answered, so that background work
// can yield to them: the audit's workers (4 by default) would otherwise
// share a 2-core pod's CPU with an admission the API server is waiting on,
// and every write in the cluster waits with it.
type Inflight struct {
	n atomic.Int64
	// last is when the last admission was answered (Unix nanoseconds).
	last atomic.Int64
	// now is time.Now but in tests.
	now func() time.Time
}

// Quiet is how long after an admission is answered Busy still says yes.
// The API server calls the mutating webhook and then the validating one
// for each write, and a client that writes many objects sends the next
// within milliseconds of the last answer: an audit check started in such
// a gap holds a P when the next call arrives. In gatewarden-bench, creates
// one after another at 0 stored had a median phase p99 1.34 times the no-op
// webhook's with the audit yielding only to admissions in flight, and 1.10
// times with the audit off, and 0.94 and 1.04 times with this window
// (docs/benchmarks.md).
const Quiet = 5 * time.Millisecond

// Busy says whether an admission is being answered or was within Quiet.
func (i *Inflight) Busy() bool {
	return i.n.Load() > 0 || i.clock().UnixNano()-i.last.Load() < int64(Quiet)
}

func (i *Inflight) clock() time.Time {
	if i.now != nil {
		return i.now()
	}
	return time.Now()
}

func (i *Inflight) enter() func() {
	if i == nil {
		return func() {}
	}
	i.n.Add(1)
	return func() {
		i.last.Store(i.clock().UnixNano())
		i.n.Add(-1)
	}
}
