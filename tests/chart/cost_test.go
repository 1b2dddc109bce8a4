// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// experimentCost is the cost: block of the rendered experiment processor (nil: none).
func experimentCost(t *testing.T, r rendered) map[string]any {
	var cfg struct {
		Processors map[string]map[string]any `json:"processors"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(collectorConfig(t, r)), &cfg))
	exp, ok := cfg.Processors["experiment/process"]
	require.True(t, ok, "the experiment preset renders experiment/process")
	c, _ := exp["cost"].(map[string]any)
	return c
}

// TestExperimentCostPreset: presets.experiment.cost renders the processor's cost: block — the options each
// model takes and no others — and the binary accepts it.
func TestExperimentCostPreset(t *testing.T) {
	ciFile := filepath.Join(chartDir(t), "ci", "experiment-cost-values.yaml")
	r := decode(t, render(t, "-f", ciFile))
	assert.Equal(t, map[string]any{"model": "active_series", "price": 8.0, "currency": "USD", "horizon": "20m",
		"included_dpm": 1.0, "overage_price": 0.16}, experimentCost(t, r))

	// --set-json: numbers stay numbers (--set would pass 0.09 as a string).
	noOverage := `presets.experiment.cost={"enabled":true,"includedDPM":0,"overagePrice":0`
	for _, c := range []struct {
		set  string
		want map[string]any
	}{
		{noOverage + `,"horizon":"1h"}`, map[string]any{"model": "active_series", "price": 8.0, "currency": "USD", "horizon": "1h"}},
		{noOverage + `,"model":"hourly_series","price":50}`, map[string]any{"model": "hourly_series", "price": 50.0, "currency": "USD"}},
		{noOverage + `,"model":"datapoints","price":0.09}`, map[string]any{"model": "datapoints", "price": 0.09, "currency": "USD"}},
		{noOverage + `,"model":"bytes","price":0.25,"currency":"EUR"}`, map[string]any{"model": "bytes", "price": 0.25, "currency": "EUR"}},
	} {
		t.Run(c.set, func(t *testing.T) {
			r := decode(t, render(t, "-f", ciFile, "--set-json", c.set))
			assert.Equal(t, c.want, experimentCost(t, r))
			validateConfig(t, r, readValues(t, ciFile))
		})
	}

	r = decode(t, render(t, "-f", filepath.Join(chartDir(t), "ci", "experiment-values.yaml")))
	assert.Nil(t, experimentCost(t, r), "cost disabled (the default): no cost: block")
}

// TestExperimentCostInvalid: bad cost values stop the render with every reason, or the schema refuses them.
func TestExperimentCostInvalid(t *testing.T) {
	sim := []string{"presets.simulator.enabled=true", "presets.experiment.enabled=true", "presets.experiment.cost.enabled=true"}
	for _, c := range []struct {
		sets []string // --set-json key=JSON
		want []string
	}{
		{[]string{"presets.experiment.cost.enabled=true"}, []string{"presets.experiment.cost needs presets.experiment"}},
		{append(sim, `presets.experiment.cost.model="bytes"`, "presets.experiment.cost.includedDPM=2", "presets.experiment.cost.overagePrice=1"),
			[]string{`presets.experiment.cost.includedDPM, overagePrice: only model active_series bills data points per minute, not "bytes"`}},
		{append(sim, "presets.experiment.cost.overagePrice=0.5"), []string{"presets.experiment.cost.overagePrice needs includedDPM"}},
		{append(sim, `presets.experiment.cost.model="per_series"`), []string{"/presets/experiment/cost/model", "must be one of"}},
		{append(sim, "presets.experiment.cost.price=-1"), []string{"price", "minimum"}},
		{append(sim, `presets.experiment.cost.horizon="soon"`), []string{"horizon"}},
		{append(sim, "presets.experiment.cost.typo=1"), []string{"additional properties"}},
	} {
		t.Run(strings.Join(c.sets, ","), func(t *testing.T) {
			args := []string{"template", "phoenix", chartDir(t)}
			for _, s := range c.sets {
				args = append(args, "--set-json", s)
			}
			out, err := helm(t, args...)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, out, w)
			}
		})
	}
}
