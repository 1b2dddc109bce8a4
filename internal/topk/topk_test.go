// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

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
	}
}

// sim is a randomized pair of hosts whose processes appear, die and move across the threshold.
type sim struct {
	rng     *rand.Rand
	procs   []*fakeProc
	nextPID int
	tick    int
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
			continue // died
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

// ledger computes, the same way for input and output, per metric: the sum of current values of gauges and
// non-monotonic sums, and the increase of cumulative monotonic sums since the previous batch (a series seen
// before counts its growth; a new series counts whole if it started after the previous batch, else zero).
type ledger struct {
	prev   map[string]float64
	prevTs pcommon.Timestamp
}

func (l *ledger) observe(md pmetric.Metrics) (current, increase map[string]float64, maxTs pcommon.Timestamp) {
	current, increase = map[string]float64{}, map[string]float64{}
	next := map[string]float64{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		res := fmt.Sprint(rm.Resource().Attributes().AsRaw())
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			dps, monotonic, _ := numberPoints(m)
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				v := value(dp)
				maxTs = max(maxTs, dp.Timestamp())
				if !monotonic {
					current[m.Name()] += v
					continue
				}
				id := res + m.Name() + fmt.Sprint(dp.Attributes().AsRaw())
				next[id] = v
				if p, ok := l.prev[id]; ok {
					increase[m.Name()] += v - p
				} else if l.prevTs != 0 && dp.StartTimestamp() >= l.prevTs {
					increase[m.Name()] += v
				}
			}
		}
	}
	l.prev, l.prevTs = next, maxTs
	return current, increase, maxTs
}

func TestTotalsPreserved(t *testing.T) {
	for name, mutate := range map[string]func(*Options){
		"topk":              func(*Options) {},
		"topk, retention 0": func(o *Options) { o.Retention = 0 },
		"group_by":          func(o *Options) { o.GroupBy = []string{"process.executable.name"}; o.K = 2 },
		"group_by all":      func(o *Options) { o.GroupBy = []string{"process.executable.name"}; o.K = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(5) {
				o := defaultOptions()
				mutate(&o)
				r := New(o)
				s := newFakeSim(seed)
				var in, out ledger
				otherTotals := map[string]float64{}
				otherStart := map[string]pcommon.Timestamp{}
				ownStart := map[string]pcommon.Timestamp{}
				for interval := range 300 {
					md := s.next()
					inCur, inInc, _ := in.observe(md)
					r.Process(md)
					outCur, outInc, _ := out.observe(md)
					for k, v := range inCur {
						require.InDelta(t, v, outCur[k], 1e-6*math.Abs(v)+1e-9, "seed %d interval %d: %s current total", seed, interval, k)
					}
					for k, v := range inInc {
						require.InDelta(t, v, outInc[k], 1e-6*math.Abs(v)+1e-6, "seed %d interval %d: %s increase", seed, interval, k)
					}
					forEachPoint(md, func(res pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, monotonic bool) {
						host, _ := res.Get("host.name")
						id := host.Str() + m.Name() + fmt.Sprint(dp.Attributes().AsRaw())
						if exe, _ := res.Get("process.executable.name"); exe.Str() == "other" {
							if monotonic {
								require.GreaterOrEqual(t, value(dp), otherTotals[id], "other decreased")
								otherTotals[id] = value(dp)
							}
							if s, ok := otherStart[id]; ok {
								require.Equal(t, s, dp.StartTimestamp(), "other's start time moved")
							}
							otherStart[id] = dp.StartTimestamp()
							return
						}
						if pid, ok := res.Get("process.pid"); ok {
							key := fmt.Sprint(pid.Int(), m.Name())
							if s, seen := ownStart[key]; seen {
								require.Equal(t, s, dp.StartTimestamp(), "a kept process keeps its own start time")
							}
							ownStart[key] = dp.StartTimestamp()
						}
					})
				}
				assert.LessOrEqual(t, r.TrackedResources(), 2*40, "state bounded by what is live")
			}
		})
	}
}

func forEachPoint(md pmetric.Metrics, f func(res pcommon.Map, m pmetric.Metric, dp pmetric.NumberDataPoint, monotonic bool)) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		for s := 0; s < rm.ScopeMetrics().Len(); s++ {
			ms := rm.ScopeMetrics().At(s).Metrics()
			for j := 0; j < ms.Len(); j++ {
				dps, monotonic, _ := numberPoints(ms.At(j))
				for k := 0; k < dps.Len(); k++ {
					f(rm.Resource().Attributes(), ms.At(j), dps.At(k), monotonic)
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
				if pid, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("process.pid"); ok {
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
	r := New(defaultOptions())
	s := newFakeSim(5)
	for range 50 {
		r.Process(s.next())
	}
	assert.Equal(t, len(s.procs), r.TrackedResources(), "exactly the live processes are tracked")
}
