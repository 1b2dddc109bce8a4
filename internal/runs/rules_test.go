// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package runs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

func ruleStats(fidelity float64, rules ...control.RuleResult) *control.RuleStats {
	return &control.RuleStats{Fidelity: &fidelity, Rules: rules}
}

// evaluatedWindow closes a window whose start (the previous window's end) every variant's rules were
// evaluated at, as the processor does.
func evaluatedWindow(e *scripted, end time.Time) {
	e.window(end, 0.99, 1, 0.8)
	for _, v := range e.snap.Variants {
		if v.Rules != nil {
			v.Rules.EvaluatedAt = e.snap.WindowStart
		}
	}
}

// running starts a run of spec s on an experiment with rules and steps it into Running after one window.
func running(t *testing.T, s Spec) (*scripted, *Run) {
	t.Helper()
	e := newScripted()
	withRules(e)
	r, err := New("r", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	evaluatedWindow(e, t0.Add(time.Minute))
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	require.Equal(t, Running, r.Phase)
	return e, r
}

func withRules(e *scripted) {
	held := []control.RuleResult{{Name: "NodeCPU", Verdict: control.RuleSame}, {Name: "KubeletMemory", Verdict: control.RuleSame}}
	e.snap.Variants[0].Rules = ruleStats(1, held...)
	e.snap.Variants[1].Rules = ruleStats(1, held...)
}

func TestRuleCriteriaNeedRulesAndKnownNames(t *testing.T) {
	e := newScripted()
	s := spec()
	s.Criteria.MinRuleFidelity = 0.9
	_, err := New("r", e, s, t0)
	require.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "has no rules: block")

	withRules(e)
	s.Criteria.MinRuleFidelity = 1.5
	s.Criteria.RulesMustHold = []string{"KubeletMemory", "NoSuchRule"}
	_, err = New("r", e, s, t0)
	assert.ErrorContains(t, err, `criteria.rules_must_hold: "NoSuchRule" is not one of the experiment's 2 rules`)
	assert.ErrorContains(t, err, "criteria.min_rule_fidelity 1.5: want 0..1")
}

func TestBrokenMustHoldRuleFallsBack(t *testing.T) {
	s := spec()
	s.Activate = true
	s.Criteria.RulesMustHold = []string{"KubeletMemory"}
	e, r := running(t, s)

	// a changed value is no breach of a must-hold rule; broken is
	e.snap.Variants[1].Rules = ruleStats(0.5, control.RuleResult{Name: "NodeCPU", Verdict: control.RuleSame},
		control.RuleResult{Name: "KubeletMemory", Verdict: control.RuleChanged, MaxRelDiff: 0.2})
	evaluatedWindow(e, t0.Add(2*time.Minute))
	r.Step(e, e.SetActive, t0.Add(2*time.Minute))
	require.Equal(t, Running, r.Phase)

	e.snap.Variants[1].Rules = ruleStats(0.5, control.RuleResult{Name: "NodeCPU", Verdict: control.RuleSame},
		control.RuleResult{Name: "KubeletMemory", Verdict: control.RuleBroken, Reason: `selector process_memory_usage_bytes{process_executable_name="kubelet"} has no series`})
	evaluatedWindow(e, t0.Add(3*time.Minute))
	require.True(t, r.Step(e, e.SetActive, t0.Add(3*time.Minute)))
	assert.Equal(t, Failed, r.Phase)
	assert.Contains(t, r.Reason, `must-hold rule "KubeletMemory" broken: selector process_memory_usage_bytes`)
	assert.Contains(t, r.Reason, "fell back to the baseline")
	assert.Equal(t, "full", e.snap.Active)
}

func TestRuleFidelityFailsClosed(t *testing.T) {
	s := spec()
	s.Criteria.MinRuleFidelity = 0.9
	e, r := running(t, s)

	e.snap.Variants[1].Rules = &control.RuleStats{} // no evaluation yet: Fidelity nil
	evaluatedWindow(e, t0.Add(2*time.Minute))
	require.True(t, r.Step(e, e.SetActive, t0.Add(2*time.Minute)))
	assert.Equal(t, Failed, r.Phase)
	assert.Contains(t, r.Reason, "rule fidelity: no evaluation in the window")
}

func TestVerdictCarriesRuleFidelity(t *testing.T) {
	e := newScripted()
	withRules(e)
	s := spec()
	s.Criteria.MinRuleFidelity = 0.7
	s.Duration = Duration{time.Minute}
	r, err := New("r", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	evaluatedWindow(e, t0.Add(time.Minute))
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	e.snap.Variants[1].Rules = ruleStats(0.75)
	for i := 2; i < 5 && !r.Phase.Terminal(); i++ {
		evaluatedWindow(e, t0.Add(time.Duration(i)*time.Minute))
		r.Step(e, e.SetActive, t0.Add(time.Duration(i)*time.Minute))
	}
	require.NotNil(t, r.Verdict)
	assert.True(t, r.Verdict.Pass, "%v", r.Verdict.Reasons)
	require.NotNil(t, r.Verdict.RuleFidelity)
	assert.InDelta(t, 0.75, *r.Verdict.RuleFidelity, 1e-9)
}

// TestStaleRuleEvaluationFailsClosed: an evaluation older than the window (evaluations slower than the
// window, or stuck on a file) is no proof, nor is a rule set that no longer loads.
func TestStaleRuleEvaluationFailsClosed(t *testing.T) {
	for name, c := range map[string]struct {
		mutate func(r *control.RuleStats, windowStart time.Time)
		want   string
	}{
		"stale":  {func(r *control.RuleStats, ws time.Time) { r.EvaluatedAt = ws.Add(-time.Second) }, "is older than the window"},
		"broken": {func(r *control.RuleStats, _ time.Time) { r.Error = "rule files changed and no longer load" }, "rule fidelity: rule files changed and no longer load"},
	} {
		t.Run(name, func(t *testing.T) {
			s := spec()
			s.Criteria.MinRuleFidelity = 0.5
			e, r := running(t, s)
			evaluatedWindow(e, t0.Add(2*time.Minute))
			c.mutate(e.snap.Variants[1].Rules, e.snap.WindowStart)
			require.True(t, r.Step(e, e.SetActive, t0.Add(2*time.Minute)))
			assert.Equal(t, Failed, r.Phase)
			assert.Contains(t, r.Reason, c.want)
		})
	}
}
