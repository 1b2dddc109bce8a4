// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadata"
)

// NewFactory creates the experiment processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetricsProcessor, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Mode:             modeShadow,
		VariantAttribute: "phoenix.variant",
		Window:           time.Minute,
		SeriesCap:        200_000,
		MaxVariants:      8,
		MaxChainLength:   16,
		Critical:         CriticalConfig{Attribute: "process.executable.name"},
		Rules:            RulesConfig{Tolerance: 0.01, MaxRange: time.Hour, MaxSeries: 200_000, ResourceToTelemetryConversion: true},
	}
}

func createMetricsProcessor(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newExperimentProcessor(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
