// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package cost // import "github.com/phoenix-platform/otelcol-phoenix/internal/cost"

import (
	"time"

	"github.com/axiomhq/hyperloglog"
)

// hoursKept is how many complete hours the hourly figure averages.
const hoursKept = 24

// hourly counts the distinct series of each clock hour (UTC), as custom-metric bills do, and averages the
// hours: the figure is the mean of the last 24 complete hours, or, before an hour completes, the current
// hour projected to a full hour. A window belongs to the hour it ends in. A series is counted exactly up to
// the cap, then the rest of the hour in a HyperLogLog sketch. Hours without a window (no data reached the
// variant) count 0 series.
//
// Projecting a part of an hour: the series of its first window are there for the whole hour; the series
// new after it arrive at the rate seen since, extrapolated to the hour's end:
//
//	first + (distinct - first) × (3600 s - first window's seconds) / (observed seconds - first window's seconds)
//
// where the hour is observed from its start, or from the first window's start when the collector started
// during the hour. So a first hour that began at 10:40 closes at 11:00 projected from its 20 minutes, and a
// complete hour closes at about its distinct count.
type hourly struct {
	cap int

	start    time.Time // the current hour; valid once windows > 0
	windows  int       // windows in it so far
	set      *lastSeen // exact; nil past the cap
	sketch   *hyperloglog.Sketch
	from     time.Time // observed since
	first    float64   // distinct after its first window
	firstEnd time.Time
	last     time.Time // its latest window's end

	done    [hoursKept]hourFigure // complete hours, a ring
	doneN   int
	donePos int
	n       float64
	exact   bool
}

type hourFigure struct {
	n     float64
	exact bool
}

func newHourly(seriesCap int) *hourly {
	return &hourly{cap: max(seriesCap, 1), set: newLastSeen(), exact: true}
}

func (h *hourly) rotate(start, end time.Time, w Window) {
	hour := end.Add(-time.Nanosecond).Truncate(time.Hour)
	if h.windows > 0 && !hour.Equal(h.start) {
		h.keep(h.projection())
		for t := h.start.Add(time.Hour); t.Before(hour) && t.Before(h.start.Add(hoursKept*time.Hour)); t = t.Add(time.Hour) {
			h.keep(hourFigure{0, true}) // no window ended in it: nothing reached the variant
		}
		h.windows = 0
		if h.set == nil {
			h.set = newLastSeen()
		} else {
			h.set.reset()
		}
		h.sketch = nil
	}
	if h.windows == 0 {
		h.start, h.from = hour, start
		if start.Before(hour) {
			h.from = hour
		}
	}

	sk := w.CurrentSketch()
	if h.set != nil && sk != nil {
		h.toSketch()
	}
	if h.set != nil {
		h.set.reserve(int(w.Current().Distinct))
		w.EachCurrent(func(id uint64) { h.set.put(id, 0) })
		if h.set.len() > h.cap {
			h.toSketch()
		}
	} else if sk != nil {
		_ = h.sketch.Merge(sk) // same precision: cannot fail
	} else {
		w.EachCurrent(h.sketch.InsertHash)
	}
	h.windows++
	h.last = end
	if h.windows == 1 {
		h.first, h.firstEnd = h.distinct(), end
	}

	if h.doneN > 0 {
		sum, exact := 0.0, true
		for _, f := range h.done[:h.doneN] {
			sum += f.n
			exact = exact && f.exact
		}
		h.n, h.exact = sum/float64(h.doneN), exact
	} else {
		f := h.projection()
		h.n, h.exact = f.n, f.exact
	}
}

func (h *hourly) distinct() float64 {
	if h.set != nil {
		return float64(h.set.len())
	}
	return float64(h.sketch.Estimate())
}

// projection is the current hour's distinct series, projected to a full hour.
func (h *hourly) projection() hourFigure {
	d := h.distinct()
	f := hourFigure{n: d, exact: h.set != nil}
	e, e1 := h.last.Sub(h.from).Seconds(), h.firstEnd.Sub(h.from).Seconds()
	if h.windows > 1 && e > e1 {
		f.n = max(d, h.first+(d-h.first)*(3600-e1)/(e-e1))
	}
	return f
}

func (h *hourly) keep(f hourFigure) {
	h.done[h.donePos] = f
	h.donePos = (h.donePos + 1) % hoursKept
	h.doneN = min(h.doneN+1, hoursKept)
}

func (h *hourly) toSketch() {
	h.sketch = newSketch()
	h.set.each(func(id uint64, _ uint32) { h.sketch.InsertHash(id) })
	h.set = nil
}

func (h *hourly) bytes() int {
	b := 0
	if h.set != nil {
		b += h.set.bytes()
	}
	if h.sketch != nil {
		b += sketchBytes
	}
	return b
}
