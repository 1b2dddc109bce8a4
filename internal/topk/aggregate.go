// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topk

import (
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
	"github.com/phoenix-platform/otelcol-phoenix/internal/seriesend"
)

// aggregate is a synthetic resource fed by processes: the "other" bucket of a host, or a group. Cumulative
// sums accumulate the growth handed to them, so they never decrease whoever the members are; delta sums
// emit the growth since their last emission; gauges are the sum of the members' latest values.
type aggregate struct {
	attrs        pcommon.Map
	scopeName    string
	scopeVersion string
	ts           pcommon.Timestamp // of the next emission: the host's newest point
	emitted      pcommon.Timestamp // of the last emission
	series       []*aggSeries      // creation order, for stable output
	index        map[uint64]*aggSeries
	ending       bool // the next emission ends every series (a group leaving the output)
}

type aggSeries struct {
	metric pmetric.Metric // name, description, unit, type; no points
	attrs  pcommon.Map
	kind   seriesKind
	isInt  bool
	start  pcommon.Timestamp // fixed at creation (cumulative); the last emission (delta)
	total  float64           // cumulative: all growth so far; delta: growth since the last emission
	// Gauges: the sum over fresh members at this emission, whether any member contributed, and whether the
	// series was in the last emission (so its end is marked once).
	current  float64
	live     bool
	wasShown bool
	// shown: emitted before. A backend counts growth between samples, so a sum series' first sample shows
	// nothing yet (0) and its growth so far comes with the next.
	shown bool
}

// newAggregate makes an aggregate with these resource attributes and the scope of like (its first member).
func newAggregate(attrs pcommon.Map, like pmetric.ResourceMetrics) *aggregate {
	a := &aggregate{attrs: attrs, index: map[uint64]*aggSeries{}}
	if like.ScopeMetrics().Len() > 0 {
		sc := like.ScopeMetrics().At(0).Scope()
		a.scopeName, a.scopeVersion = sc.Name(), sc.Version()
	}
	return a
}

// declare finds or creates the aggregate's series with the metric's identity and the point's attributes.
func (a *aggregate) declare(key uint64, m pmetric.Metric, dp pmetric.NumberDataPoint, kind seriesKind) *aggSeries {
	if s, ok := a.index[key]; ok {
		return s
	}
	s := &aggSeries{metric: pmetric.NewMetric(), attrs: pcommon.NewMap(), kind: kind, start: dp.Timestamp() - 1,
		isInt: dp.ValueType() == pmetric.NumberDataPointValueTypeInt}
	s.metric.SetName(m.Name())
	s.metric.SetDescription(m.Description())
	s.metric.SetUnit(m.Unit())
	switch m.Type() {
	case pmetric.MetricTypeSum:
		sum := s.metric.SetEmptySum()
		sum.SetAggregationTemporality(m.Sum().AggregationTemporality())
		sum.SetIsMonotonic(m.Sum().IsMonotonic())
	default:
		s.metric.SetEmptyGauge()
	}
	dp.Attributes().CopyTo(s.attrs)
	a.series = append(a.series, s)
	a.index[key] = s
	return s
}

// add hands growth v of a sum series to the aggregate.
func (a *aggregate) add(key uint64, m pmetric.Metric, dp pmetric.NumberDataPoint, kind seriesKind, v float64) {
	a.declare(key, m, dp, kind).total += v
}

// resetGauges starts an emission at ts: gauges are summed again from the members.
func (a *aggregate) resetGauges(ts pcommon.Timestamp) {
	a.ts = max(a.ts, ts)
	for _, s := range a.series {
		if s.kind == kindGauge {
			s.current, s.live = 0, false
		}
	}
}

func (a *aggregate) addGauge(key uint64, v float64) {
	if s, ok := a.index[key]; ok {
		s.current += v
		s.live = true
	}
}

func (a *aggregate) hasSeries() bool { return len(a.series) > 0 }

// emit appends the aggregate as one ResourceMetrics: every sum series (their totals carry on even in a
// report without members), the gauges with members, and a NoRecordedValue point for each gauge that just
// lost its last member — or, when ending, for every series.
func (a *aggregate) emit(rms pmetric.ResourceMetricsSlice) {
	if !slices.ContainsFunc(a.series, func(s *aggSeries) bool { return s.kind != kindGauge || s.live || s.wasShown }) {
		return
	}
	if a.ts <= a.emitted {
		// A later batch for an instant already emitted (the rest of a split scrape, a late batch): the
		// totals moved, and a backend keeps one sample per instant, so this one goes just after.
		a.ts = a.emitted + pcommon.Timestamp(time.Millisecond)
	}
	a.emitted = a.ts
	rm := rms.AppendEmpty()
	a.attrs.CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(a.scopeName)
	sm.Scope().SetVersion(a.scopeVersion)
	ms := sm.Metrics()
	byName := make(map[string]pmetric.NumberDataPointSlice, 8)
	stale := pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)
	for _, s := range a.series {
		v, end := s.total, a.ending && s.kind != kindDelta // deltas stay, as in markStale
		if s.kind != kindGauge && !s.shown {
			v, s.shown = 0, true
		}
		if s.kind == kindGauge {
			if !s.live && !s.wasShown {
				continue
			}
			v, end = s.current, end || !s.live
			s.wasShown = s.live && !a.ending
		}
		dps, ok := byName[s.metric.Name()]
		if !ok {
			m := ms.AppendEmpty()
			s.metric.CopyTo(m)
			if m.Type() == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			byName[s.metric.Name()] = dps
		}
		dp := dps.AppendEmpty()
		s.attrs.CopyTo(dp.Attributes())
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(a.ts)
		if s.isInt {
			dp.SetIntValue(int64(math.Round(v)))
		} else {
			dp.SetDoubleValue(v)
		}
		if end {
			dp.SetFlags(stale)
		}
		if s.kind == kindDelta && v == s.total {
			s.start, s.total = a.ts, 0 // the next delta starts here
		} else if s.kind == kindDelta {
			s.start = a.ts
		}
	}
	seriesend.LastInMetric(ms)
	a.ending = false
}

// seriesKeyOf identifies a series within a resource: metric name and point attributes.
func seriesKeyOf(name string, attrs pcommon.Map) uint64 {
	return identity.SeriesOf(0, identity.String(name), identity.Attrs(attrs))
}
