// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

var benchChains = map[string][]any{
	"top50":         {map[string]any{"topk": map[string]any{"k": 50}}},
	"by_executable": {map[string]any{"topk": map[string]any{"k": 0, "group_by": []any{"process.executable.name"}}}},
}

// BenchmarkExperimentVsBareChains compares, side by side in one run, the experiment processor with three
// variants (pass-through, topk k=50, topk by executable; shadow mode, measuring every variant) against the
// same two processing chains run bare, each on its own copy of the input made in the arm, as the collector's
// fan-out to several pipelines copies for mutating consumers when a read-only one (the pass-through
// pipeline) shares the batch. 1,000-process batches of simulated_process output; arms alternate every batch,
// first one then the other first (benchmeasure.Round), each after runtime.GC(); process CPU time and
// allocations; reported per data point and as experiment/bare, with the input flowing on (active=full:
// every chain needs a copy) and with top50 flowing on (it takes the input itself).
func BenchmarkExperimentVsBareChains(b *testing.B) {
	batch := receivercapture.Capture(b, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": 1000, "seed": 1}, 1)[0]
	dps := batch.DataPointCount()
	for _, active := range []string{"full", "top50"} {
		b.Run("active="+active, func(b *testing.B) {
			cfg := config(b, map[string]any{"baseline": "full", "active": active, "window": "10s", "variants": map[string]any{
				"full":          map[string]any{},
				"top50":         map[string]any{"processors": benchChains["top50"]},
				"by_executable": map[string]any{"processors": benchChains["by_executable"]},
			}})
			exp := start(b, cfg, consumertest.NewNop(), newHost())
			bare := []consumer.Metrics{plainPipeline(b, benchChains["top50"], consumertest.NewNop()),
				plainPipeline(b, benchChains["by_executable"], consumertest.NewNop())}

			var withExp, without benchmeasure.Arm
			i := 0
			for b.Loop() {
				i++
				md := receivercapture.NextInterval(batch, time.Duration(i)*10*time.Second)
				md2 := receivercapture.NextInterval(batch, time.Duration(i)*10*time.Second)
				benchmeasure.Round(i, &withExp, func() { require.NoError(b, exp.ConsumeMetrics(context.Background(), md)) },
					&without, func() {
						for _, p := range bare {
							cp := pmetric.NewMetrics()
							md2.CopyTo(cp)
							require.NoError(b, p.ConsumeMetrics(context.Background(), cp))
						}
					})
			}
			n := float64(b.N * dps)
			b.ReportMetric(float64(withExp.CPU.Nanoseconds())/n, "experiment-cpu-ns/dp")
			b.ReportMetric(float64(without.CPU.Nanoseconds())/n, "bare-cpu-ns/dp")
			b.ReportMetric(withExp.CPU.Seconds()/without.CPU.Seconds(), "experiment/bare")
			b.ReportMetric(float64(withExp.Allocs)/float64(b.N), "experiment-allocs/batch")
			b.ReportMetric(float64(without.Allocs)/float64(b.N), "bare-allocs/batch")
			runtime.KeepAlive(exp)
		})
	}
}
