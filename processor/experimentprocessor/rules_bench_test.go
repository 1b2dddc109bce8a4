// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

// benchRules are 50 queries of the shapes process-metric rules and dashboards use: per-node and
// per-executable sums and rates, top-k, counts, thresholds, absent() on critical processes.
func benchRules() map[string]any {
	shapes := []string{
		`sum by (host_name) (rate(process_cpu_time_seconds_total[5m]))`,
		`sum by (process_executable_name) (rate(process_cpu_time_seconds_total[%dm]))`,
		`topk(%d, process_memory_usage_bytes)`,
		`count by (process_executable_name) (process_memory_usage_bytes)`,
		`sum by (direction) (rate(process_disk_io_bytes_total[%dm]))`,
		`max by (process_pid) (process_memory_usage_bytes) > %d000000`,
		`absent(process_memory_usage_bytes{process_executable_name="kubelet%d"})`,
		`sum(process_memory_virtual_bytes) / %d`,
		`avg_over_time(process_memory_usage_bytes{process_executable_name=~"java|python%d"}[5m])`,
		`sum by (process_executable_name, state) (increase(process_cpu_time_seconds_total[%dm]))`,
	}
	out := map[string]any{}
	for i := range 50 {
		q := shapes[i%len(shapes)]
		if strings.Contains(q, "%d") {
			q = fmt.Sprintf(q, 1+i/len(shapes))
		}
		out[fmt.Sprintf("rule_%02d", i)] = q
	}
	return out
}

// BenchmarkRuleFidelityCost compares, side by side in one run, the experiment with 50 rules (over its
// three variants: full, top20, by_executable) against the same experiment without rules, on a 500-process
// node at a 10s interval and a 1m window. One iteration is one window: six batches, the window's end and
// its evaluation (waited for; it runs off the pipeline's goroutine). Arms alternate (benchmeasure.Round),
// each after runtime.GC(); process CPU time, so the evaluation goroutine is counted.
func BenchmarkRuleFidelityCost(b *testing.B) {
	batch := receivercapture.Capture(b, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": 500, "seed": 5}, 1)[0]
	variants := map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]},
		"by_executable": map[string]any{"processors": benchChains["by_executable"]}}
	startExp := func(conf map[string]any) started {
		host := newHost()
		host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
		cfg := config(b, conf)
		cfg.Control = component.MustNewID("phoenix_control")
		return start(b, cfg, consumertest.NewNop(), host)
	}
	plain := startExp(map[string]any{"baseline": "full", "active": "full", "window": "1m", "variants": variants})
	withRules := startExp(map[string]any{"baseline": "full", "active": "full", "window": "1m", "variants": variants,
		"rules": map[string]any{"inline": benchRules()}})
	captured := newest(batch)
	window := func(p started, n int) func() {
		return func() {
			exp := p.exp
			for k := range 6 {
				at := time.Duration(n*6+k) * 10 * time.Second
				exp.now = func() time.Time { return captured.Add(at + time.Second) }
				require.NoError(b, p.ConsumeMetrics(context.Background(), receivercapture.NextInterval(batch, at)))
			}
			if exp.rules != nil {
				exp.rules.wg.Wait()
			}
		}
	}
	for _, p := range []started{plain, withRules} { // the windows start on the data's clock
		p.exp.mu.Lock()
		p.exp.resetMeters(captured)
		p.exp.mu.Unlock()
	}
	var rules, bare benchmeasure.Arm
	n := 0
	for b.Loop() {
		n++
		benchmeasure.Round(n, &rules, window(withRules, n), &bare, window(plain, n))
	}
	b.ReportMetric(rules.CPU.Seconds()/float64(b.N), "with-rules-cpu-s/window")
	b.ReportMetric(bare.CPU.Seconds()/float64(b.N), "without-cpu-s/window")
	b.ReportMetric(rules.CPU.Seconds()/bare.CPU.Seconds(), "with/without")
	x, _ := withRules.exp.Snapshot().Variant("top20")
	require.NotNil(b, x.Rules.Fidelity, "the rules were evaluated: %s", x.Rules.Error)
	runtime.KeepAlive(plain)
}
