package audit

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/trust"
)

// MaxChangeKeys bounds the keys (provides) the changes of one debounce
// window may name before the run after them is a full one: past a few
// thousand, as when a namespace of APIRules is applied at once, resolving
// them costs more than it saves.
const MaxChangeKeys = 4096

// Changed records a changed object (created or deleted: its last state)
// and makes a run on the changes due. Objects the dependency mapping cannot
// place make the run a full one.
func (a *Auditor) Changed(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		a.Trigger()
		return
	}
	a.record(provides(o))
}

// Updated records an update: what the object named before may lose a
// dependent, what it names now may gain one.
func (a *Auditor) Updated(oldObj, newObj any) {
	o, ok1 := oldObj.(client.Object)
	n, ok2 := newObj.(client.Object)
	if !ok1 || !ok2 {
		a.Trigger()
		return
	}
	a.record(updateKeys(o, n))
}

func (a *Auditor) record(keys []string) {
	a.init()
	a.pmu.Lock()
	for _, k := range keys {
		if k == keyFull {
			a.pendingFull = true
			continue
		}
		if a.pending == nil {
			a.pending = map[string]bool{}
		}
		a.pending[k] = true
	}
	if len(a.pending) > MaxChangeKeys {
		a.pendingFull = true
	}
	a.pmu.Unlock()
	a.wake()
}

// takePending empties the recorded changes.
func (a *Auditor) takePending() (keys []string, full bool) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	keys, full = slices.Sorted(maps.Keys(a.pending)), a.pendingFull
	a.pending, a.pendingFull = nil, false
	return keys, full
}

// needFull makes the next run a full one.
func (a *Auditor) needFull() {
	a.pmu.Lock()
	a.pendingFull = true
	a.pmu.Unlock()
}

// RunChanges checks the objects that depend on what changed since the last
// run (Changed), and the changed audited objects themselves, and rewrites
// the reports of their namespaces only; every other object keeps its
// results. It runs in full instead when a change asked for that, before
// the first full run, and whenever the cache's indexes cannot answer.
func (a *Auditor) RunChanges(ctx context.Context) error {
	a.init()
	a.mu.Lock()
	defer a.mu.Unlock()
	Running.Set(1)
	defer Running.Set(0)
	start := time.Now()
	keys, full := a.takePending()
	if full || a.state == nil || a.Index == nil {
		return a.runFull(ctx)
	}
	if len(keys) == 0 {
		return nil
	}
	refs, err := dependents(ctx, a.Index, a.Reader, a.Reviewer.Cluster, keys)
	if err != nil {
		a.Log.V(1).Info("dependency index cannot answer; running in full", "reason", err.Error())
		return a.runFull(ctx)
	}
	var targets []Target
	var gone []ref
	for _, key := range slices.Sorted(maps.Keys(refs)) {
		r := refs[key]
		if a.Options.Namespace != "" && r.namespace != a.Options.Namespace {
			continue
		}
		o, err := r.kind.Object(ctx, a.Reader, r.namespace, r.name)
		if err != nil && !notInstalled(err) {
			a.Log.V(1).Info("cannot read a changed object; running in full", "reason", err.Error())
			return a.runFull(ctx)
		}
		if o == nil {
			gone = append(gone, r)
			continue
		}
		st, ok, err := r.kind.Stored(o)
		if err != nil {
			return err
		}
		if ok {
			targets = append(targets, Target{Stored: st})
		}
	}

	checkCtx := ctx
	if a.pacer != nil {
		checkCtx = trust.WithPacer(ctx, a.pacer)
	}
	outcomes := check(checkCtx, a.Reviewer, targets, a.Options.Workers, a.Options.CPU, a.Options.Timeout, a.Options.Busy)
	if ctx.Err() != nil {
		// Stopping: what was pending is checked by the next leader's
		// first (full) run.
		return ctx.Err()
	}

	replaced := map[string]bool{}
	touched := map[string]bool{}
	drop := func(ns, key string) {
		touched[ns] = true
		if of := a.state[ns][key]; of != nil {
			replaced[of.prefix] = true
			delete(a.state[ns], key)
		}
	}
	for _, r := range gone {
		drop(r.namespace, r.key())
	}
	for _, o := range outcomes {
		obj := o.Target.Object
		ns, key := obj.GetNamespace(), objKey(o.Target.GVK.Kind, obj.GetNamespace(), obj.GetName())
		drop(ns, key)
		of := findingsOf(o, start, &a.texts)
		replaced[of.prefix] = true
		if a.state[ns] == nil {
			a.state[ns] = map[string]*objectFindings{}
		}
		a.state[ns][key] = of
	}
	namespaces := slices.Sorted(maps.Keys(touched))
	for _, ns := range namespaces {
		if len(a.state[ns]) == 0 {
			delete(a.state, ns) // its report goes
		}
	}
	found := group(func(yield func(*objectFindings) bool) {
		for _, ns := range namespaces {
			objs := a.state[ns]
			for _, k := range slices.Sorted(maps.Keys(objs)) {
				if !yield(objs[k]) {
					return
				}
			}
		}
	})

	errs := a.report(ctx, outcomes, found, &scope{namespaces: namespaces, replaced: replaced})
	setViolations(a.state, namespaces)
	setRunMetrics(runChanges, len(targets), start)
	a.last = lastRun{run: runChanges, checked: checkedKeys(outcomes)}
	for _, r := range gone {
		a.last.gone = append(a.last.gone, r.key())
	}
	a.Log.V(1).Info("audit run on changes", "keys", len(keys), "objects", len(targets), "deleted", len(gone), "took", time.Since(start))
	return errors.Join(errs...)
}

func checkedKeys(outcomes []Outcome) []string {
	out := make([]string, len(outcomes))
	for i, o := range outcomes {
		out[i] = objKey(o.Target.GVK.Kind, o.Target.Object.GetNamespace(), o.Target.Object.GetName())
	}
	return out
}
