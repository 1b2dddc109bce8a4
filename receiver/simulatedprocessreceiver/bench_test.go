// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
)

// BenchmarkGenerate compares, side by side in one run, a whole scrape (simulation step + metrics) through
// the direct emitter (A) and through the generated MetricsBuilder (B), default metrics, on identical
// simulations. Arms alternate every iteration, first one then the other first (benchmeasure.Round), each
// after runtime.GC(); reported: datapoints per CPU-second of each arm and B/A, the emitter's speed-up.
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("processes=%d", n), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Processes = n
			fast, ref := newTestScraper(b, cfg), newTestScraper(b, cfg)
			mb := metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, receivertest.NewNopSettings(metadata.Type))
			var emitter, builder benchmeasure.Arm
			var dpsA, dpsB int
			i := 0
			for b.Loop() {
				benchmeasure.Round(i, &emitter, func() {
					md, err := fast.scrape(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					dpsA += md.DataPointCount()
				}, &builder, func() {
					now := pcommon.NewTimestampFromTime(time.Now())
					ref.sim.Tick(func(h *procsim.Host) { emitWithBuilder(mb, cfg, h, now) })
					dpsB += mb.Emit().DataPointCount()
				})
				i++
			}
			perProcess := float64(b.N * n)
			b.ReportMetric(float64(emitter.Allocs)/perProcess, "emitter-allocs/process")
			b.ReportMetric(float64(builder.Allocs)/perProcess, "builder-allocs/process")
			a, bb := float64(dpsA)/emitter.CPU.Seconds(), float64(dpsB)/builder.CPU.Seconds()
			b.ReportMetric(a, "emitter-dp/cpu-s")
			b.ReportMetric(bb, "builder-dp/cpu-s")
			b.ReportMetric(a/bb, "speedup")
		})
	}
}
