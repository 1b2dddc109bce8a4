// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadata"
)

// TestCheckVariantsReportsWhatStartReports: `validate` (through CheckVariants) and Start give the same
// answer for the same config and the same factories, every problem named by variant and step.
func TestCheckVariantsReportsWhatStartReports(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full":  map[string]any{},
		"good":  map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 3}}}},
		"typo":  map[string]any{"processors": []any{map[string]any{"topkk": map[string]any{"k": 3}}}},
		"badk":  map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 3}}, map[string]any{"topk/2": map[string]any{"k": -1}}}},
		"field": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"kay": 3}}}},
	}})
	set := processortest.NewNopSettings(metadata.Type)
	h := newHost()
	lookup := func(t component.Type) processor.Factory { return h.factories[t] }
	checked := CheckVariants(context.Background(), set, cfg, lookup)
	require.Error(t, checked)
	for _, want := range []string{`variant "typo" processor 1 (topkk): no processor of type "topkk" in this build`,
		`variant "badk" processor 2 (topk/2): k -1`, `variant "field" processor 1 (topk): decoding failed`, "kay"} {
		assert.ErrorContains(t, checked, want)
	}
	assert.NotContains(t, checked.Error(), `"good"`)

	p, err := createMetricsProcessor(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	started := p.Start(context.Background(), h)
	require.Error(t, started)
	assert.Equal(t, started.Error(), checked.Error(), "validate and start report the same")
	require.NoError(t, p.Shutdown(context.Background()))

	good := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full": map[string]any{}, "good": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 3}}}}}})
	require.NoError(t, CheckVariants(context.Background(), set, good, lookup))
}
