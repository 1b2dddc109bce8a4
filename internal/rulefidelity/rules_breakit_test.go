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

// A group's limit: as Prometheus' rule manager, an alerting rule with more alerts than the limit fails on
// every store that exceeds it (no pending or firing alert, the rule in error). Baseline (5 series) and topk
// (3 series) both exceed limit 1, so a Prometheus server shows the same thing on both: the rule fails. The
// verdict should not be "broken" for a difference in result series that Prometheus never exposes.
func TestBreakitGroupLimitIsHonoured(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "limit.yaml"), []byte(`groups:
  - name: limited
    limit: 1
    rules:
      - alert: ManyProcesses
        expr: process_memory_usage_bytes > 0
`), 0o600))
	rs := mustLoad(t, Options{Files: []string{filepath.Join(dir, "limit.yaml")}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	stores := newStores(map[string]func(time.Duration) []proc{"full": baselineAt, "topk": topkAt}, 5*time.Minute)
	res := e.Evaluate(context.Background(), t0.Add(5*time.Minute), stores["full"], stores)
	base := byName(res["full"].Stats.Rules)["ManyProcesses"]
	assert.Empty(t, base.Firing, "limit 1 exceeded: Prometheus fires nothing")
	top := byName(res["topk"].Stats.Rules)["ManyProcesses"]
	assert.NotEqual(t, control.RuleBroken, top.Verdict, "both exceed the limit: %s", top.Reason)
}

// A rule file replaced by a FIFO (or any special file) in a watched directory: Fingerprint, called at every
// window's end on the evaluation goroutine, blocks forever in os.ReadFile; evaluation stops for good (the
// API keeps serving the last results as if current) and the collector's shutdown hangs waiting for it.
func TestBreakitFingerprintDoesNotBlockOnFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rules.yaml")
	require.NoError(t, mkfifo(fifo))
	done := make(chan struct{})
	go func() {
		defer close(done)
		Fingerprint(Options{Files: []string{filepath.Join(dir, "*.yaml")}})
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		// unblock the reader so the test binary can exit
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_ = f.Close()
		}
		t.Fatal("Fingerprint blocked on a FIFO for 2s")
	}
}
