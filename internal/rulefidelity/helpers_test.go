// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"context"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

const (
	scopeName    = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper"
	scopeVersion = "0.159.0"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// proc is a hand-made process: its resource attributes and its counters at one instant.
type proc struct {
	pid      int64
	exe, cmd string
	host     string
	cpuUser  float64 // cumulative seconds
	cpuSys   float64
	memory   int64 // bytes
	stale    bool  // emit NoRecordedValue points (the series ends)
}

// processMetrics builds what the hostmetrics process scraper emits for procs at ts: one ResourceMetrics per
// process, process.cpu.time (sum, cumulative, monotonic, s, state attribute) and process.memory.usage (sum,
// cumulative, not monotonic, By).
func processMetrics(ts time.Time, procs ...proc) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, p := range procs {
		rm := md.ResourceMetrics().AppendEmpty()
		a := rm.Resource().Attributes()
		if p.pid != 0 { // a rolled-up or grouped resource has no pid
			a.PutInt("process.pid", p.pid)
		}
		a.PutStr("process.executable.name", p.exe)
		if p.cmd != "" {
			a.PutStr("process.command_line", p.cmd)
		}
		a.PutStr("host.name", p.host)
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		sm.Scope().SetVersion(scopeVersion)
		cpu := sm.Metrics().AppendEmpty()
		cpu.SetName("process.cpu.time")
		cpu.SetUnit("s")
		sum := cpu.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		sum.SetIsMonotonic(true)
		for _, st := range []struct {
			state string
			v     float64
		}{{"user", p.cpuUser}, {"system", p.cpuSys}} {
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(-time.Hour)))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			dp.SetDoubleValue(st.v)
			dp.Attributes().PutStr("state", st.state)
			if p.stale {
				dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			}
		}
		mem := sm.Metrics().AppendEmpty()
		mem.SetName("process.memory.usage")
		mem.SetUnit("By")
		ms := mem.SetEmptySum()
		ms.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		ms.SetIsMonotonic(false)
		dp := ms.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetIntValue(p.memory)
		if p.stale {
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
	}
	return md
}

type sample struct {
	t int64
	v float64
}

// dump reads every series of a store with its samples, by label string.
func dump(t testing.TB, s *Store) map[string][]sample {
	t.Helper()
	q, err := s.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
	out := map[string][]sample{}
	for ss.Next() {
		ser := ss.At()
		it := ser.Iterator(nil)
		var got []sample
		for it.Next() != chunkenc.ValNone {
			ts, v := it.At()
			got = append(got, sample{ts, v})
		}
		out[ser.Labels().String()] = got
	}
	require.NoError(t, ss.Err())
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// simBatches yields n batches of one realistic host of `processes` processes, 10 s apart, as the
// hostmetrics process scraper shapes them with 15 points per process (cpu.time ×3, memory.usage,
// memory.virtual, disk.io ×2, disk.operations ×2, threads, open_file_descriptors, context_switches ×2,
// paging.faults ×2).
type simSource struct {
	sim *procsim.Simulator
}

func newSim(tb testing.TB, processes int, profile procsim.Profile) *simSource {
	tb.Helper()
	sim, err := procsim.New(procsim.Options{
		Profile: profile, Processes: processes, Hosts: 1, Seed: 7, Cores: 16, MemoryBytes: 64 << 30,
		Interval: 10 * time.Second, Start: t0,
	})
	require.NoError(tb, err)
	return &simSource{sim: sim}
}

func (s *simSource) next() pmetric.Metrics {
	md := pmetric.NewMetrics()
	s.sim.Tick(func(h *procsim.Host) { emitHost(md, h) })
	return md
}

func emitHost(md pmetric.Metrics, h *procsim.Host) {
	now := pcommon.NewTimestampFromTime(h.Now())
	procs := h.Processes()
	for i := range procs {
		p := &procs[i]
		x := h.Executable(p)
		rm := md.ResourceMetrics().AppendEmpty()
		a := rm.Resource().Attributes()
		a.PutInt("process.pid", int64(p.PID))
		a.PutInt("process.parent_pid", int64(p.PPID))
		a.PutStr("process.executable.name", x.Name)
		a.PutStr("process.executable.path", x.Path)
		a.PutStr("process.command", p.Command(h))
		a.PutStr("process.command_line", p.CommandLine(h))
		a.PutStr("process.owner", x.Owner)
		a.PutStr("host.name", h.Name())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		sm.Scope().SetVersion(scopeVersion)
		ms := sm.Metrics()
		start := pcommon.Timestamp(p.Created())
		sumF := func(name, unit, key string, vals []string, f []float64) {
			m := ms.AppendEmpty()
			m.SetName(name)
			m.SetUnit(unit)
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			s.SetIsMonotonic(true)
			for j, v := range f {
				dp := s.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.SetDoubleValue(v)
				dp.Attributes().PutStr(key, vals[j])
			}
		}
		sumI := func(name, unit string, monotonic bool, key string, vals []string, iv ...int64) {
			m := ms.AppendEmpty()
			m.SetName(name)
			m.SetUnit(unit)
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			s.SetIsMonotonic(monotonic)
			for j, v := range iv {
				dp := s.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.SetIntValue(v)
				if key != "" {
					dp.Attributes().PutStr(key, vals[j])
				}
			}
		}
		cpu := p.CPUTime()
		sumF("process.cpu.time", "s", "state", []string{"user", "system", "wait"}, cpu[:])
		sumI("process.memory.usage", "By", false, "", nil, p.MemoryRSS())
		sumI("process.memory.virtual", "By", false, "", nil, p.MemoryVirtual())
		rd, wr := p.DiskIO()
		sumI("process.disk.io", "By", true, "direction", []string{"read", "write"}, rd, wr)
		ro, wo := p.DiskOperations()
		sumI("process.disk.operations", "{operations}", true, "direction", []string{"read", "write"}, ro, wo)
		sumI("process.threads", "{threads}", false, "", nil, p.Threads(h))
		sumI("process.open_file_descriptors", "{count}", false, "", nil, p.OpenFileDescriptors(h))
		inv, vol := p.ContextSwitches(h)
		sumI("process.context_switches", "{count}", true, "type", []string{"involuntary", "voluntary"}, inv, vol)
		maj, mnr := p.PagingFaults()
		sumI("process.paging.faults", "{faults}", true, "type", []string{"major", "minor"}, maj, mnr)
	}
}
