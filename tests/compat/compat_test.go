// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package compat checks that otelcol-phoenix is a drop-in replacement for otelcol-contrib: configs written for
// otelcol-contrib (with current and with old type names) validate, and a set of them runs and shuts down cleanly.
package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// env gives the configs what a Kubernetes pod would have (HOST_ROOT stands in for the /hostfs mount).
var env = []string{"K8S_NODE_NAME=node-1", "K8S_NODE_IP=127.0.0.1", "MY_POD_IP=127.0.0.1", "HOST_ROOT=/"}

func configs(t *testing.T) []string {
	files, err := filepath.Glob("configs/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 18, "the drop-in suite needs at least 18 otelcol-contrib configs")
	return files
}

func TestConfigsValidate(t *testing.T) {
	bin := harness.Binary(t)
	for _, f := range configs(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, "validate", "--config", f)
			cmd.Env = append(os.Environ(), env...)
			if needsServiceAccount(t, f) {
				cmd = harness.InPod(t, cmd)
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "validate %s:\n%s", f, out)
		})
	}
}

// needsServiceAccount reports whether a config reads the pod's service-account mount when it is built.
func needsServiceAccount(t *testing.T, f string) bool {
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	return strings.Contains(string(b), "auth_type: serviceAccount")
}

// TestLegacyTypeNamesCovered keeps the suite honest: the old (pre-snake_case) names must stay exercised.
func TestLegacyTypeNamesCovered(t *testing.T) {
	var all strings.Builder
	for _, f := range configs(t) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		all.Write(b)
	}
	for _, name := range []string{"hostmetrics:", "kubeletstats:", "k8sattributes:", "resourcedetection:",
		"prometheusremotewrite:", "filelog:", "otlphttp:", "cumulativetodelta:", "deltatorate:", "metricstransform:",
		"loadbalancing:", "deltatocumulative:", "fluentforward:"} {
		assert.Contains(t, all.String(), "\n  "+name, "no config uses the old type name %s", name)
	}
}

// TestBadConfigFails makes sure validation is real: an unknown component type must fail.
func TestBadConfigFails(t *testing.T) {
	bin := harness.Binary(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`
receivers:
  no_such_receiver: {}
exporters:
  debug: {}
service:
  pipelines:
    metrics:
      receivers: [no_such_receiver]
      exporters: [debug]
`), 0o600))
	out, err := harness.Validate(t, bin, bad)
	require.Error(t, err)
	assert.Contains(t, out, "no_such_receiver")
}

// runCase is a config that runs on this machine without a Kubernetes API.
type runCase struct {
	config string
	// env adds variables; "{tmp}" is replaced with a per-test temporary directory.
	env []string
	// check runs while the collector is up; it may wait (bounded) for the config's effect.
	check func(t *testing.T, c *harness.Collector, tmp string, ports map[int]int)
}

func TestConfigsRun(t *testing.T) {
	bin := harness.Binary(t)
	cases := []runCase{
		{config: "gateway.yaml", check: healthy(13133)},
		{config: "gateway-legacy.yaml", check: healthy(13133)},
		{config: "forward-fanout.yaml", check: healthy(13133)},
		{config: "traces-sampling.yaml"},
		{config: "metrics-transform-legacy.yaml"},
		{config: "node-agent-legacy.yaml", check: func(t *testing.T, c *harness.Collector, _ string, ports map[int]int) {
			url := "http://127.0.0.1:" + strconv.Itoa(ports[8889]) + "/metrics"
			require.NoError(t, c.WaitFor(30*time.Second, func() error {
				return harness.ExpectBodyContains(url, "node_process_", "process_pid=")
			}))
		}},
		{
			config: "filelog-legacy.yaml",
			env:    []string{"STORAGE_DIR={tmp}/storage", "LOG_GLOB={tmp}/app-*.log", "OUT_FILE={tmp}/out.json"},
			check: func(t *testing.T, c *harness.Collector, tmp string, _ map[int]int) {
				line := "2026-11-22T10:00:00+0000 ERROR payment failed for order 42\n"
				require.NoError(t, os.WriteFile(filepath.Join(tmp, "app-1.log"), []byte(line), 0o600))
				require.NoError(t, c.WaitFor(30*time.Second, func() error {
					return harness.ExpectFileContains(filepath.Join(tmp, "out.json"), "payment failed for order 42", `"severityText":"ERROR"`)
				}))
			},
		},
		{config: "gateway-tail-sampling.yaml", env: []string{"OUT_FILE={tmp}/sampled.json"}, check: tailSampling},
		{config: "traces-spanmetrics.yaml", env: []string{"OUT_FILE={tmp}/traces.json"}, check: spanMetrics},
		{config: "metrics-delta-legacy.yaml", env: []string{"OUT_FILE={tmp}/metrics.json"}, check: deltaToCumulative},
		{config: "fluentforward-legacy.yaml", env: []string{"OUT_FILE={tmp}/logs.json"}, check: fluentForward},
		{
			config: "prometheus-scrape.yaml",
			env:    []string{"STORAGE_DIR={tmp}/storage"},
			check: func(t *testing.T, c *harness.Collector, _ string, ports map[int]int) {
				url := "http://127.0.0.1:" + strconv.Itoa(ports[8889]) + "/metrics"
				require.NoError(t, c.WaitFor(30*time.Second, func() error {
					return harness.ExpectBodyContains(url, "otelcol_process_uptime")
				}))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.config, func(t *testing.T) {
			tmp := t.TempDir()
			config, ports := harness.RewritePorts(t, filepath.Join("configs", tc.config))
			args := []string{"--config", config}
			if !strings.Contains(tc.config, "prometheus-scrape") {
				// The collector's own metrics default to localhost:8888; keep runs from colliding.
				args = append(args, "--set=service::telemetry::metrics::level=none")
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), env...)
			cmd.Env = append(cmd.Env, "SELF_METRICS_PORT="+strconv.Itoa(harness.FreePort(t)))
			for _, e := range tc.env {
				cmd.Env = append(cmd.Env, strings.ReplaceAll(e, "{tmp}", tmp))
			}
			c := harness.StartCmd(t, cmd)
			require.NoError(t, c.WaitFor(30*time.Second, func() error {
				return harness.ExpectContains(c.Logs(), "Everything is ready")
			}))
			if tc.check != nil {
				tc.check(t, c, tmp, ports)
			}
			time.Sleep(2 * time.Second) // run a little while past readiness, as a real start would
			require.NoError(t, c.Stop(30*time.Second), "clean exit on SIGTERM")
			assert.Contains(t, c.Logs(), "Shutdown complete")
			assert.NotContains(t, c.Logs(), "panic")
		})
	}
}

func healthy(port int) func(t *testing.T, c *harness.Collector, _ string, ports map[int]int) {
	return func(t *testing.T, c *harness.Collector, _ string, ports map[int]int) {
		_, err := c.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(ports[port])+"/", 200, 30*time.Second)
		require.NoError(t, err)
	}
}
