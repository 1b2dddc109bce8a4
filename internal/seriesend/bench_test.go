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
			NewHandover(nil).End([]pmetric.Metrics{prev}, o, time.Time{})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/points, "ns/point")
	})
	b.Run("later", func(b *testing.B) {
		h := NewHandover(nil)
		h.End([]pmetric.Metrics{prev}, pmetric.NewMetrics(), time.Time{})
		for b.Loop() {
			h.End([]pmetric.Metrics{prev}, out, time.Time{})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/points, "ns/point")
	})
}

// BenchmarkContinuityApply: what every flowing batch pays, 500 processes of which none is carried (the
// flags of its counters are read, for ends), and the same with one ended counter per process.
func BenchmarkContinuityApply(b *testing.B) {
	md := pmetric.NewMetrics()
	for pid := range int64(500) {
		process(md, pid)
	}
	points := float64(md.DataPointCount())
	b.Run("nothing carried", func(b *testing.B) {
		c := NewContinuity()
		for b.Loop() {
			c.Apply(md, time.Time{})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/points, "ns/point")
	})
	b.Run("each process carried", func(b *testing.B) {
		c := NewContinuity()
		ended := pmetric.NewMetrics()
		md.CopyTo(ended)
		c.Apply(withCPU(ended, 0.5, true), time.Time{}) // every process ended at 0.5: back at 1, offset -0.5
		for b.Loop() {
			c.Apply(md, time.Time{})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/points, "ns/point")
	})
}
