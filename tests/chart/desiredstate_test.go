// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestRenderedDesiredStateIsAccepted: the desired-state file the chart renders is read by the real control
// extension (strict parser) and applied: node-1 is outside the 25% rollout, so it runs the baseline.
func TestRenderedDesiredStateIsAccepted(t *testing.T) {
	r := decode(t, render(t, "-f", filepath.Join(chartDir(t), "ci", "desired-state-values.yaml")))
	cm := r.configMaps["phoenix-otelcol-phoenix-desired-state"]
	require.NotNil(t, cm)
	file := filepath.Join(t.TempDir(), "desired-state.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cm.Data["desired-state.yaml"]), 0o600))

	example := harness.NewControlExample(t)
	c := example.Start(t, "--set=extensions::phoenix_control::desired_state::path="+file,
		"--set=extensions::phoenix_control::desired_state::poll_interval=1s",
		"--set=extensions::phoenix_control::node_name=node-1")
	resp, err := http.Get(example.API + "/api/v1/desired-state")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var status struct {
		LastError string            `json:"last_error"`
		Applied   map[string]string `json:"applied"`
	}
	require.NoError(t, json.Unmarshal(body, &status), "%s", body)
	require.Empty(t, status.LastError, "%s", body)
	require.Equal(t, map[string]string{"experiment/process": "full"}, status.Applied, "%s", body)
	require.NoError(t, c.Stop(30*time.Second))
}
