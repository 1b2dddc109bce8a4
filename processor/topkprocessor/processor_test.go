// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topkprocessor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor/internal/metadatatest"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

// TestCases runs every testdata/cases/<case>: config.yaml through the real factory, input_N.yaml in order
// (one interval each), and compares what comes out with output_N.yaml. UPDATE_GOLDEN=1 rewrites the outputs
// (and fails once, by golden's design). Adding a case = adding a folder.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "cases", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			cfg := createDefaultConfig().(*Config)
			cm, err := confmaptest.LoadConf(filepath.Join(dir, "config.yaml"))
			require.NoError(t, err)
			require.NoError(t, cm.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))

			sink := new(consumertest.MetricsSink)
			p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

			inputs, err := filepath.Glob(filepath.Join(dir, "input_*.yaml"))
			require.NoError(t, err)
			require.NotEmpty(t, inputs)
			for i := range inputs {
				in, err := golden.ReadMetrics(filepath.Join(dir, fmt.Sprintf("input_%d.yaml", i+1)))
				require.NoError(t, err)
				require.NoError(t, p.ConsumeMetrics(context.Background(), in))
				got := sink.AllMetrics()[i]
				path := filepath.Join(dir, fmt.Sprintf("output_%d.yaml", i+1))
				if os.Getenv("UPDATE_GOLDEN") != "" {
					require.NoError(t, golden.WriteMetrics(t, path, got, golden.SkipMetricTimestampNormalization()))
				}
				want, err := golden.ReadMetrics(path)
				require.NoError(t, err)
				require.NoError(t, pmetrictest.CompareMetrics(want, got, pmetrictest.IgnoreResourceMetricsOrder(),
					pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()), "interval %d", i+1)
			}
		})
	}
}

// TestWriteCaseInputs captures the inputs of the cases once: real host_metrics process scrapes of the machine
// it runs on, and simulated_process output. Run with TOPK_WRITE_INPUTS=1; the files are then committed.
func TestWriteCaseInputs(t *testing.T) {
	if os.Getenv("TOPK_WRITE_INPUTS") == "" {
		t.Skip("set TOPK_WRITE_INPUTS=1 to capture new case inputs")
	}
	write := func(dir string, batches []pmetric.Metrics) {
		require.NoError(t, os.MkdirAll(filepath.Join("testdata", "cases", dir), 0o755))
		for i, md := range batches {
			path := filepath.Join("testdata", "cases", dir, fmt.Sprintf("input_%d.yaml", i+1))
			require.NoError(t, golden.WriteMetricsToFile(path, md, golden.SkipMetricTimestampNormalization()))
		}
	}
	hm := map[string]any{"scrapers": map[string]any{"process": map[string]any{"mute_process_all_errors": true}}}
	write("hostmetrics_top5", receivercapture.Capture(t, hostmetricsreceiver.NewFactory(), hm, 3))
	sim := map[string]any{"processes": 40, "seed": 3}
	batches := receivercapture.Capture(t, simulatedprocessreceiver.NewFactory(), sim, 4)
	for _, dir := range []string{"simulated_top10_keep_critical", "simulated_by_executable", "simulated_memory_top5_drop"} {
		write(dir, batches)
	}
	write("simulated_two_hosts_chaos", receivercapture.Capture(t, simulatedprocessreceiver.NewFactory(),
		map[string]any{"processes": 15, "hosts": 2, "seed": 5, "profile": "chaos", "kill_rate": 0.1, "churn_rate": 0.1}, 4))
}

// TestTelemetry: kept and folded resources and tracked state are reported as the collector's own metrics.
func TestTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	cfg := createDefaultConfig().(*Config)
	cfg.K = 10
	sink := new(consumertest.MetricsSink)
	p, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	in, err := golden.ReadMetrics(filepath.Join("testdata", "cases", "simulated_top10_keep_critical", "input_1.yaml"))
	require.NoError(t, err)
	resources := in.ResourceMetrics().Len()
	require.NoError(t, p.ConsumeMetrics(context.Background(), in))

	metadatatest.AssertEqualProcessorTopkResourcesKept(t, tt, []metricdata.DataPoint[int64]{{Value: 10}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTopkResourcesFolded(t, tt, []metricdata.DataPoint[int64]{{Value: int64(resources - 10)}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTopkTrackedResources(t, tt, []metricdata.DataPoint[int64]{{Value: int64(resources)}}, metricdatatest.IgnoreTimestamp())
	assert.Equal(t, 11, sink.AllMetrics()[0].ResourceMetrics().Len(), "10 kept + other")
}
