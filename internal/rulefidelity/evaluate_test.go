// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// node is one host's processes with constant CPU rates (cores) and memory growth (bytes per second).
type nodeProc struct {
	pid       int64
	exe       string
	cpu       float64
	memStart  float64
	memGrowth float64
}

var nodeProcs = []nodeProc{
	{pid: 1, exe: "kubelet", cpu: 0.2, memStart: 100e6, memGrowth: 200e3}, // critical: kept by the keep list
	{pid: 10, exe: "nginx", cpu: 0.9, memStart: 50e6},
	{pid: 20, exe: "postgres", cpu: 1.2, memStart: 400e6}, // the top 1
	{pid: 30, exe: "bash", cpu: 0.05, memStart: 5e6},
	{pid: 40, exe: "sleep", cpu: 0.01, memStart: 1e6},
}

// at returns the processes' counters after d, with the system CPU a quarter of the user CPU.
func (p nodeProc) at(d time.Duration) proc {
	s := d.Seconds() + 1000 // counters started before t0
	return proc{pid: p.pid, exe: p.exe, host: "node-1", cpuUser: 0.8 * p.cpu * s, cpuSys: 0.2 * p.cpu * s,
		memory: int64(p.memStart + p.memGrowth*d.Seconds())}
}

// variants of the node's output at t0+d.
func baselineAt(d time.Duration) []proc {
	var out []proc
	for _, p := range nodeProcs {
		out = append(out, p.at(d))
	}
	return out
}

// topkAt keeps kubelet (keep list) and postgres (top 1) and rolls the rest into one "other" resource whose
// counters are the sums of the rolled-up processes' (as the topk processor does: totals preserved).
func topkAt(d time.Duration) []proc {
	other := proc{exe: "other", host: "node-1"}
	var out []proc
	for _, p := range nodeProcs {
		pp := p.at(d)
		if p.exe == "kubelet" || p.exe == "postgres" {
			out = append(out, pp)
			continue
		}
		other.cpuUser += pp.cpuUser
		other.cpuSys += pp.cpuSys
		other.memory += pp.memory
	}
	return append(out, other)
}

// byExecutableAt groups by executable: the same values, without process.pid.
func byExecutableAt(d time.Duration) []proc {
	out := baselineAt(d)
	for i := range out {
		out[i].pid = 0
	}
	return out
}

func fill(s *Store, gen func(time.Duration) []proc, from, to time.Duration) {
	for d := from; d <= to; d += 10 * time.Second {
		s.Append(processMetrics(t0.Add(d), gen(d)...))
	}
}

func byName(rs []control.RuleResult) map[string]control.RuleResult {
	out := map[string]control.RuleResult{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

func newStores(gens map[string]func(time.Duration) []proc, to time.Duration) map[string]*Store {
	out := map[string]*Store{}
	for name, gen := range gens {
		s := NewStore(StoreOptions{ResourceToTelemetry: true})
		fill(s, gen, 0, to)
		out[name] = s
	}
	return out
}

// A top-K variant keeps per-node totals (the other rollup), keeps a critical process (keep list), and
// breaks what names a rolled-up executable; grouping by executable loses process_pid.
func TestEvaluateTopKVariant(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{Files: []string{"testdata/rules/*.yaml"}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	stores := newStores(map[string]func(time.Duration) []proc{
		"full": baselineAt, "topk": topkAt, "by_executable": byExecutableAt,
	}, 5*time.Minute)
	var res map[string]Result
	for d := 3 * time.Minute; d <= 5*time.Minute; d += time.Minute { // once per window, as the processor does
		res = e.Evaluate(context.Background(), t0.Add(d), stores["full"], stores)
	}
	require.Len(t, res, 3)

	full := res["full"]
	require.NoError(t, full.Err)
	require.NotNil(t, full.Stats.Fidelity)
	assert.Equal(t, 1.0, *full.Stats.Fidelity, "the baseline against itself")
	fr := byName(full.Stats.Rules)
	assert.Equal(t, []string{
		`{alertname="ProcessCPUSaturation", host_name="node-1", process_executable_name="nginx", severity="warning"}`,
		`{alertname="ProcessCPUSaturation", host_name="node-1", process_executable_name="postgres", severity="warning"}`,
	}, fr["ProcessCPUSaturation"].Firing)
	assert.Equal(t, []string{`{alertname="NodeProcessCPUBusy", host_name="node-1", severity="info"}`},
		fr["NodeProcessCPUBusy"].Firing, "reads the recording rule written back earlier in the group")
	assert.Len(t, fr["CriticalProcessMemoryGrowth"].Firing, 1)

	topk := res["topk"]
	require.NoError(t, topk.Err)
	tr := byName(topk.Stats.Rules)
	verdicts := map[string]string{}
	for n, r := range tr {
		verdicts[n] = r.Verdict
	}
	assert.Equal(t, map[string]string{
		"node:process_cpu_seconds:rate1m": control.RuleSame, // sums survive the rollup
		"NodeProcessCPUBusy":              control.RuleSame,
		"ProcessCPUSaturation":            control.RuleBroken, // nginx is in other now
		"NginxCPUHigh":                    control.RuleBroken,
		"CriticalProcessMemoryGrowth":     control.RuleSame, // kubelet kept
		"process:cpu_seconds:rate1m":      control.RuleBroken,
		"TooFewProcesses":                 control.RuleSame, // 3 resources is not < 3
	}, verdicts)
	assert.Equal(t, 4, topk.Stats.Same)
	assert.Equal(t, 3, topk.Stats.Broken)
	assert.InDelta(t, 4.0/7, *topk.Stats.Fidelity, 1e-12)

	assert.Equal(t, `no result where the baseline has 1 series: selector process_cpu_time_seconds_total{process_executable_name="nginx"}[1m] has no series (baseline: 2); `+
		`firing on the baseline, not on the variant: {alertname="NginxCPUHigh", host_name="node-1", severity="warning"}`, tr["NginxCPUHigh"].Reason)
	assert.Contains(t, tr["ProcessCPUSaturation"].Reason,
		`firing on the baseline, not on the variant: {alertname="ProcessCPUSaturation", host_name="node-1", process_executable_name="nginx", severity="warning"}`)
	assert.Contains(t, tr["ProcessCPUSaturation"].Reason,
		`firing on the variant, not on the baseline: {alertname="ProcessCPUSaturation", host_name="node-1", process_executable_name="other", severity="warning"}`)
	assert.Contains(t, tr["ProcessCPUSaturation"].Reason, `1 of 2 baseline series missing: process_executable_name="nginx" no longer exists`)
	assert.Contains(t, tr["process:cpu_seconds:rate1m"].Reason, `3 of 5 baseline series missing: process_pid="10", "30", "40" no longer exist`)
	assert.Equal(t, 3, tr["process:cpu_seconds:rate1m"].Series)
	assert.Equal(t, 5, tr["process:cpu_seconds:rate1m"].BaselineSeries)
	assert.LessOrEqual(t, tr["node:process_cpu_seconds:rate1m"].MaxRelDiff, 1e-9)

	be := byName(res["by_executable"].Stats.Rules)
	assert.Equal(t, control.RuleBroken, be["process:cpu_seconds:rate1m"].Verdict)
	assert.Equal(t, "5 of 5 baseline series missing: label process_pid no longer exists (1 series without it)", be["process:cpu_seconds:rate1m"].Reason)
	assert.Equal(t, control.RuleSame, be["ProcessCPUSaturation"].Verdict)
}

// for: holds an alert pending until it has held for the duration, across evaluations, as Prometheus' rule
// manager does; a variant where the condition starts later is pending while the baseline fires.
func TestEvaluateAlertForAcrossEvaluations(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{Inline: map[string]string{}, Files: []string{"testdata/rules/process.rules.yaml"}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	base := NewStore(StoreOptions{ResourceToTelemetry: true})
	late := NewStore(StoreOptions{ResourceToTelemetry: true})
	// nginx burns 0.9 cores on both, from 0 on the baseline and from 2m on the late variant.
	gen := func(start time.Duration) func(time.Duration) []proc {
		return func(d time.Duration) []proc {
			busy := max(d-start, 0)
			return []proc{{pid: 10, exe: "nginx", host: "node-1", cpuUser: 0.9 * busy.Seconds()}}
		}
	}
	fill(base, gen(0), 0, 8*time.Minute)
	fill(late, gen(2*time.Minute), 0, 8*time.Minute)

	type state struct{ pending, firing int }
	var baseStates, lateStates []state
	var lateVerdicts []string
	for d := time.Minute; d <= 6*time.Minute; d += time.Minute {
		res := e.Evaluate(context.Background(), t0.Add(d), base, map[string]*Store{"full": base, "late": late})
		b := byName(res["full"].Stats.Rules)["ProcessCPUSaturation"]
		l := byName(res["late"].Stats.Rules)["ProcessCPUSaturation"]
		baseStates = append(baseStates, state{len(b.Pending), len(b.Firing)})
		lateStates = append(lateStates, state{len(l.Pending), len(l.Firing)})
		lateVerdicts = append(lateVerdicts, l.Verdict)
	}
	// Active from 1m (rate over 1m sees the load at once), firing 2m later.
	assert.Equal(t, []state{{1, 0}, {1, 0}, {0, 1}, {0, 1}, {0, 1}, {0, 1}}, baseStates)
	// The rate over [1m] crosses 0.8 within a minute of 2m: active at 3m, firing at 5m.
	assert.Equal(t, []state{{0, 0}, {0, 0}, {1, 0}, {1, 0}, {0, 1}, {0, 1}}, lateStates)
	assert.Equal(t, []string{
		control.RuleBroken, control.RuleBroken, control.RuleBroken, control.RuleBroken, control.RuleSame, control.RuleSame,
	}, lateVerdicts)
}

func TestEvaluateValues(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{Inline: map[string]string{
		"mem":    `sum(process_memory_usage_bytes)`,
		"nan":    `sum(process_memory_usage_bytes) * 0 / 0`,
		"zero":   `sum(process_memory_usage_bytes) * 0`,
		"absent": `absent(process_memory_usage_bytes{process_executable_name="nope"})`,
		"error":  `process_memory_usage_bytes + on() group_left process_memory_usage_bytes`,
	}})
	e := NewEvaluator(rs, EvaluatorOptions{Tolerance: 0.05})
	defer e.Close()
	base := NewStore(StoreOptions{ResourceToTelemetry: true})
	near := NewStore(StoreOptions{ResourceToTelemetry: true})
	far := NewStore(StoreOptions{ResourceToTelemetry: true})
	base.Append(processMetrics(t0, proc{pid: 1, exe: "a", host: "h", memory: 1000}, proc{pid: 2, exe: "b", host: "h", memory: 1000}))
	near.Append(processMetrics(t0, proc{pid: 1, exe: "a", host: "h", memory: 1000}, proc{pid: 2, exe: "b", host: "h", memory: 1040}))
	far.Append(processMetrics(t0, proc{pid: 1, exe: "a", host: "h", memory: 1000}, proc{pid: 2, exe: "b", host: "h", memory: 1500}))
	res := e.Evaluate(context.Background(), t0, base, map[string]*Store{"near": near, "far": far})

	n := byName(res["near"].Stats.Rules)
	assert.Equal(t, control.RuleSame, n["mem"].Verdict)
	assert.InDelta(t, 40.0/2040, n["mem"].MaxRelDiff, 1e-12)
	f := byName(res["far"].Stats.Rules)
	assert.Equal(t, control.RuleChanged, f["mem"].Verdict)
	assert.InDelta(t, 500.0/2500, f["mem"].MaxRelDiff, 1e-12)
	assert.Contains(t, f["mem"].Reason, "values differ by up to 20% (tolerance 5%): {}: 2000 on the baseline, 2500 on the variant")
	for _, r := range []control.RuleResult{n["nan"], f["nan"], n["zero"], f["absent"]} {
		assert.Equal(t, control.RuleSame, r.Verdict, r.Name) // NaN = NaN, 0 = 0, both absent() = 1
		assert.False(t, math.IsNaN(r.MaxRelDiff))
	}
	// Both fail the same way: the variant is no worse.
	assert.Equal(t, control.RuleSame, f["error"].Verdict)
	assert.Contains(t, f["error"].Reason, "fails on the baseline too: ")
	assert.Equal(t, 1, res["far"].Stats.Changed)
	assert.InDelta(t, 4.0/5, *res["far"].Stats.Fidelity, 1e-12)
}

func TestRelDiff(t *testing.T) {
	t.Parallel()
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct{ a, b, want float64 }{
		{1, 1, 0}, {0, 0, 0}, {1e-12, -1e-12, 0}, {nan, nan, 0}, {inf, inf, 0},
		{1, 2, 0.5}, {-1, 1, 2}, {nan, 1, 2}, {1, inf, 2}, {0, 1, 1},
	} {
		assert.Equal(t, c.want, relDiff(c.a, c.b), "%v %v", c.a, c.b)
	}
}

func TestEvaluateNoRules(t *testing.T) {
	t.Parallel()
	e := NewEvaluator(&RuleSet{interval: DefaultInterval}, EvaluatorOptions{})
	defer e.Close()
	s := NewStore(StoreOptions{})
	res := e.Evaluate(context.Background(), t0, s, map[string]*Store{"v": NewStore(StoreOptions{})})
	assert.Nil(t, res["v"].Stats.Fidelity)
	assert.NoError(t, res["v"].Err)
}

// A variant that drops out of the map loses its alert state; one whose store is replaced starts afresh.
func TestEvaluateStateFollowsVariants(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{Files: []string{"testdata/rules/process.rules.yaml"}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	stores := newStores(map[string]func(time.Duration) []proc{"full": baselineAt, "v": baselineAt}, 5*time.Minute)
	e.Evaluate(context.Background(), t0.Add(2*time.Minute), stores["full"], map[string]*Store{"v": stores["v"]})
	e.Evaluate(context.Background(), t0.Add(3*time.Minute), stores["full"], map[string]*Store{})
	res := e.Evaluate(context.Background(), t0.Add(4*time.Minute), stores["full"], map[string]*Store{"v": stores["v"]})
	r := byName(res["v"].Stats.Rules)["ProcessCPUSaturation"]
	assert.Equal(t, control.RuleBroken, r.Verdict, "the baseline fires, the re-added variant is pending again")
	assert.Len(t, r.Pending, 2)
}
