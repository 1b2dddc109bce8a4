// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadConfig(t *testing.T, id string) *Config {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	cfg := loadConfig(t, "experiment/process")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, component.MustNewID("phoenix_control"), cfg.Control)
	assert.Equal(t, "full", cfg.Baseline)
	assert.Equal(t, time.Minute, cfg.Window)
	assert.Equal(t, []string{"by_executable", "full", "top20"}, cfg.variantNames())
	assert.Empty(t, cfg.Variants["full"].Processors)
	require.Len(t, cfg.Variants["top20"].Processors, 1)
	assert.Equal(t, 20, cfg.Variants["top20"].Processors[0]["topk"]["k"])
	assert.Empty(t, cfg.Fidelity.VolatileAttributes, "default kept: series followed by their identity, as a backend")
}

func TestValidateListsEveryProblem(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "experiment/invalid"))
	require.Error(t, err)
	for _, want := range []string{
		`variant name "9lives"`,
		`variant "two_in_one" processor 1: want one {type: config} entry, got 2`,
		`variant "async" processor 1: batch is asynchronous`,
		`variant "bad_id" processor 1:`,
		`baseline "missing": not a variant`,
		"active: name one of the variants",
		`mode "mirror"`,
		"window 100ms",
		"series_cap 10",
		"critical.patterns: error parsing regexp",
		"critical.patterns need critical.attribute",
	} {
		assert.ErrorContains(t, err, want)
	}
}
