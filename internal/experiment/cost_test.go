// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
	"github.com/phoenix-platform/otelcol-phoenix/internal/cost"
	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

// TestCostPerVariant: two variants metered window after window with an active_series cost over a 3-minute
// horizon, while processes restart (new PIDs: new series). Each variant's units are its series over the
// horizon, computed here from a plain map of the window each process was last seen in (2 series a
// process); the monthly costs and the saving follow from them.
func TestCostPerVariant(t *testing.T) {
	o := opts()
	o.Cost = &cost.Config{Model: cost.ActiveSeries, Price: 6, Currency: "USD", Horizon: 3 * time.Minute,
		Window: time.Minute, SeriesCap: o.SeriesCap}
	full, half := NewMeter(o, t0), NewMeter(o, t0)
	procs := make([]proc, 40)
	next := int64(1)
	for i := range procs {
		procs[i] = proc{pid: next, exe: "app", start: -time.Hour}
		next++
	}
	lastSeen := [2]map[int64]time.Time{{}, {}} // per variant: pid -> end of the window it was last seen in
	active := func(v int, end time.Time) float64 {
		n := 0
		for _, seen := range lastSeen[v] {
			if seen.After(end.Add(-3 * time.Minute)) {
				n++
			}
		}
		return float64(2 * n)
	}

	st := Stats([]string{"full", "half"}, []*Meter{full, half}, 0, t0)
	require.NotNil(t, st[0].Cost, "a cost block: a cost figure from the start")
	for w := 1; w <= 12; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		for scrape := range 6 {
			at := end.Add(-time.Minute + time.Duration(scrape+1)*10*time.Second)
			for i := range procs {
				if (i+scrape+w)%23 == 0 { // a restart
					procs[i] = proc{pid: next, exe: "app", start: at.Sub(t0)}
					next++
				}
				procs[i].cpu++
				procs[i].mem = 100
			}
			full.Measure(batch(at.Sub(t0), procs...))
			half.Measure(batch(at.Sub(t0), procs[:20]...))
			for i, p := range procs {
				lastSeen[0][p.pid] = end
				if i < 20 {
					lastSeen[1][p.pid] = end
				}
			}
		}
		full.Rotate(end)
		half.Rotate(end)

		st := Stats([]string{"full", "half"}, []*Meter{full, half}, 0, end)
		f, h := st[0].Cost, st[1].Cost
		require.NotNil(t, f)
		require.NotNil(t, h)
		require.Equal(t, active(0, end), f.Units, "window %d", w)
		require.Equal(t, active(1, end), h.Units, "window %d", w)
		if w > 1 {
			assert.Greater(t, f.Units, float64(st[0].Series), "churn: more series over the horizon than in the window")
		}
		assert.InDelta(t, 6*f.Units/1000, f.Monthly, 1e-9)
		assert.InDelta(t, 6*h.Units/1000, h.Monthly, 1e-9)
		assert.InDelta(t, f.Monthly-h.Monthly, h.MonthlySaving, 1e-9)
		assert.InDelta(t, 1-h.Units/f.Units, h.SavingRatio, 1e-9)
		assert.Zero(t, f.MonthlySaving, "the baseline saves nothing against itself")
		assert.True(t, f.Exact)
		assert.Equal(t, "active_series", f.Model)
		assert.Equal(t, "USD", f.Currency)
	}
}

// TestNoCostBlockKeepsNothing: without a cost model the stats have no cost and the meter no tracker.
func TestNoCostBlockKeepsNothing(t *testing.T) {
	m := NewMeter(opts(), t0)
	m.Measure(batch(10*time.Second, proc{pid: 1, exe: "a"}))
	m.Rotate(t0.Add(time.Minute))
	assert.Nil(t, m.cost)
	assert.Nil(t, Stats([]string{"a"}, []*Meter{m}, 0, t0.Add(time.Minute))[0].Cost)
}

// TestVolumeCostFromTheWindow: datapoints and bytes are priced from the window's measured rates.
func TestVolumeCostFromTheWindow(t *testing.T) {
	for _, model := range []string{cost.Datapoints, cost.Bytes} {
		o := opts()
		o.Cost = &cost.Config{Model: model, Price: 2, Window: time.Minute, SeriesCap: o.SeriesCap}
		m := NewMeter(o, t0)
		for s := 1; s <= 6; s++ {
			m.Measure(batch(time.Duration(s)*10*time.Second, proc{pid: 1, exe: "a", cpu: float64(s)}, proc{pid: 2, exe: "b"}))
		}
		m.Rotate(t0.Add(time.Minute))
		st := Stats([]string{"a"}, []*Meter{m}, 0, t0.Add(time.Minute))[0]
		require.NotNil(t, st.Cost)
		assert.Nil(t, m.cost, "volume models keep no series")
		want := float64(st.Datapoints) / 60 * cost.SecondsPerMonth / 1e6 * 2
		if model == cost.Bytes {
			want = float64(st.Bytes) / 60 * cost.SecondsPerMonth / 1e9 * 2
		}
		assert.InDelta(t, want, st.Cost.Monthly, 1e-9, model)
	}
}

// BenchmarkMeasureWithCost is BenchmarkMeasure's work (scan and add every batch, a window every 6
// batches: 1m of 10s scrapes) with and without an active_series cost (20m horizon), side by side in one run:
// arms alternate every batch, each after runtime.GC() (benchmeasure.Round), process CPU time. The tracker
// works at rotation only (each window's series into its last-seen table), so the cost per data point
// should stay within a few percent; reported as with/without, and the tracker's bytes per series held.
func BenchmarkMeasureWithCost(b *testing.B) {
	for _, procs := range []int{1_000, 14_000} {
		md := receivercapture.Capture(b, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": procs, "seed": 1}, 1)[0]
		b.Run(fmt.Sprintf("series=%dk", md.DataPointCount()/1000), func(b *testing.B) {
			bare, priced := opts(), opts()
			for _, o := range []*Options{bare, priced} {
				o.SeriesCap = 200_000
				o.Counters, o.Gauges = nil, nil
			}
			priced.Cost = &cost.Config{Model: cost.ActiveSeries, Price: 8, Horizon: cost.DefaultHorizon, Window: time.Minute,
				SeriesCap: priced.SeriesCap}
			mb, sb := NewMeter(bare, t0), NewScan(bare)
			mp, sp := NewMeter(priced, t0), NewScan(priced)
			var without, with benchmeasure.Arm
			arm := func(m *Meter, s *Scan, i int) func() {
				return func() {
					s.Reset()
					s.Metrics(md)
					now := s.maxTs.AsTime()
					m.Add(s, now)
					if i%6 == 5 {
						m.Rotate(now)
					}
				}
			}
			i := 0
			for b.Loop() {
				shift(md, 10*time.Second)
				benchmeasure.Round(i, &without, arm(mb, sb, i), &with, arm(mp, sp, i))
				i++
			}
			n := float64(b.N * md.DataPointCount())
			b.ReportMetric(float64(without.CPU.Nanoseconds())/n, "bare-cpu-ns/dp")
			b.ReportMetric(float64(with.CPU.Nanoseconds())/n, "cost-cpu-ns/dp")
			b.ReportMetric(with.CPU.Seconds()/without.CPU.Seconds(), "cost/bare")
			if units, _ := mp.cost.Series(); units > 0 {
				b.ReportMetric(float64(mp.cost.Bytes())/units, "tracker-bytes/series")
			}
			runtime.KeepAlive(mb)
		})
	}
}
