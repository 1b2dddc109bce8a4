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
	e := newScripted()
	withRules(e)
	s := spec()
	s.Activate = true
	s.Criteria.RulesMustHold = []string{"KubeletMemory"}
	r, err := New("r", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	require.Equal(t, Running, r.Phase)

	// a changed value is no breach of a must-hold rule; broken is
	e.snap.Variants[1].Rules = ruleStats(0.5, control.RuleResult{Name: "NodeCPU", Verdict: control.RuleSame},
		control.RuleResult{Name: "KubeletMemory", Verdict: control.RuleChanged, MaxRelDiff: 0.2})
	e.window(t0.Add(2*time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(2*time.Minute))
	require.Equal(t, Running, r.Phase)

	e.snap.Variants[1].Rules = ruleStats(0.5, control.RuleResult{Name: "NodeCPU", Verdict: control.RuleSame},
		control.RuleResult{Name: "KubeletMemory", Verdict: control.RuleBroken, Reason: `selector process_memory_usage_bytes{process_executable_name="kubelet"} has no series`})
	e.window(t0.Add(3*time.Minute), 0.99, 1, 0.8)
	require.True(t, r.Step(e, e.SetActive, t0.Add(3*time.Minute)))
	assert.Equal(t, Failed, r.Phase)
	assert.Contains(t, r.Reason, `must-hold rule "KubeletMemory" broken: selector process_memory_usage_bytes`)
	assert.Contains(t, r.Reason, "fell back to the baseline")
	assert.Equal(t, "full", e.snap.Active)
}

func TestRuleFidelityFailsClosed(t *testing.T) {
	e := newScripted()
	withRules(e)
	s := spec()
	s.Criteria.MinRuleFidelity = 0.9
	r, err := New("r", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	require.Equal(t, Running, r.Phase)

	e.snap.Variants[1].Rules = &control.RuleStats{} // no evaluation yet: Fidelity nil
	e.window(t0.Add(2*time.Minute), 0.99, 1, 0.8)
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
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	e.snap.Variants[1].Rules = ruleStats(0.75)
	for i := 2; i < 5 && !r.Phase.Terminal(); i++ {
		e.window(t0.Add(time.Duration(i)*time.Minute), 0.99, 1, 0.8)
		r.Step(e, e.SetActive, t0.Add(time.Duration(i)*time.Minute))
	}
	require.NotNil(t, r.Verdict)
	assert.True(t, r.Verdict.Pass, "%v", r.Verdict.Reasons)
	require.NotNil(t, r.Verdict.RuleFidelity)
	assert.InDelta(t, 0.75, *r.Verdict.RuleFidelity, 1e-9)
}
