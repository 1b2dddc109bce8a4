// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadRuleFilesAndPrometheusRule(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{Files: []string{"testdata/rules/*.yaml"}})
	type row struct{ name, kind, source string }
	var got []row
	for _, r := range rs.Rules() {
		got = append(got, row{r.Name, r.Kind, r.Source})
	}
	const prFile = "testdata/rules/prometheusrule.yaml"
	const file = "testdata/rules/process.rules.yaml"
	assert.Equal(t, []row{ // files in glob order, groups and rules in file order
		{"node:process_cpu_seconds:rate1m", KindRecord, file + " (group process-node)"},
		{"NodeProcessCPUBusy", KindAlert, file + " (group process-node)"},
		{"ProcessCPUSaturation", KindAlert, file + " (group process-executable)"},
		{"NginxCPUHigh", KindAlert, file + " (group process-executable)"},
		{"CriticalProcessMemoryGrowth", KindAlert, file + " (group process-executable)"},
		{"process:cpu_seconds:rate1m", KindRecord, prFile + ": PrometheusRule monitoring/process-rules (group process-pid)"},
		{"TooFewProcesses", KindAlert, prFile + ": PrometheusRule monitoring/process-rules (group process-pid)"},
	}, got)
	r := rs.Rules()[2]
	assert.Equal(t, 2*time.Minute, r.For)
	assert.Equal(t, map[string]string{"severity": "warning"}, r.Labels)
	assert.Equal(t, LookbackDelta+2*time.Minute, rs.NeededRange(), "delta(...[2m]) plus the lookback")
}

func TestLoadDashboards(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{
		Dashboards:         []string{"testdata/dashboards/processes.json", "testdata/dashboards/legacy-export.json"},
		DashboardVariables: map[string]string{"host": "node-1"},
		Interval:           30 * time.Second,
	})
	got := map[string]string{}
	for _, r := range rs.Rules() {
		assert.Equal(t, KindDashboard, r.Kind)
		got[r.Name] = r.Expr
	}
	assert.Equal(t, map[string]string{
		// Configured $host; ${exe:regex} is All (.*), so its = matcher becomes =~; $__rate_interval is four
		// times the 30s interval.
		"Processes / CPU by executable / A": `sum by (process_executable_name) (rate(process_cpu_time_seconds_total{host_name="node-1",process_executable_name=~".*"}[2m]))`,
		// A collapsed row's panels; [[host]]; label_replace's $1 is not a variable.
		"Processes / Resident memory / A": `sum by (process_executable_name) (process_memory_usage_bytes{host_name=~"node-1"})`,
		"Processes / Resident memory / B": `label_replace(max_over_time(process_memory_usage_bytes[2m]), "exe", "$1", "process_executable_name", "(.*)")`,
		// $__range is the dashboard's now-3h.
		"Processes / Processes over the range / A": `count(count_over_time(process_memory_usage_bytes[3h]))`,
		// The HTTP API's {"dashboard": ...} wrapper, rows of schema < 16, a target without refId.
		"Node (old schema) / Total CPU / A": `sum(rate(process_cpu_time_seconds_total[30s]))`,
	}, got)
	assert.Equal(t, 3*time.Hour+LookbackDelta, rs.NeededRange())
	assert.Equal(t, time.Hour, rs.MaxRange(), "capped by the default max_range")
}

func TestLoadInlineAndNames(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{
		Files:    []string{"testdata/rules/process.rules.yaml", "testdata/rules/process.rules.yaml"},
		Inline:   map[string]string{"NginxCPUHigh": `up`, "zeta": `1`, "alpha": `rate(x[10m] offset 5m)`},
		MaxRange: 30 * time.Minute,
	})
	var names []string
	for _, r := range rs.Rules() {
		names = append(names, r.Name)
	}
	assert.Equal(t, []string{
		"node:process_cpu_seconds:rate1m", "NodeProcessCPUBusy", "ProcessCPUSaturation",
		"NginxCPUHigh (process.rules.yaml/process-executable)", "CriticalProcessMemoryGrowth",
		"NginxCPUHigh (inline)", "alpha", "zeta",
	}, names, "a file listed twice is read once; names used twice are qualified")
	assert.Equal(t, 20*time.Minute, rs.NeededRange())
}

func TestLoadRanges(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]time.Duration{
		`x`:                                  5 * time.Minute,
		`rate(x[10m] offset 5m)`:             20 * time.Minute,
		`max_over_time(rate(x[5m])[30m:1m])`: 40 * time.Minute,
		`max_over_time(x[1h:] offset 1h) + y[2m]`: 2*time.Hour + 5*time.Minute,
		`x @ 100`: 5 * time.Minute,
	} {
		rs, err := Load(Options{Inline: map[string]string{"q": expr}, MaxRange: 24 * time.Hour})
		if expr == `max_over_time(x[1h:] offset 1h) + y[2m]` {
			require.Error(t, err, "a range vector cannot be added")
			continue
		}
		require.NoError(t, err, expr)
		assert.Equal(t, want, rs.NeededRange(), expr)
	}
	rs := mustLoad(t, Options{Files: []string{"testdata/rules/process.rules.yaml"}})
	for _, r := range rs.Rules() {
		if r.Name == "ProcessCPUSaturation" {
			assert.Equal(t, 6*time.Minute, r.Range)
		}
	}
}

// Every problem is listed at once, each with where it is.
func TestLoadListsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := Load(Options{
		Files: []string{
			"testdata/bad/invalid-yaml.yaml", "testdata/bad/bad-promql.yaml", "testdata/bad/not-rules.yaml",
			"testdata/bad/bad-prometheusrule.yaml", "testdata/missing.yaml", "testdata/none-*.yaml",
		},
		Dashboards: []string{
			"testdata/bad/unknown-dashboard.json", "testdata/bad/bad-query-dashboard.json",
			"testdata/bad/invalid-json.json",
		},
		Inline: map[string]string{"typo": `sum(`},
	})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"rule file testdata/bad/invalid-yaml.yaml: invalid YAML",
		`rule file testdata/bad/bad-promql.yaml: 5:15: group "typo", rule 1, "MissingParen"`,
		"rule file testdata/bad/not-rules.yaml: not a rule file",
		`rule file testdata/bad/bad-prometheusrule.yaml: PrometheusRule monitoring/broken: line 8: group "g", rule 1, "NoExpr": field 'expr' must be set in rule`,
		"files: stat testdata/missing.yaml: no such file or directory",
		"dashboard testdata/bad/unknown-dashboard.json: unknown dashboard format: no panels or rows",
		`dashboard testdata/bad/bad-query-dashboard.json: panel "Broken", refId A: query "rate(process_cpu_time_seconds_total[$__rate_interval]"`,
		"dashboard testdata/bad/invalid-json.json: invalid JSON",
		`inline "typo"`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.Len(t, splitLines(msg), 9, msg)
	assert.NotContains(t, msg, "testdata/none-*.yaml", "a pattern may match nothing")
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// TestLoadNothing: patterns may match nothing (a ConfigMap with only dashboards), but a set without a single
// rule is an error, not a silent no-op.
func TestLoadNothing(t *testing.T) {
	t.Parallel()
	_, err := Load(Options{Files: []string{"testdata/none-*.yaml"}})
	require.ErrorContains(t, err, `no rules: files ["testdata/none-*.yaml"] and dashboards [] hold no rule or query`)

	rs := mustLoad(t, Options{Files: []string{"testdata/none-*.yaml"}, Inline: map[string]string{"up": "vector(1)"}})
	assert.Equal(t, 1, rs.Len())
	assert.Equal(t, LookbackDelta, rs.MaxRange())
}

// TestFingerprintFollowsContent: an edit in place, a file added to a glob and a removed file all change it.
func TestFingerprintFollowsContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{Files: []string{filepath.Join(dir, "*.yaml")}}
	empty := Fingerprint(opts)
	a := filepath.Join(dir, "a.yaml")
	require.NoError(t, os.WriteFile(a, []byte("groups: []\n"), 0o600))
	one := Fingerprint(opts)
	assert.NotEqual(t, empty, one)
	assert.Equal(t, one, Fingerprint(opts), "unchanged files, same fingerprint")
	require.NoError(t, os.WriteFile(a, []byte("groups: [{name: g, rules: []}]\n"), 0o600))
	assert.NotEqual(t, one, Fingerprint(opts))
	require.NoError(t, os.Remove(a))
	assert.Equal(t, empty, Fingerprint(opts))
}

// TestLoadRefusesWhatIsNotARegularFile: a device, a directory and an over-size file are errors, not reads
// that never end.
func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.yaml")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o600))
	_, err := Load(Options{Files: []string{zero, dir}, Dashboards: []string{big}})
	require.Error(t, err)
	assert.ErrorContains(t, err, "zero.yaml: not a regular file")
	assert.ErrorContains(t, err, dir+": not a regular file")
	assert.ErrorContains(t, err, "over the 16 MiB limit")
}

func TestLoadCapsTheRules(t *testing.T) {
	t.Parallel()
	inline := map[string]string{}
	for i := range MaxRules + 1 {
		inline[fmt.Sprintf("q%d", i)] = "vector(1)"
	}
	_, err := Load(Options{Inline: inline})
	assert.ErrorContains(t, err, fmt.Sprintf("%d rules and queries: at most %d", MaxRules+1, MaxRules))
}
