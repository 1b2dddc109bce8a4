// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package cost // import "github.com/phoenix-platform/otelcol-phoenix/internal/cost"

import "math/bits"

const (
	maxLoad = 0.8 // the table grows by 1.5× past it: between ~0.53 and 0.8 full
	minSize = 64
)

// lastSeen maps series hashes to the slot they were last seen in: open addressing with linear probing over
// two parallel arrays, 12 bytes a slot (15–23 bytes a series). Not a Go map: a map costs ~3× that and
// allocates as it grows.
type lastSeen struct {
	keys []uint64 // 0: empty
	seqs []uint32
	n    int
}

func newLastSeen() *lastSeen {
	return &lastSeen{keys: make([]uint64, minSize), seqs: make([]uint32, minSize)}
}

// key is never 0 (the empty mark); the meter's hashes already have bit 2 set.
func key(h uint64) uint64 {
	if h == 0 {
		return 0x9e3779b97f4a7c15
	}
	return h
}

// home maps a key onto the table by multiply-shift range reduction with the meter's counter's own
// multiplier: a window's series come in the order of the counter's table, which is then the order of this
// table too, so a rotation's puts walk the table front to back instead of jumping about it (reserve first:
// keys in order into a table too small for them would pile up at its front).
func (t *lastSeen) home(k uint64) int {
	hi, _ := bits.Mul64(k*0x9e3779b97f4a7c15, uint64(len(t.keys)))
	return int(hi)
}

// reserve grows the table ahead of a window of n series, most of them usually held already: to hold n at
// least (the series new among them grow it as they come, by then spread over the whole table).
func (t *lastSeen) reserve(n int) {
	if float64(n) > maxLoad*float64(len(t.keys)) {
		t.resize(int(float64(n)/0.65) + 1)
	}
}

// put records that series h was seen in slot seq (the newest slot wins).
func (t *lastSeen) put(h uint64, seq uint32) {
	k := key(h)
	n := len(t.keys)
	for i := t.home(k); ; i++ {
		if i == n {
			i = 0
		}
		switch t.keys[i] {
		case k:
			t.seqs[i] = max(t.seqs[i], seq)
			return
		case 0:
			t.keys[i], t.seqs[i] = k, seq
			t.n++
			if float64(t.n) > maxLoad*float64(n) {
				t.resize(n * 3 / 2)
			}
			return
		}
	}
}

func (t *lastSeen) insert(k uint64, seq uint32) {
	n := len(t.keys)
	for i := t.home(k); ; i++ {
		if i == n {
			i = 0
		}
		if t.keys[i] == 0 {
			t.keys[i], t.seqs[i] = k, seq
			return
		}
	}
}

func (t *lastSeen) resize(size int) {
	keys, seqs := t.keys, t.seqs
	t.keys, t.seqs = make([]uint64, max(size, minSize)), make([]uint32, max(size, minSize))
	for i, k := range keys {
		if k != 0 {
			t.insert(k, seqs[i])
		}
	}
}

// expire drops, in place, every series last seen before slot oldest. Probe chains are mended as it goes:
// walking round the table from an empty slot, an entry kept after a hole in its run (a slot this walk
// emptied) is taken out and put back from its home, so it lands at or before where it was and every entry
// stays reachable from its home; an entry with no hole before it in its run stays. O(table), sequential.
func (t *lastSeen) expire(oldest uint32) {
	n := len(t.keys)
	start := 0
	for t.keys[start] != 0 { // the load stays below 1: there is an empty slot
		start++
	}
	hole := false // a slot of the current run was emptied
	for j := 1; j <= n; j++ {
		i := start + j
		if i >= n {
			i -= n
		}
		k := t.keys[i]
		if k == 0 { // empty before the walk (it only empties the slot it is at): the run ends
			hole = false
			continue
		}
		seq := t.seqs[i]
		if seq < oldest {
			t.keys[i] = 0
			t.n--
			hole = true
			continue
		}
		if hole {
			t.keys[i] = 0
			t.insert(k, seq)
		}
	}
	if n > minSize && float64(t.n) < 0.2*float64(n) { // shrink after a burst: back to ~0.65 full
		t.resize(int(float64(t.n)/0.65) + 1)
	}
}

// each calls f with every series and its slot.
func (t *lastSeen) each(f func(h uint64, seq uint32)) {
	for i, k := range t.keys {
		if k != 0 {
			f(k, t.seqs[i])
		}
	}
}

// reset empties the table, keeping its memory unless it is far larger than what it held.
func (t *lastSeen) reset() {
	if size := max(minSize, int(float64(t.n)/0.65)+1); size < len(t.keys)/4 {
		t.keys, t.seqs = make([]uint64, size), make([]uint32, size)
	} else {
		clear(t.keys)
	}
	t.n = 0
}

func (t *lastSeen) len() int   { return t.n }
func (t *lastSeen) bytes() int { return 12 * len(t.keys) }
