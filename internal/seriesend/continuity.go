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
//   - a counter a handover ended flows on, when it comes back, from the value it ended with: its growth
//     meanwhile was carried by the rollup that flowed (a process in other, other in the processes).
//
// Without it a backend sees the series jump by the difference (or drop, a reset) and counts it as growth.
// Ended counters are remembered for Horizon, longer than the ranges rules and dashboards read.
type Continuity struct {
	mu      sync.Mutex
	carries map[uint64]map[uint64]carry // by resource hash, then series key
	pruned  time.Time
}

// Horizon is how long an ended counter is remembered: a backend compares samples within a query's range.
const Horizon = time.Hour

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

// rebaseTo makes a counter the new variant sends with value next flow on from shown, the value it
// flowed with.
func (c *Continuity) rebaseTo(res, key uint64, shown, next float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(res, key, carry{off: shown - next})
}

// end remembers a counter a handover ended with the value it flowed with last.
func (c *Continuity) end(res, key uint64, shown float64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(res, key, carry{ended: true, shown: shown, endedAt: now})
}

func (c *Continuity) set(res, key uint64, x carry) {
	byKey := c.carries[res]
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

// Apply carries md's counters on: offsets added, an ended counter that is back rebased onto its end.
// Without anything carried it reads nothing of md.
func (c *Continuity) Apply(md pmetric.Metrics, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.carries) == 0 {
		return
	}
	if now.Sub(c.pruned) > time.Minute {
		c.prune(now)
	}
	rms := md.ResourceMetrics()
	for r := 0; r < rms.Len(); r++ {
		res := identity.Attrs(rms.At(r).Resource().Attributes())
		byKey := c.carries[res]
		if byKey == nil {
			continue
		}
		eachMetric(rms.At(r), func(_ pmetric.ScopeMetrics, m pmetric.Metric) {
			if !isCumulative(m) {
				return
			}
			dps := m.Sum().DataPoints()
			eachKey(m, res, func(k int, key uint64) {
				x, ok := byKey[key]
				p := counterPoint(m, k)
				if !ok || !p.counter {
					return // an end, or no sample: nothing to carry
				}
				if x.ended { // back: from the value it ended with
					x = carry{off: x.shown - p.v}
					c.set(res, key, x)
				}
				add(dps.At(k), x.off)
			})
		})
	}
}

// prune forgets ended counters older than Horizon.
func (c *Continuity) prune(now time.Time) {
	c.pruned = now
	for res, byKey := range c.carries {
		for key, x := range byKey {
			if x.ended && now.Sub(x.endedAt) > Horizon {
				delete(byKey, key)
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
