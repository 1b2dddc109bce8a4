// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment // import "github.com/phoenix-platform/otelcol-phoenix/internal/experiment"

import (
	"math"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// lastValue is a fidelity series' last sample as a backend stores it: value, time, start time, and when
// it arrived (seconds on the meter's clock), to forget series that stopped reporting.
type lastValue struct {
	v  float64 // NaN: no real sample yet
	ts pcommon.Timestamp
	// aux is a cumulative series' start time (a new one is a reset), or for how long a gauge's value has
	// been counted from ts.
	aux  pcommon.Timestamp
	seen uint32
	// gap: ms between its last two samples (0: one sample so far), for when to forget it; the top bit says
	// the last sample was a staleness marker (or NaN).
	gap uint32
}

const staleBit = 1 << 31

func (v *lastValue) valued() bool { return !math.IsNaN(v.v) }
func (v *lastValue) stale() bool  { return v.gap&staleBit != 0 }
func (v *lastValue) gapMillis() uint32 {
	return v.gap &^ staleBit
}

func (v *lastValue) setStale(stale bool) {
	if stale {
		v.gap |= staleBit
	} else {
		v.gap &^= staleBit
	}
}

func (v *lastValue) setGap(ms uint32) { v.gap = v.gap&staleBit | min(ms, staleBit-1) }

// lastValues holds each fidelity series' last sample, in the order the series arrived, with an
// open-addressing index by hash. Batches repeat their series in the same order, so each batch records where
// its points landed and the next batch first tries the same place: a sequential walk over the entries
// instead of a random probe per point. The index serves the points that moved. At most limit entries.
type lastValues struct {
	ids     []uint64 // entries, in arrival order
	vals    []lastValue
	index   []int32 // open addressing: entry+1, 0 = empty
	hint    []int32 // the entry of each point of the last batch, by position (-1: none)
	current []int32 // the same for the batch being added
	limit   int
}

const minIndex = 64

// at returns the entry of the point at position pos of the batch, adding an empty one (ts 0) for a new
// series, or nil when the table is full. Call endBatch after the batch's last point.
func (t *lastValues) at(pos int, id uint64) *lastValue {
	var e int32 = -1
	if pos < len(t.hint) && t.hint[pos] >= 0 && t.ids[t.hint[pos]] == id {
		e = t.hint[pos]
	} else {
		e = t.lookup(id)
	}
	t.current = append(t.current, e)
	if e < 0 {
		return nil
	}
	return &t.vals[e]
}

// endBatch makes the batch just added the hint for the next.
func (t *lastValues) endBatch() {
	t.hint, t.current = t.current, t.hint[:0]
}

func (t *lastValues) lookup(id uint64) int32 {
	if 4*(len(t.ids)+1) > 3*len(t.index) { // at most 3/4 full
		t.reindex(max(minIndex, 2*len(t.index)))
	}
	mask := len(t.index) - 1
	for i := t.slot(id); ; i = (i + 1) & mask {
		e := t.index[i] - 1
		if e < 0 {
			if t.limit > 0 && len(t.ids) >= t.limit {
				return -1
			}
			e = int32(len(t.ids))
			t.ids = append(t.ids, id)
			t.vals = append(t.vals, lastValue{v: math.NaN()})
			t.index[i] = e + 1
			return e
		}
		if t.ids[e] == id {
			return e
		}
	}
}

func (t *lastValues) slot(id uint64) int {
	return int((id * 0x9e3779b97f4a7c15) >> (64 - bits.TrailingZeros(uint(len(t.index)))))
}

func (t *lastValues) reindex(size int) {
	t.index = make([]int32, size)
	mask := size - 1
	for e, id := range t.ids {
		i := t.slot(id)
		for t.index[i] != 0 {
			i = (i + 1) & mask
		}
		t.index[i] = int32(e) + 1
	}
}

// keepIf drops the entries keep refuses, keeping the arrival order of the rest.
func (t *lastValues) keepIf(keep func(*lastValue) bool) {
	n := 0
	for e := range t.vals {
		if keep(&t.vals[e]) {
			t.ids[n], t.vals[n] = t.ids[e], t.vals[e]
			n++
		}
	}
	t.ids, t.vals = t.ids[:n], t.vals[:n]
	t.hint = t.hint[:0] // entries moved
	size := minIndex
	for 4*n > 3*size/2 { // about half full after the clean-up
		size *= 2
	}
	t.reindex(size)
}

// keepSince drops the entries that arrived last before since.
func (t *lastValues) keepSince(since uint32) {
	t.keepIf(func(v *lastValue) bool { return v.seen >= since })
}

// len is the number of series held.
func (t *lastValues) len() int { return len(t.ids) }
