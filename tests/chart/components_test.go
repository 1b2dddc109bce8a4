// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

var componentKinds = []string{"receivers", "processors", "exporters", "extensions", "connectors"}

// TestComponentsFileMatchesTheBuild: files/components.yaml, which the render checks the config against, holds
// every type builder-config.yaml builds and its deprecated alias, as each component's own metadata.yaml declares
// them (read from the sources ocb built, in distribution/_build), and nothing else.
func TestComponentsFileMatchesTheBuild(t *testing.T) {
	root := harness.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "builder-config.yaml"))
	require.NoError(t, err)
	type module struct {
		GoMod  string `json:"gomod"`
		Import string `json:"import"`
	}
	var m struct {
		Receivers, Processors, Exporters, Extensions, Connectors []module
	}
	require.NoError(t, yaml.Unmarshal(b, &m))
	manifest := map[string][]module{"receivers": m.Receivers, "processors": m.Processors, "exporters": m.Exporters,
		"extensions": m.Extensions, "connectors": m.Connectors}

	want := map[string][]string{}
	for _, kind := range componentKinds {
		var pkgs []string
		for _, m := range manifest[kind] {
			pkg := m.Import
			if pkg == "" {
				pkg, _, _ = strings.Cut(m.GoMod, " ")
			}
			pkgs = append(pkgs, pkg)
		}
		require.NotEmpty(t, pkgs, kind)
		cmd := exec.Command("go", append([]string{"list", "-f", "{{.Dir}}"}, pkgs...)...)
		cmd.Dir = filepath.Join(root, "distribution", "_build")
		out, err := cmd.Output()
		require.NoError(t, err, "go list in distribution/_build (make build first): %v", err)
		names := []string{}
		for _, dir := range strings.Fields(string(out)) {
			b, err := os.ReadFile(filepath.Join(dir, "metadata.yaml"))
			require.NoError(t, err)
			var md struct {
				Type           string `json:"type"`
				DeprecatedType string `json:"deprecated_type"`
			}
			require.NoError(t, yaml.Unmarshal(b, &md), dir)
			require.NotEmpty(t, md.Type, dir)
			names = append(names, md.Type)
			if md.DeprecatedType != "" {
				names = append(names, md.DeprecatedType)
			}
		}
		slices.Sort(names)
		want[kind] = names
	}

	path := filepath.Join(chartDir(t), "files", "components.yaml")
	if updateGolden {
		old, err := os.ReadFile(path)
		require.NoError(t, err)
		var header []string
		for _, line := range strings.SplitAfter(string(old), "\n") {
			if strings.HasPrefix(line, "#") {
				header = append(header, line)
			}
		}
		text := strings.Join(header, "")
		for _, kind := range componentKinds {
			text += fmt.Sprintf("%s: [%s]\n", kind, strings.Join(want[kind], ", "))
		}
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	}
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	var got map[string][]string
	require.NoError(t, yaml.Unmarshal(b, &got))
	assert.Equal(t, want, got, "charts/otelcol-phoenix/files/components.yaml: run UPDATE_GOLDEN=1 make chart-test")
}

// TestConfigComponentsNotInTheBuild: a config naming a type the build lacks fails the render, each component
// named with where it is used; old names and named instances of the build's types render.
func TestConfigComponentsNotInTheBuild(t *testing.T) {
	out, err := helm(t, "template", "phoenix", chartDir(t),
		"--set-json", `config.receivers.jaeger={"protocols":{"grpc":{}}}`,
		"--set-json", `config.exporters.kafka/out={}`,
		"--set-json", `config.extensions.basicauth={}`,
		"--set-json", `config.service.extensions=["health_check","basicauth"]`,
		"--set-json", `config.service.pipelines.traces={"receivers":["otlp","jaeger"],"exporters":["kafka/out"]}`)
	require.Error(t, err)
	for _, want := range []string{
		"config.receivers.jaeger: otelcol-phoenix has no jaeger receiver",
		"set config.receivers.jaeger: null and take it out of config.service.pipelines.traces.receivers",
		"config.exporters.kafka/out: otelcol-phoenix has no kafka exporter",
		"set config.exporters.kafka/out: null and take it out of config.service.pipelines.traces.exporters",
		"config.extensions.basicauth: otelcol-phoenix has no basicauth extension",
		"set config.extensions.basicauth: null and take it out of config.service.extensions",
	} {
		assert.Contains(t, out, want)
	}
	render(t, "--set-json", `config.receivers.hostmetrics/extra={"scrapers":{"cpu":{}}}`,
		"--set-json", `config.exporters.otlphttp={"endpoint":"https://gateway:4318"}`,
		"--set-json", `config.service.pipelines.metrics.receivers=["otlp","hostmetrics/extra"]`,
		"--set-json", `config.service.pipelines.metrics.exporters=["otlphttp"]`,
		"--set", "rewriteDeprecatedComponentNames=false")
}
