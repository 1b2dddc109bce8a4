// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topkprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	assert.Equal(t, createDefaultConfig(), loadConfig(t, ""))
	require.NoError(t, confmap.Validate(loadConfig(t, "")))

	all := loadConfig(t, "all")
	require.NoError(t, confmap.Validate(all))
	assert.Equal(t, 20, all.K)
	assert.Equal(t, RankByConfig{Metric: "process.cpu.time", Mode: "rate"}, all.RankBy)
	assert.Equal(t, []string{"^kubelet$", "^containerd$", "^systemd$"}, all.Keep.Patterns)
	assert.Equal(t, 3, all.Retention)

	for _, name := range []string{"by_executable", "group_only"} {
		cfg := loadConfig(t, name)
		require.NoError(t, confmap.Validate(cfg), name)
		assert.Equal(t, []string{"process.executable.name"}, cfg.GroupBy)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	t.Parallel()
	err := confmap.Validate(loadConfig(t, "invalid"))
	require.Error(t, err)
	for _, want := range []string{
		"k must be > 0",
		`rank_by.mode "median"`,
		"keep.patterns need keep.attribute",
		"keep.patterns: error parsing regexp",
		`other.mode "keep_everything"`,
		"retention -1",
		"identity must name at least one",
		`host_attributes: "host.name" listed twice`,
	} {
		assert.ErrorContains(t, err, want)
	}
}
