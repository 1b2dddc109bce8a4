// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

const testRules = `groups:
  - name: node
    rules:
      - record: node:process_memory_bytes:sum
        expr: sum by (host_name) (process_memory_usage_bytes)
      - alert: KubeletMissing
        expr: absent(process_memory_usage_bytes{process_executable_name="kubelet"})
`

// newest is the newest point's time in a batch: rules are evaluated on the data's clock.
func newest(md pmetric.Metrics) time.Time {
	var ts int64
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if m := ms.At(k); m.Type() == pmetric.MetricTypeGauge && m.Gauge().DataPoints().Len() > 0 {
					ts = max(ts, int64(m.Gauge().DataPoints().At(0).Timestamp()))
				} else if m.Type() == pmetric.MetricTypeSum && m.Sum().DataPoints().Len() > 0 {
					ts = max(ts, int64(m.Sum().DataPoints().At(0).Timestamp()))
				}
			}
		}
	}
	return time.Unix(0, ts)
}

// steadyBatches are a node's scrapes without churn: what a backend holds for the baseline is then exactly
// the processes of the last scrape (departed processes linger for the lookback; see the README).
func steadyBatches(t *testing.T, n int) []pmetric.Metrics {
	return receivercapture.Capture(t, simulatedprocessreceiver.NewFactory(), map[string]any{"processes": 120, "seed": 3,
		"profile": "realistic", "churn_rate": 0, "kill_rate": 0, "collection_interval": "50ms"}, n)
}

// rulesRun feeds the batches a window (1s) apart and waits for each window's evaluation.
func rulesRun(t *testing.T, p started, mds []pmetric.Metrics, between func(i int)) control.ExperimentSnapshot {
	var snap control.ExperimentSnapshot
	p.exp.mu.Lock()
	p.exp.resetMeters(newest(mds[0]))
	p.exp.mu.Unlock()
	for i, md := range mds {
		at := newest(md).Add(time.Duration(i+1) * time.Second)
		p.exp.now = func() time.Time { return at }
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		require.Eventually(t, func() bool {
			snap = p.exp.Snapshot()
			v, _ := snap.Variant(snap.Baseline)
			return v.Rules != nil && v.Rules.EvaluatedAt.Equal(at)
		}, 10*time.Second, 10*time.Millisecond, "window %d evaluated", i)
		if between != nil {
			between(i)
		}
	}
	return snap
}

// TestRulesOnEveryVariant: a per-node sum survives top K through other, a per-process query does not, and
// an alert on a kept critical process holds; the baseline (and a pass-through copy) is the same as itself.
func TestRulesOnEveryVariant(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.rules.yaml")
	require.NoError(t, os.WriteFile(file, []byte(testRules), 0o600))
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "1s",
		"rules": map[string]any{"files": []any{file},
			"inline": map[string]any{"threads_per_process": "max by (process_pid) (process_memory_usage_bytes)"}},
		"variants": map[string]any{"full": map[string]any{}, "copy": map[string]any{},
			"top20": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 20,
				"keep": map[string]any{"patterns": []any{"^kubelet$"}}}}}}}})
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, consumertest.NewNop(), host)

	before := p.exp.Snapshot()
	full, _ := before.Variant("full")
	require.NotNil(t, full.Rules, "a rules: block gives every variant rule figures")
	assert.Nil(t, full.Rules.Fidelity, "nothing evaluated yet: no fidelity")
	assert.Len(t, full.Rules.Rules, 3, "the rules are listed before the first evaluation")

	snap := rulesRun(t, p, steadyBatches(t, 3), nil)
	byName := func(v string) map[string]control.RuleResult {
		x, _ := snap.Variant(v)
		require.NotNil(t, x.Rules)
		require.NotNil(t, x.Rules.Fidelity, "%s: %s", v, x.Rules.Error)
		out := map[string]control.RuleResult{}
		for _, r := range x.Rules.Rules {
			out[r.Name] = r
		}
		return out
	}
	for _, v := range []string{"full", "copy"} {
		x, _ := snap.Variant(v)
		assert.Equal(t, 1.0, *x.Rules.Fidelity, v)
		assert.Equal(t, 3, x.Rules.Same, v)
	}
	top := byName("top20")
	assert.Equal(t, control.RuleSame, top["node:process_memory_bytes:sum"].Verdict, "other carries the rest of the node: %+v", top["node:process_memory_bytes:sum"])
	assert.Equal(t, control.RuleSame, top["KubeletMissing"].Verdict, "kubelet is on the keep list")
	pid := top["threads_per_process"]
	assert.Equal(t, control.RuleBroken, pid.Verdict, "%+v", pid)
	assert.NotEmpty(t, pid.Reason)
	assert.Greater(t, pid.BaselineSeries, pid.Series)
	x, _ := snap.Variant("top20")
	assert.InDelta(t, 2.0/3, *x.Rules.Fidelity, 1e-9)
}

// TestRulesReloadKeepsTheLastGoodSet: a rule file broken at runtime is reported and the last good set is
// evaluated still; fixed again, the new set is evaluated.
func TestRulesReloadKeepsTheLastGoodSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.rules.yaml")
	require.NoError(t, os.WriteFile(file, []byte(testRules), 0o600))
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "1s",
		"rules":    map[string]any{"files": []any{filepath.Join(dir, "*.yaml")}},
		"variants": map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}})
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, consumertest.NewNop(), host)

	var errs []string
	var counts []int
	rulesRun(t, p, steadyBatches(t, 5), func(i int) {
		x, _ := p.exp.Snapshot().Variant("top20")
		errs, counts = append(errs, x.Rules.Error), append(counts, len(x.Rules.Rules))
		switch i {
		case 1: // broken: evaluated at the next window
			require.NoError(t, os.WriteFile(file, []byte("groups: [{name: g, rules: [{record: x, expr: 'sum('}]}]\n"), 0o600))
		case 3: // fixed, with one more rule
			require.NoError(t, os.WriteFile(file, []byte(testRules+`      - record: node:processes:count
        expr: count by (host_name) (process_memory_usage_bytes)
`), 0o600))
		}
	})
	assert.Equal(t, []int{2, 2, 2, 2, 3}, counts)
	assert.Empty(t, errs[0])
	assert.Empty(t, errs[1], "the file broken after this window's evaluation")
	assert.Contains(t, errs[2], "rule files changed and no longer load; still evaluating the last good set")
	assert.Contains(t, errs[2], "parse error")
	assert.Contains(t, errs[3], "no longer load", "still broken")
	assert.Empty(t, errs[4], "fixed")
}

// TestValidateLoadsTheRules: every problem of the rule files is a config error, listed at once.
func TestValidateLoadsTheRules(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("groups: [{name: g, rules: [{alert: A, expr: 'rate(x[5m]'}]}]\n"), 0o600))
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"baseline": "full", "active": "full",
		"rules": map[string]any{"files": []any{bad, filepath.Join(dir, "missing.yaml")}, "dashboards": []any{filepath.Join(dir, "*.json")},
			"inline": map[string]any{"q": "sum by ("}, "tolerance": 1.5, "max_range": "1s"},
		"variants": map[string]any{"full": map[string]any{}}}).Unmarshal(cfg))
	err := confmap.Validate(cfg)
	require.Error(t, err)
	for _, want := range []string{`rule file ` + bad, `"A"`, "missing.yaml: no such file", `inline "q"`,
		"rules.tolerance 1.5", "rules.max_range 1s: want the window (1m0s) .. 24h"} {
		assert.ErrorContains(t, err, want)
	}
}
