// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package control

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSnapshotWindowIsADuration: the API writes the window as runs take durations ("1m0s"), and reads it
// back, also from the nanoseconds older versions wrote.
func TestSnapshotWindowIsADuration(t *testing.T) {
	fid := 0.97
	snap := ExperimentSnapshot{Name: "experiment/process", Mode: "shadow", Window: 90 * time.Second,
		WindowStart: time.Unix(1_800_000_000, 0).UTC(), Complete: true,
		Variants: []VariantStats{{Name: "full", Baseline: true, Fidelity: &fid}}}
	b, err := json.Marshal(snap)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	assert.Equal(t, "1m30s", raw["window"])
	assert.Equal(t, "experiment/process", raw["name"], "the other fields are as before")

	var back ExperimentSnapshot
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, snap, back)

	require.NoError(t, json.Unmarshal([]byte(`{"name":"e","window":60000000000}`), &back))
	assert.Equal(t, time.Minute, back.Window)
	assert.Equal(t, "e", back.Name)
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"window":"soon"}`), &back), "window")
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"window":true}`), &back), "window")
}
