// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package smoke

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestExperimentExample runs examples/experiment.yaml: every variant is fed and measured (the collector's own
// telemetry, per variant), the children appear under their own IDs, and the baseline flows on whole.
func TestExperimentExample(t *testing.T) {
	bin := harness.Binary(t)
	config, ports := harness.RewritePorts(t, filepath.Join(harness.RepoRoot(t), "examples", "experiment.yaml"))
	telemetry := harness.FreePort(t)
	b, err := os.ReadFile(config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(config, []byte(strings.Replace(string(b), "port: 8888", "port: "+strconv.Itoa(telemetry), 1)), 0o600))

	c := harness.Start(t, bin, config, "--set=receivers::simulated_process::collection_interval=1s")
	self := "http://127.0.0.1:" + strconv.Itoa(telemetry) + "/metrics"
	require.NoError(t, c.WaitFor(60*time.Second, func() error {
		return harness.ExpectBodyContains(self,
			`otelcol_processor_experiment_datapoints_in{variant="full"}`,
			`otelcol_processor_experiment_datapoints_in{variant="top20"}`,
			`otelcol_processor_experiment_datapoints_out{variant="by_executable"}`,
			`otelcol_processor_experiment_active{variant="full"} 1`,
			`otelcol_processor_experiment_active{variant="top20"} 0`,
			`processor="topk/process.top20.0"`, `processor="topk/process.by_executable.0"`)
	}))
	exporter := "http://127.0.0.1:" + strconv.Itoa(ports[8889]) + "/metrics"
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(exporter, `process_executable_name="pause"`, "process_pid=")
	}), "shadow mode with the full variant active: every process flows on")
	require.NoError(t, c.Stop(30*time.Second))
}
