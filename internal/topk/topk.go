// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package topk reduces per-process metrics (each process is a resource) to the top K processes of each
// host, plus always-kept ones, and rolls everything else into one "other" resource per host so that the
// totals a backend computes stay right. It works on pdata and knows nothing of the collector's pipeline.
//
// The rules that keep a backend's sums right, whatever the topology:
//   - only processes are touched: a resource is a process when it carries every identity attribute; all
//     other resources (system metrics, application metrics) pass through unchanged;
//   - state is per process and per series, ordered by the points' timestamps, not by batches: batches from
//     several receivers or agents for one host, split or out-of-order batches, never reset each other;
//   - a counter's increase goes to exactly one output series: its own while the process is kept, other's
//     (or its group's) while it is rolled up; a process that comes back carries on from the value it left
//     with, so rate() and increase() never count the same growth twice;
//   - a series that leaves the output ends with a NoRecordedValue point, so a backend stops it at once;
//   - gauges in other are the sum of the rolled-up processes' latest values, from state: every batch
//     carries the same total for the same instant.
package topk // import "github.com/phoenix-platform/otelcol-phoenix/internal/topk"

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
	"github.com/phoenix-platform/otelcol-phoenix/internal/seriesend"
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
	// Identity are the resource attributes a process carries (e.g. process.pid): a resource without all of
	// them is not a process and passes through unchanged.
	Identity []string
	// NotProcess are resource attributes of applications' own resources (service.name): a resource
	// carrying any of them is not a scraped process, even with the identity attributes (SDKs' process
	// detectors add process.pid and process.executable.name), and passes through unchanged.
	NotProcess []string
	HostAttrs  []string // resource attributes identifying a host
	// ForgetAfter is how many intervals a process, group or host is remembered after its last report.
	ForgetAfter int
}

// Stats describe one Process call.
type Stats struct {
	Resources int // process resources in
	Passed    int // resources that are not processes, passed through
	Kept      int // processes or groups output on their own
	Folded    int // processes or groups rolled into other (or dropped)
	Dropped   int // data points of non-number metrics that could not be rolled up
	Ignored   int // number points left out of other: out of order, NaN or NoRecordedValue
}

// Reducer holds the per-host state. Not safe for concurrent use.
type Reducer struct {
	opts      Options
	hosts     map[uint64]*host
	now       func() time.Time // wall clock: only to forget hosts that stopped reporting
	lastSweep time.Time
}

// New returns a Reducer.
func New(opts Options) *Reducer {
	if opts.ForgetAfter < 1 {
		opts.ForgetAfter = 1
	}
	return &Reducer{opts: opts, hosts: map[uint64]*host{}, now: time.Now}
}

// SetClock replaces the wall clock (tests).
func (r *Reducer) SetClock(now func() time.Time) { r.now = now }

// TrackedResources is the number of processes and groups whose state is kept, across hosts.
func (r *Reducer) TrackedResources() int {
	n := 0
	for _, h := range r.hosts {
		n += len(h.procs) + len(h.groups)
	}
	return n
}

// Hosts is the number of hosts whose state is kept.
func (r *Reducer) Hosts() int { return len(r.hosts) }

// sighting is one process resource of the batch being processed.
type sighting struct {
	index   int
	p       *proc
	advance bool // its points are newer than any seen before: a new report, which may change membership
}

// Process reduces md in place.
func (r *Reducer) Process(md pmetric.Metrics) Stats {
	rms := md.ResourceMetrics()
	st := Stats{}
	batch := map[*host][]sighting{}
	var order []*host
	wall := r.now()
	for i := 0; i < rms.Len(); i++ {
		attrs := rms.At(i).Resource().Attributes()
		if !r.isProcess(attrs) {
			st.Passed++
			continue
		}
		if !saneTime(rms.At(i), wall) {
			st.Passed++
			st.Ignored += rms.At(i).ScopeMetrics().Len()
			continue
		}
		st.Resources++
		h := r.hostOf(attrs)
		if _, ok := batch[h]; !ok {
			order = append(order, h)
		}
		batch[h] = append(batch[h], h.sight(r, i, rms.At(i)))
	}
	drop := make([]bool, rms.Len())
	var emit []*aggregate
	for _, h := range order {
		h.wall = wall
		emit = r.reduceHost(h, rms, batch[h], drop, emit, &st)
	}
	i := 0
	rms.RemoveIf(func(pmetric.ResourceMetrics) bool { i++; return drop[i-1] })
	for _, a := range emit {
		a.emit(rms)
	}
	r.sweepHosts(wall)
	return st
}

func (r *Reducer) isProcess(attrs pcommon.Map) bool {
	for _, k := range r.opts.Identity {
		if _, ok := attrs.Get(k); !ok {
			return false
		}
	}
	for _, k := range r.opts.NotProcess {
		if _, ok := attrs.Get(k); ok {
			return false
		}
	}
	return len(r.opts.Identity) > 0
}

// maxFuture is how far ahead of the collector's clock a process's points may be; beyond (or at time 0)
// they would move the host's clock for good, and the resource passes through untouched.
const maxFuture = time.Hour

// saneTime says whether a resource's newest point can drive the host's clock.
func saneTime(rm pmetric.ResourceMetrics, wall time.Time) bool {
	var ts pcommon.Timestamp
	forEachNumber(rm, func(_ pmetric.Metric, dps pmetric.NumberDataPointSlice, _ seriesKind) {
		for k := 0; k < dps.Len(); k++ {
			ts = max(ts, dps.At(k).Timestamp())
		}
	}, nil)
	return ts != 0 && ts.AsTime().Before(wall.Add(maxFuture))
}

func (r *Reducer) hostOf(attrs pcommon.Map) *host {
	k := identity.Keys(attrs, r.opts.HostAttrs)
	h := r.hosts[k]
	if h == nil {
		h = &host{procs: map[uint64]*proc{}, groups: map[uint64]*group{}, attrs: pcommon.NewMap(), sources: map[string]*source{}}
		copyKeys(attrs, h.attrs, r.opts.HostAttrs)
		r.hosts[k] = h
	}
	return h
}

// reduceHost decides, for each process of the batch, where its points go, and appends the aggregates to
// emit for this host (kept groups, then other).
func (r *Reducer) reduceHost(h *host, rms pmetric.ResourceMetricsSlice, seen []sighting, drop []bool, emit []*aggregate, st *Stats) []*aggregate {
	o := &r.opts
	r.decide(h, seen)
	if h.other == nil && !o.Drop {
		h.other = newAggregate(otherAttrs(h.attrs, o.OtherAttrs), rms.At(seen[0].index))
	}
	for _, s := range seen {
		rm, p := rms.At(s.index), s.p
		u := p.unit()
		if u.member {
			st.Kept++
		} else {
			st.Folded++
		}
		switch {
		case p.grp != nil:
			dest := h.other
			if u.member {
				dest = p.grp.agg
			}
			p.fold(rm, dest, h.other, st)
			drop[s.index] = true
		case u.member:
			p.pass(rm, h.other, st)
		default:
			p.fold(rm, h.other, h.other, st)
			if p.emitted {
				p.showLast(rm)
				markStale(rm) // its own series ends here; other carries it on
				p.emitted = false
			} else {
				drop[s.index] = true
			}
		}
	}
	h.refresh()
	for _, g := range h.groupOrder() { // every report, as other: a group that lost members shows it at once
		switch {
		case g.member:
			emit = append(emit, g.agg)
			g.emitted = true
		case g.emitted:
			g.agg.ending = true // its series end here; other carries them on
			emit = append(emit, g.agg)
			g.emitted = false
		}
	}
	if h.other != nil && h.other.hasSeries() {
		emit = append(emit, h.other) // every report once it exists: its cumulative totals carry on
	}
	r.forget(h)
	return emit
}

// decide ranks the host's live units (processes, or groups) and updates the membership of those with a
// new report in this batch: the keep list, the top K by score, and those that left the top K at most
// Retention reports ago.
func (r *Reducer) decide(h *host, seen []sighting) {
	o := &r.opts
	grouped := len(o.GroupBy) > 0
	var units []*unitState
	if grouped {
		for _, g := range h.groups {
			g.score = 0
		}
		for _, p := range h.procs {
			if h.fresh(p) {
				p.grp.score += p.score
			}
		}
		for _, g := range h.groups {
			if !g.keep && !g.asOther && g.procs > 0 {
				units = append(units, &g.unitState)
			}
		}
	} else {
		for _, p := range h.procs {
			if !p.keep && h.fresh(p) {
				units = append(units, &p.unitState)
			}
		}
	}
	k := o.K
	if k == 0 && grouped {
		k = len(units)
	}
	if k < len(units) {
		slices.SortFunc(units, func(a, b *unitState) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
	}
	for i, u := range units {
		u.top = i < k
	}
	h.batch++
	for _, s := range seen {
		u := s.p.unit()
		if !s.advance || u.decided == h.batch {
			continue // an old or repeated report, or a group decided already: membership stays
		}
		u.decided = h.batch
		switch {
		case s.p.grp != nil && s.p.grp.asOther:
			u.member = false
		case u.keep || u.top:
			u.outside, u.member = 0, true
		case u.member && int(u.outside) < o.Retention:
			u.outside++
		default:
			u.member = false
		}
	}
}

// forget drops processes not reported for ForgetAfter intervals, and groups without processes. It runs
// after the host's aggregates were listed for this report and before they are emitted.
func (r *Reducer) forget(h *host) {
	limit := h.forgetAfter(r.opts.ForgetAfter)
	if limit == 0 {
		return
	}
	for id, p := range h.procs {
		// A process whose own series show less than its counters (rolled up at some point) is kept ten
		// times longer: back as a new process it would show its raw value, and a backend would count
		// again what other counted.
		l, age := p.src.forgetAfter(r.opts.ForgetAfter), p.src.latest-p.ts
		if l > 0 && age > l && (!p.shiftedAny() || age > 10*l) {
			delete(h.procs, id)
			if p.grp != nil {
				p.grp.procs--
			}
		}
	}
	// A group's totals must not restart while a backend may still hold them: an empty group is kept ten
	// times longer than a process.
	for id, g := range h.groups {
		if g.procs == 0 && h.latest-g.ts > 10*limit {
			// Its totals were carried on until now, unchanged: this report's emission ends them instead (an
			// emitted group is always in it), or a backend would hold them for its lookback.
			g.agg.ending = g.agg.ending || g.emitted
			delete(h.groups, id)
		}
	}
}

// sweepHosts forgets hosts that stopped reporting, once a second at most: a host is gone when no report came
// for ForgetAfter of its intervals by the wall clock.
func (r *Reducer) sweepHosts(wall time.Time) {
	if wall.Sub(r.lastSweep) < time.Second {
		return
	}
	r.lastSweep = wall
	for k, h := range r.hosts {
		// Ten times the processes' limit: a host back from an outage finds its processes' shifted state.
		limit := 10 * time.Duration(h.forgetAfter(r.opts.ForgetAfter))
		if limit == 0 {
			limit = time.Duration(r.opts.ForgetAfter) * time.Minute // no interval known yet
		}
		if wall.Sub(h.wall) > limit {
			delete(r.hosts, k)
		}
	}
}

// host is one host's state.
type host struct {
	attrs   pcommon.Map // host attributes, copied onto other and groups
	procs   map[uint64]*proc
	groups  map[uint64]*group
	other   *aggregate
	latest  pcommon.Timestamp // newest point of any process: when aggregates are emitted
	sources map[string]*source
	wall    time.Time // when the host last reported, by the wall clock
	batch   uint64    // batches that carried the host
}

// fresh says whether a process was in its source's latest report, and so counts in other's gauges and in
// the ranking: its newest point is less than half an interval older than the host's (the points of one
// scrape are much closer; a process that missed the latest scrape is a whole interval behind). An exited
// process leaves other's gauges at the first report without it, as its own series would end.
func (h *host) fresh(p *proc) bool {
	c := p.src
	return c.interval == 0 || c.latest-p.ts < c.interval/2
}

// source is the clock of one source of a host's processes (a receiver's scraper, told apart by its
// instrumentation scope): two sources with their own cadences and phases do not age each other's
// processes, and a batch of one source between the other's scrapes changes nothing for the other.
type source struct {
	latest   pcommon.Timestamp // newest point
	interval pcommon.Timestamp // smoothed gap between a process's successive reports
}

// forgetAfter is how old a process's newest point may be before it is forgotten: n intervals, less half
// a one for the spread of scrape timestamps (n = 1 forgets a process missing from the latest scrape).
func (c *source) forgetAfter(n int) pcommon.Timestamp {
	return c.interval*pcommon.Timestamp(n) - c.interval/2
}

// forgetAfter is the longest of the host's sources'.
func (h *host) forgetAfter(n int) pcommon.Timestamp {
	var l pcommon.Timestamp
	for _, c := range h.sources {
		l = max(l, c.forgetAfter(n))
	}
	return l
}

func (h *host) sourceOf(rm pmetric.ResourceMetrics) *source {
	var scope string
	if rm.ScopeMetrics().Len() > 0 {
		scope = rm.ScopeMetrics().At(0).Scope().Name()
	}
	c := h.sources[scope]
	if c == nil {
		c = &source{}
		h.sources[scope] = c
	}
	return c
}

// groupOrder returns the host's groups in a stable order.
func (h *host) groupOrder() []*group {
	gs := make([]*group, 0, len(h.groups))
	for _, g := range h.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
	return gs
}

// refresh sets every aggregate's gauges to the sum of the latest values of its fresh processes, and its
// timestamp to the host's newest point.
func (h *host) refresh() {
	if h.other != nil {
		h.other.resetGauges(h.latest)
	}
	for _, g := range h.groups {
		g.agg.resetGauges(h.latest)
	}
	for _, p := range h.procs {
		dst := h.other
		switch {
		case p.grp != nil && p.grp.member:
			dst = p.grp.agg
		case p.grp == nil && p.member:
			continue
		}
		if dst == nil || !h.fresh(p) {
			continue
		}
		for _, g := range p.gauges {
			if !g.stale {
				dst.addGauge(g.key, g.v)
			}
		}
	}
}

// sight finds or creates the process of rm and updates its clock and score.
func (h *host) sight(r *Reducer, index int, rm pmetric.ResourceMetrics) sighting {
	attrs := rm.Resource().Attributes()
	id := identity.Attrs(attrs)
	p := h.procs[id]
	if p == nil {
		p = &proc{src: h.sourceOf(rm)}
		p.id = id
		p.keep = r.keep(attrs)
		if len(r.opts.GroupBy) > 0 {
			p.grp = h.groupOf(r, attrs, rm)
			p.grp.procs++
		}
		h.procs[id] = p
	}
	ts, score, ok := r.rank(rm, p)
	s := sighting{index: index, p: p, advance: ts > p.ts}
	if s.advance {
		if p.ts != 0 {
			p.src.observeGap(ts - p.ts)
		}
		p.ts = ts
		if ok {
			p.score = score
		}
	}
	h.latest = max(h.latest, ts)
	p.src.latest = max(p.src.latest, ts)
	if p.grp != nil {
		p.grp.ts = max(p.grp.ts, ts)
	}
	return s
}

// observeGap smooths the interval estimate; a process back after a long absence moves it little.
func (c *source) observeGap(gap pcommon.Timestamp) {
	if c.interval == 0 {
		c.interval = gap
		return
	}
	gap = min(gap, 4*c.interval)
	c.interval = pcommon.Timestamp(int64(c.interval) + (int64(gap)-int64(c.interval))/8)
}

func (h *host) groupOf(r *Reducer, attrs pcommon.Map, rm pmetric.ResourceMetrics) *group {
	gid := identity.Keys(attrs, r.opts.GroupBy)
	g := h.groups[gid]
	if g == nil {
		ga := pcommon.NewMap()
		h.attrs.CopyTo(ga)
		copyKeys(attrs, ga, r.opts.GroupBy)
		g = &group{agg: newAggregate(ga, rm)}
		g.id = gid
		g.keep = r.keep(ga)
		// A group that names itself like other (an executable called "other") would write other's
		// series with another value: it is rolled into other, never kept.
		g.asOther = !r.opts.Drop && sameAttrs(ga, otherAttrs(h.attrs, r.opts.OtherAttrs))
		h.groups[gid] = g
	}
	return g
}

// unitState is what is ranked: a process, or a group of processes.
type unitState struct {
	id      uint64
	score   float64
	keep    bool // on the keep list: always kept, never counted against K
	top     bool // in the top K at the last ranking
	member  bool // output on its own
	outside uint16
	decided uint64 // the host's batch whose report decided membership last
}

type group struct {
	unitState
	asOther bool // named like other: always rolled into it
	agg     *aggregate
	ts      pcommon.Timestamp // newest point of a member
	procs   int               // processes in the group
	emitted bool              // its series are in the output
}

// proc is one process's state.
type proc struct {
	unitState
	src      *source
	grp      *group
	ts       pcommon.Timestamp // newest point
	emitted  bool              // its own series are in the output (not rolled up, not ended)
	dest     *aggregate        // where its last report's growth went: nil for its own series
	reported bool              // dest is set
	rankPrev float64
	rankTs   pcommon.Timestamp
	counters []counter
	gauges   []gauge
}

// shiftedAny says whether some counter of the process shows less than its own value.
func (p *proc) shiftedAny() bool {
	for i := range p.counters {
		if p.counters[i].shifted {
			return true
		}
	}
	return false
}

// unit is what decides where the process's points go: its group's state, or its own.
func (p *proc) unit() *unitState {
	if p.grp != nil {
		return &p.grp.unitState
	}
	return &p.unitState
}

// counter is a cumulative or delta sum series of a process.
type counter struct {
	key   uint64
	last  float64
	start pcommon.Timestamp
	ts    pcommon.Timestamp
	// shifted: some of its growth went elsewhere while it was rolled up; out is the value it showed last,
	// and from then on it shows out + its own growth, so its own series never counts that growth again.
	shifted  bool
	out      float64
	outStart pcommon.Timestamp // the start time it shows while shifted: a new one would look like a reset
	shownTs  pcommon.Timestamp // delta: the last point shown on its own series
}

// gauge is a gauge or non-monotonic cumulative sum series of a process: its latest value.
type gauge struct {
	key   uint64
	v     float64
	ts    pcommon.Timestamp
	stale bool // no value yet, or ended upstream (NoRecordedValue)
}

// rank returns the resource's newest point timestamp and its score (ok false when it has no ranking metric
// or no new usable point), and remembers what a rate needs.
func (r *Reducer) rank(rm pmetric.ResourceMetrics, p *proc) (ts pcommon.Timestamp, score float64, ok bool) {
	var total float64
	var start pcommon.Timestamp
	mode := r.opts.RankMode
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, kind seriesKind) {
		for k := 0; k < dps.Len(); k++ {
			ts = max(ts, dps.At(k).Timestamp())
		}
		if m.Name() != r.opts.RankMetric {
			return
		}
		if mode == RankAuto {
			mode = RankValue
			if kind == kindCumulative {
				mode = RankRate
			}
		}
		for k := 0; k < dps.Len(); k++ {
			dp := dps.At(k)
			if v := value(dp); usable(dp, v) {
				total += v
				start = dp.StartTimestamp()
				ok = true
			}
		}
	}, nil)
	if !ok || ts <= p.rankTs {
		return ts, 0, false
	}
	if mode == RankValue {
		return ts, total, true
	}
	var rate float64
	switch {
	case p.rankTs != 0 && total >= p.rankPrev:
		rate = (total - p.rankPrev) / float64(ts-p.rankTs) * 1e9
	case start != 0 && ts > start: // first sight or a reset: the average since the process started
		rate = total / float64(ts-start) * 1e9
	}
	p.rankPrev, p.rankTs = total, ts
	return ts, rate, true
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

// growthTo says which series a report's growth belongs to: a backend counts growth on a series that has
// samples at both ends, so it stays with the destination of the previous report when that is also this
// one's, and goes to other (always emitted) otherwise. nil is the process's own series.
func (p *proc) growthTo(dest, other *aggregate) *aggregate {
	if !p.reported || p.dest == dest { // a first report has no growth
		return dest
	}
	return other
}

// pass handles a process output on its own: its points stay, a shifted counter shows its own growth only,
// and the growth of a report that follows one rolled up goes to other.
func (p *proc) pass(rm pmetric.ResourceMetrics, other *aggregate, st *Stats) {
	to := p.growthTo(nil, other)
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, kind seriesKind) {
		if kind == kindGauge {
			return // its gauges are its own; fold records them when it is rolled up
		}
		for k := 0; k < dps.Len(); k++ {
			dp := dps.At(k)
			key := seriesKeyOf(m.Name(), dp.Attributes())
			c, isNew := p.counterAt(k, key)
			inc, fresh := c.advance(dp, kind, isNew)
			if !fresh {
				if kind == kindCumulative && c.shifted {
					c.show(dp)
				}
				continue
			}
			if kind == kindDelta {
				if to != nil && !isNew {
					// Back from other, which counts this report's growth: the series carries on from its
					// last shown point, with nothing added.
					to.add(key, m, dp, kind, inc)
					setValue(dp, 0)
					if c.shownTs != 0 {
						dp.SetStartTimestamp(c.shownTs)
					}
				}
				c.shownTs = dp.Timestamp()
				continue
			}
			switch {
			case isNew:
			case to != nil: // back from other: other counts this report's growth
				to.add(key, m, dp, kind, inc)
				c.shifted = true
			case c.shifted:
				c.out += inc
			default:
				c.out, c.outStart = c.last, c.start
			}
			if c.shifted {
				c.show(dp)
			}
		}
	}, nil)
	p.dest, p.reported, p.emitted = nil, true, true
}

// fold adds a process's report into dest (its group, or other; nil drops it): each counter's growth since
// its previous point, and every gauge's latest value (summed by the aggregate when it is emitted).
func (p *proc) fold(rm pmetric.ResourceMetrics, dest, other *aggregate, st *Stats) {
	to := p.growthTo(dest, other)
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, kind seriesKind) {
		for k := 0; k < dps.Len(); k++ {
			dp := dps.At(k)
			key := seriesKeyOf(m.Name(), dp.Attributes())
			if kind == kindGauge {
				if !p.gaugeAt(k, key).set(dp) {
					st.Ignored++
				}
				if dest != nil {
					dest.declare(key, m, dp, kind)
				}
				continue
			}
			c, isNew := p.counterAt(k, key)
			inc, fresh := c.advance(dp, kind, isNew)
			if !fresh {
				st.Ignored++
				continue
			}
			if kind == kindCumulative && !isNew {
				c.shifted = true // its own series no longer shows this growth
			}
			if dest != nil {
				dest.declare(key, m, dp, kind)
			}
			if to != nil {
				to.add(key, m, dp, kind, inc)
			}
		}
	}, func(m pmetric.Metric) {
		st.Dropped += pointCount(m)
	})
	p.dest, p.reported = dest, true
}

// showLast sets each counter of a report that ends the process's series to the value it showed last, so
// the end says where the series stopped: a backend ignores it, a later switch carries on from it
// (seriesend.Continuity).
func (p *proc) showLast(rm pmetric.ResourceMetrics) {
	forEachNumber(rm, func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, kind seriesKind) {
		if kind != kindCumulative {
			return
		}
		for k := 0; k < dps.Len(); k++ {
			if c, isNew := p.counterAt(k, seriesKeyOf(m.Name(), dps.At(k).Attributes())); !isNew {
				c.show(dps.At(k))
			}
		}
	}, nil)
}

// counterAt finds the series at position pos (where it was last time) or by key, adding it when new.
func (p *proc) counterAt(pos int, key uint64) (*counter, bool) {
	if pos < len(p.counters) && p.counters[pos].key == key {
		return &p.counters[pos], false
	}
	for i := range p.counters {
		if p.counters[i].key == key {
			return &p.counters[i], false
		}
	}
	p.counters = append(p.counters, counter{key: key})
	return &p.counters[len(p.counters)-1], true
}

func (p *proc) gaugeAt(pos int, key uint64) *gauge {
	if pos < len(p.gauges) && p.gauges[pos].key == key {
		return &p.gauges[pos]
	}
	for i := range p.gauges {
		if p.gauges[i].key == key {
			return &p.gauges[i]
		}
	}
	p.gauges = append(p.gauges, gauge{key: key, stale: true})
	return &p.gauges[len(p.gauges)-1]
}

// advance takes a point of a sum series and returns its growth since the series' previous point, as a
// backend counts it, and false when the point adds nothing new (not newer than the last, NaN, no recorded
// value). A cumulative series' first point only sets where it starts (a backend counts growth between
// samples); a new start time or a lower value is a reset, counted from zero. A delta point is its growth.
func (c *counter) advance(dp pmetric.NumberDataPoint, kind seriesKind, isNew bool) (float64, bool) {
	v := value(dp)
	isNew = isNew || c.ts == 0
	switch {
	case !isNew && dp.Timestamp() <= c.ts:
		return 0, false // not newer than the last sample: a backend rejects it
	case dp.Flags().NoRecordedValue():
		// A staleness marker is a sample to a backend (older ones are rejected after it), but adds
		// nothing: the growth across it is counted from the last value.
		if !isNew {
			c.ts = dp.Timestamp()
		}
		return 0, false
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, false
	}
	c.ts = dp.Timestamp()
	if kind == kindDelta {
		if isNew {
			return 0, true // a backend takes a series' first delta as its starting value
		}
		return v, true
	}
	prev, prevStart := c.last, c.start
	c.last, c.start = v, dp.StartTimestamp()
	switch {
	case isNew:
		c.out, c.outStart = v, c.start
		return 0, true
	case v < prev || prevStart != 0 && c.start > prevStart:
		return v, true
	}
	return v - prev, true
}

// show writes what a shifted series shows: its own growth on top of where it left, from its first start.
func (c *counter) show(dp pmetric.NumberDataPoint) {
	setValue(dp, c.out)
	dp.SetStartTimestamp(c.outStart)
}

// set records a gauge's latest point; false when the point is older than the last or NaN.
func (g *gauge) set(dp pmetric.NumberDataPoint) bool {
	if dp.Timestamp() < g.ts {
		return false
	}
	if dp.Flags().NoRecordedValue() {
		g.stale, g.ts = true, dp.Timestamp()
		return true
	}
	v := value(dp)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	g.v, g.ts, g.stale = v, dp.Timestamp(), false
	return true
}

// usable says whether a point carries a value a backend would count.
func usable(dp pmetric.NumberDataPoint, v float64) bool {
	return !dp.Flags().NoRecordedValue() && !math.IsNaN(v) && !math.IsInf(v, 0)
}

type seriesKind int

const (
	kindGauge      seriesKind = iota // gauges and non-monotonic cumulative sums: a current value
	kindCumulative                   // cumulative monotonic sums
	kindDelta                        // delta sums: each point is a change
)

// forEachNumber calls number for every gauge or sum of a resource, and other (if set) for the rest.
func forEachNumber(rm pmetric.ResourceMetrics, number func(m pmetric.Metric, dps pmetric.NumberDataPointSlice, kind seriesKind), other func(m pmetric.Metric)) {
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if dps, kind, ok := numberPoints(m); ok {
				number(m, dps, kind)
			} else if other != nil {
				other(m)
			}
		}
	}
}

func numberPoints(m pmetric.Metric) (pmetric.NumberDataPointSlice, seriesKind, bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints(), kindGauge, true
	case pmetric.MetricTypeSum:
		s := m.Sum()
		switch {
		case s.AggregationTemporality() == pmetric.AggregationTemporalityDelta:
			return s.DataPoints(), kindDelta, true
		case s.IsMonotonic():
			return s.DataPoints(), kindCumulative, true
		}
		return s.DataPoints(), kindGauge, true
	}
	return pmetric.NumberDataPointSlice{}, kindGauge, false
}

// markStale turns every point of a resource into a NoRecordedValue point: the end of its series.
func markStale(rm pmetric.ResourceMetrics) {
	stale := pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Type() {
			case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
				dps, kind, _ := numberPoints(m)
				if kind == kindDelta {
					// A backend turns deltas into a running total; ending it would make the series' return
					// look like a reset. It stays, unchanged, until it comes back (pass) or expires.
					ms.RemoveIf(func(x pmetric.Metric) bool { return x.Name() == m.Name() && x.Type() == m.Type() })
					j--
					continue
				}
				for k := 0; k < dps.Len(); k++ {
					dps.At(k).SetFlags(stale)
				}
			case pmetric.MetricTypeHistogram:
				dps := m.Histogram().DataPoints()
				for k := 0; k < dps.Len(); k++ {
					dps.At(k).SetFlags(stale)
				}
			case pmetric.MetricTypeExponentialHistogram:
				dps := m.ExponentialHistogram().DataPoints()
				for k := 0; k < dps.Len(); k++ {
					dps.At(k).SetFlags(stale)
				}
			case pmetric.MetricTypeSummary:
				dps := m.Summary().DataPoints()
				for k := 0; k < dps.Len(); k++ {
					dps.At(k).SetFlags(stale)
				}
			}
		}
		seriesend.LastInMetric(ms)
	}
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

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// setValue writes v in the point's own value type.
func setValue(dp pmetric.NumberDataPoint, v float64) {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		dp.SetIntValue(int64(math.Round(v)))
	} else {
		dp.SetDoubleValue(v)
	}
}

// otherAttrs are the host's attributes plus the marker.
func otherAttrs(hostAttrs pcommon.Map, marker map[string]string) pcommon.Map {
	m := pcommon.NewMap()
	hostAttrs.CopyTo(m)
	for k, v := range marker {
		m.PutStr(k, v)
	}
	return m
}

func sameAttrs(a, b pcommon.Map) bool {
	return a.Len() == b.Len() && identity.Attrs(a) == identity.Attrs(b)
}

func copyKeys(src, dst pcommon.Map, keys []string) {
	for _, k := range keys {
		if v, ok := src.Get(k); ok {
			v.CopyTo(dst.PutEmpty(k))
		}
	}
}
