// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
	"time"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// process is one resource with a cumulative CPU counter in two states, a memory gauge and a delta counter.
func process(md pmetric.Metrics, pid int64) {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt("process.pid", pid)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("processscraper")
	cpu := sm.Metrics().AppendEmpty()
	cpu.SetName("process.cpu.time")
	cpu.SetEmptySum().SetIsMonotonic(true)
	cpu.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, state := range []string{"user", "system"} {
		dp := cpu.Sum().DataPoints().AppendEmpty()
		dp.Attributes().PutStr("state", state)
		dp.SetDoubleValue(1)
	}
	mem := sm.Metrics().AppendEmpty()
	mem.SetName("process.memory.usage")
	mem.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(100)
	delta := sm.Metrics().AppendEmpty()
	delta.SetName("process.requests")
	delta.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	delta.Sum().DataPoints().AppendEmpty().SetIntValue(3)
}

// ends lists the ended points of md: pid, metric, state; and checks each is last in its metric.
func ends(t *testing.T, md pmetric.Metrics) []string {
	var out []string
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		pid, _ := rm.Resource().Attributes().Get("process.pid")
		assert.Equal(t, "processscraper", rm.ScopeMetrics().At(0).Scope().Name())
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			var dps pmetric.NumberDataPointSlice
			if m.Type() == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			for k := 0; k < dps.Len(); k++ {
				if dps.At(k).Flags().NoRecordedValue() {
					assert.Equal(t, dps.Len()-1, k, "an end is last in its metric")
					state := ""
					if v, ok := dps.At(k).Attributes().Get("state"); ok {
						state = v.AsString()
					}
					out = append(out, pid.AsString()+" "+m.Name()+" "+state)
				}
			}
		}
	}
	return out
}

// TestHandoverEndsWhatOnlyThePreviousVariantSent: pid 2, which only the previous variant sent, ends: its
// gauge at once, its counters after flowing once more with their value at the switch; the delta sum stays;
// pid 1, sent by both, is left; each series once.
func TestHandoverEndsWhatOnlyThePreviousVariantSent(t *testing.T) {
	prev, out := pmetric.NewMetrics(), pmetric.NewMetrics()
	process(prev, 1)
	process(prev, 2)
	process(out, 1)
	h := NewHandover(nil)
	require.Equal(t, 1, h.End([]pmetric.Metrics{prev}, out, time.Time{}))
	assert.ElementsMatch(t, []string{"2 process.memory.usage "}, ends(t, out))
	assert.Equal(t, 4+2+1, out.DataPointCount(), "pid 1's points, pid 2's two CPU states once more, and the end")

	next := pmetric.NewMetrics()
	process(next, 1)
	require.Equal(t, 2, h.End([]pmetric.Metrics{prev}, next, time.Time{}), "the counters end at the next batch")
	assert.ElementsMatch(t, []string{"2 process.cpu.time user", "2 process.cpu.time system"}, ends(t, next))
	assert.Equal(t, 3, h.Ended())

	again := pmetric.NewMetrics()
	process(again, 1)
	assert.Zero(t, h.End([]pmetric.Metrics{prev}, again, time.Time{}), "a series is ended once")
	assert.Equal(t, 4, again.DataPointCount())

	same := pmetric.NewMetrics()
	process(same, 3)
	assert.Zero(t, NewHandover(nil).End([]pmetric.Metrics{same}, same, time.Time{}), "an output handed over to itself ends nothing")
	assert.Equal(t, 4, same.DataPointCount())
}

// other is a rollup resource with one counter, as topk's other.
func other(value float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("process.executable.name", "other")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("process.cpu.time")
	m.SetEmptySum().SetIsMonotonic(true)
	m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	m.Sum().DataPoints().AppendEmpty().SetDoubleValue(value)
	return md
}

func otherValue(md pmetric.Metrics) float64 {
	return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).DoubleValue()
}

// TestContinuityRebasesACounterBothSend: a rollup both variants send, counted from different starts, flows
// on from the value it had; the new variant's growth follows; a second switch rebases onto what flowed.
func TestContinuityRebasesACounterBothSend(t *testing.T) {
	c := NewContinuity()
	out := other(40) // top5's other; top20's was 100 at the same batch
	NewHandover(c).End([]pmetric.Metrics{other(100)}, out, time.Time{})
	c.Apply(out, time.Time{})
	assert.InDelta(t, 100, otherValue(out), 1e-9)
	later := other(45)
	c.Apply(later, time.Time{})
	assert.InDelta(t, 105, otherValue(later), 1e-9, "the new variant's growth, from the value that flowed")
	assert.Equal(t, 1, c.Series())

	back := other(120) // top20's own, while 105+ flowed
	NewHandover(c).End([]pmetric.Metrics{other(47)}, back, time.Time{})
	c.Apply(back, time.Time{})
	assert.InDelta(t, 107, otherValue(back), 1e-9, "rebased onto what flowed (47 + 60)")

	fresh := NewContinuity()
	NewHandover(fresh).End([]pmetric.Metrics{other(10)}, other(10), time.Time{})
	assert.Zero(t, fresh.Series(), "equal values need no offset")
}

// cpuOf is pid's CPU time points in md: value, or -1 for an end.
func cpuOf(md pmetric.Metrics, pid int64) []float64 {
	var out []float64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		if v, _ := rm.Resource().Attributes().Get("process.pid"); v.Int() != pid {
			continue
		}
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() != "process.cpu.time" {
				continue
			}
			for k := 0; k < ms.At(j).Sum().DataPoints().Len(); k++ {
				dp := ms.At(j).Sum().DataPoints().At(k)
				if dp.Flags().NoRecordedValue() {
					out = append(out, -1)
				} else {
					out = append(out, dp.DoubleValue())
				}
			}
		}
	}
	return out
}

func withCPU(md pmetric.Metrics, v float64, end bool) pmetric.Metrics {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		dps := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
		for k := 0; k < dps.Len(); k++ {
			dps.At(k).SetDoubleValue(v)
			if end {
				dps.At(k).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			}
		}
	}
	return md
}

func processes(pids ...int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, pid := range pids {
		process(md, pid)
	}
	return md
}

// TestHandoverCarriesOnThroughASecondSwitch: a switch made while pid 2's counters still show the first
// variant's last value ends them when the next variant does not send them either, and rebases them onto
// that value when it does.
func TestHandoverCarriesOnThroughASecondSwitch(t *testing.T) {
	for name, back := range map[string]bool{"to a third variant": false, "back to the first": true} {
		t.Run(name, func(t *testing.T) {
			c := NewContinuity()
			h := NewHandover(c)
			full, top := withCPU(processes(1, 2), 5, false), processes(1)
			h.End([]pmetric.Metrics{full}, top, time.Time{})
			c.Apply(top, time.Time{})
			assert.Equal(t, []float64{5, 5}, cpuOf(top, 2), "flows once more with the first variant's value")

			h.Switch()
			full, top = withCPU(processes(1, 2), 7, false), processes(1)
			out := processes(1)
			if back {
				out = withCPU(processes(1, 2), 7, false)
			}
			h.End([]pmetric.Metrics{top, full}, out, time.Time{})
			c.Apply(out, time.Time{})
			if back {
				assert.Equal(t, []float64{5, 5}, cpuOf(out, 2), "back: carries on from the value it flowed with")
				later := withCPU(processes(1, 2), 8, false)
				c.Apply(later, time.Time{})
				assert.Equal(t, []float64{6, 6}, cpuOf(later, 2), "with its own growth from then on")
				return
			}
			assert.Equal(t, []float64{-1, -1}, cpuOf(out, 2), "ended by the second switch's handover")
			assert.Equal(t, 3, h.Ended(), "its gauge at the first switch, its counters at the second")
		})
	}
}

// TestHandoverTakesOverAnEndOfTheNewVariant: when the new variant ends, in the switch's batch, a counter
// the previous one sent, the counter flows once more with the previous value (its growth to the switch is
// its own) and ends at the next batch — one point per series in each.
func TestHandoverTakesOverAnEndOfTheNewVariant(t *testing.T) {
	c := NewContinuity()
	h := NewHandover(c)
	out := withCPU(processes(2), 3, true)
	h.End([]pmetric.Metrics{withCPU(processes(2), 9, false)}, out, time.Time{})
	c.Apply(out, time.Time{})
	assert.Equal(t, []float64{9, 9}, cpuOf(out, 2))
	next := pmetric.NewMetrics()
	h.End([]pmetric.Metrics{withCPU(processes(2), 10, false)}, next, time.Time{})
	assert.Equal(t, []float64{-1, -1}, cpuOf(next, 2))
}

// TestContinuityCarriesOnFromAnEndThatFlowed: a counter that ended in what flowed (topk's end carries the
// value it showed) carries on from it when it comes back with another value — after a switch, in another
// variant's terms; an end without a value (a prometheus receiver's staleness marker) is not taken.
func TestContinuityCarriesOnFromAnEndThatFlowed(t *testing.T) {
	c := NewContinuity()
	c.Apply(withCPU(processes(1), 30, true), time.Time{})
	back := withCPU(processes(1), 50, false)
	c.Apply(back, time.Time{})
	assert.Equal(t, []float64{30, 30}, cpuOf(back, 1))

	stale := NewContinuity()
	stale.Apply(withCPU(processes(1), 0, true), time.Time{})
	back = withCPU(processes(1), 50, false)
	stale.Apply(back, time.Time{})
	assert.Equal(t, []float64{50, 50}, cpuOf(back, 1))
	assert.Zero(t, stale.Series())

	old := NewContinuity()
	at := time.Unix(1_800_000_000, 0)
	old.Apply(withCPU(processes(1), 30, true), at)
	old.Apply(pmetric.NewMetrics(), at.Add(Horizon+2*time.Minute))
	assert.Zero(t, old.Series(), "forgotten after Horizon")
}

// TestOffsetToNeverShowsLess: a rebased value is never an ulp below the one shown (a reset to a backend).
func TestOffsetToNeverShowsLess(t *testing.T) {
	for _, x := range [][2]float64{{3.8339486884179146, 10.058729215115962}, {0.1, 0.3}, {1e-9, 1e9}, {5, 5}} {
		assert.GreaterOrEqual(t, x[1]+offsetTo(x[0], x[1]), x[0])
		assert.InDelta(t, x[0], x[1]+offsetTo(x[0], x[1]), 1e-6)
	}
}
