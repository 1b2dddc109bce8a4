// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// chartFiles are the files the chart reads with .Files.Get, copies of examples/grafana/ (Helm cannot read
// outside the chart's directory): the chart's path under charts/otelcol-phoenix/ → the example's.
var chartFiles = map[string]string{
	"files/grafana/otelcol-phoenix-fleet.json": "examples/grafana/otelcol-phoenix-fleet.json",
	"files/grafana/rules.yaml":                 "examples/grafana/rules.yaml",
}

// syncChartFiles copies the examples into the chart (make chart-examples).
func syncChartFiles(t *testing.T) {
	t.Helper()
	for dst, src := range chartFiles {
		data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), src))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(chartDir(t), dst)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(chartDir(t), dst), data, 0o644))
	}
}

// TestChartFilesMatchExamples: the dashboard and rules the chart installs are the ones in examples/grafana/,
// which the smoke tests check against a real Prometheus.
func TestChartFilesMatchExamples(t *testing.T) {
	for dst, src := range chartFiles {
		want, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), src))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(chartDir(t), dst))
		require.NoError(t, err, "missing chart copy of %s: run `make chart-examples`", src)
		assert.Equal(t, string(want), string(got), "charts/otelcol-phoenix/%s differs from %s: run `make chart-examples`", dst, src)
	}
}
