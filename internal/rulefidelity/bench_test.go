// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

const benchProcesses = 500

// exporterTranslate is what handing every batch to the exporter's translation costs: a copy (the wrapper
// changes data in place), resource attributes onto points, FromMetrics.
func exporterTranslate(md pmetric.Metrics, s *Store) int {
	cp := pmetric.NewMetrics()
	md.CopyTo(cp)
	_ = s.r2t.ConsumeMetrics(context.Background(), cp)
	out, _ := prometheusremotewrite.FromMetrics(cp, s.settings)
	return len(out)
}

// BenchmarkAppend compares, side by side in one run, Store.Append (A) with the exporter's own translation of
// the same batch (B: copy, resource_to_telemetry, FromMetrics), on a 500-process node batch of 15 points per
// process (realistic profile, 10 s apart). steady: the series are known (the cache path); new: every
// series is new (a fresh store per batch: the high-churn worst case, which goes through FromMetrics once).
// Arms alternate (benchmeasure.Round), each after runtime.GC(); reported: CPU ns and allocations per point of
// each arm, and B/A.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []string{"steady", "new"} {
		b.Run(mode, func(b *testing.B) {
			src := newSim(b, benchProcesses, procsim.ProfileRealistic)
			s := NewStore(StoreOptions{ResourceToTelemetry: true})
			s.Append(src.next())
			var store, exporter benchmeasure.Arm
			points := 0
			i := 0
			for b.Loop() {
				md := src.next()
				if mode == "new" {
					s = NewStore(StoreOptions{ResourceToTelemetry: true})
				}
				points += md.DataPointCount()
				benchmeasure.Round(i, &store, func() { s.Append(md) }, &exporter, func() { exporterTranslate(md, s) })
				i++
			}
			p := float64(points)
			b.ReportMetric(float64(store.CPU.Nanoseconds())/p, "store-ns/point")
			b.ReportMetric(float64(store.Allocs)/p, "store-allocs/point")
			b.ReportMetric(float64(exporter.CPU.Nanoseconds())/p, "exporter-ns/point")
			b.ReportMetric(float64(exporter.Allocs)/p, "exporter-allocs/point")
			b.ReportMetric(float64(exporter.CPU)/float64(store.CPU), "exporter/store")
		})
	}
}

// groupResources merges resources with the same key (sums of every number point by metric and point
// attributes): a stand-in for the topk processor's rollup and group_by, enough to give stores of the shapes
// those variants produce.
func groupResources(md pmetric.Metrics, key func(pcommon.Map) (string, map[string]string)) pmetric.Metrics {
	out := pmetric.NewMetrics()
	type agg struct {
		rm     pmetric.ResourceMetrics
		points map[uint64]pmetric.NumberDataPoint
	}
	groups := map[string]*agg{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		k, attrs := key(rm.Resource().Attributes())
		if attrs == nil { // kept as it is
			rm.CopyTo(out.ResourceMetrics().AppendEmpty())
			continue
		}
		g := groups[k]
		if g == nil {
			g = &agg{rm: out.ResourceMetrics().AppendEmpty(), points: map[uint64]pmetric.NumberDataPoint{}}
			for ak, av := range attrs {
				g.rm.Resource().Attributes().PutStr(ak, av)
			}
			rm.ScopeMetrics().At(0).Scope().CopyTo(g.rm.ScopeMetrics().AppendEmpty().Scope())
			groups[k] = g
		}
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			dps := numberPoints(m)
			for p := 0; p < dps.Len(); p++ {
				dp := dps.At(p)
				h := identity.Series(0, identity.String(m.Name()), dp.Attributes())
				if have, ok := g.points[h]; ok {
					if have.ValueType() == pmetric.NumberDataPointValueTypeInt {
						have.SetIntValue(have.IntValue() + dp.IntValue())
					} else {
						have.SetDoubleValue(have.DoubleValue() + dp.DoubleValue())
					}
					continue
				}
				nm := g.rm.ScopeMetrics().At(0).Metrics().AppendEmpty()
				to := copyMetricShell(m, nm).AppendEmpty()
				dp.CopyTo(to)
				g.points[h] = to
			}
		}
	}
	return out
}

// benchVariants turns a baseline batch into the three variants' outputs: a pass-through copy, top-20 (by
// cumulative CPU) + other, and grouped by executable.
func benchVariants(md pmetric.Metrics, top map[string]bool) map[string]pmetric.Metrics {
	exe := func(a pcommon.Map) string { v, _ := a.Get("process.executable.name"); return v.Str() }
	host := func(a pcommon.Map) string { v, _ := a.Get("host.name"); return v.Str() }
	pid := func(a pcommon.Map) string { v, _ := a.Get("process.pid"); return v.AsString() }
	cp := pmetric.NewMetrics()
	md.CopyTo(cp)
	return map[string]pmetric.Metrics{
		"copy": cp,
		"top20": groupResources(md, func(a pcommon.Map) (string, map[string]string) {
			if top[pid(a)] || exe(a) == "kubelet" || exe(a) == "containerd" {
				return "", nil
			}
			return host(a), map[string]string{"host.name": host(a), "process.executable.name": "other"}
		}),
		"by_executable": groupResources(md, func(a pcommon.Map) (string, map[string]string) {
			return exe(a), map[string]string{"host.name": host(a), "process.executable.name": exe(a)}
		}),
	}
}

// topPIDs are the 20 processes with the most CPU time in a batch.
func topPIDs(md pmetric.Metrics) map[string]bool {
	type pc struct {
		pid string
		cpu float64
	}
	var all []pc
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		v, _ := rm.Resource().Attributes().Get("process.pid")
		var cpu float64
		dps := rm.ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
		for p := 0; p < dps.Len(); p++ {
			cpu += dps.At(p).DoubleValue()
		}
		all = append(all, pc{v.AsString(), cpu})
	}
	for i := range all { // partial selection sort: 20 of 500
		for j := i + 1; j < len(all) && i < 20; j++ {
			if all[j].cpu > all[i].cpu {
				all[i], all[j] = all[j], all[i]
			}
		}
	}
	out := map[string]bool{}
	for i := 0; i < 20 && i < len(all); i++ {
		out[all[i].pid] = true
	}
	return out
}

// benchRules writes 50 rules: 10 recording and 20 alerting rules in a rule file, 20 dashboard-like inline
// queries, over the process metrics.
func benchRules(b *testing.B) *RuleSet {
	metrics := []string{
		"process_cpu_time_seconds_total", "process_disk_io_bytes_total", "process_disk_operations_total",
		"process_context_switches_total", "process_paging_faults_total",
	}
	gauges := []string{"process_memory_usage_bytes", "process_memory_virtual_bytes", "process_threads", "process_open_file_descriptors"}
	var f strings.Builder
	f.WriteString("groups:\n  - name: node\n    rules:\n")
	for i, m := range metrics {
		fmt.Fprintf(&f, "      - record: node:%s:rate1m\n        expr: sum by (host_name) (rate(%s[1m]))\n", m, m)
		fmt.Fprintf(&f, "      - record: exe:%s:rate1m\n        expr: sum by (host_name, process_executable_name) (rate(%s[1m]))\n", m, m)
		fmt.Fprintf(&f, "      - alert: Node%dHigh\n        expr: node:%s:rate1m > 1e12\n        for: 5m\n", i, m)
		fmt.Fprintf(&f, "      - alert: Exe%dHigh\n        expr: exe:%s:rate1m > 0.5\n        for: 2m\n", i, m)
	}
	f.WriteString("  - name: process\n    rules:\n")
	for i, m := range gauges {
		fmt.Fprintf(&f, "      - alert: ProcGauge%dHigh\n        expr: %s > 1e6\n        for: 1m\n", i, m)
		fmt.Fprintf(&f, "      - alert: ProcGauge%dGrowth\n        expr: delta(%s[1m]) > 0\n", i, m)
	}
	f.WriteString("      - alert: CriticalMemory\n        expr: process_memory_usage_bytes{process_executable_name=~\"kubelet|containerd\"} > 1e6\n")
	f.WriteString("      - alert: ProcessCPU\n        expr: rate(process_cpu_time_seconds_total{state=\"user\"}[1m]) > 0.5\n        for: 2m\n")
	file := filepath.Join(b.TempDir(), "bench.rules.yaml")
	if err := os.WriteFile(file, []byte(f.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	inline := map[string]string{}
	for i, m := range metrics {
		inline[fmt.Sprintf("top%d", i)] = fmt.Sprintf("topk(10, sum by (process_executable_name) (rate(%s[1m])))", m)
		inline[fmt.Sprintf("total%d", i)] = fmt.Sprintf("sum(rate(%s[1m]))", m)
	}
	for i, m := range gauges {
		inline[fmt.Sprintf("gauge%d", i)] = fmt.Sprintf("sum by (process_executable_name) (%s)", m)
		inline[fmt.Sprintf("quantile%d", i)] = fmt.Sprintf("quantile(0.9, %s)", m)
	}
	inline["count"] = "count(process_memory_usage_bytes)"
	inline["owners"] = "count by (process_owner) (process_threads)"
	rs, err := Load(Options{Files: []string{file}, Inline: inline})
	if err != nil {
		b.Fatal(err)
	}
	if rs.Len() != 50 {
		b.Fatalf("%d rules", rs.Len())
	}
	return rs
}

// BenchmarkEvaluate compares, side by side in one run, one evaluation of 50 rules on the baseline and three
// variants of a 500-process node (A) with storing one 1m window of their output (B: 6 batches at 10 s into
// each of the 4 stores). Stores hold 1m of samples at 10 s. Reported: CPU ms per evaluation, per window of
// appends, A/B, and the evaluation's share of one core at a 1m window.
func BenchmarkEvaluate(b *testing.B) {
	rs := benchRules(b)
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	src := newSim(b, benchProcesses, procsim.ProfileRealistic)
	newStore := func() *Store { return NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: rs.MaxRange()}) }
	base := newStore()
	variants := map[string]*Store{"copy": newStore(), "top20": newStore(), "by_executable": newStore()}
	var top map[string]bool
	var last pmetric.Metrics
	appendAll := func(md pmetric.Metrics) {
		if top == nil {
			top = topPIDs(md)
		}
		base.Append(md)
		for name, v := range benchVariants(md, top) {
			variants[name].Append(v)
		}
	}
	for range 7 { // 1m of samples
		last = src.next()
		appendAll(last)
	}
	at := last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).Timestamp().AsTime()
	res := e.Evaluate(context.Background(), at, base, variants)
	for name, r := range res {
		if r.Err != nil || r.Stats.Fidelity == nil {
			b.Fatalf("%s: %v", name, r.Err)
		}
		b.Logf("%s: fidelity %.2f (%d same, %d changed, %d broken)", name, *r.Stats.Fidelity, r.Stats.Same, r.Stats.Changed, r.Stats.Broken)
	}
	// A window of batches for the append arm, prepared outside the measurement into spare stores (the
	// evaluation's stores keep their 1m of data).
	spareBase, spares := newStore(), map[string]*Store{"copy": newStore(), "top20": newStore(), "by_executable": newStore()}
	var eval, store benchmeasure.Arm
	i := 0
	for b.Loop() {
		window := make([]pmetric.Metrics, 6)
		vwindow := make([]map[string]pmetric.Metrics, 6)
		for k := range window {
			window[k] = src.next()
			vwindow[k] = benchVariants(window[k], top)
		}
		benchmeasure.Round(i, &eval, func() {
			e.Evaluate(context.Background(), at, base, variants)
		}, &store, func() {
			for k := range window {
				spareBase.Append(window[k])
				for name, v := range vwindow[k] {
					spares[name].Append(v)
				}
			}
		})
		i++
	}
	n := float64(i)
	b.ReportMetric(float64(eval.CPU.Milliseconds())/n, "eval-cpu-ms/op")
	b.ReportMetric(float64(store.CPU.Milliseconds())/n, "append-cpu-ms/window")
	b.ReportMetric(float64(eval.CPU)/float64(store.CPU), "eval/append")
	b.ReportMetric(100*eval.CPU.Seconds()/n/60, "eval-%core@1m")
	b.ReportMetric(float64(eval.Allocs)/n, "eval-allocs/op")
}

// BenchmarkStoreMemory fills a store with 1h of a 500-process node at 10 s (15 points per process) and
// reports the heap it holds per series and per sample, after GC, against 16 bytes per raw (timestamp, value)
// sample. full: only the processes that live the whole hour (found by a first run of the same seeded
// simulation), so every series holds 360 samples: the "1h at 10 s" case; realistic: with the profile's
// churn and short-lived jobs (many short series).
func BenchmarkStoreMemory(b *testing.B) {
	b.Run("full", func(b *testing.B) {
		src := newSim(b, benchProcesses, procsim.ProfileRealistic)
		seen := map[uint64]int{}
		for range 360 {
			md := src.next()
			rms := md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				seen[resourceID(rms.At(i))]++
			}
		}
		keep := map[uint64]bool{}
		for id, n := range seen {
			keep[id] = n == 360
		}
		storeMemory(b, keep)
	})
	b.Run("realistic", func(b *testing.B) { storeMemory(b, nil) })
}

// resourceID identifies a resource by all its attributes (a re-parented process is another resource).
func resourceID(rm pmetric.ResourceMetrics) uint64 { return identity.Attrs(rm.Resource().Attributes()) }

func storeMemory(b *testing.B, keep map[uint64]bool) {
	for b.Loop() {
		src := newSim(b, benchProcesses, procsim.ProfileRealistic)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: time.Hour})
		for range 360 {
			md := src.next()
			if keep != nil {
				md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool { return !keep[resourceID(rm)] })
			}
			s.Append(md)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := s.Stats()
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(held/float64(st.Series), "bytes/series")
		b.ReportMetric(held/float64(st.Samples), "bytes/sample")
		b.ReportMetric(float64(st.Series), "series")
		b.ReportMetric(float64(st.Samples)/float64(st.Series), "samples/series")
		b.ReportMetric(16*float64(st.Samples)/float64(st.Series), "raw-bytes/series")
		runtime.KeepAlive(s)
	}
}
