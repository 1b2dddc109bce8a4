// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var base = pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0))

const interval = pcommon.Timestamp(10 * time.Second)

func defaultOptions() Options {
	return Options{
		K: 3, RankMetric: "process.cpu.time", Retention: 1,
		KeepAttr: "process.executable.name", Keep: []*regexp.Regexp{regexp.MustCompile("^kubelet$")},
		OtherAttrs: map[string]string{"process.executable.name": "other"},
		Identity:   []string{"process.pid", "process.executable.name"}, HostAttrs: []string{"host.name"},
		ForgetAfter: 5,
	}
}

// sim is a randomized pair of hosts whose processes appear, die and move across the threshold.
type sim struct {
	rng     *rand.Rand
	procs   []*fakeProc
	nextPID int
	tick    int
	// delta adds a delta counter, staleMarkers turns some points into NoRecordedValue ones (as the
	// prometheus receiver does), system adds a host resource with system metrics.
	delta, staleMarkers, system bool
	systemCPU                   float64
}

type fakeProc struct {
	host    string
	pid     int
	exe     string
	start   pcommon.Timestamp
	rate    float64
	cpu     [2]float64
	disk    int64
	memory  int64
	threads int64
	lastTs  pcommon.Timestamp
	dying   bool
	dead    bool
}

func newFakeSim(seed uint64) *sim {
	s := &sim{rng: rand.New(rand.NewPCG(seed, 1)), nextPID: 100}
	for _, h := range []string{"node-a", "node-b"} {
		s.spawn(h, "kubelet", base-pcommon.Timestamp(time.Hour))
		for range 9 {
			s.spawn(h, fmt.Sprintf("app-%d", s.rng.IntN(4)), base-pcommon.Timestamp(time.Duration(s.rng.IntN(3600))*time.Second))
		}
	}
	return s
}

func (s *sim) spawn(host, exe string, start pcommon.Timestamp) {
	s.procs = append(s.procs, &fakeProc{host: host, pid: s.nextPID, exe: exe, start: start, rate: s.rng.Float64(),
		cpu: [2]float64{s.rng.Float64() * 100, s.rng.Float64() * 10}, disk: s.rng.Int64N(1 << 20)})
	s.nextPID++
}

// next advances one interval and returns the batch a scrape would produce.
func (s *sim) next() pmetric.Metrics {
	s.tick++
	now := base + pcommon.Timestamp(s.tick)*interval
	live := s.procs[:0]
	for _, p := range s.procs {
		if p.exe != "kubelet" && s.rng.Float64() < 0.08 {
			p.dying = true // reports once more, then dies
		}
		if p.dead {
			continue
		}
		if p.dying {
			p.dead = true
		}
		live = append(live, p)
	}
	s.procs = live
	for _, h := range []string{"node-a", "node-b"} {
		for range s.rng.IntN(3) {
			s.spawn(h, fmt.Sprintf("app-%d", s.rng.IntN(4)), now-pcommon.Timestamp(s.rng.Int64N(int64(interval))))
		}
	}
	md := pmetric.NewMetrics()
	if s.system {
		for _, h := range []string{"node-a", "node-b"} {
			s.systemCPU += 7.5
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("host.name", h)
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName("cpuscraper")
			point(sum(sm.Metrics(), "system.cpu.time", true).AppendEmpty(), base-pcommon.Timestamp(time.Hour), now).SetDoubleValue(s.systemCPU)
		}
	}
	for _, p := range s.procs {
		p.rate = math.Max(0, p.rate+(s.rng.Float64()-0.5)*0.6) // drifts across the threshold
		p.cpu[0] += p.rate * 8
		p.cpu[1] += p.rate * 2
		p.disk += s.rng.Int64N(1 << 16)
		p.memory = s.rng.Int64N(1 << 30)
		p.threads = 1 + s.rng.Int64N(50)
		rm := md.ResourceMetrics().AppendEmpty()
		a := rm.Resource().Attributes()
		a.PutStr("host.name", p.host)
		a.PutInt("process.pid", int64(p.pid))
		a.PutStr("process.executable.name", p.exe)
		a.PutStr("process.command_line", fmt.Sprintf("/bin/%s --id %d", p.exe, p.pid))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("processscraper")
		ms := sm.Metrics()
		cpu := sum(ms, "process.cpu.time", true)
		for i, state := range []string{"user", "system"} {
			dp := cpu.AppendEmpty()
			dp.Attributes().PutStr("state", state)
			point(dp, p.start, now).SetDoubleValue(p.cpu[i])
		}
		point(sum(ms, "process.disk.io", true).AppendEmpty(), p.start, now).SetIntValue(p.disk)
		point(sum(ms, "process.memory.usage", false).AppendEmpty(), p.start, now).SetIntValue(p.memory)
		g := ms.AppendEmpty()
		g.SetName("process.threads")
		point(g.SetEmptyGauge().DataPoints().AppendEmpty(), p.start, now).SetIntValue(p.threads)
		if s.delta {
			d := ms.AppendEmpty()
			d.SetName("process.disk.operations")
			ds := d.SetEmptySum()
			ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			ds.SetIsMonotonic(true)
			from := p.lastTs
			if from == 0 {
				from = max(p.start, now-interval)
			}
			point(ds.DataPoints().AppendEmpty(), from, now).SetIntValue(1 + s.rng.Int64N(100))
		}
		p.lastTs = now
		if s.staleMarkers && p.dying && s.rng.IntN(2) == 0 { // as the prometheus receiver marks a series gone
			for i := 0; i < cpu.Len(); i++ {
				cpu.At(i).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			}
		}
	}
	return md
}

func sum(ms pmetric.MetricSlice, name string, monotonic bool) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	s := m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	s.SetIsMonotonic(monotonic)
	return s.DataPoints()
}

func point(dp pmetric.NumberDataPoint, start, now pcommon.Timestamp) pmetric.NumberDataPoint {
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(now)
	return dp
}

// topology says how scrapes reach the reducer.
type topology struct {
	name string
	// exact: every window agrees; else only the whole run's totals (a backend attributes growth to the
	// samples around it, and these topologies move samples between windows).
	exact bool
	// reorders: batches overtake each other, and the exporter's delta-to-cumulative conversion loses the
	// overtaken delta points of the input itself, so deltas are not compared.
	reorders bool
	// deliver turns the scrapes into the batches the reducer sees, in order.
	deliver func(rng *rand.Rand, scrapes []pmetric.Metrics) []pmetric.Metrics
}

var topologies = []topology{
	{"one batch per scrape", true, false, func(_ *rand.Rand, s []pmetric.Metrics) []pmetric.Metrics { return s }},
	{"split scrapes", false, false, func(rng *rand.Rand, scrapes []pmetric.Metrics) []pmetric.Metrics {
		var out []pmetric.Metrics
		for _, md := range scrapes {
			out = append(out, splitResources(rng, md, 3)...)
		}
		return out
	}},
	{"out of order", false, true, func(rng *rand.Rand, scrapes []pmetric.Metrics) []pmetric.Metrics {
		out := slices.Clone(scrapes)
		for i := 1; i < len(out); i++ {
			if rng.IntN(4) == 0 { // a batch overtaken by the next (an exporter queue's consumers race)
				out[i-1], out[i] = out[i], out[i-1]
				i++
			}
		}
		return out
	}},
	{"two scrapes per batch", false, false, func(_ *rand.Rand, scrapes []pmetric.Metrics) []pmetric.Metrics {
		var out []pmetric.Metrics
		for i := 0; i < len(scrapes); i += 2 {
			md := scrapes[i]
			if i+1 < len(scrapes) {
				scrapes[i+1].ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			}
			out = append(out, md)
		}
		return out
	}},
}

// splitResources deals md's resources at random into n batches (the order inside each kept).
func splitResources(rng *rand.Rand, md pmetric.Metrics, n int) []pmetric.Metrics {
	parts := make([]pmetric.Metrics, n)
	for i := range parts {
		parts[i] = pmetric.NewMetrics()
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rms.At(i).CopyTo(parts[rng.IntN(n)].ResourceMetrics().AppendEmpty())
	}
	return parts
}

var reductions = map[string]func(*Options){
	"topk":              func(*Options) {},
	"topk, retention 0": func(o *Options) { o.Retention = 0 },
	"k 1, retention 0":  func(o *Options) { o.K, o.Retention = 1, 0 },
	"group_by":          func(o *Options) { o.GroupBy = []string{"process.executable.name"}; o.K = 2 },
	"group_by all":      func(o *Options) { o.GroupBy = []string{"process.executable.name"}; o.K = 0 },
}

// TestBackendTotalsPreserved feeds the same batches, before and after the reducer, into the backend
// oracle and compares what its queries answer: sum(increase(c[w])) for every counter and window of 2 to
// 10 intervals, sum(g) for every gauge at every scrape, and no counter reset the input did not have.
// Processes are born, die, cross the threshold and come back; one counter is a delta sum; some points
// are staleness markers; every host also reports system metrics (not processes).
func TestBackendTotalsPreserved(t *testing.T) {
	t.Parallel()
	for _, topo := range topologies {
		for name, mutate := range reductions {
			t.Run(topo.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				for seed := range uint64(3) {
					o := defaultOptions()
					mutate(&o)
					r := New(o)
					s := newFakeSim(seed)
					s.delta, s.staleMarkers, s.system = true, true, true
					var scrapes []pmetric.Metrics
					for range 150 {
						scrapes = append(scrapes, s.next())
					}
					in, out := newBackend(), newBackend()
					for _, md := range topo.deliver(s.rng, scrapes) {
						in.ingest(md)
						r.Process(md)
						out.ingest(md)
					}
					compareBackends(t, fmt.Sprintf("seed %d", seed), in, out, 150, topo)
					assert.LessOrEqual(t, r.TrackedResources(), 2*150, "state bounded by what is live and recently rolled up")
				}
			})
		}
	}
}

func compareBackends(t *testing.T, what string, in, out *backend, scrapes int, topo topology) {
	t.Helper()
	counters := []string{"process.cpu.time", "process.disk.io", "system.cpu.time"}
	if !topo.reorders {
		counters = append(counters, "process.disk.operations")
	}
	gauges := []string{"process.memory.usage", "process.threads"}
	lookback := interval / 2 // a sample holds until the next scrape
	end := base + pcommon.Timestamp(scrapes+1)*interval
	for _, name := range counters {
		want, got := in.increase(name, base, end), out.increase(name, base, end)
		require.InDelta(t, want, got, 1e-9*math.Abs(want)+1e-6, "%s: %s: total increase over the run", what, name)
	}
	if !topo.exact {
		return
	}
	for tick := 12; tick <= scrapes; tick++ {
		at := base + pcommon.Timestamp(tick)*interval
		for _, name := range counters {
			for w := 2; w <= 10; w++ {
				from := at - pcommon.Timestamp(w)*interval
				want, got := in.increase(name, from, at), out.increase(name, from, at)
				require.InDelta(t, want, got, 1e-9*math.Abs(want)+1e-6, "%s: sum(increase(%s[%d intervals])) at scrape %d", what, name, w, tick)
			}
			require.LessOrEqual(t, out.resets(name, at-10*interval, at), in.resets(name, at-10*interval, at),
				"%s: %s: the output shows counter resets the input does not have (scrape %d)", what, name, tick)
		}
		for _, name := range gauges {
			want, got := in.sum(name, at, lookback), out.sum(name, at, lookback)
			require.InDelta(t, want, got, 1e-9*math.Abs(want)+1e-6, "%s: sum(%s) at scrape %d", what, name, tick)
		}
	}
}

// visible says whether a resource of the output still shows a value (not only staleness markers).
func visible(rm pmetric.ResourceMetrics) bool {
	shown := false
	forEachNumber(rm, func(_ pmetric.Metric, dps pmetric.NumberDataPointSlice, _ seriesKind) {
		for k := 0; k < dps.Len(); k++ {
			shown = shown || !dps.At(k).Flags().NoRecordedValue()
		}
	}, nil)
	return shown
}

func forEachPoint(md pmetric.Metrics, f func(res pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, monotonic bool)) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		for s := 0; s < rm.ScopeMetrics().Len(); s++ {
			ms := rm.ScopeMetrics().At(s).Metrics()
			for j := 0; j < ms.Len(); j++ {
				dps, kind, _ := numberPoints(ms.At(j))
				for k := 0; k < dps.Len(); k++ {
					f(rm.Resource().Attributes(), ms.At(j), dps.At(k), kind == kindCumulative)
				}
			}
		}
	}
}

func TestKeepsTopKPlusCriticalAndOneOtherPerHost(t *testing.T) {
	o := defaultOptions()
	o.Retention = 0
	r := New(o)
	s := newFakeSim(1)
	for range 3 {
		md := s.next()
		r.Process(md)
		perHost := map[string]map[string]int{}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			if !visible(md.ResourceMetrics().At(i)) {
				continue // a series ending: rolled into other from now on
			}
			a := md.ResourceMetrics().At(i).Resource().Attributes()
			host, _ := a.Get("host.name")
			exe, _ := a.Get("process.executable.name")
			if perHost[host.Str()] == nil {
				perHost[host.Str()] = map[string]int{}
			}
			perHost[host.Str()][exe.Str()]++
			if exe.Str() == "other" {
				_, hasPID := a.Get("process.pid")
				assert.False(t, hasPID, "other carries the host and the marker only")
			}
		}
		for h, counts := range perHost {
			assert.Equal(t, 1, counts["kubelet"], "%s: critical kept", h)
			assert.Equal(t, 1, counts["other"], "%s: one other", h)
			total := 0
			for exe, n := range counts {
				if exe != "kubelet" && exe != "other" {
					total += n
				}
			}
			assert.Equal(t, o.K, total, "%s: K ranked processes", h)
		}
	}
}

// TestNoFlapping: two processes alternate just above and below each other at the threshold (K=1). Without
// retention the kept set changes every interval; with retention it settles.
func TestNoFlapping(t *testing.T) {
	changes := func(retention int) int {
		o := defaultOptions()
		o.K, o.Retention, o.Keep = 1, retention, nil
		r := New(o)
		cpu := [2]float64{}
		var prev string
		n := 0
		for tick := 1; tick <= 100; tick++ {
			now := base + pcommon.Timestamp(tick)*interval
			md := pmetric.NewMetrics()
			for i, pid := range []int64{1, 2} {
				rate := 1.0
				if (tick+i)%2 == 0 {
					rate = 1.1 // the leader alternates
				}
				cpu[i] += rate * 10
				rm := md.ResourceMetrics().AppendEmpty()
				rm.Resource().Attributes().PutInt("process.pid", pid)
				rm.Resource().Attributes().PutStr("process.executable.name", "app")
				point(sum(rm.ScopeMetrics().AppendEmpty().Metrics(), "process.cpu.time", true).AppendEmpty(), base, now).SetDoubleValue(cpu[i])
			}
			r.Process(md)
			var kept string
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				if pid, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("process.pid"); ok && visible(md.ResourceMetrics().At(i)) {
					kept += fmt.Sprint(pid.Int())
				}
			}
			if tick > 1 && kept != prev {
				n++
			}
			prev = kept
		}
		return n
	}
	assert.GreaterOrEqual(t, changes(0), 90, "without retention membership flaps every interval")
	for _, retention := range []int{1, 2, 5} {
		assert.LessOrEqual(t, changes(retention), 2, "retention %d bounds membership changes", retention)
	}
}

func TestRankByValueAndDrop(t *testing.T) {
	o := defaultOptions()
	o.RankMetric, o.RankMode, o.Drop, o.Keep, o.Retention = "process.memory.usage", RankValue, true, nil, 0
	r := New(o)
	md := newFakeSim(3).next()
	type pm struct {
		host string
		mem  int64
	}
	var all []pm
	forEachPoint(md, func(res pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, _ bool) {
		if m.Name() == "process.memory.usage" {
			h, _ := res.Get("host.name")
			all = append(all, pm{h.Str(), dp.IntValue()})
		}
	})
	r.Process(md)
	kept := map[string][]int64{}
	forEachPoint(md, func(res pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, _ bool) {
		if m.Name() == "process.memory.usage" {
			h, _ := res.Get("host.name")
			kept[h.Str()] = append(kept[h.Str()], dp.IntValue())
		}
	})
	for h, mems := range kept {
		require.Len(t, mems, 3, "drop: no other resource")
		lowestKept := min(mems[0], mems[1], mems[2])
		for _, p := range all {
			if p.host == h && p.mem > lowestKept {
				assert.Contains(t, mems, p.mem, "every process above the lowest kept is kept")
			}
		}
	}
}

func TestGroupByMergesAndDropsOtherAttributes(t *testing.T) {
	o := defaultOptions()
	o.GroupBy, o.K = []string{"process.executable.name"}, 0
	r := New(o)
	s := newFakeSim(4)
	md := s.next()
	exes := map[string]bool{}
	for _, p := range s.procs {
		if p.host == "node-a" {
			exes[p.exe] = true
		}
	}
	r.Process(md)
	got := map[string]bool{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		a := md.ResourceMetrics().At(i).Resource().Attributes()
		if h, _ := a.Get("host.name"); h.Str() != "node-a" {
			continue
		}
		exe, _ := a.Get("process.executable.name")
		require.False(t, got[exe.Str()], "one resource per executable")
		got[exe.Str()] = true
		assert.Equal(t, 2, a.Len(), "only host.name and the group key remain: %v", a.AsRaw())
	}
	assert.Equal(t, exes, got)
}

func TestPrunesDeadResources(t *testing.T) {
	o := defaultOptions()
	o.ForgetAfter = 1 // forget a process as soon as it misses a scrape ...
	o.K = 1000        // ... when it was never rolled up (those are kept ten times longer)
	r := New(o)
	s := newFakeSim(5)
	for range 50 {
		r.Process(s.next())
	}
	assert.Equal(t, len(s.procs), r.TrackedResources(), "exactly the live processes are tracked")
}

// TestOnlyProcessesAreTouched: system and application resources in the same batches (one receiver's other
// scrapers, OTLP apps) come out exactly as they went in, whatever the reduction does to the processes.
func TestOnlyProcessesAreTouched(t *testing.T) {
	t.Parallel()
	for name, mutate := range reductions {
		o := defaultOptions()
		mutate(&o)
		r := New(o)
		s := newFakeSim(7)
		s.system = true
		for range 20 {
			md := s.next()
			app := md.ResourceMetrics().AppendEmpty()
			app.Resource().Attributes().PutStr("service.name", "checkout")
			app.Resource().Attributes().PutStr("host.name", "node-a")
			point(sum(app.ScopeMetrics().AppendEmpty().Metrics(), "http.server.requests", true).AppendEmpty(), base, base+interval).SetIntValue(42)
			want := pmetric.NewMetrics()
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				if _, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("process.pid"); !ok {
					md.ResourceMetrics().At(i).CopyTo(want.ResourceMetrics().AppendEmpty())
				}
			}
			st := r.Process(md)
			got := pmetric.NewMetrics()
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				a := md.ResourceMetrics().At(i).Resource().Attributes()
				_, pid := a.Get("process.pid")
				_, exe := a.Get("process.executable.name")
				if !pid && !exe {
					md.ResourceMetrics().At(i).CopyTo(got.ResourceMetrics().AppendEmpty())
				}
			}
			require.NoError(t, pmetrictest.CompareMetrics(want, got), name)
			require.Equal(t, want.ResourceMetrics().Len(), st.Passed, name)
		}
	}
}

// TestForgetsHostsThatStopReporting: a host gone for ForgetAfter of its intervals by the wall clock is
// dropped with all its state.
func TestForgetsHostsThatStopReporting(t *testing.T) {
	t.Parallel()
	r := New(defaultOptions())
	now := time.Unix(1_700_000_000, 0)
	r.SetClock(func() time.Time { return now })
	s := newFakeSim(8)
	for range 5 {
		now = now.Add(10 * time.Second)
		r.Process(s.next())
	}
	require.Equal(t, 2, r.Hosts())
	now = now.Add(10 * time.Duration(defaultOptions().ForgetAfter) * 10 * time.Second) // hosts: 10x the limit of processes
	r.Process(pmetric.NewMetrics())
	assert.Equal(t, 0, r.Hosts())
	assert.Equal(t, 0, r.TrackedResources())
}

// TestNaNNeverReachesOther: NaN and infinite points of rolled-up processes leave other's values finite.
func TestNaNNeverReachesOther(t *testing.T) {
	t.Parallel()
	o := defaultOptions()
	o.K = 1
	r := New(o)
	s := newFakeSim(9)
	for tick := range 30 {
		md := s.next()
		forEachPoint(md, func(_ pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, _ bool) {
			if tick%3 == 0 && dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
				dp.SetDoubleValue(math.NaN())
			}
		})
		r.Process(md)
		forEachPoint(md, func(res pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, _ bool) {
			if exe, _ := res.Get("process.executable.name"); exe.Str() == "other" {
				require.False(t, math.IsNaN(value(dp)) || math.IsInf(value(dp), 0), "%s in other", m.Name())
			}
		})
	}
}
