// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestLastInMetric: every NoRecordedValue point ends up last in its metric, at most one per metric, and every
// point is kept with its metric's name and type.
func TestLastInMetric(t *testing.T) {
	stale := pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)
	for _, tc := range []struct {
		name    string
		ends    []bool // per point of one sum
		metrics int    // metrics after
	}{
		{"no ends", []bool{false, false, false}, 1},
		{"one end, last", []bool{false, false, true}, 1},
		{"one end, first", []bool{true, false, false}, 2},
		{"all ends", []bool{true, true, true}, 3},
		{"ends among values", []bool{false, true, false, true}, 3},
		{"a single end", []bool{true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := pmetric.NewMetricSlice()
			m := ms.AppendEmpty()
			m.SetName("process.cpu.time")
			m.SetUnit("s")
			m.SetEmptySum().SetIsMonotonic(true)
			m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i, end := range tc.ends {
				dp := m.Sum().DataPoints().AppendEmpty()
				dp.SetDoubleValue(float64(i))
				if end {
					dp.SetFlags(stale)
				}
			}
			LastInMetric(ms)
			require.Equal(t, tc.metrics, ms.Len())
			seen := map[float64]bool{}
			for i := 0; i < ms.Len(); i++ {
				m := ms.At(i)
				assert.Equal(t, "process.cpu.time", m.Name())
				assert.Equal(t, "s", m.Unit())
				assert.True(t, m.Sum().IsMonotonic())
				dps := m.Sum().DataPoints()
				require.Positive(t, dps.Len())
				for k := 0; k < dps.Len(); k++ {
					dp := dps.At(k)
					assert.False(t, dp.Flags().NoRecordedValue() && k != dps.Len()-1, "metric %d: an end at %d of %d", i, k, dps.Len())
					assert.Equal(t, tc.ends[int(dp.DoubleValue())], dp.Flags().NoRecordedValue())
					seen[dp.DoubleValue()] = true
				}
			}
			assert.Len(t, seen, len(tc.ends), "every point kept once")
		})
	}
}
