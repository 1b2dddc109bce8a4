// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// Continuity keeps the counters (cumulative monotonic sums) of the flowing output continuous across
// switches, as a backend reads them:
//   - a counter two variants both send with different values — a rollup such as topk's other, which each
//     variant counts from its own start — flows on from the value it had, with the new variant's growth;
//   - a counter that ended in what flowed flows on, when it comes back, from the value it ended with: its
//     growth meanwhile was carried by the rollup that flowed (a process in other, other in the
//     processes). The handover's ends are known; any other end read in what flows is taken at the value
//     its point carries when that is above zero (topk's ends carry the value they showed last; a
//     prometheus receiver's staleness markers carry none).
//
// Without it a backend sees the series jump by the difference (or drop, a reset) and counts it as growth.
// Ended counters are remembered for Horizon, longer than the ranges rules and dashboards read, and at
// most MaxEnded of them.
type Continuity struct {
	mu      sync.Mutex
	carries map[uint64]map[uint64]carry // by resource hash, then series key
	ends    int                         // ended counters in carries
	pruned  time.Time
}

// Horizon is how long an ended counter is remembered: a backend compares samples within a query's range.
const Horizon = time.Hour

// MaxEnded bounds the ended counters remembered (~100 bytes each); beyond it, ends read in what flows are
// not, and a counter that comes back after a switch may count the growth a rollup carried once more.
const MaxEnded = 1 << 16

// carry is what a counter needs to flow on: an offset added to its value, or, ended, the value it
// ended with.
type carry struct {
	off     float64
	ended   bool
	shown   float64
	endedAt time.Time
}

// NewContinuity starts with nothing to carry.
func NewContinuity() *Continuity { return &Continuity{carries: map[uint64]map[uint64]carry{}} }

// Series is the number of counters carried: with an offset, or ended.
func (c *Continuity) Series() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, byKey := range c.carries {
		n += len(byKey)
	}
	return n
}

// offset is what is added to a series' value as it flows.
func (c *Continuity) offset(res, key uint64) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.carries[res][key].off
}

// isEnded: the counter ended in what flowed and has not come back.
func (c *Continuity) isEnded(res, key uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.carries[res][key].ended
}

// rebaseTo makes a counter the new variant sends with value next flow on from shown, the value it
// flowed with.
func (c *Continuity) rebaseTo(res, key uint64, shown, next float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(res, key, carry{off: offsetTo(shown, next)})
}

// offsetTo is what added to v gives shown, or the next float above it: a value one ulp lower than the one
// shown would be a reset to a backend.
func offsetTo(shown, v float64) float64 {
	off := shown - v
	for v+off < shown {
		off = math.Nextafter(off, math.Inf(1))
	}
	return off
}

// end remembers a counter a handover ended with the value it flowed with last.
func (c *Continuity) end(res, key uint64, shown float64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(res, key, carry{ended: true, shown: shown, endedAt: now})
}

func (c *Continuity) set(res, key uint64, x carry) {
	byKey := c.carries[res]
	if byKey[key].ended {
		c.ends--
	}
	if x.ended {
		c.ends++
	}
	switch {
	case x == carry{}:
		delete(byKey, key)
		if len(byKey) == 0 {
			delete(c.carries, res)
		}
	case byKey == nil:
		c.carries[res] = map[uint64]carry{key: x}
	default:
		byKey[key] = x
	}
}

// Apply carries md's counters on: offsets added, an ended counter that is back rebased onto its end; and
// it remembers the counters that end in md. With nothing carried it reads only the flags of md's counters.
func (c *Continuity) Apply(md pmetric.Metrics, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.pruned) > time.Minute {
		c.prune(now)
	}
	rms := md.ResourceMetrics()
	for r := 0; r < rms.Len(); r++ {
		rm := rms.At(r)
		var res uint64
		hashed := false
		resource := func() uint64 {
			if !hashed {
				res, hashed = identity.Attrs(rm.Resource().Attributes()), true
			}
			return res
		}
		var byKey map[uint64]carry
		if len(c.carries) > 0 {
			byKey = c.carries[resource()]
		}
		eachMetric(rm, func(_ pmetric.ScopeMetrics, m pmetric.Metric) {
			if !isCumulative(m) {
				return
			}
			dps := m.Sum().DataPoints()
			var name uint64 // the metric name's hash, once per metric and only when a point needs its key
			key := func(dp pmetric.NumberDataPoint) uint64 {
				if name == 0 {
					name = identity.String(m.Name())
				}
				return identity.Series(resource(), name, dp.Attributes())
			}
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				if dp.Flags().NoRecordedValue() {
					c.endRead(resource(), key(dp), value(dp), now)
					byKey = c.carries[resource()]
					continue
				}
				if byKey == nil {
					continue
				}
				key := key(dp)
				x, ok := byKey[key]
				p := counterPoint(m, k)
				if !ok || !p.counter {
					continue // no sample: nothing to carry
				}
				if x.ended { // back: from the value it ended with
					x = carry{off: offsetTo(x.shown, p.v)}
					c.set(res, key, x)
				}
				add(dp, x.off)
			}
		})
	}
}

// endRead remembers a counter's end read in what flows, at the value it carries (v, in the variant's
// terms: its offset is added). An end the handover made is known already.
func (c *Continuity) endRead(res, key uint64, v float64, now time.Time) {
	x := c.carries[res][key]
	if x.ended || !(v > 0) || math.IsInf(v, 0) || c.ends >= MaxEnded {
		return
	}
	c.set(res, key, carry{ended: true, shown: v + x.off, endedAt: now})
}

// prune forgets ended counters older than Horizon.
func (c *Continuity) prune(now time.Time) {
	c.pruned = now
	for res, byKey := range c.carries {
		for key, x := range byKey {
			if x.ended && now.Sub(x.endedAt) > Horizon {
				delete(byKey, key)
				c.ends--
			}
		}
		if len(byKey) == 0 {
			delete(c.carries, res)
		}
	}
}

// isCumulative: a monotonic cumulative sum, the one a backend reads as a counter.
func isCumulative(m pmetric.Metric) bool {
	return m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic() &&
		m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func add(dp pmetric.NumberDataPoint, off float64) {
	if off == 0 {
		return
	}
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		dp.SetIntValue(dp.IntValue() + int64(math.Round(off)))
		return
	}
	dp.SetDoubleValue(dp.DoubleValue() + off)
}

func setValue(dp pmetric.NumberDataPoint, v float64) {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		dp.SetIntValue(int64(math.Round(v)))
		return
	}
	dp.SetDoubleValue(v)
}
