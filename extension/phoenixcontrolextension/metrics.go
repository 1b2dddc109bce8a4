// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"github.com/prometheus/client_golang/prometheus"
	"math"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// collector exports every registered experiment's per-variant figures at scrape time.
type collector struct{ reg *registry }

var variantLabels = []string{"experiment", "variant"}

var gauges = []struct {
	desc  *prometheus.Desc
	value func(v control.VariantStats) float64
}{
	{prometheus.NewDesc("phoenix_experiment_series", "Distinct series of the variant in the reported window.", variantLabels, nil),
		func(v control.VariantStats) float64 { return float64(v.Series) }},
	{prometheus.NewDesc("phoenix_experiment_new_series", "Series of the variant not in the previous window (churn).", variantLabels, nil),
		func(v control.VariantStats) float64 { return float64(v.NewSeries) }},
	{prometheus.NewDesc("phoenix_experiment_datapoints_per_second", "Data points per second of the variant's output.", variantLabels, nil),
		func(v control.VariantStats) float64 { return v.DatapointsPerSecond }},
	{prometheus.NewDesc("phoenix_experiment_bytes_per_second", "OTLP protobuf bytes per second of the variant's output.", variantLabels, nil),
		func(v control.VariantStats) float64 { return v.BytesPerSecond }},
	{prometheus.NewDesc("phoenix_experiment_series_savings_ratio", "1 - series / baseline series.", variantLabels, nil),
		func(v control.VariantStats) float64 { return v.SeriesSavings }},
	{prometheus.NewDesc("phoenix_experiment_datapoint_savings_ratio", "1 - data points / baseline data points.", variantLabels, nil),
		func(v control.VariantStats) float64 { return v.DatapointSavings }},
	{prometheus.NewDesc("phoenix_experiment_byte_savings_ratio", "1 - bytes / baseline bytes.", variantLabels, nil),
		func(v control.VariantStats) float64 { return v.ByteSavings }},
	{prometheus.NewDesc("phoenix_experiment_fidelity_ratio", "Lowest per-metric fidelity against the baseline, in [0,1].", variantLabels, nil),
		func(v control.VariantStats) float64 {
			if v.Fidelity == nil {
				return math.NaN() // no data: not exported
			}
			return *v.Fidelity
		}},
	{prometheus.NewDesc("phoenix_experiment_rule_fidelity_ratio", "Share of the experiment's rules that evaluate the same on the variant as on the baseline.", variantLabels, nil),
		ruleFigure(func(r *control.RuleStats) float64 { return *r.Fidelity })},
	{prometheus.NewDesc("phoenix_experiment_rules_broken", "Rules with no result, an error or another set of alerts on the variant where the baseline has them.", variantLabels, nil),
		ruleFigure(func(r *control.RuleStats) float64 { return float64(r.Broken) })},
	{prometheus.NewDesc("phoenix_experiment_critical_visible_ratio", "Share of the baseline's critical processes the variant shows on their own.", variantLabels, nil),
		func(v control.VariantStats) float64 { return v.CriticalVisible }},
	{prometheus.NewDesc("phoenix_experiment_cost_monthly", "Projected monthly cost of the variant's output on this node under the experiment's billing model (in its currency: phoenix_experiment_cost_info).", variantLabels, nil),
		func(v control.VariantStats) float64 {
			return costValue(v, func(c *control.CostStats) float64 { return c.Monthly })
		}},
	{prometheus.NewDesc("phoenix_experiment_cost_saving_monthly", "The baseline's projected monthly cost on this node minus the variant's (negative: it costs more).", variantLabels, nil),
		func(v control.VariantStats) float64 {
			return costValue(v, func(c *control.CostStats) float64 { return c.MonthlySaving })
		}},
	{prometheus.NewDesc("phoenix_experiment_cost_units", "What the billing model bills of the variant on this node: active series over the horizon, mean distinct series per hour, data points per month, or GB per month.", variantLabels, nil),
		func(v control.VariantStats) float64 {
			return costValue(v, func(c *control.CostStats) float64 { return c.Units })
		}},
	{prometheus.NewDesc("phoenix_experiment_active", "1 for the variant flowing downstream.", variantLabels, nil),
		func(v control.VariantStats) float64 { return boolValue(v.Active) }},
	{prometheus.NewDesc("phoenix_experiment_baseline", "1 for the variant the others are measured against.", variantLabels, nil),
		func(v control.VariantStats) float64 { return boolValue(v.Baseline) }},
}

// costValue is a figure of the variant's cost; NaN (not exported) without a cost: block.
func costValue(v control.VariantStats, f func(*control.CostStats) float64) float64 {
	if v.Cost == nil {
		return math.NaN()
	}
	return f(v.Cost)
}

// costInfo names each experiment's billing model and currency, for the cost figures' unit.
var costInfo = prometheus.NewDesc("phoenix_experiment_cost_info",
	"1 per experiment with a cost: block, labelled with its billing model and currency.", []string{"experiment", "model", "currency"}, nil)

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var runPhase = prometheus.NewDesc("phoenix_experiment_run_phase",
	"1 for the phase of the experiment's latest run (pending, initializing, running, analyzing, completed, failed, cancelled).",
	[]string{"experiment", "run", "candidate", "phase"}, nil)

var (
	storageOK = prometheus.NewDesc("phoenix_control_storage_ok",
		"1 while the state file persists with no damage found since start; 0 once damage was found (file moved aside) or nothing persists.", nil, nil)
	storageErrors = prometheus.NewDesc("phoenix_control_storage_errors_total",
		"Damage found in the state file, and its failed opens, reads and writes, since start.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range gauges {
		ch <- g.desc
	}
	ch <- runPhase
	ch <- costInfo
	ch <- storageOK
	ch <- storageErrors
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if st, errs := c.reg.storageHealth(); st.Status != statusNone {
		ch <- prometheus.MustNewConstMetric(storageOK, prometheus.GaugeValue, boolValue(st.Status == statusOK))
		ch <- prometheus.MustNewConstMetric(storageErrors, prometheus.CounterValue, float64(errs))
	}
	for _, name := range c.reg.experimentNames() {
		e, err := c.reg.experiment(name)
		if err != nil {
			continue
		}
		snap := e.Snapshot()
		if base, ok := snap.Variant(snap.Baseline); ok && base.Cost != nil {
			ch <- prometheus.MustNewConstMetric(costInfo, prometheus.GaugeValue, 1, name, base.Cost.Model, base.Cost.Currency)
		}
		for _, v := range snap.Variants {
			for _, g := range gauges {
				if x := g.value(v); !math.IsNaN(x) {
					ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, x, name, v.Name)
				}
			}
		}
		if hist := c.reg.runs.list(name); len(hist) > 0 {
			last := hist[len(hist)-1]
			ch <- prometheus.MustNewConstMetric(runPhase, prometheus.GaugeValue, 1, name, last.ID, last.Spec.Candidate, string(last.Phase))
		}
	}
}

// ruleFigure reads a figure of the variant's rule evaluation; NaN (not exported) without rules or before
// the first evaluation.
func ruleFigure(f func(*control.RuleStats) float64) func(control.VariantStats) float64 {
	return func(v control.VariantStats) float64 {
		if v.Rules == nil || v.Rules.Fidelity == nil {
			return math.NaN()
		}
		return f(v.Rules)
	}
}
