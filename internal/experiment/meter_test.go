// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment

import (
	"fmt"
	"math"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_800_000_000, 0)

type proc struct {
	pid, ppid int64
	exe       string
	start     time.Duration // relative to t0
	cpu       float64
	mem       int64
}

func batch(at time.Duration, procs ...proc) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, p := range procs {
		rm := md.ResourceMetrics().AppendEmpty()
		a := rm.Resource().Attributes()
		a.PutInt("process.pid", p.pid)
		a.PutInt("process.parent_pid", p.ppid)
		a.PutStr("process.executable.name", p.exe)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		m := ms.AppendEmpty()
		m.SetName("process.cpu.time")
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(p.start)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
		dp.SetDoubleValue(p.cpu)
		g := ms.AppendEmpty()
		g.SetName("process.memory.usage")
		gdp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		gdp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
		gdp.SetIntValue(p.mem)
	}
	return md
}

// Measure adds one batch: Scan and Add in one.
// The batch arrives at its points' time (these tests' wall clock is the data's).
func (m *Meter) Measure(md pmetric.Metrics) {
	s := NewScan(m.opts)
	s.Metrics(md)
	m.Add(s, s.maxTs.AsTime())
}

// increaseOf is the current window's growth of a sum metric.
func (m *Meter) increaseOf(name string) float64 {
	slot := m.opts.names.slot(name)
	if int(slot) >= len(m.win.increase) {
		return 0
	}
	return m.win.increase[slot]
}

func opts() *Options {
	return &Options{SeriesCap: 1000, Counters: []string{"process.cpu.time"}, Gauges: []string{"process.memory.usage"},
		CriticalAttr: "process.executable.name", CriticalPatterns: []*regexp.Regexp{regexp.MustCompile("^kubelet$")},
		VolatileAttrs: []string{"process.parent_pid"}}
}

func TestIncreaseRules(t *testing.T) {
	m := NewMeter(opts(), t0)
	cpu := func() float64 { return m.increaseOf("process.cpu.time") }
	m.Measure(batch(10*time.Second, proc{pid: 1, exe: "a", start: -time.Hour, cpu: 100})) // first sample: 0
	assert.Zero(t, cpu())
	m.Measure(batch(20*time.Second,
		proc{pid: 1, exe: "a", start: -time.Hour, cpu: 104},     // +4
		proc{pid: 2, exe: "b", start: 15 * time.Second, cpu: 3}, // a new series' first sample: 0, as a backend
		proc{pid: 3, exe: "c", start: -time.Minute, cpu: 50}))   // first sight of an old process: 0
	assert.InDelta(t, 4, cpu(), 1e-9)
	m.Measure(batch(30*time.Second,
		proc{pid: 1, ppid: 7, exe: "a", start: -time.Hour, cpu: 110}, // re-parented: followed, +6
		proc{pid: 2, exe: "b", start: 15 * time.Second, cpu: 1}))     // reset: +1
	assert.InDelta(t, 11, cpu(), 1e-9)
	m.Measure(batch(25*time.Second, proc{pid: 1, exe: "a", start: -time.Hour, cpu: 107})) // out of order: rejected
	assert.InDelta(t, 11, cpu(), 1e-9)
	m.Measure(batch(40*time.Second, proc{pid: 3, exe: "c", start: -time.Minute, cpu: 70})) // back after a gap: +20
	assert.InDelta(t, 31, cpu(), 1e-9)
	md := batch(50*time.Second, proc{pid: 2, exe: "b", start: 45 * time.Second, cpu: 5}) // new start time: a reset, +5
	stale := batch(50*time.Second, proc{pid: 1, ppid: 7, exe: "a", start: -time.Hour, cpu: 999})
	stale.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).SetFlags(
		pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)) // a staleness marker adds nothing
	stale.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	m.Measure(md)
	assert.InDelta(t, 36, cpu(), 1e-9)
	m.Measure(batch(60*time.Second, proc{pid: 1, ppid: 7, exe: "a", start: -time.Hour, cpu: 112})) // across it: +2
	assert.InDelta(t, 38, cpu(), 1e-9)
}

// TestNoDataIsNotPerfectFidelity: when neither the baseline nor the variant has anything to compare, the
// fidelity is absent (nil), never 1, and NaN points never make it NaN.
func TestNoDataIsNotPerfectFidelity(t *testing.T) {
	o := opts()
	full, empty := NewMeter(o, t0), NewMeter(o, t0)
	nan := batch(10*time.Second, proc{pid: 1, exe: "a", start: -time.Hour})
	nan.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).SetDoubleValue(math.NaN())
	full.Measure(nan)
	full.Measure(batch(20*time.Second, proc{pid: 1, exe: "a", start: -time.Hour, cpu: 5}))
	st := Stats([]string{"full", "empty"}, []*Meter{full, empty}, 0, t0.Add(20*time.Second))
	assert.Nil(t, st[1].Fidelity, "no increase and no gauge anywhere: no data")
	assert.NotContains(t, st[1].MetricFidelity, "process.cpu.time")
	for _, v := range st[1].MetricFidelity {
		assert.False(t, math.IsNaN(v))
	}
}

// TestFidelityCoversEveryBaselineMetric: with no metrics listed, a metric the variant drops shows.
func TestFidelityCoversEveryBaselineMetric(t *testing.T) {
	o := opts()
	o.Counters, o.Gauges = nil, nil
	full, nomem := NewMeter(o, t0), NewMeter(o, t0)
	for i, at := range []time.Duration{10 * time.Second, 20 * time.Second} {
		b := batch(at, proc{pid: 1, exe: "a", start: -time.Hour, cpu: float64(10 * i), mem: 100})
		full.Measure(b)
		b.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Name() == "process.memory.usage" })
		nomem.Measure(b)
	}
	st := Stats([]string{"full", "nomem"}, []*Meter{full, nomem}, 0, t0.Add(20*time.Second))
	require.NotNil(t, st[1].Fidelity)
	assert.Equal(t, 0.0, *st[1].Fidelity, "the dropped gauge")
	assert.Equal(t, 1.0, st[1].MetricFidelity["process.cpu.time"])
}

func TestStatsAgainstBaseline(t *testing.T) {
	full, half := NewMeter(opts(), t0), NewMeter(opts(), t0)
	for i, at := range []time.Duration{10 * time.Second, 20 * time.Second} {
		cpu := float64(10 * i)
		full.Measure(batch(at, proc{pid: 1, exe: "kubelet", start: -time.Hour, cpu: cpu, mem: 100}, proc{pid: 2, exe: "x", start: -time.Hour, cpu: cpu, mem: 300}))
		half.Measure(batch(at, proc{pid: 2, exe: "x", start: -time.Hour, cpu: cpu, mem: 300}))
	}
	st := Stats([]string{"full", "half"}, []*Meter{full, half}, 0, t0.Add(20*time.Second))
	assert.Equal(t, 1.0, *st[0].Fidelity)
	assert.Equal(t, 0.5, st[1].SeriesSavings)
	assert.Equal(t, 0.5, st[1].DatapointSavings)
	assert.InDelta(t, 0.5, st[1].MetricFidelity["process.cpu.time"], 1e-9, "half the CPU rate")
	assert.InDelta(t, 0.75, st[1].MetricFidelity["process.memory.usage"], 1e-9, "300 of 400 bytes")
	assert.InDelta(t, 0.5, *st[1].Fidelity, 1e-9, "the lowest")
	assert.Equal(t, 0.0, st[1].CriticalVisible, "kubelet is gone")
	assert.Equal(t, 1.0, st[0].CriticalVisible)
	assert.InDelta(t, 0.4, st[0].DatapointsPerSecond, 1e-9, "8 points in 20s")
}

func TestCloseness(t *testing.T) {
	_, ok := closeness(0, 0)
	assert.False(t, ok, "both zero: no data, not a perfect match")
	_, ok = closeness(math.NaN(), 1)
	assert.False(t, ok)
	for _, c := range []struct{ v, base, want float64 }{{5, 0, 0}, {300, 100, 0}, {110, 100, 0.9}, {90, 100, 0.9}} {
		got, ok := closeness(c.v, c.base)
		assert.True(t, ok)
		assert.InDelta(t, c.want, got, 1e-9, "%v vs %v", c.v, c.base)
	}
	assert.Equal(t, 0.0, savings(5, 0))
	assert.Equal(t, -1.0, savings(2, 1), "more than the baseline is negative savings")
}

// BenchmarkMeasure is the whole per-variant accounting cost per data point (series counting, counters,
// gauges, protobuf size, critical processes) on simulated_process batches: hostmetrics' shape and resource
// attributes, ~7 points per process, up to ~100k series.
func BenchmarkMeasure(b *testing.B) {
	for _, procs := range []int{1_000, 14_000} {
		md := receivercapture.Capture(b, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": procs, "seed": 1}, 1)[0]
		b.Run(fmt.Sprintf("series=%dk", md.DataPointCount()/1000), func(b *testing.B) {
			o := opts()
			o.SeriesCap = 200_000           // the default: exact counting
			o.Counters, o.Gauges = nil, nil // the default: every metric's fidelity
			m, s := NewMeter(o, t0), NewScan(o)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				shift(md, 10*time.Second) // the next scrape: every point newer than the last
				b.StartTimer()
				s.Reset()
				s.Metrics(md)
				m.Add(s, s.maxTs.AsTime())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*md.DataPointCount()), "ns/datapoint")
			b.ReportMetric(float64(m.series.Bytes())/float64(m.series.Tracked()), "bytes/series")
		})
	}
}

// shift moves every number point of md d later.
func shift(md pmetric.Metrics, d time.Duration) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			dps := numberPoints(ms.At(j))
			for k := 0; k < dps.Len(); k++ {
				dps.At(k).SetTimestamp(dps.At(k).Timestamp() + pcommon.Timestamp(d))
			}
		}
	}
}

// BenchmarkStateBytesUnderChurn: the heap a meter keeps beyond its series set, per live series, after 120
// scrapes in which a tenth of the processes are replaced every scrape, with windows of 6 and of 60 scrapes
// (state follows the live series, whatever the window); and with series_cap below the live series, that
// the followed series stop at the cap.
func BenchmarkStateBytesUnderChurn(b *testing.B) {
	for _, c := range []struct {
		window, seriesCap int
	}{{6, 200_000}, {60, 200_000}, {6, 4_000}} {
		b.Run(fmt.Sprintf("window=%d/series_cap=%d", c.window, c.seriesCap), func(b *testing.B) {
			var perSeries, perFollowed float64
			var followed int
			const live = 3_000 * 2 // processes × number series each
			for b.Loop() {
				o := opts()
				o.Counters, o.Gauges, o.SeriesCap = nil, nil, c.seriesCap
				procs := make([]proc, 3_000)
				next := int64(1)
				scan := func(scrape int) *Scan {
					for i := range procs {
						if procs[i].pid == 0 || (scrape+i)%10 == 0 {
							procs[i] = proc{pid: next, exe: "app", start: time.Duration(scrape) * 10 * time.Second}
							next++
						}
						procs[i].cpu++
						procs[i].mem = int64(i)
					}
					s := NewScan(o)
					s.Metrics(batch(time.Duration(scrape)*10*time.Second, procs...))
					return s
				}
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				m := NewMeter(o, t0)
				for scrape := range 120 {
					m.Add(scan(scrape), t0.Add(time.Duration(scrape)*10*time.Second))
					if scrape%c.window == c.window-1 {
						m.Rotate(t0.Add(time.Duration(scrape) * 10 * time.Second))
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				followed = m.StateSeries()
				state := float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc) - int64(m.series.Bytes()))
				perSeries, perFollowed = state/live, state/float64(followed)
				runtime.KeepAlive(m)
			}
			b.ReportMetric(perSeries, "bytes/live-series")
			b.ReportMetric(perFollowed, "bytes/followed-series")
			b.ReportMetric(float64(followed), "followed-series")
		})
	}
}

// TestSlowSeriesAreFollowed: a series reporting every minute (an SDK's default export) next to processes
// scraped every 2 s is not forgotten between its samples: its growth counts.
func TestSlowSeriesAreFollowed(t *testing.T) {
	o := opts()
	o.Counters, o.Gauges = nil, nil
	m := NewMeter(o, t0)
	slow := 0.0
	for sec := 0; sec <= 300; sec += 2 {
		at := time.Duration(sec) * time.Second
		md := batch(at, proc{pid: 1, exe: "fast", start: -time.Hour, cpu: float64(sec)})
		if sec%60 == 0 {
			app := md.ResourceMetrics().AppendEmpty()
			app.Resource().Attributes().PutStr("service.name", "checkout")
			s := app.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			s.SetName("http.server.requests")
			sum := s.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := sum.DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
			dp.SetIntValue(int64(slow))
			slow += 100
		}
		m.Measure(md)
	}
	assert.InDelta(t, 500, m.increaseOf("http.server.requests"), 1e-9, "six samples a minute apart: five steps of 100")
	assert.InDelta(t, 300, m.increaseOf("process.cpu.time"), 1e-9)
}

// TestFullStateMeansNoFidelity: beyond series_cap, series are not followed; fidelity is then absent (the
// guardrail fails closed), not computed on the followed part as if it were the whole.
func TestFullStateMeansNoFidelity(t *testing.T) {
	o := opts()
	o.SeriesCap = 1000
	full, quarter := NewMeter(o, t0), NewMeter(o, t0)
	procs := make([]proc, 2000)
	for i := range procs {
		procs[i] = proc{pid: int64(i + 1), exe: "app", start: -time.Hour}
	}
	for step := range 3 {
		for i := range procs {
			procs[i].cpu += 1
			procs[i].mem = 10
		}
		at := time.Duration(step+1) * 10 * time.Second
		full.Measure(batch(at, procs...))
		quarter.Measure(batch(at, procs[:500]...))
	}
	st := Stats([]string{"full", "quarter"}, []*Meter{full, quarter}, 0, t0.Add(30*time.Second))
	assert.Nil(t, st[1].Fidelity, "a quarter of the data must not score 1")
	assert.Positive(t, st[1].FidelityUntracked)
}

// TestHistogramsCountInFidelity: a variant that drops a histogram shows the loss.
func TestHistogramsCountInFidelity(t *testing.T) {
	o := opts()
	o.Counters, o.Gauges = nil, nil
	full, nohist := NewMeter(o, t0), NewMeter(o, t0)
	for i := range 3 {
		at := time.Duration(i+1) * 10 * time.Second
		b := batch(at, proc{pid: 1, exe: "a", start: -time.Hour, cpu: float64(i), mem: 1})
		h := b.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
		h.SetName("http.server.duration")
		hist := h.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := hist.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
		dp.SetCount(uint64(10 * i))
		full.Measure(b)
		b.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Type() == pmetric.MetricTypeHistogram })
		nohist.Measure(b)
	}
	st := Stats([]string{"full", "nohist"}, []*Meter{full, nohist}, 0, t0.Add(30*time.Second))
	require.NotNil(t, st[1].Fidelity)
	assert.Equal(t, 0.0, st[1].MetricFidelity["http.server.duration"])
	assert.Equal(t, 0.0, *st[1].Fidelity)
}

// TestUsualGapIgnoresAbsences: a series back after a staleness marker or a long absence (a process that
// left a top K and returned, a name taken now and then) does not move the usual gap between samples, by
// which a new gauge series' first sample is counted ahead: that would over-count every short-lived series
// of the variant whose output has such returns, and not the baseline's.
func TestUsualGapIgnoresAbsences(t *testing.T) {
	m := NewMeter(opts(), t0)
	procs := func(n int) []proc {
		var out []proc
		for i := range n {
			out = append(out, proc{pid: int64(i + 1), exe: "a", start: -time.Hour, cpu: 1, mem: 100})
		}
		return out
	}
	for s := 10; s <= 50; s += 10 {
		m.Measure(batch(time.Duration(s)*time.Second, procs(20)...))
	}
	require.InDelta(t, 10e9, float64(m.gap), 1e6)
	// Every 80 s, five series leave with a staleness marker (as topk ends a series that falls out of its top
	// K) and come back 30 s later, within the time they are followed.
	highest := m.gap
	defer func() {
		assert.InDelta(t, 10e9, float64(highest), 0.2e9, "the usual gap never moved from the receiver's 10 s")
	}()
	for s := 60; s <= 1200; s += 10 {
		highest = max(highest, m.gap)
		all := procs(20)
		switch (s / 10) % 8 {
		case 0:
			md := batch(time.Duration(s)*time.Second, all...)
			for i := range 5 { // both its series end
				ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
				ms.At(0).Sum().DataPoints().At(0).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				ms.At(1).Gauge().DataPoints().At(0).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			}
			m.Measure(md)
			continue
		case 1, 2:
			all = all[5:]
		}
		m.Measure(batch(time.Duration(s)*time.Second, all...))
	}
	assert.InDelta(t, 10e9, float64(m.gap), 0.1e9, "the usual gap is still the receiver's 10 s")
}
