// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package cost // import "github.com/phoenix-platform/otelcol-phoenix/internal/cost"

import (
	"time"

	"github.com/axiomhq/hyperloglog"
)

// maxSlots bounds the slots of a horizon, so that the sketch regime holds at most maxSlots sketches of
// 16 KiB (512 KiB a variant) whatever the horizon and the window.
const maxSlots = 32

// horizon counts the distinct series seen within the last span (active_series): a ring of slots, one per
// window (or, when the horizon holds more than maxSlots windows, one per ceil(windows/maxSlots) windows),
// each ending with its newest window. A series is active while the slot it was last seen in ends within
// the span: at the end of a window at T, the slots ending after T - span.
//
// Exactly, a table maps each series to the slot it was last seen in; a slot that leaves the span drops
// the series last seen in it, in place. Past the cap (more distinct series over the span than series_cap,
// or a window that came as a sketch), each slot holds a HyperLogLog sketch of the series last seen in it —
// built from the table, so the switch loses nothing — and the figure is the estimate of their union. A
// series seen in two slots sits in both sketches, which a union counts once. The way back: once the figure
// is under half the cap, windows are also recorded exactly from the next slot on, and when every slot
// within the span was recorded so, that table takes over.
type horizon struct {
	span  time.Duration
	group int // windows per slot
	cap   int

	seq    uint32 // the slot being filled
	inSlot int    // its windows so far
	slots  []slot // within the span, oldest first; seqs consecutive, the last being filled

	table       *lastSeen // exact regime; nil in the sketch regime
	recovery    *lastSeen // sketch regime: the windows since recoverFrom, exactly
	recoverFrom uint32
	union       *hyperloglog.Sketch
	spare       []*hyperloglog.Sketch // sketches of expired slots, for reuse

	n     float64 // the figure after the last rotation
	exact bool
}

type slot struct {
	seq    uint32
	end    time.Time           // its newest window's end
	sketch *hyperloglog.Sketch // sketch regime only
}

func newHorizon(span, window time.Duration, seriesCap int) *horizon {
	windows := 1
	if window > 0 {
		windows = max(1, int((span+window-1)/window))
	}
	return &horizon{span: span, group: (windows + maxSlots - 1) / maxSlots, cap: max(seriesCap, 1),
		table: newLastSeen(), exact: true}
}

func (h *horizon) rotate(end time.Time, w Window) {
	if len(h.slots) == 0 || h.inSlot == h.group {
		if len(h.slots) > 0 {
			h.seq++
		}
		s := slot{seq: h.seq}
		if h.table == nil {
			s.sketch = h.newSketch()
		}
		h.slots = append(h.slots, s)
		h.inSlot = 0
	}
	h.slots[len(h.slots)-1].end = end
	h.inSlot++

	sk := w.CurrentSketch()
	if h.table != nil && sk != nil {
		h.toSketches()
	}
	if h.table != nil {
		h.table.reserve(int(w.Current().Distinct))
		w.EachCurrent(func(id uint64) { h.table.put(id, h.seq) })
		if h.table.len() > h.cap {
			h.toSketches()
		}
	} else {
		cur := h.slots[len(h.slots)-1].sketch
		if sk != nil {
			_ = cur.Merge(sk) // same precision: cannot fail
			h.recovery = nil  // an estimated window: not yet the way back
		} else {
			if h.recovery != nil {
				h.recovery.reserve(int(w.Current().Distinct))
			}
			w.EachCurrent(func(id uint64) {
				cur.InsertHash(id)
				if h.recovery != nil {
					h.recovery.put(id, h.seq)
				}
			})
		}
	}

	h.expire(end)

	if h.table == nil && h.recovery != nil {
		switch {
		case h.recovery.len() > h.cap:
			h.recovery = nil
		case h.slots[0].seq >= h.recoverFrom: // every slot within the span recorded exactly
			h.table, h.recovery = h.recovery, nil
			for i := range h.slots {
				h.release(h.slots[i].sketch)
				h.slots[i].sketch = nil
			}
		}
	}
	h.figure()
	if h.table == nil && h.recovery == nil && sk == nil && h.n < float64(h.cap)/2 {
		h.recovery, h.recoverFrom = newLastSeen(), h.seq+1
	}
}

// expire drops the slots that ended span or longer before end (never the one being filled) and the series
// last seen in them.
func (h *horizon) expire(end time.Time) {
	drop := 0
	for drop < len(h.slots)-1 && !h.slots[drop].end.After(end.Add(-h.span)) {
		h.release(h.slots[drop].sketch)
		drop++
	}
	if drop == 0 {
		return
	}
	h.slots = append(h.slots[:0], h.slots[drop:]...)
	oldest := h.slots[0].seq
	if h.table != nil {
		h.table.expire(oldest)
	}
	if h.recovery != nil {
		h.recovery.expire(oldest)
	}
}

func (h *horizon) figure() {
	if h.table != nil {
		h.n, h.exact = float64(h.table.len()), true
		return
	}
	if h.union == nil {
		h.union = newSketch()
	}
	h.union.Reset()
	for _, s := range h.slots {
		_ = h.union.Merge(s.sketch)
	}
	h.n, h.exact = float64(h.union.Estimate()), false
}

// toSketches switches to the sketch regime: each series goes to the sketch of the slot it was last seen
// in, which gives the same union for as long as that slot is within the span.
func (h *horizon) toSketches() {
	for i := range h.slots {
		h.slots[i].sketch = h.newSketch()
	}
	first := h.slots[0].seq
	h.table.each(func(id uint64, seq uint32) { h.slots[seq-first].sketch.InsertHash(id) })
	h.table, h.recovery = nil, nil
}

func (h *horizon) newSketch() *hyperloglog.Sketch {
	if n := len(h.spare); n > 0 {
		sk := h.spare[n-1]
		h.spare = h.spare[:n-1]
		sk.Reset()
		return sk
	}
	return newSketch()
}

func (h *horizon) release(sk *hyperloglog.Sketch) {
	if sk != nil && len(h.spare) < 2 {
		h.spare = append(h.spare, sk)
	}
}

func (h *horizon) bytes() int {
	b := 0
	for _, t := range []*lastSeen{h.table, h.recovery} {
		if t != nil {
			b += t.bytes()
		}
	}
	for _, s := range h.slots {
		if s.sketch != nil {
			b += sketchBytes
		}
	}
	if h.union != nil {
		b += sketchBytes
	}
	return b + len(h.spare)*sketchBytes
}
