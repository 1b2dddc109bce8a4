// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"gopkg.in/yaml.v3"
)

func loadCostConfig(t *testing.T, id string) *Config {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config_cost.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadCostConfig(t *testing.T) {
	cfg := loadCostConfig(t, "experiment/active_series")
	require.NoError(t, confmap.Validate(cfg))
	require.NotNil(t, cfg.Cost)
	assert.Equal(t, CostConfig{Model: "active_series", Price: 8, Currency: "USD", Horizon: 20 * time.Minute, IncludedDPM: 1, OveragePrice: 0.2},
		*cfg.Cost, "defaults: horizon 20m, currency USD")
	opts := cfg.costOptions()
	assert.Equal(t, time.Minute, opts.Window)
	assert.Equal(t, 200_000, opts.SeriesCap, "exact up to the experiment's series_cap")

	cfg = loadCostConfig(t, "experiment/bytes")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "EUR", cfg.Cost.Currency)
	assert.Equal(t, 0.25, cfg.Cost.Price)

	cfg = loadCostConfig(t, "experiment/none")
	require.NoError(t, confmap.Validate(cfg))
	assert.Nil(t, cfg.Cost, "no cost: block, no cost")
	assert.Nil(t, cfg.costOptions())

	cfg = loadCostConfig(t, "experiment/hourly_long_window")
	require.NoError(t, confmap.Validate(cfg), "the horizon is active_series' only")
}

func TestValidateCostListsEveryProblem(t *testing.T) {
	for id, want := range map[string][]string{
		"experiment/invalid": {
			`cost.model "per_series": want one of active_series, hourly_series, datapoints, bytes`,
			"cost.price -1: want a number in 0..1e+09",
			"cost.overage_price +Inf: want a number in 0..1e+09",
			"cost.currency: must not be empty",
			"cost.overage_price needs cost.included_dpm",
			`only active_series bills data points per minute, not "per_series"`,
		},
		"experiment/horizon_short": {"cost.horizon 30s: want the window (1m0s) .. 24h", "cost.price NaN: want a number in 0..1e+09"},
		"experiment/horizon_long":  {"cost.horizon 25h0m0s: want the window (1m0s) .. 24h", "cost.price 1.7e+308: want a number in 0..1e+09"},
		"experiment/dpm_not_active_series": {
			`cost.included_dpm, cost.overage_price: only active_series bills data points per minute, not "datapoints"`},
	} {
		t.Run(id, func(t *testing.T) {
			err := confmap.Validate(loadCostConfig(t, id))
			require.Error(t, err)
			for _, w := range want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

// TestCostInSnapshot: through the processor, every variant carries its cost. With a horizon of one window
// the active series are the window's series, so the costs and the saving follow from the series figures.
func TestCostInSnapshot(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "10s",
		"cost":     map[string]any{"model": "active_series", "price": 10, "horizon": "10s"},
		"variants": map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}})
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, consumertest.NewNop(), host)
	now := time.Unix(1_800_000_000, 0)
	p.exp.now = func() time.Time { return now }
	p.exp.mu.Lock()
	p.exp.resetMeters(now)
	p.exp.mu.Unlock()
	for _, md := range batches(t)[:5] { // at 0s, 3s, 6s, 9s; the one at 12s closes the window
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		now = now.Add(3 * time.Second)
	}
	snap := p.exp.Snapshot()
	require.True(t, snap.Complete)
	full, _ := snap.Variant("full")
	top, _ := snap.Variant("top20")
	require.NotNil(t, full.Cost)
	require.NotNil(t, top.Cost)
	assert.Equal(t, float64(full.Series), full.Cost.Units)
	assert.Equal(t, float64(top.Series), top.Cost.Units)
	assert.InDelta(t, 10*float64(full.Series)/1000, full.Cost.Monthly, 1e-9)
	assert.InDelta(t, full.Cost.Monthly-top.Cost.Monthly, top.Cost.MonthlySaving, 1e-9)
	assert.InDelta(t, top.SeriesSavings, top.Cost.SavingRatio, 1e-9)
	assert.Greater(t, top.Cost.SavingRatio, 0.5)
	assert.Equal(t, "USD", top.Cost.Currency)
}

// TestCostModelExamples runs every example of the README's "Cost models": each loads and validates, and a
// processor built from it reports its model's cost for every variant, with the saving against the baseline.
func TestCostModelExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	section := string(readme)
	section = section[strings.Index(section, "\n## Cost models\n"):]
	section = section[:strings.Index(section[1:], "\n## ")+1]
	blocks := regexp.MustCompile("(?s)```yaml\n(processors:\n.*?)```").FindAllStringSubmatch(section, -1)
	models := map[string]bool{}
	for _, b := range blocks {
		var doc map[string]map[string]map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(b[1]), &doc))
		for id, raw := range doc["processors"] {
			t.Run(id, func(t *testing.T) {
				cfg := config(t, raw)
				require.NotNil(t, cfg.Cost)
				models[cfg.Cost.Model] = true
				host := newHost()
				host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
				cfg.Control = component.MustNewID("phoenix_control")
				p := start(t, cfg, consumertest.NewNop(), host)
				now := time.Unix(1_800_000_000, 0)
				p.exp.now = func() time.Time { return now }
				p.exp.mu.Lock()
				p.exp.resetMeters(now)
				p.exp.mu.Unlock()
				for _, md := range batches(t) {
					require.NoError(t, p.ConsumeMetrics(context.Background(), md))
					now = now.Add(15 * time.Second) // a window of 1m: the fifth batch closes it
				}
				snap := p.exp.Snapshot()
				require.True(t, snap.Complete)
				base, _ := snap.Variant(cfg.Baseline)
				require.NotNil(t, base.Cost)
				assert.Equal(t, cfg.Cost.Model, base.Cost.Model)
				assert.Positive(t, base.Cost.Monthly)
				for _, v := range snap.Variants {
					require.NotNil(t, v.Cost, v.Name)
					if !v.Baseline {
						assert.Positive(t, v.Cost.MonthlySaving, "%s saves on %s", v.Name, cfg.Cost.Model)
						assert.InDelta(t, base.Cost.Monthly-v.Cost.Monthly, v.Cost.MonthlySaving, 1e-9)
					}
				}
			})
		}
	}
	assert.Len(t, models, 4, "an example per model")
}
