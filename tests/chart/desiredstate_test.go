// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	dir := t.TempDir()
	file := filepath.Join(dir, "desired-state.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cm.Data["desired-state.yaml"]), 0o600))

	bin := harness.Binary(t)
	config, ports := harness.RewritePorts(t, filepath.Join(harness.RepoRoot(t), "examples", "control.yaml"))
	cmd := exec.Command(bin, "--config", config, "--set=service::telemetry::metrics::level=none",
		"--set=extensions::phoenix_control::desired_state::path="+file,
		"--set=extensions::phoenix_control::desired_state::poll_interval=1s",
		"--set=extensions::phoenix_control::node_name=node-1")
	cmd.Env = append(os.Environ(), "PHOENIX_STATE_DIR="+filepath.Join(dir, "state"))
	c := harness.StartCmd(t, cmd)
	api := "http://127.0.0.1:" + strconv.Itoa(ports[8999]) + "/api/v1/desired-state"
	_, err := c.WaitHTTP(api, http.StatusOK, 60*time.Second)
	require.NoError(t, err)
	resp, err := http.Get(api)
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
