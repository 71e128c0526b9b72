package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// Options tune the audit. Zero values take the defaults.
type Options struct {
	// Interval between full runs (default 10m).
	Interval time.Duration
	// Debounce is how long a change of a watched object waits before it
	// triggers a run; changes in that window share one run (default 10s).
	Debounce time.Duration
	// Timeout bounds the checks of one object (default 30s).
	Timeout time.Duration
	// Workers is how many objects are checked at once (default 4).
	Workers int
	// CPU is how many of them run their checks at once; the others wait
	// for fetches or for a slot (default DefaultCPU(); negative: Workers).
	CPU int
	// FetchRate bounds the issuer and JWKS fetches a run makes, per second
	// (default 5, burst Workers); answers from the trust cache do not
	// count. Negative: unpaced.
	FetchRate float64
	// Namespace limits the audit to one namespace ("" for all).
	Namespace string
	// Reader lists the audited objects; nil: the manager's cache.
	Reader client.Reader
	// Reports selects the report formats (default auto).
	Reports ReportMode
	// MaxResults caps the results of one report (default
	// DefaultMaxResults); negative: no cap.
	MaxResults int
	// Busy, when set, says whether admissions are being answered: a worker
	// waits for them before its next object, for at most MaxYield, so
	// that the audit takes the CPU admissions leave and still progresses
	// under constant load.
	Busy func() bool
}

// MaxYield bounds how long an audit worker waits for admissions in flight
// before its next object.
const MaxYield = 20 * time.Millisecond

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Minute
	}
	if o.Debounce <= 0 {
		o.Debounce = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.CPU == 0 {
		o.CPU = DefaultCPU()
	}
	if o.FetchRate == 0 {
		o.FetchRate = DefaultFetchRate
	}
	if o.Reports == "" {
		o.Reports = ReportsAuto
	}
	if o.MaxResults == 0 {
		o.MaxResults = DefaultMaxResults
	}
	return o
}

// DefaultFetchRate is the audit's default pace of uncached fetches: at
// 5 per second, 1,000 issuers whose cached documents (discovery and JWKS)
// expired together are refreshed over about 7 minutes of the default 10
// minute interval.
const DefaultFetchRate = 5

// EventReason is the reason of the Events the audit records.
const EventReason = "GatewardenAudit"

// listTimeout bounds listing the audited objects.
const listTimeout = 2 * time.Minute

// maxEventMessage keeps event messages within what the API accepts.
const maxEventMessage = 1024

// Auditor re-validates stored objects and reports the findings. It never
// writes to the objects it checks.
type Auditor struct {
	Reviewer *review.Reviewer
	// Reader lists the audited objects (the manager's cache).
	Reader client.Reader
	// Client reads and writes the reports.
	Client client.Client
	// Served says which report formats the API server serves; nil: the
	// Client's REST mapper.
	Served   ServedFunc
	Recorder record.EventRecorder
	Options  Options
	Log      logr.Logger

	trigger chan struct{}
	pacer   trust.Pacer
	once    sync.Once
	mu      sync.Mutex
	// known are the findings reported so far (keys), by their object's
	// objectKey, so that a run on changes replaces those of the objects it
	// re-checked without going over every other; nil before the first run,
	// which seeds them from the existing reports.
	known map[string]map[string]bool
	// state holds every audited object's findings of its last check, by
	// namespace and objKey; nil before the first full run.
	state map[string]map[string]*objectFindings

	// Index answers which audited objects depend on a change, from the
	// cache's IndexDepends; nil: every run is full. Watch sets it.
	Index *cluster.Stores
	// pending are the keys (provides) of the changes since the last run;
	// pendingFull asks for a full run instead.
	pmu         sync.Mutex
	pending     map[string]bool
	pendingFull bool
	// last is what the last completed run checked.
	last lastRun
	// written are the reports this replica wrote last (reportMemory).
	written *reportMemory
	// texts holds one copy of the strings the findings in state repeat.
	texts texts
}

// lastRun is what a run checked: run is runFull or runChanges; checked
// and gone hold objKeys, of the objects checked and of those found deleted.
type lastRun struct {
	run           string
	checked, gone []string
}

// Add registers the audit with the manager. It runs only on the elected
// leader, and watches the manager's cache for changes that should trigger
// an early run.
func Add(mgr manager.Manager, rv *review.Reviewer, opts Options) error {
	reader := opts.Reader
	if reader == nil {
		reader = mgr.GetCache()
	}
	if _, err := ParseReportMode(string(opts.withDefaults().Reports)); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("audit: discovery client: %w", err)
	}
	a := &Auditor{
		Reviewer: rv,
		Reader:   reader,
		Client:   mgr.GetClient(),
		Served:   DiscoveryServed(dc),
		//lint:ignore SA1019 core/v1 Events are what kubectl describe shows and older viewers read
		Recorder: mgr.GetEventRecorderFor("gatewarden-audit"),
		Options:  opts,
		Log:      ctrl.Log.WithName("audit"),
	}
	return mgr.Add(&runnable{a: a, cache: mgr.GetCache()})
}

type runnable struct {
	a     *Auditor
	cache cache.Cache
}

// NeedLeaderElection keeps the audit to one replica: reports and events are
// written once.
func (r *runnable) NeedLeaderElection() bool { return true }

func (r *runnable) Start(ctx context.Context) error {
	r.a.Watch(ctx, r.cache)
	return r.a.Start(ctx)
}

func (a *Auditor) init() {
	a.once.Do(func() {
		a.trigger = make(chan struct{}, 1)
		a.written = newReportMemory()
		a.Options = a.Options.withDefaults()
		if a.Options.FetchRate > 0 {
			a.pacer = rate.NewLimiter(rate.Limit(a.Options.FetchRate), a.Options.Workers)
		}
		// A cache keeps APIRules in a form its client.Reader cannot hand
		// out (cluster.CacheOptions): read them from their store.
		if _, ok := a.Reader.(cluster.StoredReader); !ok {
			if inf, ok := a.Reader.(cluster.Informers); ok {
				a.Reader = cluster.NewStoreReader(a.Reader, inf)
			}
		}
	})
}

// Trigger asks for a full run soon (after the debounce delay).
func (a *Auditor) Trigger() {
	a.init()
	a.pmu.Lock()
	a.pendingFull = true
	a.pmu.Unlock()
	a.wake()
}

func (a *Auditor) wake() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// triggers are the kinds whose changes make a run due: what checks read, and
// the audited kinds themselves so fixes clear promptly.
func triggers() []client.Object {
	objs := []client.Object{&corev1.Secret{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.Namespace{}, &networkingv1.VirtualService{}}
	for _, k := range review.Kinds {
		objs = append(objs, k.Cached())
	}
	return objs
}

// Watch adds event handlers to the cache's informers that record what
// changed and make a run due, and reads the cache's dependency index
// (Indexes) unless Index is set. Kinds not installed are skipped.
func (a *Auditor) Watch(ctx context.Context, c cache.Cache) {
	a.init()
	if a.Index == nil {
		a.Index = cluster.NewStores(c)
	}
	h := toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				a.Changed(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(client.Object)
			n, ok2 := newObj.(client.Object)
			if ok1 && ok2 && o.GetResourceVersion() == n.GetResourceVersion() {
				return // a resync, nothing changed
			}
			a.Updated(oldObj, newObj)
		},
		DeleteFunc: func(obj any) { a.Changed(obj) },
	}
	for _, obj := range triggers() {
		// Do not wait for the sync: an informer that cannot sync (no RBAC
		// to list the kind) must not keep the audit from starting.
		inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			if !meta.IsNoMatchError(err) && !notInstalled(err) {
				a.Log.Error(err, "cannot watch; changes of this kind wait for the next interval", "type", fmt.Sprintf("%T", obj))
			}
			continue
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			a.Log.Error(err, "cannot watch", "type", fmt.Sprintf("%T", obj))
		}
	}
}

// Start runs the audit in full now and every Interval, and on the changes
// (RunChanges) Debounce after a change, until ctx ends.
func (a *Auditor) Start(ctx context.Context) error {
	a.init()
	ticker := time.NewTicker(a.Options.Interval)
	defer ticker.Stop()
	run := a.Run
	for {
		if err := run(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error(err, "audit run")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			run = a.Run
		case <-a.trigger:
			run = a.RunChanges
			// Let a burst of changes settle; triggers in the window share
			// this run, and later ones the next.
			t := time.NewTimer(a.Options.Debounce)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			select {
			case <-a.trigger:
			default:
			}
		}
	}
}

// Run audits every object once: list, check, then report. Report, event
// and metric errors do not stop the others; all are returned.
func (a *Auditor) Run(ctx context.Context) error {
	a.init()
	a.mu.Lock()
	defer a.mu.Unlock()
	Running.Set(1)
	defer Running.Set(0)
	return a.runFull(ctx)
}

func (a *Auditor) runFull(ctx context.Context) error {
	start := time.Now()
	// Changes recorded from now on are seen by this run's listing or by
	// the next run.
	a.takePending()
	// A cache list waits for its informer to sync, which never happens
	// without RBAC to list the kind: fail the run instead of hanging.
	listCtx, cancel := context.WithTimeout(ctx, listTimeout)
	targets, err := List(listCtx, a.Reader, a.Options.Namespace)
	cancel()
	if err != nil {
		a.needFull()
		return err
	}
	checkCtx := ctx
	if a.pacer != nil {
		checkCtx = trust.WithPacer(ctx, a.pacer)
	}
	outcomes := check(checkCtx, a.Reviewer, targets, a.Options.Workers, a.Options.CPU, a.Options.Timeout, a.Options.Busy)
	if ctx.Err() != nil {
		return ctx.Err() // stopping: a partial run must not clear reports
	}
	state := map[string]map[string]*objectFindings{}
	objs := make([]*objectFindings, len(outcomes))
	// Every object's findings are made anew: texts only the old ones used
	// go with them.
	a.texts = texts{}
	for i, o := range outcomes {
		of := findingsOf(o, start, &a.texts)
		objs[i] = of
		if state[of.namespace] == nil {
			state[of.namespace] = map[string]*objectFindings{}
		}
		obj := o.Target.Object
		state[of.namespace][objKey(o.Target.GVK.Kind, obj.GetNamespace(), obj.GetName())] = of
	}
	a.state = state
	found := group(slices.Values(objs))

	errs := a.report(ctx, outcomes, found, nil)
	setViolations(state, nil)
	setRunMetrics(runFull, len(targets), start)
	a.last = lastRun{run: runFull, checked: checkedKeys(outcomes)}
	timedOut := 0
	for _, o := range outcomes {
		if o.TimedOut {
			timedOut++
		}
	}
	a.Log.V(1).Info("audit run", "objects", len(targets), "timedOut", timedOut, "took", time.Since(start))
	return errors.Join(errs...)
}

// events records an Event for every finding not seen before. Before the
// first run, what the existing reports already list counts as seen, so a
// restart or a new leader does not repeat them. replaced names the objects
// (objectKey prefixes) a scoped run re-checked or found deleted: only
// their known findings are replaced; nil replaces all.
func (a *Auditor) events(outcomes []Outcome, replaced map[string]bool, known map[string]bool) {
	if a.known == nil {
		a.known = map[string]map[string]bool{}
		for k := range known {
			prefix, _, _ := strings.Cut(k, "\x00")
			a.knownSet(prefix + "\x00")[k] = true
		}
	}
	// before are the findings known before this run, of the objects whose
	// findings this run replaces.
	var before map[string]map[string]bool
	if replaced == nil {
		before, a.known = a.known, map[string]map[string]bool{}
	} else {
		before = map[string]map[string]bool{}
		for prefix := range replaced {
			if set, ok := a.known[prefix]; ok {
				before[prefix] = set
				delete(a.known, prefix)
			}
		}
	}
	wasKnown := func(prefix, k string) bool {
		if set, ok := before[prefix]; ok {
			return set[k]
		}
		return a.known[prefix][k]
	}
	for _, o := range outcomes {
		obj := o.Target.Object
		prefix := objectKey(string(obj.GetUID()), obj.GetNamespace(), o.Target.GVK.Kind, obj.GetName())
		if o.TimedOut {
			// Unknown this time: keep what was known, so the findings do
			// not count as new when the object is checked again.
			if set, ok := before[prefix]; ok {
				a.known[prefix] = set
			}
		}
		emit := func(label string, fs []core.Finding) {
			for _, f := range fs {
				if f.Exception != "" {
					continue // accepted by an exception: nothing to announce
				}
				k := findingKeyUnder(prefix, f.Check, reportMessage(f))
				seen := wasKnown(prefix, k)
				a.knownSet(prefix)[k] = true
				if seen || a.Recorder == nil {
					continue
				}
				a.Recorder.Event(obj, corev1.EventTypeWarning, EventReason, truncate(label+f.String(), maxEventMessage))
			}
		}
		emit("would be denied: ", o.Result.Violations)
		emit("warning: ", o.Result.Warnings)
	}
}

func (a *Auditor) knownSet(prefix string) map[string]bool {
	set := a.known[prefix]
	if set == nil {
		set = map[string]bool{}
		a.known[prefix] = set
	}
	return set
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
