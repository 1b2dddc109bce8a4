// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topkprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix-platform/otelcol-phoenix/internal/topk"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor/internal/metadata"
)

type topkProcessor struct {
	telemetry *metadata.TelemetryBuilder

	mu      sync.Mutex // the reducer's state is per host and interval: one batch at a time
	reducer *topk.Reducer
	tracked int
}

func newTopkProcessor(cfg *Config, set processor.Settings) (*topkProcessor, error) {
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &topkProcessor{telemetry: tb, reducer: topk.New(opts)}, nil
}

func (p *topkProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	st := p.reducer.Process(md)
	tracked := p.reducer.TrackedResources()
	delta := tracked - p.tracked
	p.tracked = tracked
	p.mu.Unlock()

	p.telemetry.ProcessorTopkResourcesKept.Add(ctx, int64(st.Kept))
	p.telemetry.ProcessorTopkResourcesFolded.Add(ctx, int64(st.Folded))
	if st.Dropped > 0 {
		p.telemetry.ProcessorTopkDatapointsDropped.Add(ctx, int64(st.Dropped))
	}
	if st.Ignored > 0 {
		p.telemetry.ProcessorTopkDatapointsIgnored.Add(ctx, int64(st.Ignored))
	}
	if delta != 0 {
		p.telemetry.ProcessorTopkTrackedResources.Add(ctx, int64(delta))
	}
	return md, nil
}

func (p *topkProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}
