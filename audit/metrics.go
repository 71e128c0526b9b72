package audit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// Violations counts the findings of the last run that the webhook would
	// deny, by check, kind and namespace. Warnings are not counted.
	Violations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatewarden_audit_violations",
		Help: "Stored objects' violations found by the last audit run, by check, kind and namespace.",
	}, []string{"check", "kind", "namespace"})
	// Dropped counts the findings the last run left out of each
	// namespace's report because of the results cap.
	Dropped = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatewarden_audit_report_results_dropped",
		Help: "Findings of the last audit run left out of a namespace's report by the results cap (the report's summary still counts them).",
	}, []string{"namespace"})
	// LastRun is when the last audit run started.
	LastRun = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatewarden_audit_last_run_timestamp_seconds",
		Help: "Unix time the last completed audit run started.",
	})
)

func init() {
	metrics.Registry.MustRegister(Violations, Dropped, LastRun)
}

// setMetrics replaces the gauges with the counts of this run.
func setMetrics(outcomes []Outcome, start time.Time) {
	type labels struct{ check, kind, ns string }
	counts := map[labels]float64{}
	for _, o := range outcomes {
		for _, f := range o.Result.Violations {
			counts[labels{f.Check, o.Target.GVK.Kind, o.Target.Object.GetNamespace()}]++
		}
	}
	Violations.Reset()
	for l, n := range counts {
		Violations.WithLabelValues(l.check, l.kind, l.ns).Set(n)
	}
	LastRun.Set(float64(start.Unix()))
}

// setDroppedMetric replaces the dropped-results gauge; namespaces whose
// report holds every finding have no series.
func setDroppedMetric(dropped map[string]int) {
	Dropped.Reset()
	for ns, n := range dropped {
		if n > 0 {
			Dropped.WithLabelValues(ns).Set(float64(n))
		}
	}
}
