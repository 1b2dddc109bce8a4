// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment // import "github.com/phoenix-platform/otelcol-phoenix/internal/experiment"

import (
	"math/bits"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// Scan reads one batch into compact arrays: series hashes, counter points, gauge sums, sizes. It holds no
// window state, so the part of measuring that walks pdata needs no lock and can read a resource while it is
// in cache (e.g. right after copying it); Meter.Add then applies it. A Scan is reused batch after batch
// (Reset) and is not safe for concurrent use.
type Scan struct {
	opts    *Options
	metrics map[string]metricInfo // by name
	// byPos caches metricInfo by a metric's position in its scope: batches repeat the same metrics in the same
	// order, so the check is a string comparison that usually hits the same backing bytes.
	byPos []metricInfo

	series     []uint64
	points     []fidelityPoint
	critical   []string // critical processes seen on their own
	datapoints uint64
	bytes      uint64
	maxTs      pcommon.Timestamp
}

type metricInfo struct {
	name string
	hash uint64
	// listed: named in Options.Counters or Options.Gauges (or those are empty: every metric counts)
	listed bool
	slot   int32 // in Options.names
}

// Kinds of fidelity series.
const (
	kindGauge      uint8 = iota // gauges, non-monotonic sums: compared as the mean of their sum over time
	kindCumulative              // cumulative monotonic sums: compared as their increase
	kindDelta                   // delta sums: each point is an increase
)

// fidelityPoint is a point of a fidelity metric, keyed by its series without volatile attributes.
type fidelityPoint struct {
	id        uint64
	v         float64
	ts, start pcommon.Timestamp
	slot      int32
	kind      uint8
	stale     bool // NoRecordedValue: a staleness marker
}

const (
	maxCachedMetrics = 4096 // names beyond this are looked up each time (bounded memory)
	maxPositions     = 64
)

// NewScan returns an empty Scan for opts.
func NewScan(opts *Options) *Scan {
	return &Scan{opts: opts, metrics: map[string]metricInfo{}}
}

// Reset empties the scan for the next batch, keeping its memory and caches.
func (s *Scan) Reset() {
	s.series, s.points, s.critical = s.series[:0], s.points[:0], s.critical[:0]
	s.datapoints, s.bytes, s.maxTs = 0, 0, 0
}

// Datapoints is the number of data points scanned.
func (s *Scan) Datapoints() uint64 { return s.datapoints }

// Metrics scans a whole batch.
func (s *Scan) Metrics(md pmetric.Metrics) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		s.Resource(rms.At(i))
	}
}

var sizer = &pmetric.ProtoMarshaler{}

// Resource scans one resource of a batch.
func (s *Scan) Resource(rm pmetric.ResourceMetrics) {
	// MetricsSize is the sum of this over the resources: a tagged, length-prefixed field each.
	size := sizer.ResourceMetricsSize(rm)
	s.bytes += uint64(1 + sov(uint64(size)) + size)
	res, stable := s.resource(rm.Resource().Attributes())
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			metric := ms.At(k)
			mi := s.info(k, metric.Name())
			switch metric.Type() {
			case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
				s.numbers(metric, mi, res, stable)
			case pmetric.MetricTypeHistogram:
				h := metric.Histogram()
				kind := countKind(h.AggregationTemporality())
				dps := h.DataPoints()
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					s.countPoint(res, mi, dp.Attributes(), float64(dp.Count()), dp.Timestamp(), dp.StartTimestamp(), kind, dp.Flags().NoRecordedValue())
				}
			case pmetric.MetricTypeExponentialHistogram:
				h := metric.ExponentialHistogram()
				kind := countKind(h.AggregationTemporality())
				dps := h.DataPoints()
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					s.countPoint(res, mi, dp.Attributes(), float64(dp.Count()), dp.Timestamp(), dp.StartTimestamp(), kind, dp.Flags().NoRecordedValue())
				}
			case pmetric.MetricTypeSummary:
				dps := metric.Summary().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					s.countPoint(res, mi, dp.Attributes(), float64(dp.Count()), dp.Timestamp(), dp.StartTimestamp(), kindCumulative, dp.Flags().NoRecordedValue())
				}
			}
		}
	}
}

func (s *Scan) numbers(metric pmetric.Metric, mi metricInfo, res, stable uint64) {
	dps := numberPoints(metric)
	kind := kindOf(metric)
	for d := 0; d < dps.Len(); d++ {
		dp := dps.At(d)
		attrs := identity.Attrs(dp.Attributes())
		id := identity.SeriesOf(res, mi.hash, attrs)
		if !dp.Flags().NoRecordedValue() { // a staleness marker ends a series; a backend counts no sample
			s.series = append(s.series, id)
		}
		s.maxTs = max(s.maxTs, dp.Timestamp())
		if !mi.listed {
			continue
		}
		if stable != res {
			id = identity.SeriesOf(stable, mi.hash, attrs)
		}
		s.points = append(s.points, fidelityPoint{id: id, v: value(dp), ts: dp.Timestamp(), start: dp.StartTimestamp(),
			slot: mi.slot, kind: kind, stale: dp.Flags().NoRecordedValue()})
	}
	s.datapoints += uint64(dps.Len())
}

func kindOf(m pmetric.Metric) uint8 {
	if m.Type() != pmetric.MetricTypeSum {
		return kindGauge
	}
	switch sum := m.Sum(); {
	case sum.AggregationTemporality() == pmetric.AggregationTemporalityDelta:
		return kindDelta
	case sum.IsMonotonic():
		return kindCumulative
	}
	return kindGauge
}

// countPoint takes a histogram's or summary's point: one series, and for fidelity its count of
// observations, compared like a counter's increase.
func (s *Scan) countPoint(res uint64, mi metricInfo, attrs pcommon.Map, count float64, ts, start pcommon.Timestamp, kind uint8, stale bool) {
	id := identity.Series(res, mi.hash, attrs)
	if !stale {
		s.series = append(s.series, id)
	}
	s.datapoints++
	s.maxTs = max(s.maxTs, ts)
	if mi.listed {
		s.points = append(s.points, fidelityPoint{id: id, v: count, ts: ts, start: start, slot: mi.slot, kind: kind, stale: stale})
	}
}

func countKind(t pmetric.AggregationTemporality) uint8 {
	if t == pmetric.AggregationTemporalityDelta {
		return kindDelta
	}
	return kindCumulative
}

// resource hashes a resource's attributes in one pass: its identity, the identity without the volatile
// attributes (for following counters), and whether it is a critical process.
func (s *Scan) resource(attrs pcommon.Map) (res, stable uint64) {
	var volatile uint64
	var critical string
	attrs.Range(func(k string, v pcommon.Value) bool {
		h := identity.Attr(k, v)
		res += h
		if slices.Contains(s.opts.VolatileAttrs, k) {
			volatile += h
		}
		if k == s.opts.CriticalAttr {
			critical = v.AsString()
		}
		return true
	})
	if critical != "" && s.isCritical(critical) {
		s.critical = append(s.critical, critical)
	}
	return res, res - volatile
}

func (s *Scan) isCritical(v string) bool {
	for _, re := range s.opts.CriticalPatterns {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

func (s *Scan) info(pos int, name string) metricInfo {
	if pos < len(s.byPos) && s.byPos[pos].name == name {
		return s.byPos[pos]
	}
	mi, ok := s.metrics[name]
	if !ok {
		all := len(s.opts.Counters) == 0 && len(s.opts.Gauges) == 0
		mi = metricInfo{name: name, hash: identity.String(name), slot: -1,
			listed: all || slices.Contains(s.opts.Counters, name) || slices.Contains(s.opts.Gauges, name)}
		if mi.listed {
			mi.slot = s.opts.names.slot(name)
		}
		mi.listed = mi.slot >= 0
		if len(s.metrics) < maxCachedMetrics {
			s.metrics[name] = mi
		}
	}
	if pos < maxPositions {
		for len(s.byPos) <= pos {
			s.byPos = append(s.byPos, metricInfo{})
		}
		s.byPos[pos] = mi
	}
	return mi
}

// sov is the size of x as a protobuf varint.
func sov(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeSum {
		return m.Sum().DataPoints()
	}
	return m.Gauge().DataPoints()
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}
