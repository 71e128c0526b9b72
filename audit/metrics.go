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
	// Runs counts the completed runs by what they checked: "full" (every
	// audited object: the interval, and changes the dependency index
	// cannot answer) or "changes" (the objects that depend on what
	// changed).
	Runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_audit_runs_total",
		Help: "Completed audit runs, by run: full (every audited object) or changes (the objects that depend on what changed).",
	}, []string{"run"})
	// Checked counts the objects the runs checked.
	Checked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_audit_checked_objects_total",
		Help: "Objects checked by completed audit runs, by run (full or changes).",
	}, []string{"run"})
	// Duration is how long the last run of each kind took, reports
	// included.
	Duration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatewarden_audit_last_run_duration_seconds",
		Help: "Duration of the last completed audit run, by run (full or changes), reports and events included.",
	}, []string{"run"})
	// Running is 1 while a run is in progress: a full run over many
	// objects takes long, and nothing else shows it before it completes.
	Running = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatewarden_audit_running",
		Help: "1 while an audit run (full or changes) is in progress, else 0.",
	})
	// LastRun is when the last audit run started.
	LastRun = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatewarden_audit_last_run_timestamp_seconds",
		Help: "Unix time the last completed audit run started.",
	})
)

func init() {
	metrics.Registry.MustRegister(Violations, Dropped, LastRun, Runs, Checked, Duration, Running)
	// Both series exist from the start, so rates and a scrape before the
	// first run of a kind read 0 rather than nothing.
	for _, run := range []string{runFull, runChanges} {
		Runs.WithLabelValues(run)
		Checked.WithLabelValues(run)
		Duration.WithLabelValues(run)
	}
}

// The values of the run label.
const (
	runFull    = "full"
	runChanges = "changes"
)

// setRunMetrics counts a completed run.
func setRunMetrics(run string, checked int, start time.Time) {
	Runs.WithLabelValues(run).Inc()
	Checked.WithLabelValues(run).Add(float64(checked))
	Duration.WithLabelValues(run).Set(time.Since(start).Seconds())
	LastRun.Set(float64(start.Unix()))
}

// setViolations replaces the violations gauge of namespaces (nil: all)
// with the counts of the objects' findings held now.
func setViolations(state map[string]map[string]*objectFindings, namespaces []string) {
	type labels struct{ check, kind, ns string }
	counts := map[labels]float64{}
	count := func(ns string) {
		for _, of := range state[ns] {
			for _, e := range of.entries {
				if e.Result == ResultFail {
					counts[labels{e.Check, e.Ref.Kind, ns}]++
				}
			}
		}
	}
	if namespaces == nil {
		Violations.Reset()
		for ns := range state {
			count(ns)
		}
	} else {
		for _, ns := range namespaces {
			Violations.DeletePartialMatch(prometheus.Labels{"namespace": ns})
			count(ns)
		}
	}
	for l, n := range counts {
		Violations.WithLabelValues(l.check, l.kind, l.ns).Set(n)
	}
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
