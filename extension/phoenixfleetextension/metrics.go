// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
)

// collector exposes the fleet at /metrics: agents, fleet totals per experiment and variant, rollouts.
type collector struct {
	agents   *agents
	rollouts *rollouts
}

var (
	agentsDesc = prometheus.NewDesc("phoenix_fleet_agents", "Agents known to the controller.", []string{"phoenix", "connected"}, nil)
	seriesDesc = prometheus.NewDesc("phoenix_fleet_variant_series", "Series of the variant summed over the agents reporting it.",
		[]string{"experiment", "variant"}, nil)
	dpsDesc = prometheus.NewDesc("phoenix_fleet_variant_datapoints_per_second", "Data points per second of the variant summed over the fleet.",
		[]string{"experiment", "variant"}, nil)
	bpsDesc = prometheus.NewDesc("phoenix_fleet_variant_bytes_per_second", "OTLP bytes per second of the variant summed over the fleet.",
		[]string{"experiment", "variant"}, nil)
	costDesc = prometheus.NewDesc("phoenix_fleet_variant_cost_monthly", "Projected monthly cost of the variant summed over the fleet, per currency.",
		[]string{"experiment", "variant", "currency"}, nil)
	fidelityDesc = prometheus.NewDesc("phoenix_fleet_variant_fidelity_worst_ratio", "Lowest fidelity of the variant on any node.",
		[]string{"experiment", "variant"}, nil)
	criticalDesc = prometheus.NewDesc("phoenix_fleet_variant_critical_visible_worst_ratio", "Lowest share of critical processes visible on any node.",
		[]string{"experiment", "variant"}, nil)
	phaseDesc = prometheus.NewDesc("phoenix_fleet_rollout_phase", "1 for the phase a rollout is in.",
		[]string{"rollout", "experiment", "candidate", "phase"}, nil)
	waveDesc    = prometheus.NewDesc("phoenix_fleet_rollout_wave", "The wave a rollout is at (1-based).", []string{"rollout"}, nil)
	pausedDesc  = prometheus.NewDesc("phoenix_fleet_rollout_paused", "1 while a rollout is paused.", []string{"rollout"}, nil)
	refusedDesc = prometheus.NewDesc("phoenix_fleet_agent_messages_refused_total",
		"Agent messages refused because the host.name or instance UID does not match the client certificate (node_identity: certificate).", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{agentsDesc, seriesDesc, dpsDesc, bpsDesc, costDesc, fidelityDesc, criticalDesc, phaseDesc, waveDesc, pausedDesc, refusedDesc} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	view := c.rollouts.view(time.Now())
	counts := map[[2]bool]int{}
	experiments := map[string]bool{}
	for _, a := range view {
		counts[[2]bool{a.Figures != nil, a.Connected}]++
		if a.Figures != nil {
			for _, e := range a.Figures.Experiments {
				experiments[e.Name] = true
			}
		}
	}
	for _, phoenix := range []bool{true, false} {
		for _, connected := range []bool{true, false} {
			ch <- prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(counts[[2]bool{phoenix, connected}]),
				strconv.FormatBool(phoenix), strconv.FormatBool(connected))
		}
	}
	ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(c.agents.refusedIdentity.Load()))
	names := make([]string, 0, len(experiments))
	for e := range experiments {
		names = append(names, e)
	}
	sort.Strings(names)
	for _, e := range names {
		for _, v := range fleet.Aggregate(connected(view), e) {
			ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(v.Series), e, v.Name)
			ch <- prometheus.MustNewConstMetric(dpsDesc, prometheus.GaugeValue, v.DatapointsPerSecond, e, v.Name)
			ch <- prometheus.MustNewConstMetric(bpsDesc, prometheus.GaugeValue, v.BytesPerSecond, e, v.Name)
			for _, cost := range v.Cost {
				ch <- prometheus.MustNewConstMetric(costDesc, prometheus.GaugeValue, cost.Monthly, e, v.Name, cost.Currency)
			}
			if v.Fidelity != nil { // no data: not exported, rather than a made-up value
				ch <- prometheus.MustNewConstMetric(fidelityDesc, prometheus.GaugeValue, v.Fidelity.Value, e, v.Name)
			}
			if v.CriticalVisible != nil {
				ch <- prometheus.MustNewConstMetric(criticalDesc, prometheus.GaugeValue, v.CriticalVisible.Value, e, v.Name)
			}
		}
	}
	for _, r := range c.rollouts.snapshot() {
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, 1, r.ID, r.Spec.Experiment, r.Spec.Candidate, string(r.Phase))
		ch <- prometheus.MustNewConstMetric(waveDesc, prometheus.GaugeValue, float64(r.Wave+1), r.ID)
		paused := 0.0
		if r.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, r.ID)
	}
}
