// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batchOf adds one batch of ids in order, each point storing its value and batch; it returns what the
// entries held before.
func batchOf(lv *lastValues, batch uint32, ids []uint64) []lastValue {
	before := make([]lastValue, len(ids))
	for pos, id := range ids {
		p := lv.at(pos, id)
		before[pos] = *p
		*p = lastValue{v: float64(id), seen: batch, ts: 1}
	}
	lv.endBatch()
	return before
}

func TestLastValuesFollowSeriesWhereverTheyAre(t *testing.T) {
	var lv lastValues
	ids := make([]uint64, 10_000)
	for i := range ids {
		ids[i] = uint64(i) * 7919
	}
	for _, p := range batchOf(&lv, 1, ids) {
		require.Zero(t, p.ts, "new entries are empty")
	}
	for pos, p := range batchOf(&lv, 2, ids) {
		require.Equal(t, lastValue{v: float64(ids[pos]), seen: 1, ts: 1}, p, "same order")
	}
	// the first point gone: every other point moves up one place
	shifted := append([]uint64{}, ids[1:]...)
	shifted = append(shifted, 42) // and a new one
	before := batchOf(&lv, 3, shifted)
	for pos, p := range before[:len(before)-1] {
		require.Equal(t, lastValue{v: float64(shifted[pos]), seen: 2, ts: 1}, p, "moved")
	}
	assert.Zero(t, before[len(before)-1].ts, "new")
	assert.Len(t, lv.ids, len(ids)+1)

	lv.keepSince(3) // ids[0] was last seen in batch 2
	assert.Len(t, lv.ids, len(ids))
	assert.LessOrEqual(t, len(lv.index), 4*len(ids), "the index shrinks with what it holds")
	before = batchOf(&lv, 4, ids)
	assert.Zero(t, before[0].ts, "forgotten")
	for pos, p := range before[1:] {
		require.Equal(t, lastValue{v: float64(ids[pos+1]), seen: 3, ts: 1}, p, "kept")
	}
	batchOf(&lv, 5, []uint64{0})
	assert.Equal(t, lastValue{v: 0, seen: 5, ts: 1}, batchOf(&lv, 6, []uint64{0})[0], "the zero hash is a key like any other")
}
