// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// TestExportRoundTrip: the exported YAML holds exactly the variant's steps, in order, with their configs —
// the same chain the experiment runs (which the experiment processor's differential test shows equals the
// chain run as an ordinary pipeline).
func TestExportRoundTrip(t *testing.T) {
	steps := []control.ProcessorStep{
		{ID: "filter", Config: map[string]any{"error_mode": "ignore", "metrics": map[string]any{"datapoint": []any{`metric.name == "x"`}}}},
		{ID: "topk/a", Config: map[string]any{"k": 20, "keep": map[string]any{"patterns": []any{"^kubelet$"}}}},
		{ID: "topk/b", Config: map[string]any{"k": 0, "group_by": []any{"process.executable.name"}}},
	}
	out, err := exportYAML("experiment/process", "lean", steps)
	require.NoError(t, err)
	var doc struct {
		Processors map[string]map[string]any `yaml:"processors"`
		Service    struct {
			Pipelines struct {
				Metrics struct {
					Processors []string `yaml:"processors"`
				} `yaml:"metrics"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal(out, &doc))
	order := doc.Service.Pipelines.Metrics.Processors
	require.Equal(t, []string{"filter/lean", "topk/lean_1", "topk/lean_2"}, order, "types kept, names unique, order kept")
	for i, id := range order {
		assert.Equal(t, typeOf(steps[i].ID), typeOf(id))
		assert.Equal(t, normalize(t, steps[i].Config), doc.Processors[id], "config of %s", id)
	}
}

// normalize passes a config through YAML, as the collector would read it.
func normalize(t *testing.T, m map[string]any) map[string]any {
	b, err := yaml.Marshal(m)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, yaml.Unmarshal(b, &out))
	return out
}
