// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package experiment measures what pipeline variants produce — series, churn, data points, bytes — and how
// faithful each is to a baseline. It works on pdata and knows nothing of the collector's pipeline.
package experiment // import "github.com/phoenix-platform/otelcol-phoenix/internal/experiment"

import (
	"math"
	"regexp"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/phoenix-platform/otelcol-phoenix/internal/cardinality"
	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/cost"
)

// Options say what to measure.
type Options struct {
	SeriesCap int // exact series counting up to this many per window, then HyperLogLog; also bounds fidelity state
	// Counters and Gauges narrow fidelity to these metrics; when both are empty, every number metric of the
	// baseline counts (sums by their increase, gauges by the mean of their sum over time).
	Counters         []string
	Gauges           []string
	CriticalAttr     string // resource attribute naming critical processes
	CriticalPatterns []*regexp.Regexp
	// VolatileAttrs change during a resource's life (process.parent_pid when a parent dies): they make a new
	// series for counting, but a counter's growth is followed across them for fidelity.
	VolatileAttrs []string
	// ForgetAfter is how many of a series' gaps between samples it is followed after its last (default 5).
	ForgetAfter int
	// Cost prices each variant's output (nil: no cost, nothing kept for it).
	Cost *cost.Config

	// names numbers the fidelity metrics for every Scan and Meter of these options.
	names metricNames
}

// metricNames gives each fidelity metric a slot, shared by the Scans (which run concurrently) and Meters.
type metricNames struct {
	mu     sync.Mutex
	byName map[string]int32
	names  []string
}

// slot returns the metric's slot, or -1 beyond maxCachedMetrics (bounded memory).
func (n *metricNames) slot(name string) int32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.byName[name]; ok {
		return s
	}
	if len(n.names) >= maxCachedMetrics {
		return -1
	}
	if n.byName == nil {
		n.byName = map[string]int32{}
	}
	s := int32(len(n.names))
	n.byName[name] = s
	n.names = append(n.names, name)
	return s
}

func (n *metricNames) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[:len(n.names):len(n.names)]
}

// Meter measures one variant's output, window after window, from Scans of it. Not safe for concurrent use.
type Meter struct {
	opts   *Options
	series *cardinality.Counter
	// counted is the window's last batch of series, by position: batches repeat their series in the same
	// order, so most need no lookup to know they are counted already.
	counted []uint64

	win, done window // the current window and the last complete one
	// last holds each fidelity series' last sample, to follow it by timestamp as a backend does.
	last  lastValues
	gap   pcommon.Timestamp // smoothed gap between a series' samples
	epoch time.Time         // the meter's clock starts here; lastValue.seen counts seconds from it
	swept uint32            // when series were last forgotten
	// cost follows the distinct series over the span the cost model bills, from each window's series set
	// at rotation (nil without a cost model that bills series).
	cost *cost.Tracker
	// pending: the meter of a variant added mid-window reports nothing until a whole window of its own is
	// complete; dropPartial: the window it joined in is not one (its rotation is not reported).
	pending, dropPartial bool
	like                 *Meter // NewJoiningMeter's, until its partial window ends
}

// window holds one window's figures.
type window struct {
	start, end time.Time
	stats      cardinality.WindowStats
	datapoints uint64
	bytes      uint64
	batches    uint64
	// Per fidelity metric (by accumulator): the growth of its sums, and the integral over time of its
	// gauges' values (value × seconds until the series' next sample), and whether any sample counted.
	increase []float64
	integral []float64
	seen     []bool
	critical map[string]struct{}
	errors   uint64
	// untracked counts fidelity points not followed because the state is full (Options.SeriesCap).
	untracked uint64
	complete  bool
	// costSeries is what the cost model bills of the series at the window's end (cost.Tracker.Series).
	costSeries float64
	costExact  bool
}

// NewMeter starts measuring at now.
func NewMeter(opts *Options, now time.Time) *Meter {
	m := &Meter{opts: opts, series: cardinality.New(opts.SeriesCap), epoch: now}
	if opts.Cost != nil {
		m.cost = opts.Cost.NewTracker()
	}
	m.last.limit = max(opts.SeriesCap, 1000)
	m.win = m.newWindow(now)
	return m
}

// NewJoiningMeter starts measuring, at now, a variant added while a window runs: it follows the output at
// once (so its series continue into the next window as a backend's do) but reports nothing until that
// next window, its first whole one, is complete. like is a meter of the same input (the baseline's): the
// usual gap between samples is taken from it, so that a gauge's first sample is counted ahead as it
// would have been had the variant always run.
func NewJoiningMeter(opts *Options, now time.Time, like *Meter) *Meter {
	m := NewMeter(opts, now)
	m.pending, m.dropPartial, m.like = true, true, like
	return m
}

// Pending says the meter has no whole window to report yet (NewJoiningMeter).
func (m *Meter) Pending() bool { return m.pending }

func (m *Meter) newWindow(now time.Time) window {
	return window{start: now, critical: map[string]struct{}{}}
}

// Add adds one scanned batch of the variant's output, arrived at now.
func (m *Meter) Add(s *Scan, now time.Time) {
	if m.like != nil && m.gap == 0 {
		m.gap = m.like.gap
	}
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
	seen := m.clock(now)
	for pos := range s.points {
		m.follow(pos, &s.points[pos], seen)
	}
	m.last.endBatch()
	for _, c := range s.critical {
		w.critical[c] = struct{}{}
	}
	m.forget(seen)
}

// clock is now in seconds since the meter started.
func (m *Meter) clock(now time.Time) uint32 { return uint32(max(0, now.Sub(m.epoch)/time.Second)) }

// forget drops the series that stopped reporting, by the wall clock (hosts' clocks may disagree), checking
// about once a gap: a series is forgotten ForgetAfter of its own gaps after its last sample (at least 2 s);
// one with a single sample so far, after ForgetAfter usual gaps but no sooner than unknownGapHorizon, since
// it may report slowly (an SDK exporting every minute). State follows the live series whatever the window.
func (m *Meter) forget(now uint32) {
	gap := uint32(m.gap / pcommon.Timestamp(time.Second))
	if now < m.swept+max(1, gap) {
		return
	}
	m.swept = now
	n := uint32(5)
	if m.opts.ForgetAfter > 0 {
		n = uint32(m.opts.ForgetAfter)
	}
	unknown := max(unknownGapHorizon, n*gap)
	m.last.keepIf(func(v *lastValue) bool {
		horizon := unknown
		if g := v.gapMillis(); g > 0 {
			horizon = max(2, (n*g+999)/1000)
		}
		return now-v.seen <= horizon
	})
}

// unknownGapHorizon is how long, in seconds, a series with one sample is followed at least.
const unknownGapHorizon = 120

// acc returns the window's accumulator arrays grown to hold slot.
func (w *window) grow(slot int32) {
	for int(slot) >= len(w.seen) {
		w.increase = append(w.increase, 0)
		w.integral = append(w.integral, 0)
		w.seen = append(w.seen, false)
	}
}

// follow applies one fidelity point, by the rules a backend applies to samples: a sample not newer than
// the series' last is rejected; a staleness marker ends nothing but adds nothing; NaN adds nothing; a
// cumulative series grows by the difference of consecutive samples (its first only sets the start, a
// lower value or a new start time is a reset counted from zero); a delta point is its growth (the first
// only starts the series); a gauge holds its value until its next sample.
func (m *Meter) follow(pos int, p *fidelityPoint, seen uint32) {
	w := &m.win
	e := m.last.at(pos, p.id)
	if e == nil {
		w.untracked++
		return
	}
	e.seen = seen
	acc := p.slot
	w.grow(acc)
	if e.ts != 0 && p.ts <= e.ts {
		return
	}
	prev := *e
	if prev.ts != 0 {
		e.setGap(uint32(min((p.ts-prev.ts)/pcommon.Timestamp(time.Millisecond), staleBit-1)))
	}
	e.ts = p.ts
	if p.stale || math.IsNaN(p.v) || math.IsInf(p.v, 0) {
		e.setStale(true)
		return
	}
	e.v, e.aux = p.v, p.start
	e.setStale(false)
	w.seen[acc] = true
	if p.kind == kindGauge {
		m.gauge(w, acc, e, &prev)
		return
	}
	if !prev.valued() {
		return // a new series: its first sample only sets where it starts
	}
	if !prev.stale() { // back after a staleness marker: the absence is not a gap between samples
		m.observeGap(p.ts - prev.ts)
	}
	switch p.kind {
	case kindDelta:
		w.increase[acc] += p.v
	case kindCumulative:
		switch {
		case p.v < prev.v || prev.aux != 0 && p.start > prev.aux:
			w.increase[acc] += p.v
		default:
			w.increase[acc] += p.v - prev.v
		}
	}
}

// gauge adds a gauge sample to the window's integral. A value holds until the series' next sample, as a
// backend shows it: the previous value is counted up to this sample (less what was counted for it ahead),
// and this one ahead for the series' last gap, so that a series that ends is counted until it misses its
// next report, like an exited process in other.
func (m *Meter) gauge(w *window, acc int32, e, prev *lastValue) {
	e.aux = m.gap // a new series: the usual gap, as other counts a process from its first report
	if prev.valued() && !prev.stale() {
		gap := e.ts - prev.ts
		w.integral[acc] += prev.v * (float64(gap) - float64(prev.aux)) / 1e9
		e.aux = gap
		m.observeGap(gap)
	}
	w.integral[acc] += e.v * float64(e.aux) / 1e9
}

// observeGap follows the usual gap between a series' samples (smoothed over the meter's series). A gap of
// more than twice the usual one is a series missing reports (a process back in a top K, a name taken now
// and then), not a slower receiver: it moves the usual gap as if it were twice, so that a few absences do
// not make every new series' first sample count for their length.
func (m *Meter) observeGap(gap pcommon.Timestamp) {
	if m.gap == 0 {
		m.gap = gap
	} else {
		gap = min(gap, 2*m.gap)
		m.gap = pcommon.Timestamp(int64(m.gap) + (int64(gap)-int64(m.gap))/16)
	}
}

// Error counts a batch the variant failed on.
func (m *Meter) Error() { m.win.errors++ }

// Rotate closes the window at now and starts the next.
func (m *Meter) Rotate(now time.Time) {
	if m.cost != nil { // before the counter rotates: it reads the window's series from it
		m.cost.Rotate(m.win.start, now, m.series)
		m.win.costSeries, m.win.costExact = m.cost.Series()
	}
	m.win.stats = m.series.Rotate()
	m.win.end, m.win.complete = now, true
	if m.dropPartial {
		m.dropPartial, m.like = false, nil
	} else {
		m.done, m.pending = m.win, false
	}
	m.win = m.newWindow(now)
	m.counted = m.counted[:0]
}

// StateSeries is the number of series whose last sample is kept.
func (m *Meter) StateSeries() int { return m.last.len() }

// report is the last complete window, or the current one (with now as its end) before one completes.
func (m *Meter) report(now time.Time) window {
	if m.done.complete {
		return m.done
	}
	w := m.win
	w.stats = m.series.Current()
	w.end = now
	w.costSeries, w.costExact = float64(w.stats.Distinct), w.stats.Exact // the horizon so far is this window
	return w
}

// figure is a fidelity metric's window figure and whether there is one: a sum's increase per second, a
// gauge's mean sum (its integral over the window's seconds).
func (m *Meter) figure(w *window, slot int) (float64, bool) {
	if slot >= len(w.seen) || !w.seen[slot] {
		return 0, false
	}
	secs := math.Max(w.end.Sub(w.start).Seconds(), 1e-9)
	return (w.increase[slot] + w.integral[slot]) / secs, true
}

// Stats compares each variant's report with the baseline's. meters and names are in the same order.
func Stats(names []string, meters []*Meter, baseline int, now time.Time) []control.VariantStats {
	bm := meters[baseline]
	base := bm.report(now)
	out := make([]control.VariantStats, len(meters))
	for i, m := range meters {
		if m.pending {
			out[i] = control.VariantStats{Name: names[i], Pending: true, MetricFidelity: map[string]float64{}}
			continue
		}
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
			CriticalVisible:  1,
		}
		// Every metric the baseline has data for: a variant that drops or moves one shows the loss; none
		// when the state was full for either (fails closed).
		st.FidelityUntracked = w.untracked + base.untracked
		for slot, name := range bm.opts.names.all() {
			if st.FidelityUntracked > 0 {
				break
			}
			bv, ok := bm.figure(&base, slot)
			if !ok {
				continue
			}
			v, _ := m.figure(&w, slot)
			if f, ok := closeness(v, bv); ok {
				st.MetricFidelity[name] = f
			}
		}
		for _, f := range st.MetricFidelity {
			if st.Fidelity == nil || f < *st.Fidelity {
				st.Fidelity = &f
			}
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
		if c := bm.opts.Cost; c != nil {
			st.Cost = new(c.Monthly(cost.Usage{Series: w.costSeries, SeriesExact: w.costExact,
				Datapoints: w.datapoints, Bytes: w.bytes, Seconds: secs}))
		}
		out[i] = st
	}
	if base := out[baseline].Cost; base != nil {
		for i := range out {
			if out[i].Cost == nil { // pending
				continue
			}
			cost.Compare(out[i].Cost, *base)
		}
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
	return ratio(1 - v/base)
}

// ratio drops the float noise of a ratio's last bits (0.9999999999999998 is 1): twelve decimals are far
// beyond what a figure means, and a reader comparing with 1 should not have to round.
func ratio(x float64) float64 { return math.Round(x*1e12) / 1e12 }

// closeness is 1 - relative error, clamped to [0,1]; false when both are zero (no data: nothing to
// compare, not a perfect match) or either is not finite.
func closeness(v, base float64) (float64, bool) {
	switch {
	case math.IsNaN(v) || math.IsNaN(base) || math.IsInf(v, 0) || math.IsInf(base, 0):
		return 0, false
	case base == 0 && v == 0:
		return 0, false
	case base == 0:
		return 0, true
	}
	return ratio(math.Max(0, 1-math.Abs(v-base)/math.Abs(base))), true
}
