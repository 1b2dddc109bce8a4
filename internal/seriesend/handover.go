// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import (
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// Handover ends, in what flows after a switch, the series the previous variant sent and the new one does
// not. Without it a backend keeps counting them next to the new variant's rollup of them: for its lookback
// (5 min) behind remote write, until metric_expiration behind the prometheus exporter.
//
// A counter (a cumulative monotonic sum) first flows once more with the previous variant's value of the
// switch's batch, and ends at its next batch: the growth up to the switch is its own, and the new variant's
// rollup, rebased onto the previous one's (Continuity), carries it on from there. Anything else ends at once,
// since a rollup that already counts it would count it twice.
//
// A series is its resource's attributes, its metric's name and its point's attributes: coarser than a
// backend's (no scope, unit or type), so a series the new variant sends is never ended; one that only its
// scope tells apart is left to the backend's lookback, as without a handover.
type Handover struct {
	cont  *Continuity // nil: counters both send are left as they are
	mu    sync.Mutex
	state map[uint64]seriesState
	ended int
}

// seriesState is a series' part in a handover.
type seriesState struct {
	step  uint8
	res   uint64  // its resource's hash
	shown float64 // lastValue: the value it flowed with
}

const (
	unseen    uint8 = iota
	lastValue       // a counter the new variant did not send flowed once more with the previous one's value
	handled         // rebased, or the new variant's own: it flows as the new variant sends it
	ended           // its end flowed: nothing more until a variant that flows sends it again
)

// NewHandover starts the handover of one switch; counters both variants send are rebased in cont (nil:
// not).
func NewHandover(cont *Continuity) *Handover {
	return &Handover{cont: cont, state: map[uint64]seriesState{}}
}

// Switch carries the handover on through a further switch made while it runs: what the new variant sends
// is judged afresh against the variant that flowed before it, while the series already ended, and the
// counters still showing a previous variant's last value, carry on as they were.
func (h *Handover) Switch() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, st := range h.state {
		if st.step == handled {
			delete(h.state, key)
		}
	}
}

// Finish ends the handover: a counter still showing a previous variant's last value (its end never came:
// no later batch had it) is remembered with that value, so it carries on from it if it comes back.
func (h *Handover) Finish(now time.Time) {
	if h.cont == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, st := range h.state {
		if st.step == lastValue {
			h.cont.end(st.res, key, st.shown, now)
		}
	}
}

// Ended is the number of series ended so far.
func (h *Handover) Ended() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ended
}

// sentPoint is what the new variant sent of a series: its value, if a counter's.
type sentPoint struct {
	counter bool
	end     bool // a counter's end that says where it stopped (topk's do): v
	v       float64
	res     uint64
	stale   pmetric.NumberDataPoint // a counter's end (any value), in out
}

// End hands over one batch: prevs are the outputs of this batch of the variants that flowed before, the
// latest first, and out the new variant's. It appends to out the series of prevs[0] that out does not
// have — a counter's last value, or an end (NoRecordedValue) — and rebases, once, the counters both have
// onto the value that flowed. Of the earlier variants' outputs (switches made while the handover ran)
// only the counters still showing their last value are read: to end them, or to rebase them. A series
// the new variant sends without the previous one is its own from then on. Delta sums and delta histograms
// are left: an exporter turns them into a running total that would restart when they come back. It
// returns the number of ends added.
func (h *Handover) End(prevs []pmetric.Metrics, out pmetric.Metrics, now time.Time) int {
	return h.end(prevs, out, now, true)
}

// EndPending is End for the last batch of the handover: only the counters still showing their last value
// are ended (or rebased); nothing new starts to flow once more.
func (h *Handover) EndPending(prevs []pmetric.Metrics, out pmetric.Metrics, now time.Time) int {
	return h.end(prevs, out, now, false)
}

func (h *Handover) end(prevs []pmetric.Metrics, out pmetric.Metrics, now time.Time, latest bool) int {
	sent := map[uint64]sentPoint{}
	orms := out.ResourceMetrics()
	for r := 0; r < orms.Len(); r++ {
		res := identity.Attrs(orms.At(r).Resource().Attributes())
		eachMetric(orms.At(r), func(_ pmetric.ScopeMetrics, m pmetric.Metric) {
			eachKey(m, res, func(k int, key uint64) {
				p := counterPoint(m, k)
				p.res = res
				if isCumulative(m) && m.Sum().DataPoints().At(k).Flags().NoRecordedValue() {
					p.stale = m.Sum().DataPoints().At(k)
				}
				sent[key] = p
			})
		})
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	added := pmetric.NewResourceMetricsSlice()
	done := map[uint64]struct{}{} // this batch: a series two prevs have, or one twice, is handed over once
	n := 0
	for i, prev := range prevs {
		n += h.endFrom(prev, latest && i == 0, sent, done, added, now)
	}
	for key, p := range sent {
		if _, ok := done[key]; ok {
			continue
		}
		switch st := h.state[key]; st.step {
		case unseen, ended:
			h.state[key] = seriesState{step: handled}
		case lastValue: // back in a variant that flows, none of prevs sent it: from the value it flowed with
			if p.counter && h.cont != nil {
				h.cont.rebaseTo(p.res, key, st.shown, p.v)
			}
			h.state[key] = seriesState{step: handled}
		}
	}
	for r := 0; r < added.Len(); r++ {
		sms := added.At(r).ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			LastInMetric(sms.At(s).Metrics())
		}
	}
	added.MoveAndAppendTo(orms)
	h.ended += n
	return n
}

// endFrom hands over what one previous variant's output has and out has not (see End); latest: it is the
// output of the variant that flowed last, else only counters showing their last value are read.
func (h *Handover) endFrom(prev pmetric.Metrics, latest bool, sent map[uint64]sentPoint, done map[uint64]struct{}, added pmetric.ResourceMetricsSlice, now time.Time) int {
	n := 0
	prms := prev.ResourceMetrics()
	for r := 0; r < prms.Len(); r++ {
		rm := prms.At(r)
		res := identity.Attrs(rm.Resource().Attributes())
		var addRM pmetric.ResourceMetrics
		var addSM, lastSM pmetric.ScopeMetrics
		scope := func(sm pmetric.ScopeMetrics) pmetric.MetricSlice {
			if addRM == (pmetric.ResourceMetrics{}) {
				addRM = added.AppendEmpty()
				rm.Resource().CopyTo(addRM.Resource())
				addRM.SetSchemaUrl(rm.SchemaUrl())
			}
			if addSM == (pmetric.ScopeMetrics{}) || lastSM != sm {
				addSM, lastSM = addRM.ScopeMetrics().AppendEmpty(), sm
				sm.Scope().CopyTo(addSM.Scope())
				addSM.SetSchemaUrl(sm.SchemaUrl())
			}
			return addSM.Metrics()
		}
		eachMetric(rm, func(sm pmetric.ScopeMetrics, m pmetric.Metric) {
			if isDelta(m) {
				return
			}
			var last, ends []int
			eachKey(m, res, func(k int, key uint64) {
				st := h.state[key]
				if _, twice := done[key]; twice || st.step == handled || st.step == ended || !latest && st.step != lastValue {
					return
				}
				done[key] = struct{}{}
				if st.step == unseen && h.cont != nil && h.cont.isEnded(res, key) {
					// It did not flow since its end: nothing to hand over; if it flows, it carries on
					// from its end (Continuity.Apply).
					h.state[key] = seriesState{step: handled}
					return
				}
				next, both := sent[key]
				was := counterPoint(m, k)
				if (was.counter || was.end) && st.step == unseen && h.cont != nil {
					was.v += h.cont.offset(res, key) // as it flowed
				}
				switch {
				case both && next.stale != (pmetric.NumberDataPoint{}) && was.counter && st.step == unseen:
					// The new variant ends a counter the previous one sent: it flows once more with the
					// previous one's value instead, its growth up to the switch its own, and ends next time.
					dp := m.Sum().DataPoints().At(k)
					next.stale.SetFlags(pmetric.DefaultDataPointFlags)
					next.stale.SetStartTimestamp(dp.StartTimestamp())
					setValue(next.stale, value(dp))
					h.state[key] = seriesState{step: lastValue, res: res, shown: was.v}
				case !both && was.counter && st.step == unseen:
					last, h.state[key] = append(last, k), seriesState{step: lastValue, res: res, shown: was.v}
				case !both:
					ends, h.state[key] = append(ends, k), seriesState{step: ended}
					if h.cont != nil && st.step == lastValue {
						h.cont.end(res, key, st.shown, now)
					}
				case next.counter && (was.counter || was.end || st.step == lastValue):
					if st.step == lastValue {
						was.v = st.shown
					}
					if h.cont != nil {
						h.cont.rebaseTo(res, key, was.v, next.v)
					}
					h.state[key] = seriesState{step: handled}
				case !was.counter && !next.counter:
					h.state[key] = seriesState{step: handled} // a gauge sent by both
				}
			})
			if len(last) > 0 {
				keepPoints(m, scope(sm).AppendEmpty(), last, false)
			}
			if len(ends) > 0 {
				keepPoints(m, scope(sm).AppendEmpty(), ends, true)
				n += len(ends)
			}
		})
	}
	return n
}

// counterPoint is point k of m as a counter's sample: a cumulative monotonic sum's finite value, or the
// positive value its end carries.
func counterPoint(m pmetric.Metric, k int) sentPoint {
	if !isCumulative(m) {
		return sentPoint{}
	}
	dp := m.Sum().DataPoints().At(k)
	v := value(dp)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return sentPoint{}
	case dp.Flags().NoRecordedValue():
		return sentPoint{end: v > 0, v: v}
	}
	return sentPoint{counter: true, v: v}
}

func eachMetric(rm pmetric.ResourceMetrics, f func(pmetric.ScopeMetrics, pmetric.Metric)) {
	sms := rm.ScopeMetrics()
	for s := 0; s < sms.Len(); s++ {
		ms := sms.At(s).Metrics()
		for m := 0; m < ms.Len(); m++ {
			f(sms.At(s), ms.At(m))
		}
	}
}

func isDelta(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	}
	return false
}

// eachKey calls f with each point's index and series key.
func eachKey(m pmetric.Metric, res uint64, f func(k int, key uint64)) {
	name := identity.String(m.Name())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		keys(m.Gauge().DataPoints(), res, name, f)
	case pmetric.MetricTypeSum:
		keys(m.Sum().DataPoints(), res, name, f)
	case pmetric.MetricTypeHistogram:
		keys(m.Histogram().DataPoints(), res, name, f)
	case pmetric.MetricTypeExponentialHistogram:
		keys(m.ExponentialHistogram().DataPoints(), res, name, f)
	case pmetric.MetricTypeSummary:
		keys(m.Summary().DataPoints(), res, name, f)
	}
}

// keepPoints copies m into dst with only the points at the indexes given, flagged NoRecordedValue if end.
func keepPoints(m, dst pmetric.Metric, at []int, end bool) {
	m.CopyTo(dst)
	switch dst.Type() {
	case pmetric.MetricTypeGauge:
		keep(dst.Gauge().DataPoints(), at, end)
	case pmetric.MetricTypeSum:
		keep(dst.Sum().DataPoints(), at, end)
	case pmetric.MetricTypeHistogram:
		keep(dst.Histogram().DataPoints(), at, end)
	case pmetric.MetricTypeExponentialHistogram:
		keep(dst.ExponentialHistogram().DataPoints(), at, end)
	case pmetric.MetricTypeSummary:
		keep(dst.Summary().DataPoints(), at, end)
	}
}

type point interface {
	Attributes() pcommon.Map
	Flags() pmetric.DataPointFlags
	SetFlags(pmetric.DataPointFlags)
}

type points[P point] interface {
	Len() int
	At(int) P
	RemoveIf(func(P) bool)
}

func keys[P point, S points[P]](dps S, res, name uint64, f func(k int, key uint64)) {
	for k := 0; k < dps.Len(); k++ {
		f(k, identity.Series(res, name, dps.At(k).Attributes()))
	}
}

func keep[P point, S points[P]](dps S, at []int, end bool) {
	k, j := -1, 0 // at is ascending
	dps.RemoveIf(func(P) bool {
		k++
		if j < len(at) && at[j] == k {
			j++
			return false
		}
		return true
	})
	for i := 0; end && i < dps.Len(); i++ {
		dps.At(i).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
}
