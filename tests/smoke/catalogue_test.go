// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package smoke

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestProcessorCatalogue: the builder's catalogue and validation answer with the processors the collector's
// host has (phoenix_control asks the host for them at start): every one of builder-config.yaml's processors
// that can run in a variant, none that batch asynchronously, reach out of the collector (the Kubernetes API,
// cloud metadata) or have no metrics pipeline; and a chain of them validates.
func TestProcessorCatalogue(t *testing.T) {
	example := harness.NewControlExample(t)
	c := example.Start(t)
	defer func() { require.NoError(t, c.Stop(30*time.Second)) }()

	status, body := call(t, "GET", example.API+"/api/v1/processors", "")
	require.Equal(t, 200, status, body)
	var out struct {
		Processors []struct {
			Type          string         `json:"type"`
			Stability     string         `json:"stability"`
			DefaultConfig map[string]any `json:"default_config"`
		} `json:"processors"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	var types []string
	for _, p := range out.Processors {
		types = append(types, p.Type)
		assert.NotEmpty(t, p.Stability, p.Type)
		assert.NotNil(t, p.DefaultConfig, p.Type)
	}
	assert.Equal(t, catalogueTypes, types, body)

	status, body = call(t, "POST", example.API+"/api/v1/validate",
		`{"processors":[{"topk":{"k":30}},{"transform":{"metric_statements":[{"context":"resource","statements":["delete_key(attributes, \"process.pid\")"]}]}},{"metrics_transform":{"transforms":[{"include":"process.cpu.time","action":"update","operations":[{"action":"aggregate_labels","label_set":["state"],"aggregation_type":"sum"}]}]}},{"k8s_attributes":{}}]}`)
	require.Equal(t, 200, status, body)
	var verdict struct {
		Valid    bool `json:"valid"`
		Problems []struct {
			Step int    `json:"step"`
			ID   string `json:"id"`
		} `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &verdict), body)
	assert.False(t, verdict.Valid, body)
	require.Len(t, verdict.Problems, 1, "only the Kubernetes lookup is refused: %s", body)
	assert.Equal(t, 4, verdict.Problems[0].Step, body)
	assert.Equal(t, "k8s_attributes", verdict.Problems[0].ID, body)
	assert.True(t, slices.IsSorted(types), "sorted by type")
}

// catalogueTypes are builder-config.yaml's processors that may run in a variant (experimentprocessor's
// runtime list), as the static table the catalogue was made from before phoenix_control asked the host.
var catalogueTypes = []string{"attributes", "cumulative_to_delta", "delta_to_cumulative", "delta_to_rate", "filter",
	"groupbyattrs", "memory_limiter", "metrics_transform", "metricsgeneration", "redaction", "resource", "topk", "transform"}
