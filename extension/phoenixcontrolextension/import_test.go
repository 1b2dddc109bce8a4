// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

// twoPipelines is a config with two metrics pipelines (and one of traces, not offered).
const twoPipelines = `processors:
  topk: {k: 5}
  filter/a: {}
  batch: {}
service:
  pipelines:
    metrics: {processors: [topk, batch]}
    metrics/2: {processors: [filter/a, topk]}
    traces: {processors: [batch]}
`

func importedIDs(t *testing.T, out imported) []string {
	t.Helper()
	var ids []string
	for _, s := range out.Processors {
		for id := range s {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestImportPipelineChoice: a config with several metrics pipelines names them (for the page to offer), and
// the one chosen is imported in its order; one not among them names them again.
func TestImportPipelineChoice(t *testing.T) {
	_, err := importYAML([]byte(twoPipelines), "")
	var choice *pipelineChoiceError
	require.ErrorAs(t, err, &choice)
	require.Len(t, choice.Pipelines, 2, "traces is not offered")
	assert.Equal(t, "metrics", choice.Pipelines[0].Pipeline)
	assert.Equal(t, []string{"topk", "batch"}, choice.Pipelines[0].Processors)
	assert.Equal(t, "metrics/2", choice.Pipelines[1].Pipeline)
	assert.Contains(t, choice.Pipelines[1].Message, "filter/a, topk")

	out, err := importYAML([]byte(twoPipelines), "metrics/2")
	require.NoError(t, err)
	assert.Equal(t, []string{"filter/a", "topk"}, importedIDs(t, out))
	out, err = importYAML([]byte(twoPipelines), "metrics")
	require.NoError(t, err)
	assert.Equal(t, []string{"topk"}, importedIDs(t, out))
	assert.Equal(t, []string{"batch"}, out.Skipped)

	for _, want := range []string{"traces", "metrics/3"} {
		_, err = importYAML([]byte(twoPipelines), want)
		require.ErrorAs(t, err, &choice, want)
		assert.Contains(t, err.Error(), "not a metrics pipeline", want)
		assert.Len(t, choice.Pipelines, 2, want)
	}
}

// TestImportNeedsAMetricsPipeline: a config whose pipelines have none for metrics is refused, rather than
// its processors: map imported in the map's order; a pipeline asked of YAML without pipelines is refused.
func TestImportNeedsAMetricsPipeline(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, pipeline, want string }{
		"traces only":           {"processors: {topk: {}}\nservice: {pipelines: {traces: {processors: [topk]}}}\n", "", "no metrics pipeline (only traces)"},
		"traces and logs":       {"processors: {topk: {}}\nservice: {pipelines: {traces: {processors: [topk]}, logs: {}}}\n", "", "only logs, traces"},
		"traces, one asked for": {"processors: {topk: {}}\nservice: {pipelines: {traces: {processors: [topk]}}}\n", "traces", "no metrics pipeline"},
		"empty pipelines":       {"processors: {topk: {}}\nservice: {pipelines: {}}\n", "", "service::pipelines is empty"},
		"no pipelines, asked":   {"processors: {topk: {}}\n", "metrics", "no service::pipelines"},
		"a list, asked":         {"- topk: {}\n", "metrics", "no service::pipelines"},
		"a definition, asked":   {"name: x\nprocessors: [{topk: {}}]\n", "metrics", "no service::pipelines"},
	} {
		_, err := importYAML([]byte(tc.yaml), tc.pipeline)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
		var choice *pipelineChoiceError
		assert.NotErrorAs(t, err, &choice, "%s: nothing to choose from", name)
	}
	// Without service::pipelines the map's own order still holds (a processors: fragment).
	out, err := importYAML([]byte("processors:\n  topk/a: {}\n  filter/b: {}\n"), "")
	require.NoError(t, err)
	assert.Equal(t, []string{"topk/a", "filter/b"}, importedIDs(t, out))
}

// TestImportRoutePipelineChoice: the 422 of a config with several metrics pipelines lists them in
// error.problems, in the API's error shape; with pipeline the chosen one is imported.
func TestImportRoutePipelineChoice(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	srv := httptest.NewServer(newAPI(reg, apiInfo{}, 1<<16, testProcessors()).handler())
	defer srv.Close()
	post := func(req importRequest) (int, []byte) {
		body, _ := json.Marshal(req)
		resp, err := srv.Client().Post(srv.URL+"/api/v1/import", "application/json", strings.NewReader(string(body)))
		require.NoError(t, err)
		defer resp.Body.Close()
		var raw json.RawMessage
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
		return resp.StatusCode, raw
	}

	status, raw := post(importRequest{YAML: twoPipelines})
	require.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
	var failed struct {
		Error struct {
			httpjson.ErrorDetail
			Problems []pipelineChoice `json:"problems"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &failed))
	assert.Equal(t, "choose_pipeline", failed.Error.Code)
	assert.Contains(t, failed.Error.Message, "metrics, metrics/2")
	require.Len(t, failed.Error.Problems, 2)
	assert.Equal(t, "metrics/2", failed.Error.Problems[1].Pipeline)

	status, raw = post(importRequest{YAML: twoPipelines, Pipeline: "metrics/2"})
	require.Equal(t, http.StatusOK, status, string(raw))
	var out imported
	require.NoError(t, json.Unmarshal(raw, &out))
	assert.Equal(t, []string{"filter/a", "topk"}, importedIDs(t, out))

	status, raw = post(importRequest{YAML: "processors: {topk: {}}\nservice: {pipelines: {traces: {processors: [topk]}}}\n"})
	require.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
	assert.Contains(t, string(raw), `"code": "invalid"`)
	assert.Contains(t, string(raw), "no metrics pipeline")
	assert.NotContains(t, string(raw), "problems")
}
