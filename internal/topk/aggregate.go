// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topk

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// aggregate is a synthetic resource fed by member resources: the "other" bucket of a host, or a group.
// Cumulative monotonic sums accumulate the members' increases, so they never decrease whoever the members
// are; gauges and non-monotonic sums are the sum of the members' current values in the interval.
type aggregate struct {
	attrs        pcommon.Map
	scopeName    string
	scopeVersion string
	lastTs       pcommon.Timestamp
	series       []*aggSeries // creation order, for stable output
	index        map[uint64]*aggSeries
	tick         uint64 // last interval with a contribution
}

type aggSeries struct {
	metric pmetric.Metric // name, description, unit, type; no points
	// start is fixed when the series is created: the previous interval's timestamp, since the series holds
	// what its members gained after it. Stable from then on.
	start       pcommon.Timestamp
	attrs       pcommon.Map
	monotonic   bool // a cumulative monotonic sum: accumulates increases
	isInt       bool
	total       number // cumulative, for monotonic sums
	current     number // this interval, for the rest
	currentTick uint64
	// increase is what the series gained in the current interval (monotonic sums), for folding a group into
	// its host's other bucket.
	increase     number
	increaseTick uint64
}

// number is an int or a double, kept exact for ints.
type number struct {
	i int64
	f float64
}

func (n *number) add(isInt bool, v number) {
	if isInt {
		n.i += v.i
	} else {
		n.f += v.f
	}
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

// seriesFor finds or creates the aggregate's series with the metric's identity and the point's attributes;
// since is the previous interval's timestamp (0 in the first interval).
func (a *aggregate) seriesFor(key uint64, m pmetric.Metric, dp pmetric.NumberDataPoint, monotonic bool, since pcommon.Timestamp) *aggSeries {
	if s, ok := a.index[key]; ok {
		return s
	}
	if since == 0 {
		since = dp.Timestamp() - 1
	}
	s := &aggSeries{metric: pmetric.NewMetric(), attrs: pcommon.NewMap(), monotonic: monotonic, start: since,
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

// addIncrease adds v to a monotonic series' total (and to this interval's increase).
func (a *aggregate) addIncrease(tick uint64, since pcommon.Timestamp, key uint64, m pmetric.Metric, dp pmetric.NumberDataPoint, v number) {
	s := a.seriesFor(key, m, dp, true, since)
	s.total.add(s.isInt, v)
	if s.increaseTick != tick {
		s.increase, s.increaseTick = number{}, tick
	}
	s.increase.add(s.isInt, v)
	a.touch(tick, dp.Timestamp())
}

// addCurrent adds v to a gauge's (or non-monotonic sum's) value for this interval.
func (a *aggregate) addCurrent(tick uint64, since pcommon.Timestamp, key uint64, m pmetric.Metric, dp pmetric.NumberDataPoint, v number) {
	s := a.seriesFor(key, m, dp, false, since)
	if s.currentTick != tick {
		s.current, s.currentTick = number{}, tick
	}
	s.current.add(s.isInt, v)
	a.touch(tick, dp.Timestamp())
}

func (a *aggregate) touch(tick uint64, ts pcommon.Timestamp) {
	a.tick = tick
	if ts > a.lastTs {
		a.lastTs = ts
	}
}

// emit appends the aggregate as one ResourceMetrics: every monotonic series (their totals carry on even in an
// interval without members) and the other series that had members this interval.
func (a *aggregate) emit(rms pmetric.ResourceMetricsSlice, tick uint64) {
	if !slices.ContainsFunc(a.series, func(s *aggSeries) bool { return s.monotonic || s.currentTick == tick }) {
		return
	}
	rm := rms.AppendEmpty()
	a.attrs.CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(a.scopeName)
	sm.Scope().SetVersion(a.scopeVersion)
	ms := sm.Metrics()
	byName := make(map[string]pmetric.NumberDataPointSlice, 8)
	for _, s := range a.series {
		v := s.total
		if !s.monotonic {
			if s.currentTick != tick {
				continue
			}
			v = s.current
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
		dp.SetTimestamp(a.lastTs)
		if s.isInt {
			dp.SetIntValue(v.i)
		} else {
			dp.SetDoubleValue(v.f)
		}
	}
}

// foldInto adds this interval's change of the aggregate into another (a group into its host's other bucket):
// increases of monotonic series and, with all, current values of the rest.
func (a *aggregate) foldInto(dst *aggregate, tick uint64, since pcommon.Timestamp, all bool) {
	dp := pmetric.NewNumberDataPoint()
	dp.SetTimestamp(a.lastTs)
	for _, s := range a.series {
		key := seriesKeyOf(s.metric.Name(), s.attrs)
		s.attrs.CopyTo(dp.Attributes())
		if s.isInt {
			dp.SetIntValue(0)
		} else {
			dp.SetDoubleValue(0)
		}
		switch {
		case s.monotonic && s.increaseTick == tick:
			dst.addIncrease(tick, since, key, s.metric, dp, s.increase)
		case s.monotonic:
			dst.addIncrease(tick, since, key, s.metric, dp, number{}) // keep the series alive in other
		case all && s.currentTick == tick:
			dst.addCurrent(tick, since, key, s.metric, dp, s.current)
		}
	}
}

// seriesKeyOf identifies a series within a resource: metric name and point attributes, order-independent.
func seriesKeyOf(name string, attrs pcommon.Map) uint64 {
	return identity.String(name) + identity.Attrs(attrs)
}
