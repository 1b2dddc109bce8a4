// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package distribution checks the distribution as a whole: the README's component table matches what the
// binary reports, and `make check-versions` catches a version that drifts from the pinned set.
package distribution

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

type component struct {
	Name      string            `yaml:"name"`
	Scheme    string            `yaml:"scheme"`
	Module    string            `yaml:"module"`
	Stability map[string]string `yaml:"stability"`
}

type components struct {
	Receivers  []component `yaml:"receivers"`
	Processors []component `yaml:"processors"`
	Exporters  []component `yaml:"exporters"`
	Connectors []component `yaml:"connectors"`
	Extensions []component `yaml:"extensions"`
	Providers  []component `yaml:"providers"`
}

// TableRows renders the README component table rows from `otelcol-phoenix components`.
func tableRows(t *testing.T, bin string) []string {
	out, err := exec.Command(bin, "components").Output()
	require.NoError(t, err)
	var cs components
	require.NoError(t, yaml.Unmarshal(out, &cs))
	var rows []string
	add := func(kind string, list []component) {
		for _, c := range list {
			name := c.Name
			if name == "" {
				name = c.Scheme
			}
			rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s |", name, kind, stability(c.Stability), origin(c.Module)))
		}
	}
	add("receiver", cs.Receivers)
	add("processor", cs.Processors)
	add("exporter", cs.Exporters)
	add("connector", cs.Connectors)
	add("extension", cs.Extensions)
	add("provider", cs.Providers)
	return rows
}

func stability(s map[string]string) string {
	if len(s) == 0 {
		return "stable"
	}
	var parts []string
	for _, k := range []string{"traces", "metrics", "logs", "profiles", "extension",
		"traces-to-traces", "metrics-to-metrics", "logs-to-logs", "traces-to-metrics", "traces-to-logs",
		"metrics-to-traces", "metrics-to-logs", "logs-to-traces", "logs-to-metrics"} {
		if v, ok := s[k]; ok && v != "Undefined" {
			if k == "extension" {
				parts = append(parts, strings.ToLower(v))
				continue
			}
			parts = append(parts, k+": "+strings.ToLower(v))
		}
	}
	return strings.Join(parts, ", ")
}

func origin(module string) string {
	switch {
	case strings.HasPrefix(module, "github.com/phoenix-platform/otelcol-phoenix"):
		return "otelcol-phoenix"
	case strings.HasPrefix(module, "go.opentelemetry.io/collector"):
		return "core"
	default:
		return "contrib"
	}
}

func TestReadmeComponentTable(t *testing.T) {
	bin := harness.Binary(t)
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "README.md"))
	require.NoError(t, err)
	rows := tableRows(t, bin)
	require.GreaterOrEqual(t, len(rows), 30)
	var missing []string
	for _, r := range rows {
		if !strings.Contains(string(readme), r) {
			missing = append(missing, r)
		}
	}
	assert.Empty(t, missing, "README.md component table must have these rows (from `otelcol-phoenix components`):\n%s",
		strings.Join(missing, "\n"))
}

func TestCheckVersionsCatchesDrift(t *testing.T) {
	root := harness.RepoRoot(t)
	script := filepath.Join(root, "scripts", "check-versions.sh")

	run := func(dir string) (string, error) {
		out, err := exec.Command("bash", script, dir).CombinedOutput()
		return string(out), err
	}
	copyTree := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{"go.mod", "tools/go.mod", "builder-config.yaml", "charts/otelcol-phoenix/Chart.yaml", "README.md"} {
			b, err := os.ReadFile(filepath.Join(root, f))
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
		}
		return dir
	}

	out, err := run(copyTree(t))
	require.NoError(t, err, "the repository itself must pass: %s", out)

	cases := []struct{ file, from, to string }{
		{"builder-config.yaml", "filterprocessor v0.159.0", "filterprocessor v0.158.0"},
		{"builder-config.yaml", "batchprocessor v0.159.0", "batchprocessor v0.160.0"},
		{"builder-config.yaml", "envprovider v1.65.0", "envprovider v1.64.0"},
		{"tools/go.mod", "cmd/builder v0.159.0", "cmd/builder v0.158.0"},
		{"charts/otelcol-phoenix/Chart.yaml", "appVersion: 0.159.0", "appVersion: 0.158.0"},
		{"builder-config.yaml", "  version: 0.159.0", "  version: 0.1.0"},
		{"builder-config.yaml", "otelcol-phoenix v0.159.0", "otelcol-phoenix v0.1.0"},
		{"README.md", "otelcol-phoenix:0.159.0", "otelcol-phoenix:latest"},
		{"README.md", "otelcol-phoenix_0.159.0_linux", "otelcol-phoenix_0.1.0_linux"},
		{"go.mod", "\nrequire (", "\nrequire go.opentelemetry.io/collector/pdata v1.64.0\n\nrequire ("},
		{"go.mod", "\nrequire (", "\nrequire github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden v0.158.0\n\nrequire ("},
	}
	for _, tc := range cases {
		t.Run(tc.file+": "+tc.to, func(t *testing.T) {
			dir := copyTree(t)
			path := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Contains(t, string(b), tc.from)
			require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), tc.from, tc.to, 1)), 0o600))
			out, err := run(dir)
			require.Error(t, err, "drift not caught:\n%s", out)
			assert.Contains(t, out, tc.file)
		})
	}
}
