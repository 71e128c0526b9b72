package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
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
