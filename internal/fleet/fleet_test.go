// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// TestFiguresRoundTrip: what an agent encodes a server decodes as it was; a message that is not one is
// refused.
func TestFiguresRoundTrip(t *testing.T) {
	fid, rules := 0.98, 0.5
	snap := control.ExperimentSnapshot{Name: "experiment/process", Baseline: "full", Active: "top20", Window: time.Minute,
		WindowEnd: time.Unix(1_800_000_000, 0).UTC(), Complete: true, Variants: []control.VariantStats{
			{Name: "full", Baseline: true, Series: 1000, Source: control.SourceConfig},
			{Name: "top20", Series: 200, Fidelity: &fid, CriticalVisible: 1, Source: control.SourceAPI,
				Rules: &control.RuleStats{Fidelity: &rules}, Cost: &control.CostStats{Monthly: 12.5, Currency: "USD"}}}}
	in := Figures{Node: "node-1", Version: "0.159.0", At: time.Unix(1_800_000_001, 0).UTC(), Experiments: []Experiment{FromSnapshot(snap)}}
	data, err := Encode(in)
	require.NoError(t, err)
	out, err := Decode(data)
	require.NoError(t, err)
	assert.Equal(t, in, out)
	v := out.Experiments[0].Variants[1]
	assert.Equal(t, 0.5, *v.RuleFidelity)
	assert.Equal(t, 12.5, *v.CostMonthly)

	_, err = Decode([]byte(`{"node":"n","newer_field":1}`))
	assert.NoError(t, err, "a newer agent may say more")
	for name, bad := range map[string]string{
		"two objects":   `{"node":"n"}{"node":"m"}`,
		"twice":         `{"experiments":[{"name":"e"},{"name":"e"}]}`,
		"fidelity -5":   `{"experiments":[{"name":"e","variants":[{"name":"v","fidelity":-5}]}]}`,
		"critical 99":   `{"experiments":[{"name":"e","variants":[{"name":"v","critical_visible":99}]}]}`,
		"series 2^64-1": `{"experiments":[{"name":"e","variants":[{"name":"v","series":18446744073709551615}]}]}`,
		"rate 1.7e308":  `{"experiments":[{"name":"e","variants":[{"name":"v","datapoints_per_second":1.7e308}]}]}`,
		"not JSON":      `{"node":`,
		"too large":     `{"node":"` + strings.Repeat("x", MaxFiguresSize) + `"}`,
	} {
		_, err := Decode([]byte(bad))
		assert.Error(t, err, name)
	}
}
