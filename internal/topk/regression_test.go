// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Regression tests from an adversarial review, with their own oracle (a Prometheus-like store written from
// PromQL's rules, independent of backend_test.go's).
package topk

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ---- oracle ----

type bkSample struct {
	ts    pcommon.Timestamp
	v     float64
	stale bool
}

type bkStore struct {
	series map[string][]bkSample
	kinds  map[string]string // series -> metric name
	dups   []string          // same series, same ts, different value in one ingest
}

func newBkStore() *bkStore {
	return &bkStore{series: map[string][]bkSample{}, kinds: map[string]string{}}
}

func bkLabels(m pcommon.Map) string {
	var kv []string
	m.Range(func(k string, v pcommon.Value) bool { kv = append(kv, k+"="+v.AsString()); return true })
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// ingest: a sample not newer than the series' last is rejected (Prometheus out-of-order / duplicate).
func (b *bkStore) ingest(md pmetric.Metrics) {
	seenBatch := map[string]float64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := bkLabels(rm.Resource().Attributes())
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					key := res + "|" + m.Name() + "|" + bkLabels(dp.Attributes())
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					stale := dp.Flags().NoRecordedValue()
					if pv, ok := seenBatch[key]; ok && pv != v && !stale {
						b.dups = append(b.dups, fmt.Sprintf("%s: %v vs %v", key, pv, v))
					}
					if !stale {
						seenBatch[key] = v
					}
					s := b.series[key]
					b.kinds[key] = m.Name()
					if len(s) > 0 && dp.Timestamp() <= s[len(s)-1].ts {
						continue
					}
					b.series[key] = append(s, bkSample{dp.Timestamp(), v, stale})
				}
			}
		}
	}
}

// increase without extrapolation: sum over series of the growth between consecutive non-stale samples
// inside [from, to] (a reset counts the new value), as PromQL's increase minus extrapolation.
func (b *bkStore) increase(metric string, from, to pcommon.Timestamp) float64 {
	total := 0.0
	for key, s := range b.series {
		if b.kinds[key] != metric {
			continue
		}
		var prev *bkSample
		for i := range s {
			x := &s[i]
			if x.ts < from || x.ts > to || x.stale || math.IsNaN(x.v) {
				continue
			}
			if prev != nil {
				if x.v >= prev.v {
					total += x.v - prev.v
				} else {
					total += x.v
				}
			}
			prev = x
		}
	}
	return total
}

// assertEndsShowTheLastValue: a counter's end carries the value its series showed last (what a switch
// carries on from), and there is at least one.
func (b *bkStore) assertEndsShowTheLastValue(t *testing.T, metric string) {
	n := 0
	for key, s := range b.series {
		for i := 1; i < len(s); i++ {
			if b.kinds[key] == metric && s[i].stale && !s[i-1].stale {
				n++
				if s[i].v != s[i-1].v {
					t.Errorf("%s ends at %v, showed %v last", key, s[i].v, s[i-1].v)
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("no %s series ended", metric)
	}
}

// gaugeSum at instant t with a lookback: last sample at or before t, within lookback, not stale.
func (b *bkStore) gaugeSum(metric string, t, lookback pcommon.Timestamp) float64 {
	total := 0.0
	for key, s := range b.series {
		if b.kinds[key] != metric {
			continue
		}
		var last *bkSample
		for i := range s {
			if s[i].ts <= t {
				last = &s[i]
			}
		}
		if last != nil && !last.stale && t-last.ts < lookback {
			total += last.v
		}
	}
	return total
}

// ---- builders ----

func bkProc(md pmetric.Metrics, host string, pid int64, exe string, start, ts pcommon.Timestamp, cpu float64, mem int64) pmetric.ResourceMetrics {
	rm := md.ResourceMetrics().AppendEmpty()
	a := rm.Resource().Attributes()
	if host != "" {
		a.PutStr("host.name", host)
	}
	a.PutInt("process.pid", pid)
	a.PutStr("process.executable.name", exe)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("processscraper")
	ms := sm.Metrics()
	point(sum(ms, "process.cpu.time", true).AppendEmpty(), start, ts).SetDoubleValue(cpu)
	g := ms.AppendEmpty()
	g.SetName("process.memory.usage")
	s := g.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	point(s.DataPoints().AppendEmpty(), start, ts).SetIntValue(mem)
	return rm
}

func bkOpts() Options {
	return Options{
		K: 2, RankMetric: "process.cpu.time", Retention: 0,
		KeepAttr: "process.executable.name", Keep: []*regexp.Regexp{regexp.MustCompile("^kubelet$")},
		OtherAttrs: map[string]string{"process.executable.name": "other"},
		Identity:   []string{"process.pid", "process.executable.name"}, HostAttrs: []string{"host.name"},
		ForgetAfter: 5, NotProcess: []string{"service.name", "telemetry.sdk.name"},
	}
}

// gapScenario runs 30 scrapes of one host with K = 1: process a is top except during ticks 5..9 (b bursts),
// so a is rolled up and comes back; during ticks 12..19 either a alone is missing (host still reporting)
// or the whole host is cut off. The whole run's sum(increase(process.cpu.time)) must be the input's.
func gapScenario(t *testing.T, wholeHost bool) {
	o := bkOpts()
	o.K = 1
	r := New(o)
	now := time.Unix(1_700_000_000, 0)
	r.SetClock(func() time.Time { return now })
	in, out := newBkStore(), newBkStore()
	cpuA, cpuB := 0.0, 0.0
	start := base - 1e12
	for tick := 1; tick <= 30; tick++ {
		now = now.Add(10 * time.Second)
		ts := base + pcommon.Timestamp(tick)*interval
		ra, rb := 10.0, 1.0
		if tick >= 5 && tick < 10 {
			rb = 50
		}
		cpuA += ra
		cpuB += rb
		gap := tick >= 12 && tick < 20
		if gap && wholeHost {
			r.Process(pmetric.NewMetrics()) // the collector runs; this host's agent is cut off
			continue
		}
		md := pmetric.NewMetrics()
		if !gap {
			bkProc(md, "h1", 1, "a", start, ts, cpuA, 1)
		}
		bkProc(md, "h1", 2, "b", start, ts, cpuB, 1)
		bkProc(md, "h1", 3, "c", start, ts, float64(tick), 1)
		in.ingest(md)
		r.Process(md)
		out.ingest(md)
	}
	end := base + 30*interval
	out.assertEndsShowTheLastValue(t, "process.cpu.time")
	a, b := in.increase("process.cpu.time", 0, end), out.increase("process.cpu.time", 0, end)
	if math.Abs(a-b) > 1e-6 {
		t.Errorf("whole-run sum(increase(process.cpu.time)): in %.1f out %.1f", a, b)
	}
}

// A process that was rolled up and came back (its counter "shifted") misses more than forget_after scrapes
// while the host keeps reporting; were it forgotten, it would return as a new process showing its raw
// cumulative value, and the backend would count again the growth other counted.
func TestForgottenRolledUpProcessIsNotCountedTwice(t *testing.T) { gapScenario(t, false) }

// The same with the whole host gone for longer than forget_after (an agent restart, a network cut to the
// gateway).
func TestHostOutageIsNotCountedTwice(t *testing.T) { gapScenario(t, true) }

// Application metrics from an SDK whose resource detectors add process.pid and process.executable.name
// (the Node.js SDK's default processDetector, Go's resource.WithProcess, Python's ProcessResourceDetector)
// match the default identity: topk ranks them as processes; rolled up, their histograms are dropped and
// their counters lose service.name.
func TestSDKResourcesWithProcessAttributesPassThrough(t *testing.T) {
	o := bkOpts()
	o.K = 2
	r := New(o)
	start := base - 1e12
	for tick := 1; tick <= 5; tick++ {
		ts := base + pcommon.Timestamp(tick)*interval
		md := pmetric.NewMetrics()
		for pid := int64(1); pid <= 5; pid++ {
			bkProc(md, "h1", pid, fmt.Sprintf("p%d", pid), start, ts, float64(int64(tick)*pid*10), 1)
		}
		app := md.ResourceMetrics().AppendEmpty()
		a := app.Resource().Attributes()
		a.PutStr("service.name", "checkout")
		a.PutStr("host.name", "h1")
		a.PutInt("process.pid", 4242)
		a.PutStr("process.executable.name", "node")
		a.PutStr("process.runtime.name", "nodejs")
		ms := app.ScopeMetrics().AppendEmpty().Metrics()
		point(sum(ms, "http.server.requests", true).AppendEmpty(), start, ts).SetIntValue(int64(100 * tick))
		h := ms.AppendEmpty()
		h.SetName("http.server.request.duration")
		hp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
		hp.SetStartTimestamp(start)
		hp.SetTimestamp(ts)
		hp.SetCount(uint64(100 * tick))
		hp.SetSum(float64(tick))
		st := r.Process(md)
		found := false
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			if v, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("service.name"); ok && v.Str() == "checkout" {
				found = true
			}
		}
		if !found {
			t.Errorf("tick %d: the checkout service's resource is gone (stats %+v)", tick, st)
			return
		}
	}
}

// group_by with a real executable named like the other marker: the group's resource and other have the
// same attributes, so one series carries two values in one batch.
func TestGroupNamedOtherDoesNotCollide(t *testing.T) {
	o := bkOpts()
	o.K = 1
	o.GroupBy = []string{"process.executable.name"}
	r := New(o)
	out := newBkStore()
	start := base - 1e12
	for tick := 1; tick <= 6; tick++ {
		ts := base + pcommon.Timestamp(tick)*interval
		md := pmetric.NewMetrics()
		bkProc(md, "h1", 1, "other", start, ts, float64(100*tick), 10) // top group: "other"
		bkProc(md, "h1", 2, "b", start, ts, float64(tick), 20)
		bkProc(md, "h1", 3, "c", start, ts, float64(2*tick), 30)
		r.Process(md)
		out.ingest(md)
	}
	if len(out.dups) > 0 {
		t.Errorf("two values under one series in one batch: %v", out.dups[:min(4, len(out.dups))])
	}
}

// A group whose members all vanished upstream without staleness markers (the process scraper sends none; a
// kernel worker that renamed itself leaves its old name's group empty) carries its totals on while it is
// remembered, and ends them with NoRecordedValue when it is forgotten: no series of the output may stop
// without an end while the backend would keep it for its lookback.
func TestForgottenGroupEndsItsSeries(t *testing.T) {
	o := bkOpts()
	o.K = 5
	o.GroupBy = []string{"process.executable.name"}
	r := New(o)
	out := newBkStore()
	start := base - 1e12
	for tick := 1; tick <= 80; tick++ {
		ts := base + pcommon.Timestamp(tick)*interval
		md := pmetric.NewMetrics()
		exe := "kworker/u8:1+ext4-rsv-conversion"
		if tick > 5 {
			exe = "kworker/u8:1+flush-8:0"
		}
		bkProc(md, "h1", 7, exe, start, ts, float64(tick), 1)
		bkProc(md, "h1", 8, "b", start, ts, float64(tick), 1)
		r.Process(md)
		out.ingest(md)
	}
	ended := 0
	for key, samples := range out.series {
		if !strings.Contains(key, "ext4-rsv-conversion") {
			continue
		}
		last := samples[len(samples)-1]
		if !last.stale {
			t.Errorf("%s: the forgotten group's series ends without a staleness marker (last sample at tick %d)", key, (last.ts-base)/interval)
		}
		ended++
	}
	if ended == 0 {
		t.Fatal("the group never reached the output")
	}
}
