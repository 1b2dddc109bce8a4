// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topkprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor/internal/metadata"
)

// NewFactory creates the topk processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetricsProcessor, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		K:              20,
		RankBy:         RankByConfig{Metric: "process.cpu.time"},
		Keep:           KeepConfig{Attribute: "process.executable.name"},
		Other:          OtherConfig{Mode: "rollup", Attributes: map[string]string{"process.executable.name": "other"}},
		Retention:      2,
		Identity:       []string{"process.pid", "process.executable.name"},
		HostAttributes: []string{"host.name", "k8s.node.name"},
		ForgetAfter:    5,
		NotProcess:     []string{"service.name", "telemetry.sdk.name"},
	}
}

func createMetricsProcessor(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newTopkProcessor(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(p.shutdown))
}
