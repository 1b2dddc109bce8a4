// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
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

func TestHandoverEndsWhatOnlyThePreviousVariantSent(t *testing.T) {
	prev, out := pmetric.NewMetrics(), pmetric.NewMetrics()
	process(prev, 1)
	process(prev, 2)
	process(out, 1)
	h := NewHandover()
	require.Equal(t, 3, h.End(prev, out))
	assert.ElementsMatch(t, []string{"2 process.cpu.time user", "2 process.cpu.time system", "2 process.memory.usage "}, ends(t, out),
		"pid 2's series end, the delta sum stays; pid 1, still sent, is not ended")
	assert.Equal(t, 3, h.Ended())

	next := pmetric.NewMetrics()
	process(next, 1)
	assert.Zero(t, h.End(prev, next), "a series is ended once")
	assert.Empty(t, ends(t, next))

	same := pmetric.NewMetrics()
	process(same, 3)
	assert.Zero(t, NewHandover().End(same, same), "an output handed over to itself ends nothing")
}
