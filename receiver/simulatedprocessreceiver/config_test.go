// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
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
	def := loadConfig(t, "")
	assert.Equal(t, createDefaultConfig(), def)
	require.NoError(t, confmap.Validate(def))
	assert.Equal(t, "realistic", def.Profile)
	assert.Equal(t, 10*time.Second, def.CollectionInterval)

	all := loadConfig(t, "all")
	require.NoError(t, confmap.Validate(all))
	assert.Equal(t, 5*time.Second, all.CollectionInterval)
	assert.Equal(t, "chaos", all.Profile)
	assert.Equal(t, 500, all.Processes)
	assert.Equal(t, 3, all.Hosts)
	assert.Equal(t, uint64(7), all.Seed)
	assert.Equal(t, 16, all.Cores)
	assert.Equal(t, 65536, all.MemoryMiB)
	assert.InDelta(t, 0.005, *all.KillRate, 1e-12)
	assert.True(t, all.Metrics.ProcessCPUUtilization.Enabled)
	assert.True(t, all.ResourceAttributes.PhoenixProcessPriorityClass.Enabled)
	assert.True(t, all.Metrics.ProcessCPUTime.Enabled, "unmentioned metrics keep their defaults")
}

func TestValidateListsEveryProblem(t *testing.T) {
	t.Parallel()
	err := confmap.Validate(loadConfig(t, "invalid"))
	require.Error(t, err)
	for _, want := range []string{"collection_interval", `unknown profile "nope"`, "processes 0", "hosts 0", "cores 0",
		"memory 1048576 bytes", "churn_rate 2", "kill_rate -1"} {
		assert.ErrorContains(t, err, want)
	}
	var lines []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "interval") {
			lines = append(lines, line)
		}
	}
	assert.Len(t, lines, 1, "the interval is reported once")
}
