// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// Handover ends, in what flows after a switch, the series the previous variant sent and the new one does
// not. Without it a backend keeps counting them next to the new variant's rollup of them: for its lookback
// (5 min) behind remote write, until metric_expiration behind the prometheus exporter.
//
// A series is its resource's attributes, its metric's name and its point's attributes: coarser than a
// backend's (no scope, unit or type), so a series the new variant sends is never ended; one that only its
// scope tells apart is left to the backend's lookback, as without a handover.
type Handover struct {
	mu    sync.Mutex
	ended map[uint64]struct{}
}

// NewHandover starts the handover of one switch.
func NewHandover() *Handover { return &Handover{ended: map[uint64]struct{}{}} }

// Ended is the number of series ended so far.
func (h *Handover) Ended() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ended)
}

// End appends to out, flagged NoRecordedValue, a copy of every point of prev (the previous variant's output
// of the same batch) whose series out does not have and that no earlier batch ended. Delta sums and delta
// histograms are left: an exporter turns them into a running total that would restart when they come
// back. It returns the number of points appended.
func (h *Handover) End(prev, out pmetric.Metrics) int {
	sent := map[uint64]struct{}{}
	orms := out.ResourceMetrics()
	for r := 0; r < orms.Len(); r++ {
		res := identity.Attrs(orms.At(r).Resource().Attributes())
		eachMetric(orms.At(r), func(_ pmetric.ScopeMetrics, m pmetric.Metric) {
			eachKey(m, res, func(_ int, key uint64) { sent[key] = struct{}{} })
		})
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	ends := pmetric.NewResourceMetricsSlice()
	n := 0
	prms := prev.ResourceMetrics()
	for r := 0; r < prms.Len(); r++ {
		rm := prms.At(r)
		res := identity.Attrs(rm.Resource().Attributes())
		var endRM pmetric.ResourceMetrics
		var endSM pmetric.ScopeMetrics
		var lastSM pmetric.ScopeMetrics
		eachMetric(rm, func(sm pmetric.ScopeMetrics, m pmetric.Metric) {
			if isDelta(m) {
				return
			}
			var marked []int
			eachKey(m, res, func(k int, key uint64) {
				if _, ok := sent[key]; ok {
					return
				}
				if _, ok := h.ended[key]; ok {
					return
				}
				h.ended[key] = struct{}{}
				marked = append(marked, k)
			})
			if len(marked) == 0 {
				return
			}
			if endRM == (pmetric.ResourceMetrics{}) {
				endRM = ends.AppendEmpty()
				rm.Resource().CopyTo(endRM.Resource())
				endRM.SetSchemaUrl(rm.SchemaUrl())
			}
			if endSM == (pmetric.ScopeMetrics{}) || lastSM != sm {
				endSM, lastSM = endRM.ScopeMetrics().AppendEmpty(), sm
				sm.Scope().CopyTo(endSM.Scope())
				endSM.SetSchemaUrl(sm.SchemaUrl())
			}
			end := endSM.Metrics().AppendEmpty()
			m.CopyTo(end)
			keepEnded(end, marked)
			n += len(marked)
		})
	}
	for r := 0; r < ends.Len(); r++ {
		sms := ends.At(r).ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			LastInMetric(sms.At(s).Metrics())
		}
	}
	ends.MoveAndAppendTo(orms)
	return n
}

func eachMetric(rm pmetric.ResourceMetrics, f func(pmetric.ScopeMetrics, pmetric.Metric)) {
	sms := rm.ScopeMetrics()
	for s := 0; s < sms.Len(); s++ {
		ms := sms.At(s).Metrics()
		for m := 0; m < ms.Len(); m++ {
			f(sms.At(s), ms.At(m))
		}
	}
}

func isDelta(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	}
	return false
}

// eachKey calls f with each point's index and series key.
func eachKey(m pmetric.Metric, res uint64, f func(k int, key uint64)) {
	name := identity.String(m.Name())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		keys(m.Gauge().DataPoints(), res, name, f)
	case pmetric.MetricTypeSum:
		keys(m.Sum().DataPoints(), res, name, f)
	case pmetric.MetricTypeHistogram:
		keys(m.Histogram().DataPoints(), res, name, f)
	case pmetric.MetricTypeExponentialHistogram:
		keys(m.ExponentialHistogram().DataPoints(), res, name, f)
	case pmetric.MetricTypeSummary:
		keys(m.Summary().DataPoints(), res, name, f)
	}
}

// keepEnded leaves in m only the points at the indexes marked, each flagged NoRecordedValue.
func keepEnded(m pmetric.Metric, marked []int) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		ended(m.Gauge().DataPoints(), marked)
	case pmetric.MetricTypeSum:
		ended(m.Sum().DataPoints(), marked)
	case pmetric.MetricTypeHistogram:
		ended(m.Histogram().DataPoints(), marked)
	case pmetric.MetricTypeExponentialHistogram:
		ended(m.ExponentialHistogram().DataPoints(), marked)
	case pmetric.MetricTypeSummary:
		ended(m.Summary().DataPoints(), marked)
	}
}

type point interface {
	Attributes() pcommon.Map
	Flags() pmetric.DataPointFlags
	SetFlags(pmetric.DataPointFlags)
}

type points[P point] interface {
	Len() int
	At(int) P
	RemoveIf(func(P) bool)
}

func keys[P point, S points[P]](dps S, res, name uint64, f func(k int, key uint64)) {
	for k := 0; k < dps.Len(); k++ {
		f(k, identity.Series(res, name, dps.At(k).Attributes()))
	}
}

func ended[P point, S points[P]](dps S, marked []int) {
	k, j := -1, 0 // marked is ascending
	dps.RemoveIf(func(P) bool {
		k++
		if j < len(marked) && marked[j] == k {
			j++
			return false
		}
		return true
	})
	for i := 0; i < dps.Len(); i++ {
		dps.At(i).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
}
