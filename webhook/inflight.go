package webhook

import "sync/atomic"

// Inflight counts the admissions being answered, so that background work
// can yield to them: the audit's workers (4 by default) would otherwise
// share a 2-core pod's CPU with an admission the API server is waiting on,
// and every write in the cluster waits with it.
type Inflight struct{ n atomic.Int64 }

// Busy says whether an admission is being answered.
func (i *Inflight) Busy() bool { return i.n.Load() > 0 }

func (i *Inflight) enter() func() {
	if i == nil {
		return func() {}
	}
	i.n.Add(1)
	return func() { i.n.Add(-1) }
}
