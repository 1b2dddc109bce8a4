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
	require.Equal(t, 1, h.End(prev, out, time.Time{}))
	assert.ElementsMatch(t, []string{"2 process.memory.usage "}, ends(t, out))
	assert.Equal(t, 4+2+1, out.DataPointCount(), "pid 1's points, pid 2's two CPU states once more, and the end")

	next := pmetric.NewMetrics()
	process(next, 1)
	require.Equal(t, 2, h.End(prev, next, time.Time{}), "the counters end at the next batch")
	assert.ElementsMatch(t, []string{"2 process.cpu.time user", "2 process.cpu.time system"}, ends(t, next))
	assert.Equal(t, 3, h.Ended())

	again := pmetric.NewMetrics()
	process(again, 1)
	assert.Zero(t, h.End(prev, again, time.Time{}), "a series is ended once")
	assert.Equal(t, 4, again.DataPointCount())

	same := pmetric.NewMetrics()
	process(same, 3)
	assert.Zero(t, NewHandover(nil).End(same, same, time.Time{}), "an output handed over to itself ends nothing")
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
	NewHandover(c).End(other(100), out, time.Time{})
	c.Apply(out, time.Time{})
	assert.InDelta(t, 100, otherValue(out), 1e-9)
	later := other(45)
	c.Apply(later, time.Time{})
	assert.InDelta(t, 105, otherValue(later), 1e-9, "the new variant's growth, from the value that flowed")
	assert.Equal(t, 1, c.Series())

	back := other(120) // top20's own, while 105+ flowed
	NewHandover(c).End(other(47), back, time.Time{})
	c.Apply(back, time.Time{})
	assert.InDelta(t, 107, otherValue(back), 1e-9, "rebased onto what flowed (47 + 60)")

	fresh := NewContinuity()
	NewHandover(fresh).End(other(10), other(10), time.Time{})
	assert.Zero(t, fresh.Series(), "equal values need no offset")
}
