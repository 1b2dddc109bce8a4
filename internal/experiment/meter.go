// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package experiment measures what pipeline variants produce — series, churn, data points, bytes — and how
// faithful each is to a baseline. It works on pdata and knows nothing of the collector's pipeline.
package experiment // import "github.com/phoenix-platform/otelcol-phoenix/internal/experiment"

import (
	"math"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/cardinality"
	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// Options say what to measure.
type Options struct {
	SeriesCap        int      // exact series counting up to this many per window, then HyperLogLog
	Counters         []string // cumulative counters compared as rates (e.g. process.cpu.time)
	Gauges           []string // gauges / non-monotonic sums compared as window means (e.g. process.memory.usage)
	CriticalAttr     string   // resource attribute naming critical processes
	CriticalPatterns []*regexp.Regexp
	// VolatileAttrs change during a resource's life (process.parent_pid when a parent dies): they make a new
	// series for counting, but a counter's growth is followed across them for fidelity.
	VolatileAttrs []string
}

// Meter measures one variant's output, window after window. Not safe for concurrent use.
type Meter struct {
	opts    *Options
	series  *cardinality.Counter
	metrics map[string]metricInfo // by name: its hash, and whether it is a fidelity counter or gauge

	win, done window // the current window and the last complete one
	// last holds each counter series' last value and the batch it was seen in, to turn cumulative values
	// into increases.
	last   map[uint64]lastValue
	lastTs pcommon.Timestamp
	batch  uint32
}

type metricInfo struct {
	hash uint64
	kind int // 0 none, 1 counter, 2 gauge
}

const maxCachedMetrics = 4096 // names beyond this are hashed each time (bounded memory)

func (m *Meter) info(name string) metricInfo {
	if mi, ok := m.metrics[name]; ok {
		return mi
	}
	mi := metricInfo{hash: identity.String(name)}
	for _, c := range m.opts.Counters {
		if c == name {
			mi.kind = 1
		}
	}
	for _, g := range m.opts.Gauges {
		if g == name {
			mi.kind = 2
		}
	}
	if len(m.metrics) < maxCachedMetrics {
		m.metrics[name] = mi
	}
	return mi
}

type lastValue struct {
	v     float64
	batch uint32
}

// window holds one window's figures.
type window struct {
	start, end time.Time
	stats      cardinality.WindowStats
	datapoints uint64
	bytes      uint64
	batches    uint64
	increase   map[string]float64 // counters: summed increases
	gaugeSum   map[string]float64 // gauges: summed values (mean = / batches)
	critical   map[string]struct{}
	errors     uint64
	complete   bool
}

// NewMeter starts measuring at now.
func NewMeter(opts *Options, now time.Time) *Meter {
	m := &Meter{opts: opts, series: cardinality.New(opts.SeriesCap), metrics: map[string]metricInfo{},
		last: map[uint64]lastValue{}}
	m.win = newWindow(now)
	return m
}

func newWindow(now time.Time) window {
	return window{start: now, increase: map[string]float64{}, gaugeSum: map[string]float64{}, critical: map[string]struct{}{}}
}

var sizer = &pmetric.ProtoMarshaler{}

// Measure adds one batch of the variant's output.
func (m *Meter) Measure(md pmetric.Metrics) {
	m.batch++
	w := &m.win
	w.batches++
	w.bytes += uint64(sizer.MetricsSize(md))
	var maxTs pcommon.Timestamp
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		attrs := rm.Resource().Attributes()
		res := identity.Attrs(attrs) // once per resource, reused by every series in it
		stable := res
		for _, k := range m.opts.VolatileAttrs {
			if v, ok := attrs.Get(k); ok {
				stable -= identity.Attr(k, v)
			}
		}
		if m.opts.CriticalAttr != "" {
			if v, ok := attrs.Get(m.opts.CriticalAttr); ok && m.critical(v.AsString()) {
				w.critical[v.AsString()] = struct{}{}
			}
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				metric := ms.At(k)
				mi := m.info(metric.Name())
				name, kind := mi.hash, mi.kind
				switch metric.Type() {
				case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
					dps := numberPoints(metric)
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						id := identity.Series(res, name, dp.Attributes())
						m.series.Add(id)
						w.datapoints++
						maxTs = max(maxTs, dp.Timestamp())
						switch kind {
						case 1:
							if stable != res {
								id = identity.Series(stable, name, dp.Attributes())
							}
							w.increase[metric.Name()] += m.increase(id, value(dp), dp.StartTimestamp())
						case 2:
							w.gaugeSum[metric.Name()] += value(dp)
						}
					}
				default:
					m.measureOther(metric, res, name, w)
				}
			}
		}
	}
	if maxTs > 0 {
		m.lastTs = maxTs
	}
}

// measureOther counts the series and points of histograms, exponential histograms and summaries.
func (m *Meter) measureOther(metric pmetric.Metric, res, name uint64, w *window) {
	add := func(attrs pcommon.Map) {
		m.series.Add(identity.Series(res, name, attrs))
		w.datapoints++
	}
	switch metric.Type() {
	case pmetric.MetricTypeHistogram:
		dps := metric.Histogram().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			add(dps.At(d).Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := metric.ExponentialHistogram().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			add(dps.At(d).Attributes())
		}
	case pmetric.MetricTypeSummary:
		dps := metric.Summary().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			add(dps.At(d).Attributes())
		}
	}
}

// increase turns a cumulative value into its growth since the previous batch. A series absent from the
// previous batch (new, or back after a gap) counts whole if it started after that batch, else it sets the
// baseline; a drop is a reset. This is the increase downstream sees, and the one topk preserves.
func (m *Meter) increase(id uint64, v float64, start pcommon.Timestamp) float64 {
	p, ok := m.last[id]
	ok = ok && p.batch == m.batch-1
	m.last[id] = lastValue{v: v, batch: m.batch}
	switch {
	case !ok && m.lastTs != 0 && start >= m.lastTs:
		return v
	case !ok:
		return 0
	case v < p.v:
		return v
	}
	return v - p.v
}

func (m *Meter) critical(v string) bool {
	for _, re := range m.opts.CriticalPatterns {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// Error counts a batch the variant failed on.
func (m *Meter) Error() { m.win.errors++ }

// Rotate closes the window at now and starts the next.
func (m *Meter) Rotate(now time.Time) {
	m.win.stats = m.series.Rotate()
	m.win.end, m.win.complete = now, true
	m.done = m.win
	m.win = newWindow(now)
	for id, p := range m.last { // forget counter series gone for a whole window
		if p.batch < m.batch-uint32(m.done.batches) {
			delete(m.last, id)
		}
	}
}

// report is the last complete window, or the current one (with now as its end) before one completes.
func (m *Meter) report(now time.Time) window {
	if m.done.complete {
		return m.done
	}
	w := m.win
	w.stats = m.series.Current()
	w.end = now
	return w
}

// Stats compares each variant's report with the baseline's. meters and names are in the same order.
func Stats(names []string, meters []*Meter, baseline int, now time.Time) []control.VariantStats {
	base := meters[baseline].report(now)
	out := make([]control.VariantStats, len(meters))
	for i, m := range meters {
		w := m.report(now)
		secs := math.Max(w.end.Sub(w.start).Seconds(), 1e-9)
		st := control.VariantStats{
			Name: names[i], Baseline: i == baseline,
			Series: w.stats.Distinct, NewSeries: w.stats.New, SeriesExact: w.stats.Exact,
			Datapoints: w.datapoints, Bytes: w.bytes, Errors: w.errors,
			DatapointsPerSecond: float64(w.datapoints) / secs, BytesPerSecond: float64(w.bytes) / secs,
			SeriesSavings:    savings(float64(w.stats.Distinct), float64(base.stats.Distinct)),
			DatapointSavings: savings(float64(w.datapoints), float64(base.datapoints)),
			ByteSavings:      savings(float64(w.bytes), float64(base.bytes)),
			MetricFidelity:   map[string]float64{},
			Fidelity:         1,
			CriticalVisible:  1,
		}
		baseSecs := math.Max(base.end.Sub(base.start).Seconds(), 1e-9)
		for _, c := range m.opts.Counters {
			st.MetricFidelity[c] = closeness(w.increase[c]/secs, base.increase[c]/baseSecs)
		}
		for _, g := range m.opts.Gauges {
			st.MetricFidelity[g] = closeness(mean(w.gaugeSum[g], w.batches), mean(base.gaugeSum[g], base.batches))
		}
		for _, f := range st.MetricFidelity {
			st.Fidelity = math.Min(st.Fidelity, f)
		}
		if len(base.critical) > 0 {
			seen := 0
			for c := range base.critical {
				if _, ok := w.critical[c]; ok {
					seen++
				}
			}
			st.CriticalVisible = float64(seen) / float64(len(base.critical))
		}
		out[i] = st
	}
	return out
}

// Window returns the bounds of the reported window.
func (m *Meter) Window(now time.Time) (start, end time.Time, complete bool) {
	w := m.report(now)
	return w.start, w.end, w.complete
}

func savings(v, base float64) float64 {
	if base == 0 {
		return 0
	}
	return 1 - v/base
}

// closeness is 1 - relative error, clamped to [0,1]; two zeros are identical.
func closeness(v, base float64) float64 {
	if base == 0 {
		if v == 0 {
			return 1
		}
		return 0
	}
	return math.Max(0, 1-math.Abs(v-base)/math.Abs(base))
}

func mean(sum float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

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
