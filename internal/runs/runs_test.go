// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_800_000_000, 0)

// scripted is an experiment whose windows the test sets.
type scripted struct {
	snap control.ExperimentSnapshot
}

func newScripted() *scripted {
	return &scripted{snap: control.ExperimentSnapshot{Name: "experiment/process", Baseline: "full", Active: "full", Window: time.Minute,
		Variants: []control.VariantStats{{Name: "full", Fidelity: ptr(1.0), CriticalVisible: 1}, {Name: "top20", Fidelity: ptr(1.0), CriticalVisible: 1, SeriesSavings: 0.8}}}}
}

func (s *scripted) Name() string                                         { return s.snap.Name }
func (s *scripted) Snapshot() control.ExperimentSnapshot                 { return s.snap }
func (s *scripted) VariantSteps(string) ([]control.ProcessorStep, error) { return nil, nil }
func (s *scripted) SetActive(v string) error {
	if _, ok := s.snap.Variant(v); !ok {
		return fmt.Errorf("%w %q", control.ErrUnknownVariant, v)
	}
	s.snap.Active = v
	return nil
}

// window closes a window ending at end with the candidate's figures.
func (s *scripted) window(end time.Time, fidelity, critical, savings float64) {
	s.snap.Complete, s.snap.WindowStart, s.snap.WindowEnd = true, end.Add(-time.Minute), end
	s.snap.Variants[1].Fidelity, s.snap.Variants[1].CriticalVisible, s.snap.Variants[1].SeriesSavings = ptr(fidelity), critical, savings
}

func spec() Spec {
	return Spec{Candidate: "top20", WarmUp: Duration{30 * time.Second}, Duration: Duration{3 * time.Minute},
		Criteria: Criteria{MinSeriesReduction: 0.5, MinFidelity: 0.95, CriticalVisible: true}}
}

func TestLifecycleToAPassingVerdictWithPromotion(t *testing.T) {
	e := newScripted()
	s := spec()
	s.Activate, s.AutoPromote = true, true
	r, err := New("r1", e, s, t0)
	require.NoError(t, err)
	assert.Equal(t, Pending, r.Phase)
	sw := e.SetActive

	require.True(t, r.Step(e, sw, t0))
	assert.Equal(t, Initializing, r.Phase)
	assert.Equal(t, "top20", e.snap.Active, "activate: the candidate flows during the run")

	assert.False(t, r.Step(e, sw, t0.Add(40*time.Second)), "no complete window since the run started yet")
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	require.True(t, r.Step(e, sw, t0.Add(time.Minute)))
	assert.Equal(t, Running, r.Phase)

	for i := 2; i <= 4; i++ {
		e.window(t0.Add(time.Duration(i)*time.Minute), 0.99, 1, 0.8)
		r.Step(e, sw, t0.Add(time.Duration(i)*time.Minute))
	}
	assert.Equal(t, Analyzing, r.Phase)
	assert.Equal(t, 3, r.Windows, "guardrails checked each of the 3 windows of a 3-minute run")
	require.True(t, r.Step(e, sw, t0.Add(4*time.Minute)))
	assert.Equal(t, Completed, r.Phase)
	require.NotNil(t, r.Verdict)
	assert.True(t, r.Verdict.Pass, "%v", r.Verdict.Reasons)
	assert.True(t, r.Promoted)
	assert.Equal(t, "top20", e.snap.Active, "auto-promoted")
	assert.False(t, r.Step(e, sw, t0.Add(5*time.Minute)), "a terminal run does not move")
	assert.Equal(t, []PhaseChange{
		{Pending, t0}, {Initializing, t0}, {Running, t0.Add(time.Minute)},
		{Analyzing, t0.Add(4 * time.Minute)}, {Completed, t0.Add(4 * time.Minute)},
	}, r.Timeline, "the timeline has every phase, in order, with when")
}

func TestGuardrailFallsBackToBaseline(t *testing.T) {
	e := newScripted()
	s := spec()
	s.Activate = true
	r, err := New("r2", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	require.Equal(t, Running, r.Phase)
	e.window(t0.Add(2*time.Minute), 0.90, 1, 0.8) // fidelity breaks
	require.True(t, r.Step(e, e.SetActive, t0.Add(2*time.Minute)))
	assert.Equal(t, Failed, r.Phase)
	assert.Contains(t, r.Reason, "fidelity 0.9000 < 0.9500")
	assert.Contains(t, r.Reason, "fell back to the baseline")
	assert.Equal(t, "full", e.snap.Active)
	assert.Equal(t, Failed, r.Timeline[len(r.Timeline)-1].Phase, "the timeline ends with the terminal phase")
}

func TestShadowRunFailingVerdictChangesNothing(t *testing.T) {
	e := newScripted()
	s := spec()
	s.Criteria.MinSeriesReduction = 0.9
	r, err := New("r3", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	assert.Equal(t, "full", e.snap.Active, "without activate, the run only measures")
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(time.Minute))
	e.window(t0.Add(4*time.Minute), 0.99, 1, 0.8)
	r.Step(e, e.SetActive, t0.Add(4*time.Minute))
	r.Step(e, e.SetActive, t0.Add(4*time.Minute))
	require.Equal(t, Completed, r.Phase)
	assert.False(t, r.Verdict.Pass)
	assert.Equal(t, []string{"series reduction 0.8000 < 0.9000"}, r.Verdict.Reasons)
	assert.Equal(t, "full", e.snap.Active)
}

func TestCancelAndInterruptAndTimeout(t *testing.T) {
	e := newScripted()
	s := spec()
	s.Activate = true
	r, _ := New("r4", e, s, t0)
	r.Step(e, e.SetActive, t0)
	require.NoError(t, r.Cancel(e, e.SetActive, t0.Add(time.Second)))
	assert.Equal(t, Cancelled, r.Phase)
	assert.Equal(t, "full", e.snap.Active, "cancel restores the previous variant")
	assert.Error(t, r.Cancel(e, e.SetActive, t0.Add(2*time.Second)), "already cancelled")

	r, _ = New("r5", e, spec(), t0)
	r.Step(e, e.SetActive, t0)
	require.True(t, r.Interrupt(e, e.SetActive, t0.Add(time.Second)))
	assert.Equal(t, Failed, r.Phase)
	assert.Contains(t, r.Reason, "restarted")
	assert.NotContains(t, r.Reason, "restored", "a shadow run switched nothing")
	assert.False(t, r.Interrupt(e, e.SetActive, t0.Add(2*time.Second)), "already ended")

	e = newScripted() // windows never complete
	r, _ = New("r6", e, spec(), t0)
	r.Step(e, e.SetActive, t0)
	assert.False(t, r.Step(e, e.SetActive, t0.Add(3*time.Minute)))
	require.True(t, r.Step(e, e.SetActive, t0.Add(4*time.Minute)))
	assert.Equal(t, Failed, r.Phase)
	assert.Contains(t, r.Reason, "initializing timed out")
}

// TestInterruptedCanaryGivesTheVariantBack: a canary cut by a restart switches back to the variant it
// replaced, unless someone else switched since.
func TestInterruptedCanaryGivesTheVariantBack(t *testing.T) {
	e := newScripted()
	s := spec()
	s.Activate = true
	r, _ := New("r7", e, s, t0)
	r.Step(e, e.SetActive, t0)
	require.Equal(t, "top20", e.snap.Active)
	require.True(t, r.Interrupt(e, e.SetActive, t0.Add(time.Second)))
	assert.Equal(t, Failed, r.Phase)
	assert.Equal(t, "full", e.snap.Active)
	assert.Contains(t, r.Reason, "restored the previous variant full")

	r, _ = New("r8", e, s, t0)
	r.Step(e, e.SetActive, t0)
	require.NoError(t, e.SetActive("full")) // an operator's switch during the run
	require.True(t, r.Interrupt(e, func(string) error { t.Fatal("no switch expected"); return nil }, t0.Add(time.Second)))
	assert.NotContains(t, r.Reason, "restored")

	r, _ = New("r9", e, s, t0)
	r.Step(e, e.SetActive, t0)
	require.True(t, r.Interrupt(e, func(string) error { return errors.New("disk full") }, t0.Add(time.Second)))
	assert.Contains(t, r.Reason, "could not restore the previous variant full: disk full")
}

func TestValidateListsEveryProblem(t *testing.T) {
	e := newScripted()
	_, err := New("x", e, Spec{Candidate: "nope", WarmUp: Duration{-time.Second}, Duration: Duration{time.Second},
		Criteria: Criteria{MinSeriesReduction: 2, MinFidelity: -1}}, t0)
	require.ErrorIs(t, err, ErrInvalid)
	for _, want := range []string{`candidate "nope"`, "warm_up -1s", "duration 1s", "criteria.min_series_reduction 2", "criteria.min_fidelity -1"} {
		assert.ErrorContains(t, err, want)
	}
	_, err = New("x", e, Spec{Candidate: "full", Duration: Duration{time.Minute}}, t0)
	assert.ErrorContains(t, err, "is the baseline")
}

func TestDurationJSON(t *testing.T) {
	var s Spec
	require.NoError(t, json.Unmarshal([]byte(`{"candidate":"top20","warm_up":"30s","duration":"5m"}`), &s))
	assert.Equal(t, 5*time.Minute, s.Duration.D)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"duration":"5m0s"`)
	assert.Error(t, json.Unmarshal([]byte(`{"duration":300}`), &s))
}

func ptr(v float64) *float64 { return &v }

// TestCanaryEndLeavesALaterSwitchAlone: an operator (or the desired-state file) switched away from the
// candidate during a canary; when the run ends, that switch stands.
func TestCanaryEndLeavesALaterSwitchAlone(t *testing.T) {
	e := newScripted()
	e.snap.Variants = append(e.snap.Variants, control.VariantStats{Name: "by_executable", Fidelity: ptr(1.0), CriticalVisible: 1})
	s := spec()
	s.Activate, s.Criteria.MinSeriesReduction = true, 0.99 // the verdict fails: no promotion
	r, err := New("r1", e, s, t0)
	require.NoError(t, err)
	sw := e.SetActive
	r.Step(e, sw, t0)
	require.Equal(t, "top20", e.snap.Active)
	e.window(t0.Add(time.Minute), 0.99, 1, 0.8)
	r.Step(e, sw, t0.Add(time.Minute))
	require.NoError(t, e.SetActive("by_executable")) // the operator's switch, during the run
	for i := 2; i <= 5; i++ {
		e.window(t0.Add(time.Duration(i)*time.Minute), 0.99, 1, 0.8)
		r.Step(e, sw, t0.Add(time.Duration(i)*time.Minute))
	}
	require.Equal(t, Completed, r.Phase)
	assert.Equal(t, "by_executable", e.snap.Active, "the canary's end does not undo a switch made during it")
}
