// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"fmt"
	"net/url"
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
	out, err := exportYAML("experiment/process", "lean", steps, exportOptions{})
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

// TestExportIntoBasePipeline: given the base pipeline's processors, the export lists them with the variant's
// in place, so merging it (--config base.yaml --config variant.yaml) keeps memory_limiter and batch.
func TestExportIntoBasePipeline(t *testing.T) {
	steps := []control.ProcessorStep{{ID: "topk", Config: map[string]any{"k": 20}}, {ID: "filter"}}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"processors=memory_limiter,batch", []string{"memory_limiter", "topk/top20", "filter/top20", "batch"}},
		{"processors=memory_limiter,experiment/process,batch/out", []string{"memory_limiter", "topk/top20", "filter/top20", "batch/out"}},
		{"processors=memory_limiter, resource", []string{"memory_limiter", "resource", "topk/top20", "filter/top20"}},
		{"processors=", []string{"topk/top20", "filter/top20"}},
		{"", []string{"topk/top20", "filter/top20"}},
	} {
		q, err := url.ParseQuery(tc.query)
		require.NoError(t, err)
		opts, err := parseExportOptions(q)
		require.NoError(t, err, tc.query)
		out, err := exportYAML("experiment/process", "top20", steps, opts)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(out, &doc))
		pipelines := doc["service"].(map[string]any)["pipelines"].(map[string]any)
		var got []string
		for _, id := range pipelines["metrics"].(map[string]any)["processors"].([]any) {
			got = append(got, fmt.Sprint(id))
		}
		assert.Equal(t, tc.want, got, tc.query)
	}

	q, _ := url.ParseQuery("pipeline=metrics/host&processors=batch")
	opts, err := parseExportOptions(q)
	require.NoError(t, err)
	out, err := exportYAML("experiment/process", "top20", steps, opts)
	require.NoError(t, err)
	assert.Contains(t, string(out), "metrics/host:\n      processors:\n        - topk/top20\n        - filter/top20\n        - batch\n")

	for query, want := range map[string]string{
		"pipeline=traces":                `pipeline "traces": want a metrics pipeline`,
		"pipeline=metrics/a/b":           `pipeline "metrics/a/b"`,
		"processors=batch,,x y":          `processors: "x y"`,
		"processors=batch,batch":         `processors: batch is listed twice`,
		"processors=batch&processors=b2": "processors: give it once",
	} {
		q, err := url.ParseQuery(query)
		require.NoError(t, err)
		_, err = parseExportOptions(q)
		assert.ErrorContains(t, err, want, query)
	}
	q, _ = url.ParseQuery("processors=topk/top20,batch")
	opts, err = parseExportOptions(q)
	require.NoError(t, err)
	_, err = exportYAML("experiment/process", "top20", steps, opts)
	assert.ErrorIs(t, err, errInvalid)
	assert.ErrorContains(t, err, "topk/top20 is already in the pipeline")
}
