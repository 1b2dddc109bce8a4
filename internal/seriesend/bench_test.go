// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
	"time"

	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkHandover: one batch of 500 processes handed over to an output of 20 of them, as after a switch
// from full to top20: the first batch, which ends 480 processes' series, and a later one, which finds them
// ended. Reported per point of the previous variant's output.
func BenchmarkHandover(b *testing.B) {
	prev, out := pmetric.NewMetrics(), pmetric.NewMetrics()
	for pid := range int64(500) {
		process(prev, pid)
		if pid < 20 {
			process(out, pid)
		}
	}
	points := float64(prev.DataPointCount())
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			o := pmetric.NewMetrics()
			out.CopyTo(o)
			NewHandover(nil).End(prev, o, time.Time{})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/points, "ns/point")
	})
	b.Run("later", func(b *testing.B) {
		h := NewHandover(nil)
		h.End(prev, pmetric.NewMetrics(), time.Time{})
		for b.Loop() {
			h.End(prev, out, time.Time{})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/points, "ns/point")
	})
}
