// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// What Prometheus' rule manager reports as a rule's health (errors after the query: a group limit, label
// sets made equal by the rule's labels) is the rule's outcome, compared as a query error is.
func TestEvaluateRuleHealthErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "health.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`groups:
  - name: limited
    limit: 1
    rules:
      - alert: ManyProcesses
        expr: process_memory_usage_bytes > 0
      - record: memory:limited
        expr: process_memory_usage_bytes
  - name: labels
    rules:
      # The rule's labels overwrite what tells the series apart.
      - record: memory:by_exe
        expr: process_memory_usage_bytes
        labels:
          process_executable_name: any
          process_pid: "0"
      - record: memory:copy
        expr: process_memory_usage_bytes
      # Two series per process that differ only by their name.
      - alert: SameLabels
        expr: '{__name__=~"process_memory_usage_bytes|memory:copy"}'
      - record: memory:fine
        expr: sum(process_memory_usage_bytes)
`), 0o600))
	rs := mustLoad(t, Options{Files: []string{file}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	single := func(d time.Duration) []proc { return baselineAt(d)[:1] }
	stores := newStores(map[string]func(time.Duration) []proc{"full": baselineAt, "topk": topkAt, "single": single}, 5*time.Minute)
	var res map[string]Result
	for d := 3 * time.Minute; d <= 5*time.Minute; d += time.Minute {
		res = e.Evaluate(context.Background(), t0.Add(d), stores["full"], stores)
	}

	full := byName(res["full"].Stats.Rules)
	for _, name := range []string{"ManyProcesses", "memory:limited", "memory:by_exe", "SameLabels"} {
		assert.Equal(t, control.RuleSame, full[name].Verdict, name)
		assert.Contains(t, full[name].Reason, "fails on the baseline too: ", name)
	}
	assert.Empty(t, full["ManyProcesses"].Firing, "a rule over its limit has no alerts")
	assert.Equal(t, control.RuleSame, full["memory:fine"].Verdict)
	assert.Empty(t, full["memory:fine"].Reason)

	// Both over the limit (5 and 3 series), both with several processes: the same failures.
	topk := byName(res["topk"].Stats.Rules)
	assert.Equal(t, control.RuleSame, topk["ManyProcesses"].Verdict)
	assert.Equal(t, "fails on the baseline too: exceeded limit of 1 with 3 alerts (baseline: exceeded limit of 1 with 5 alerts)",
		topk["ManyProcesses"].Reason)
	assert.Equal(t, control.RuleSame, topk["memory:limited"].Verdict)
	assert.Equal(t, "fails on the baseline too: exceeded limit of 1 with 3 series (baseline: exceeded limit of 1 with 5 series)",
		topk["memory:limited"].Reason)
	assert.Equal(t, control.RuleSame, topk["memory:by_exe"].Verdict)
	assert.Equal(t, "fails on the baseline too: vector contains metrics with the same labelset after applying rule labels",
		topk["memory:by_exe"].Reason)
	assert.Equal(t, control.RuleSame, topk["SameLabels"].Verdict)
	assert.Equal(t, "fails on the baseline too: vector contains metrics with the same labelset after applying alert labels",
		topk["SameLabels"].Reason)

	// One process: within the limit, no label sets made equal by the rule's labels; the baseline fails where
	// the variant does not, which a server shows too. SameLabels fails for every process, one included.
	one := byName(res["single"].Stats.Rules)
	assert.Equal(t, control.RuleSame, one["SameLabels"].Verdict)
	for _, name := range []string{"ManyProcesses", "memory:limited", "memory:by_exe"} {
		assert.Equal(t, control.RuleBroken, one[name].Verdict, name)
		assert.Contains(t, one[name].Reason, "error on the baseline only: ", name)
	}
	assert.Len(t, one["ManyProcesses"].Firing, 1, "within the limit, the alert fires (for: 0)")
}

func TestFailureKey(t *testing.T) {
	t.Parallel()
	assert.Equal(t, failureKey("exceeded limit of 1 with 5 alerts"), failureKey("exceeded limit of 1 with 3 alerts"))
	assert.Equal(t, failureKey("exceeded limit of 2 with 5 series"), failureKey("exceeded limit of 2 with 30 series"))
	assert.NotEqual(t, failureKey("exceeded limit of 1 with 5 alerts"), failureKey("exceeded limit of 1 with 5 series"))
	assert.NotEqual(t, failureKey("exceeded limit of 1 with 5 alerts"), failureKey("exceeded limit of 2 with 5 alerts"))
	assert.Equal(t, "query timed out", failureKey("query timed out"))
}
