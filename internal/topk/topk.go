// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package topk reduces per-resource metrics (each process is a resource) to the top K resources of each host,
// plus always-kept ones, and rolls everything else into one "other" resource per host so that totals stay
// right. It works on pdata and knows nothing of the collector's pipeline.
package topk // import "github.com/phoenix-platform/otelcol-phoenix/internal/topk"

import (
	"cmp"
	"regexp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// RankMode says how the ranking metric becomes a score.
type RankMode int

const (
	RankAuto  RankMode = iota // rate for cumulative monotonic sums, value otherwise
	RankRate                  // per-second increase of a cumulative sum
	RankValue                 // current value of a gauge or non-monotonic sum
)

// Options are compiled settings (the processor validates and compiles its config into them).
type Options struct {
	K          int // resources kept by rank; 0 with GroupBy keeps every group
	RankMetric string
	RankMode   RankMode
	KeepAttr   string
	Keep       []*regexp.Regexp
	GroupBy    []string
	Drop       bool              // drop the rest instead of rolling it into other
	OtherAttrs map[string]string // marker attributes of the other resource
	Retention  int               // intervals a resource stays after leaving the top K
	Identity   []string          // resource attributes identifying a resource within a host
	HostAttrs  []string          // resource attributes identifying a host
}

// Stats describe one Process call.
type Stats struct {
	Resources int // resources in
	Kept      int // resources or groups output on their own
	Folded    int // resources or groups rolled into other (or dropped)
	Dropped   int // data points of non-number metrics that could not be rolled up
}

// Reducer holds the per-host state. Not safe for concurrent use.
type Reducer struct {
	opts  Options
	hosts map[uint64]*host
}

// New returns a Reducer.
func New(opts Options) *Reducer {
	return &Reducer{opts: opts, hosts: map[uint64]*host{}}
}

type host struct {
	tick     uint64
	prevTs   pcommon.Timestamp // latest point timestamp of the previous interval
	tracked  map[uint64]*tracked
	groups   map[uint64]*group
	other    *aggregate
	lastSeen uint64 // Reducer-wide call counter, for pruning hosts that went away
}

// tracked is a resource seen in the last interval.
type tracked struct {
	seen     uint64 // tick
	member   bool   // output on its own in the last interval it was seen
	outside  uint16 // intervals since it was last in the top K
	rankPrev float64
	rankTs   pcommon.Timestamp
	series   []seriesVal // last values of its cumulative monotonic series
}

type seriesVal struct {
	key uint64
	v   number
}

type group struct {
	tracked
	agg *aggregate
}

// unit is what is ranked: a resource, or a group of resources.
type unit struct {
	index  int // of rm in the batch
	id     uint64
	score  float64
	keep   bool
	rm     pmetric.ResourceMetrics // the resource (no group_by) or its first member
	state  *tracked
	grp    *group
	member bool
	// existed: state from an earlier interval; wasMemb: output on its own in the previous interval. A unit
	// that existed but was not output on its own hands this interval's increase to other (its own series
	// reappears with an old start time, which counts as no increase downstream); a new unit carries all of it.
	existed bool
	wasMemb bool
}

// TrackedResources is the number of resources and groups whose state is kept, across hosts.
func (r *Reducer) TrackedResources() int {
	n := 0
	for _, h := range r.hosts {
		n += len(h.tracked) + len(h.groups)
	}
	return n
}

// Process reduces md in place. Each call is one interval for every host it contains: put the processor
// where a call carries whole scrapes (before any batch processor).
func (r *Reducer) Process(md pmetric.Metrics) Stats {
	rms := md.ResourceMetrics()
	st := Stats{Resources: rms.Len()}
	byHost := map[uint64][]int{}
	var order []uint64
	for i := 0; i < rms.Len(); i++ {
		k := identity.Keys(rms.At(i).Resource().Attributes(), r.opts.HostAttrs)
		if _, ok := byHost[k]; !ok {
			order = append(order, k)
		}
		byHost[k] = append(byHost[k], i)
	}
	drop := make([]bool, rms.Len())
	var emit []*aggregate
	var emitTicks []uint64
	for _, hk := range order {
		h := r.hosts[hk]
		if h == nil {
			h = &host{tracked: map[uint64]*tracked{}, groups: map[uint64]*group{}}
			r.hosts[hk] = h
		}
		h.tick++
		out := r.reduceHost(h, rms, byHost[hk], drop, &st)
		for _, a := range out {
			emit = append(emit, a)
			emitTicks = append(emitTicks, h.tick)
		}
	}
	i := 0
	rms.RemoveIf(func(pmetric.ResourceMetrics) bool { i++; return drop[i-1] })
	for j, a := range emit {
		a.emit(rms, emitTicks[j])
	}
	return st
}

// reduceHost ranks one host's resources, marks the ones to remove in drop, and returns the aggregates to
// emit (groups kept on their own, then other).
func (r *Reducer) reduceHost(h *host, rms pmetric.ResourceMetricsSlice, idx []int, drop []bool, st *Stats) []*aggregate {
	o := &r.opts
	units := make([]unit, 0, len(idx))
	var maxTs pcommon.Timestamp
	grouped := len(o.GroupBy) > 0
	unitOf := map[uint64]int{}
	for _, i := range idx {
		rm := rms.At(i)
		attrs := rm.Resource().Attributes()
		id := identity.Keys(attrs, o.Identity)
		t, existed := h.tracked[id]
		if !existed {
			t = &tracked{}
			h.tracked[id] = t
		}
		t.seen = h.tick // pruning keeps only resources seen in the previous interval
		score, ts := r.rank(rm, t)
		maxTs = max(maxTs, ts)
		if !grouped {
			units = append(units, unit{index: i, id: id, score: score, keep: r.keep(attrs), rm: rm, state: t,
				existed: existed, wasMemb: existed && t.member})
			continue
		}
		gid := identity.Keys(attrs, o.GroupBy)
		ui, ok := unitOf[gid]
		if !ok {
			g, existed := h.groups[gid]
			if !existed {
				g = &group{agg: newAggregate(groupAttrs(attrs, o.HostAttrs, o.GroupBy), rm)}
				h.groups[gid] = g
			}
			wasMemb := existed && g.member && g.seen == h.tick-1
			g.seen = h.tick
			ui = len(units)
			unitOf[gid] = ui
			units = append(units, unit{id: gid, rm: rm, state: &g.tracked, grp: g, keep: r.keep(g.agg.attrs),
				existed: existed, wasMemb: wasMemb})
		}
		units[ui].score += score
		r.fold(h, rm, t, units[ui].grp.agg, true, st)
		drop[i] = true
	}
	r.select_(h, units)

	if h.other == nil && !o.Drop {
		first := rms.At(idx[0])
		h.other = newAggregate(otherAttrs(first.Resource().Attributes(), o.HostAttrs, o.OtherAttrs), first)
	}
	var out []*aggregate
	for k := range units {
		u := &units[k]
		if u.member {
			st.Kept++
		} else {
			st.Folded++
		}
		switch {
		case grouped && u.member:
			if u.existed && !u.wasMemb && !o.Drop {
				u.grp.agg.foldInto(h.other, h.tick, h.prevTs, false)
			}
			out = append(out, u.grp.agg)
		case grouped && !o.Drop:
			u.grp.agg.foldInto(h.other, h.tick, h.prevTs, true)
		case grouped:
		case u.member:
			if u.existed && !u.wasMemb && !o.Drop {
				r.fold(h, u.rm, u.state, h.other, false, st) // increases only: its gauges are its own
			} else {
				r.remember(h, u.rm, u.state)
			}
		default:
			if !o.Drop {
				r.fold(h, u.rm, u.state, h.other, true, st)
			}
			drop[u.index] = true
		}
	}
	if h.other != nil && !o.Drop && len(h.other.series) > 0 {
		h.other.lastTs = max(h.other.lastTs, maxTs)
		out = append(out, h.other) // every interval once it exists: its cumulative totals carry on
	}
	h.prevTs = maxTs
	r.prune(h)
	return out
}

// select_ decides which units are output on their own: the keep list, the top K by score, and those that
// left the top K fewer than Retention intervals ago.
func (r *Reducer) select_(h *host, units []unit) {
	o := &r.opts
	ranked := make([]*unit, 0, len(units))
	for k := range units {
		if !units[k].keep {
			ranked = append(ranked, &units[k])
		}
	}
	slices.SortFunc(ranked, func(a, b *unit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	k := o.K
	if k == 0 && len(o.GroupBy) > 0 {
		k = len(ranked)
	}
	for i, u := range ranked {
		top := i < k
		switch {
		case top:
			u.state.outside = 0
			u.member = true
		case u.wasMemb && int(u.state.outside) < o.Retention:
			u.state.outside++
			u.member = true
		default:
			u.member = false
		}
	}
	for k := range units {
		if units[k].keep {
			units[k].member = true
			units[k].state.outside = 0
		}
		units[k].state.member = units[k].member
	}
}

// rank returns the resource's score and its latest point timestamp, and remembers what a rate needs.
func (r *Reducer) rank(rm pmetric.ResourceMetrics, t *tracked) (float64, pcommon.Timestamp) {
	var total float64
	var ts, start pcommon.Timestamp
	mode := r.opts.RankMode
	found := false
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, monotonic bool) {
		for k := 0; k < dps.Len(); k++ {
			ts = max(ts, dps.At(k).Timestamp())
		}
		if m.Name() != r.opts.RankMetric {
			return
		}
		found = true
		if mode == RankAuto {
			mode = RankValue
			if monotonic {
				mode = RankRate
			}
		}
		for k := 0; k < dps.Len(); k++ {
			dp := dps.At(k)
			total += value(dp)
			start = dp.StartTimestamp()
		}
	}, nil)
	if !found {
		return 0, ts
	}
	if mode == RankValue {
		return total, ts
	}
	var rate float64
	switch {
	case t.rankTs != 0 && ts > t.rankTs && total >= t.rankPrev:
		rate = (total - t.rankPrev) / float64(ts-t.rankTs) * 1e9
	case start != 0 && ts > start: // first sight: the average since the process started
		rate = total / float64(ts-start) * 1e9
	}
	t.rankPrev, t.rankTs = total, ts
	return rate, ts
}

func (r *Reducer) keep(attrs pcommon.Map) bool {
	if r.opts.KeepAttr == "" {
		return false
	}
	v, ok := attrs.Get(r.opts.KeepAttr)
	if !ok {
		return false
	}
	s := v.AsString()
	for _, re := range r.opts.Keep {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// fold adds a resource into an aggregate: the increase of each cumulative monotonic series since the
// previous interval (a series first seen counts whole if it started after the previous interval, else it
// only sets the baseline), and with all=true the current value of every other number series. It also
// remembers the cumulative values for the next interval.
func (r *Reducer) fold(h *host, rm pmetric.ResourceMetrics, t *tracked, dst *aggregate, all bool, st *Stats) {
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, monotonic bool) {
		if !monotonic && !all {
			return
		}
		for k := 0; k < dps.Len(); k++ {
			dp := dps.At(k)
			key := seriesKeyOf(m.Name(), dp.Attributes())
			v := numberOf(dp)
			if monotonic {
				dst.addIncrease(h.tick, h.prevTs, key, m, dp, t.advance(key, v, dp, h.prevTs))
			} else {
				dst.addCurrent(h.tick, h.prevTs, key, m, dp, v)
			}
		}
	}, func(m pmetric.Metric) {
		if all {
			st.Dropped += pointCount(m)
		}
	})
}

// remember stores the cumulative values of a resource that is output on its own.
func (r *Reducer) remember(h *host, rm pmetric.ResourceMetrics, t *tracked) {
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, monotonic bool) {
		if !monotonic {
			return
		}
		for k := 0; k < dps.Len(); k++ {
			dp := dps.At(k)
			t.advance(seriesKeyOf(m.Name(), dp.Attributes()), numberOf(dp), dp, h.prevTs)
		}
	}, nil)
}

// forEachNumber calls number for every gauge or sum of a resource, and other (if set) for the rest.
func forEachNumber(rm pmetric.ResourceMetrics, number func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, monotonic bool), other func(m pmetric.Metric)) {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if dps, monotonic, ok := numberPoints(m); ok {
				number(m, dps, monotonic)
			} else if other != nil {
				other(m)
			}
		}
	}
}

// advance records a cumulative series' new value in place and returns its increase since the previous
// interval (a series first seen counts whole if it started after the previous interval, else it only sets the
// baseline; a value below the last is a reset, counted from zero).
func (t *tracked) advance(key uint64, v number, dp pmetric.NumberDataPoint, prevTs pcommon.Timestamp) number {
	for i := range t.series {
		p := &t.series[i]
		if p.key != key {
			continue
		}
		inc := number{i: v.i - p.v.i, f: v.f - p.v.f}
		if v.i < p.v.i || v.f < p.v.f {
			inc = v
		}
		p.v = v
		return inc
	}
	t.series = append(t.series, seriesVal{key: key, v: v})
	if prevTs != 0 && dp.StartTimestamp() >= prevTs {
		return v
	}
	return number{}
}

// prune forgets resources and groups not seen in this interval: state stays bounded by what is live.
func (r *Reducer) prune(h *host) {
	for id, t := range h.tracked {
		if t.seen != h.tick {
			delete(h.tracked, id)
		}
	}
	for id, g := range h.groups {
		if g.seen+uint64(r.opts.Retention) < h.tick {
			delete(h.groups, id)
		}
	}
}

func numberPoints(m pmetric.Metric) (pmetric.NumberDataPointSlice, bool, bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints(), false, true
	case pmetric.MetricTypeSum:
		s := m.Sum()
		return s.DataPoints(), s.IsMonotonic() && s.AggregationTemporality() == pmetric.AggregationTemporalityCumulative, true
	}
	return pmetric.NumberDataPointSlice{}, false, false
}

func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

func numberOf(dp pmetric.NumberDataPoint) number {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return number{i: dp.IntValue()}
	}
	return number{f: dp.DoubleValue()}
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// otherAttrs are the host's attributes plus the marker.
func otherAttrs(src pcommon.Map, hostAttrs []string, marker map[string]string) pcommon.Map {
	m := pcommon.NewMap()
	copyKeys(src, m, hostAttrs)
	for k, v := range marker {
		m.PutStr(k, v)
	}
	return m
}

// groupAttrs are the host's attributes plus the group_by keys.
func groupAttrs(src pcommon.Map, hostAttrs, groupBy []string) pcommon.Map {
	m := pcommon.NewMap()
	copyKeys(src, m, hostAttrs)
	copyKeys(src, m, groupBy)
	return m
}

func copyKeys(src, dst pcommon.Map, keys []string) {
	for _, k := range keys {
		if v, ok := src.Get(k); ok {
			v.CopyTo(dst.PutEmpty(k))
		}
	}
}
