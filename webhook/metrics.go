package webhook

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/gatewarden/gatewarden/internal/core"
)

var (
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_admission_decisions_total",
		Help: "Admission answers by kind, operation and decision (allowed, warned, denied, patched, unchecked, error).",
	}, []string{"kind", "operation", "decision"})
	checkResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_check_results_total",
		Help: "Outcome of each check run at admission (pass, warn, deny, off).",
	}, []string{"check", "result"})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatewarden_admission_duration_seconds",
		Help: "Time to answer one admission request, by webhook (mutate, validate) and kind.",
		// Most answers come from caches in well under a millisecond; the tail
		// is fetches to issuers, bounded by the admission budget.
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	}, []string{"webhook", "kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(decisions, checkResults, latency)
}

// The series an admission touches are few and fixed (kinds, checks,
// decisions), while each admission of a validated object touches one per
// check of its kind: they are looked up once and kept, instead of hashing
// their labels on every admission.
var (
	decisionSeries sync.Map // [3]string -> prometheus.Counter
	checkSeries    sync.Map // checkKey -> prometheus.Counter
	latencySeries  sync.Map // [2]string -> prometheus.Observer
)

type checkKey struct {
	id     string
	result core.Result
}

func decisionCounter(kind, operation, decision string) prometheus.Counter {
	k := [3]string{kind, operation, decision}
	if c, ok := decisionSeries.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := decisionSeries.LoadOrStore(k, decisions.WithLabelValues(kind, operation, decision))
	return c.(prometheus.Counter)
}

func checkCounter(id string, result core.Result) prometheus.Counter {
	k := checkKey{id, result}
	if c, ok := checkSeries.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := checkSeries.LoadOrStore(k, checkResults.WithLabelValues(id, string(result)))
	return c.(prometheus.Counter)
}

func latencyObserver(webhook, kind string) prometheus.Observer {
	k := [2]string{webhook, kind}
	if o, ok := latencySeries.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o, _ := latencySeries.LoadOrStore(k, latency.WithLabelValues(webhook, kind))
	return o.(prometheus.Observer)
}
