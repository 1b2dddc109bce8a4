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

	"github.com/phoenix-platform/otelcol-phoenix/internal/cardinality"
	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
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

// Meter measures one variant's output, window after window, from Scans of it. Not safe for concurrent use.
type Meter struct {
	opts   *Options
	series *cardinality.Counter
	// counted is the window's last batch of series, by position: batches repeat their series in the same
	// order, so most need no lookup to know they are counted already.
	counted []uint64

	win, done window // the current window and the last complete one
	// last holds each counter series' last value and the batch it was seen in, to turn cumulative values
	// into increases.
	last   lastValues
	lastTs pcommon.Timestamp
	batch  uint32
}

// window holds one window's figures.
type window struct {
	start, end time.Time
	stats      cardinality.WindowStats
	datapoints uint64
	bytes      uint64
	batches    uint64
	increase   []float64 // counters, in Options.Counters order: summed increases
	gaugeSum   []float64 // gauges, in Options.Gauges order: summed values (mean = / batches)
	critical   map[string]struct{}
	errors     uint64
	complete   bool
}

// NewMeter starts measuring at now.
func NewMeter(opts *Options, now time.Time) *Meter {
	m := &Meter{opts: opts, series: cardinality.New(opts.SeriesCap)}
	m.win = m.newWindow(now)
	m.counted = m.counted[:0]
	return m
}

func (m *Meter) newWindow(now time.Time) window {
	return window{start: now, increase: make([]float64, len(m.opts.Counters)),
		gaugeSum: make([]float64, len(m.opts.Gauges)), critical: map[string]struct{}{}}
}

// Add adds one scanned batch of the variant's output.
func (m *Meter) Add(s *Scan) {
	m.batch++
	w := &m.win
	w.batches++
	w.bytes += s.bytes
	w.datapoints += s.datapoints
	for pos, id := range s.series {
		if pos < len(m.counted) && m.counted[pos] == id {
			continue // at the same place in the window's last batch: counted then
		}
		m.series.Add(id)
	}
	m.counted = append(m.counted[:0], s.series...)
	for pos, c := range s.counters {
		w.increase[c.counter] += m.increase(pos, c.id, c.v, c.start)
	}
	m.last.endBatch()
	for g, sum := range s.gaugeSum {
		w.gaugeSum[g] += sum
	}
	for _, c := range s.critical {
		w.critical[c] = struct{}{}
	}
	if s.maxTs > 0 {
		m.lastTs = s.maxTs
	}
}

// increase turns a cumulative value into its growth since the previous batch. A series absent from the
// previous batch (new, or back after a gap) counts whole if it started after that batch, else it sets the
// baseline; a drop is a reset. This is the increase downstream sees, and the one topk preserves.
func (m *Meter) increase(pos int, id uint64, v float64, start pcommon.Timestamp) float64 {
	p := m.last.at(pos, id)
	ok := p.batch != 0 && p.batch == m.batch-1
	prev := p.v
	*p = lastValue{v: v, batch: m.batch}
	switch {
	case !ok && m.lastTs != 0 && start >= m.lastTs:
		return v
	case !ok:
		return 0
	case v < prev:
		return v
	}
	return v - prev
}

// Error counts a batch the variant failed on.
func (m *Meter) Error() { m.win.errors++ }

// Rotate closes the window at now and starts the next.
func (m *Meter) Rotate(now time.Time) {
	m.win.stats = m.series.Rotate()
	m.win.end, m.win.complete = now, true
	m.done = m.win
	m.win = m.newWindow(now)
	m.counted = m.counted[:0]
	m.last.keepSince(m.batch - uint32(m.done.batches)) // forget counter series gone for a whole window
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
		for c, name := range m.opts.Counters {
			st.MetricFidelity[name] = closeness(w.increase[c]/secs, base.increase[c]/baseSecs)
		}
		for g, name := range m.opts.Gauges {
			st.MetricFidelity[name] = closeness(mean(w.gaugeSum[g], w.batches), mean(base.gaugeSum[g], base.batches))
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
