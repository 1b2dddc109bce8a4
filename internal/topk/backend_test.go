// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topk

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// backend is the test oracle: what a Prometheus-like backend stores from a stream of batches and what its
// queries answer, written from the backend's rules and nothing of topk's. Per series (resource attributes,
// metric name, point attributes) it keeps the samples in arrival order; a sample not newer than the
// series' last is rejected (out of order); a NoRecordedValue point is a staleness marker; delta sums are
// turned into cumulative ones as the prometheus exporter does (a point whose start is the previous point's
// time adds to it, any other starts over).
type backend struct {
	series map[string]*bseries
}

type bseries struct {
	metric  string
	counter bool
	samples []bsample
	deltaTs pcommon.Timestamp // delta: time of the last point, 0 after a staleness marker
	cum     float64
}

type bsample struct {
	t     pcommon.Timestamp
	v     float64
	stale bool
}

func newBackend() *backend { return &backend{series: map[string]*bseries{}} }

func labels(m pcommon.Map) string {
	raw := m.AsRaw()
	keys := slices.Sorted(maps.Keys(raw))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v,", k, raw[k])
	}
	return b.String()
}

func (b *backend) ingest(md pmetric.Metrics) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := labels(rms.At(i).Resource().Attributes())
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				counter, delta := false, false
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
					counter = m.Sum().IsMonotonic()
					delta = m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
				default:
					continue
				}
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					id := res + "|" + m.Name() + "|" + labels(dp.Attributes())
					s := b.series[id]
					if s == nil {
						s = &bseries{metric: m.Name(), counter: counter}
						b.series[id] = s
					}
					s.add(dp, delta)
				}
			}
		}
	}
}

func (s *bseries) add(dp pmetric.NumberDataPoint, delta bool) {
	t := dp.Timestamp()
	if n := len(s.samples); n > 0 && t <= s.samples[n-1].t {
		return // out of order: rejected
	}
	if dp.Flags().NoRecordedValue() {
		s.samples = append(s.samples, bsample{t: t, stale: true})
		s.deltaTs = 0
		return
	}
	v := dp.DoubleValue()
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		v = float64(dp.IntValue())
	}
	if delta {
		if s.deltaTs != 0 && dp.StartTimestamp() == s.deltaTs {
			v += s.cum
		}
		s.cum, s.deltaTs = v, t
	}
	s.samples = append(s.samples, bsample{t: t, v: v, stale: math.IsNaN(v)})
}

// steps calls f for each pair of consecutive samples of the metric's series in [from, to] (both ends
// included, as in Prometheus 2.x), staleness markers left out as range vectors do.
func (b *backend) steps(metric string, from, to pcommon.Timestamp, f func(prev, x bsample)) {
	for _, s := range b.series {
		if s.metric != metric {
			continue
		}
		var prev *bsample
		for i := range s.samples {
			x := &s.samples[i]
			if x.t < from || x.t > to || x.stale {
				continue
			}
			if prev != nil {
				f(*prev, *x)
			}
			prev = x
		}
	}
}

// increase is sum(increase(metric[from, to])) without the extrapolation: the growth between consecutive
// samples, a drop counted as a reset from zero.
func (b *backend) increase(metric string, from, to pcommon.Timestamp) float64 {
	var total float64
	b.steps(metric, from, to, func(prev, x bsample) {
		if x.v >= prev.v {
			total += x.v - prev.v
		} else {
			total += x.v
		}
	})
	return total
}

// resets is sum(resets(metric[from, to])).
func (b *backend) resets(metric string, from, to pcommon.Timestamp) int {
	n := 0
	b.steps(metric, from, to, func(prev, x bsample) {
		if x.v < prev.v {
			n++
		}
	})
	return n
}

// sum is sum(metric) at instant at with this lookback: each series' latest sample in (at-lookback, at],
// unless it is a staleness marker.
func (b *backend) sum(metric string, at, lookback pcommon.Timestamp) float64 {
	var total float64
	for _, s := range b.series {
		if s.metric != metric {
			continue
		}
		var last *bsample
		for i := range s.samples {
			if x := &s.samples[i]; x.t <= at && x.t > at-lookback {
				last = x
			}
		}
		if last != nil && !last.stale {
			total += last.v
		}
	}
	return total
}

// visible counts the series with a non-stale sample at instant at.
func (b *backend) visible(at, lookback pcommon.Timestamp) int {
	n := 0
	for _, s := range b.series {
		var last *bsample
		for i := range s.samples {
			if x := &s.samples[i]; x.t <= at && x.t > at-lookback {
				last = x
			}
		}
		if last != nil && !last.stale {
			n++
		}
	}
	return n
}
