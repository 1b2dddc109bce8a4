// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package cardinality counts distinct series per window, and how many of them were not there in the previous
// window (churn): exactly up to a cap, with a compact open-addressing set of 64-bit hashes, then with
// HyperLogLog.
package cardinality // import "github.com/phoenix-platform/otelcol-phoenix/internal/cardinality"

import (
	"math/bits"

	"github.com/axiomhq/hyperloglog"
)

const (
	flagCur  = 1 // seen in the current window
	flagPrev = 2 // seen in the previous window
	flags    = flagCur | flagPrev

	// Load factor bounds: the table grows by 1.5× past maxLoad, so it stays between ~0.53 and 0.8 full:
	// 10–15 bytes per tracked series, and a few probes per lookup.
	maxLoad = 0.8
	minSize = 64
)

// WindowStats are the counts of one window.
type WindowStats struct {
	Distinct uint64 // distinct series seen in the window
	New      uint64 // of which not seen in the previous window
	Exact    bool   // false when estimated with HyperLogLog
}

// Counter counts series hashes. Not safe for concurrent use.
type Counter struct {
	cap   int
	slots []uint64 // 0 = empty; else hash with its two low bits replaced by flags
	used  int      // occupied slots
	cur   uint64   // distinct in the current window
	fresh uint64   // new in the current window

	// HyperLogLog mode, past the cap (dense sketches: ~10 ns an insert; the sparse form costs ~30× more).
	curHLL, prevHLL *hyperloglog.Sketch
}

// New returns a Counter exact up to cap distinct series per window.
func New(cap int) *Counter {
	return &Counter{cap: max(cap, 1), slots: make([]uint64, minSize)}
}

func key(h uint64) uint64 { return (h | 4) &^ flags } // never 0, flag bits free

// slot maps a key onto the table by multiply-shift range reduction (the table need not be a power of two).
func (c *Counter) slot(k uint64) int {
	hi, _ := bits.Mul64(k*0x9e3779b97f4a7c15, uint64(len(c.slots)))
	return int(hi)
}

// Add records one occurrence of a series hash.
func (c *Counter) Add(h uint64) {
	k := key(h)
	if c.curHLL != nil {
		c.curHLL.InsertHash(k) // the value the exact table held, so a series carried over counts once
		return
	}
	n := len(c.slots)
	for i := c.slot(k); ; i++ {
		if i == n {
			i = 0
		}
		s := c.slots[i]
		if s == 0 {
			c.slots[i] = k | flagCur
			c.used++
			c.cur++
			c.fresh++
			if float64(c.used) > maxLoad*float64(n) {
				c.grow()
			}
			if c.cur > uint64(c.cap) {
				c.toSketch()
			}
			return
		}
		if s&^flags == k {
			if s&flagCur == 0 {
				c.slots[i] = s | flagCur
				c.cur++
				if s&flagPrev == 0 {
					c.fresh++
				}
			}
			return
		}
	}
}

// Current returns the counts of the window so far.
func (c *Counter) Current() WindowStats {
	if c.curHLL != nil {
		return sketchStats(c.curHLL, c.prevHLL)
	}
	return WindowStats{Distinct: c.cur, New: c.fresh, Exact: c.prevHLL == nil}
}

// Rotate ends the window: it returns the window's counts and starts a new one whose "previous" is this one.
func (c *Counter) Rotate() WindowStats {
	st := c.Current()
	if c.curHLL != nil {
		if st.Distinct < uint64(c.cap)/2 { // back under the cap: exact again, with this window as previous sketch
			c.prevHLL, c.curHLL = c.curHLL, nil
			c.rebuild(0, false)
		} else {
			c.prevHLL, c.curHLL = c.curHLL, hyperloglog.NewNoSparse()
		}
		c.cur, c.fresh = 0, 0
		return st
	}
	if c.prevHLL != nil { // the first exact window after HyperLogLog: exact count, churn against the sketch
		st.New = sketchStats(c.sketchOf(flagCur), c.prevHLL).New
		st.Exact = false
		c.prevHLL = nil
	}
	c.rebuild(int(c.cur), true)
	c.cur, c.fresh = 0, 0
	return st
}

// rebuild makes a table for about n entries; with keep, the current window's entries move to "previous" and
// the rest is dropped.
func (c *Counter) rebuild(n int, keep bool) {
	old := c.slots
	c.slots = make([]uint64, max(minSize, int(float64(n)/0.65)+1))
	c.used = 0
	if !keep {
		return
	}
	for _, s := range old {
		if s&flagCur != 0 {
			c.insertRaw(s&^flags | flagPrev)
		}
	}
}

func (c *Counter) insertRaw(v uint64) {
	n := len(c.slots)
	for i := c.slot(v &^ flags); ; i++ {
		if i == n {
			i = 0
		}
		if c.slots[i] == 0 {
			c.slots[i] = v
			c.used++
			return
		}
	}
}

func (c *Counter) grow() {
	old := c.slots
	c.slots = make([]uint64, len(old)*3/2)
	c.used = 0
	for _, s := range old {
		if s != 0 {
			c.insertRaw(s)
		}
	}
}

// toSketch switches to HyperLogLog for the rest of the window, carrying both windows' series over.
func (c *Counter) toSketch() {
	c.curHLL, c.prevHLL = c.sketchOf(flagCur), c.sketchOf(flagPrev)
	c.slots, c.used = make([]uint64, minSize), 0
}

func (c *Counter) sketchOf(flag uint64) *hyperloglog.Sketch {
	sk := hyperloglog.NewNoSparse()
	for _, s := range c.slots {
		if s&flag != 0 {
			sk.InsertHash(s &^ flags)
		}
	}
	return sk
}

func sketchStats(cur, prev *hyperloglog.Sketch) WindowStats {
	st := WindowStats{Distinct: cur.Estimate()}
	if prev == nil {
		st.New = st.Distinct
		return st
	}
	union := prev.Clone()
	_ = union.Merge(cur) // same precision: cannot fail
	if u, p := union.Estimate(), prev.Estimate(); u > p {
		st.New = min(u-p, st.Distinct)
	}
	return st
}

// EachCurrent calls f with every distinct series of the window so far, as the value the counter holds for
// it (its hash with the two low bits cleared and bit 2 set; the same value its sketches hold), when they are
// counted exactly (CurrentSketch is nil).
func (c *Counter) EachCurrent(f func(h uint64)) {
	if c.curHLL != nil {
		return
	}
	for _, s := range c.slots {
		if s&flagCur != 0 {
			f(s &^ flags)
		}
	}
}

// CurrentSketch is the window's HyperLogLog sketch once the window is past the cap, else nil. It is the
// counter's own: read it before Rotate, never change it.
func (c *Counter) CurrentSketch() *hyperloglog.Sketch { return c.curHLL }

// Tracked is the number of series held exactly (both windows); 0 in HyperLogLog mode.
func (c *Counter) Tracked() int { return c.used }

// Bytes is the memory the counter holds.
func (c *Counter) Bytes() int {
	b := 8 * len(c.slots)
	for _, sk := range []*hyperloglog.Sketch{c.curHLL, c.prevHLL} {
		if sk != nil {
			b += 1 << 14
		}
	}
	return b
}
