// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topkprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/internal/topk"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

func newProcessor(b *testing.B, f processor.Factory, cfg any, conf map[string]any) processor.Metrics {
	if conf != nil {
		require.NoError(b, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	}
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// BenchmarkTopKVsFilter compares, side by side in one run, the topk processor (k=20 + rollup into other) with
// the filter processor dropping the same processes, on 1,000-process batches of simulated_process output.
// Arms alternate each iteration on fresh copies of the next interval, first one then the other first
// (benchmeasure.Round), each after runtime.GC(); reported: datapoints in per CPU-second for each arm,
// topk's CPU time over filter's, and allocations per batch.
func BenchmarkTopKVsFilter(b *testing.B) {
	batch := receivercapture.Capture(b, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": 1000, "seed": 1}, 1)[0]
	dps := batch.DataPointCount()

	topk := newProcessor(b, NewFactory(), createDefaultConfig(), nil)
	// Learn which processes topk keeps, then mark the others for the filter.
	probe := new(consumertest.MetricsSink)
	topkProbe := newProcessorTo(b, probe)
	for i := range 3 {
		require.NoError(b, topkProbe.ConsumeMetrics(context.Background(), receivercapture.NextInterval(batch, time.Duration(i)*10*time.Second)))
	}
	kept := map[int64]bool{}
	last := probe.AllMetrics()[2]
	for i := 0; i < last.ResourceMetrics().Len(); i++ {
		if pid, ok := last.ResourceMetrics().At(i).Resource().Attributes().Get("process.pid"); ok {
			kept[pid.Int()] = true
		}
	}
	marked := pmetric.NewMetrics()
	batch.CopyTo(marked)
	for i := 0; i < marked.ResourceMetrics().Len(); i++ {
		a := marked.ResourceMetrics().At(i).Resource().Attributes()
		pid, _ := a.Get("process.pid")
		a.PutBool("phoenix.fold", !kept[pid.Int()])
	}
	ff := filterprocessor.NewFactory()
	filter := newProcessor(b, ff, ff.CreateDefaultConfig(), map[string]any{
		"error_mode": "ignore",
		"metrics":    map[string]any{"resource": []any{`attributes["phoenix.fold"] == true`}},
	})

	var topkArm, filterArm benchmeasure.Arm
	consume := func(p consumer.Metrics, md pmetric.Metrics) func() {
		return func() {
			if err := p.ConsumeMetrics(context.Background(), md); err != nil {
				b.Fatal(err)
			}
		}
	}
	i := 0
	for b.Loop() {
		i++
		a, f := receivercapture.NextInterval(batch, time.Duration(i)*10*time.Second), receivercapture.NextInterval(marked, time.Duration(i)*10*time.Second)
		benchmeasure.Round(i, &topkArm, consume(topk, a), &filterArm, consume(filter, f))
	}
	n := float64(b.N)
	b.ReportMetric(float64(dps)*n/topkArm.CPU.Seconds(), "topk-dp/cpu-s")
	b.ReportMetric(float64(dps)*n/filterArm.CPU.Seconds(), "filter-dp/cpu-s")
	b.ReportMetric(topkArm.CPU.Seconds()/filterArm.CPU.Seconds(), "topk/filter-cpu")
	b.ReportMetric(float64(topkArm.Allocs)/n, "topk-allocs/batch")
	b.ReportMetric(float64(filterArm.Allocs)/n, "filter-allocs/batch")
}

func newProcessorTo(b *testing.B, next consumer.Metrics) processor.Metrics {
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), next)
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// BenchmarkStateBytesPerResource measures the reducer's heap per tracked resource (10,000 processes with the
// default process metrics, after two intervals). k exceeds the process count so the batches stay intact and
// alive across the measurement; a tracked resource's state is the same whether it is kept or rolled up.
func BenchmarkStateBytesPerResource(b *testing.B) {
	batch := receivercapture.Capture(b, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": 10_000, "seed": 1}, 1)[0]
	cfg := createDefaultConfig().(*Config)
	opts, err := cfg.options()
	require.NoError(b, err)
	opts.K = 1 << 30
	var perResource float64
	for b.Loop() {
		first, second := receivercapture.NextInterval(batch, 0), receivercapture.NextInterval(batch, 10*time.Second)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		r := topk.New(opts)
		r.Process(first)
		r.Process(second)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perResource = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(r.TrackedResources())
		runtime.KeepAlive(r)
		runtime.KeepAlive(first)
		runtime.KeepAlive(second)
	}
	b.ReportMetric(perResource, "bytes/tracked-resource")
}
