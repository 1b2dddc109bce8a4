// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package smoke starts the built binary on examples/quickstart.yaml, checks it is healthy and that a real
// Prometheus server scrapes process metrics from it, then stops it with SIGTERM and expects a clean exit.
package smoke

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

func TestQuickstart(t *testing.T) {
	bin := harness.Binary(t)
	config, ports := harness.RewritePorts(t, filepath.Join(harness.RepoRoot(t), "examples", "quickstart.yaml"))
	require.Contains(t, ports, 13133, "quickstart must serve health_check")
	require.Contains(t, ports, 8889, "quickstart must serve a Prometheus exporter")

	c := harness.Start(t, bin, config, "--set=service::telemetry::metrics::level=none")

	_, err := c.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(ports[13133])+"/", 200, 60*time.Second)
	require.NoError(t, err, "health_check answers 200")

	exporter := "127.0.0.1:" + strconv.Itoa(ports[8889])
	require.NoError(t, c.WaitFor(60*time.Second, func() error {
		return harness.ExpectBodyContains("http://"+exporter+"/metrics", "process_cpu_time", "process_pid=")
	}), "the Prometheus exporter serves per-process metrics")

	t.Run("prometheus scrapes it", func(t *testing.T) {
		prom := harness.StartPrometheus(t, exporter)
		require.NoError(t, prom.WaitQuery(60*time.Second, `count(process_memory_usage_bytes) > 0`))
		require.NoError(t, prom.WaitQuery(10*time.Second, `up{job="otelcol-phoenix"} == 1`))
	})

	require.NoError(t, c.Stop(30*time.Second), "clean exit on SIGTERM")
	assert.Contains(t, c.Logs(), "Shutdown complete")
}
