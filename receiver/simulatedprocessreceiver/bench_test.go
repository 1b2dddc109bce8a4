// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
)

// cpuTime is the process's user+system CPU time (all threads, GC included): benchmarks report work per
// CPU-second, not per wall second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGenerate compares, side by side in one run, a whole scrape (simulation step + metrics) through
// the direct emitter (A) and through the generated MetricsBuilder (B), default metrics, on identical
// simulations. Arms alternate every iteration, each after runtime.GC(); reported: datapoints per CPU-second
// of each arm and B/A, the emitter's speed-up.
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("processes=%d", n), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Processes = n
			fast, ref := newTestScraper(b, cfg), newTestScraper(b, cfg)
			mb := metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, receivertest.NewNopSettings(metadata.Type))
			var cpuA, cpuB time.Duration
			var dpsA, dpsB int
			var allocsA, allocsB uint64
			for b.Loop() {
				runtime.GC()
				m0 := mallocs()
				start := cpuTime()
				md, err := fast.scrape(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				cpuA += cpuTime() - start
				allocsA += mallocs() - m0
				dpsA += md.DataPointCount()

				runtime.GC()
				m0 = mallocs()
				start = cpuTime()
				now := pcommon.NewTimestampFromTime(time.Now())
				ref.sim.Tick(func(h *procsim.Host) { emitWithBuilder(mb, cfg, h, now) })
				md = mb.Emit()
				cpuB += cpuTime() - start
				allocsB += mallocs() - m0
				dpsB += md.DataPointCount()
			}
			perProcess := float64(b.N * n)
			b.ReportMetric(float64(allocsA)/perProcess, "emitter-allocs/process")
			b.ReportMetric(float64(allocsB)/perProcess, "builder-allocs/process")
			a, bb := float64(dpsA)/cpuA.Seconds(), float64(dpsB)/cpuB.Seconds()
			b.ReportMetric(a, "emitter-dp/cpu-s")
			b.ReportMetric(bb, "builder-dp/cpu-s")
			b.ReportMetric(a/bb, "speedup")
		})
	}
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}
