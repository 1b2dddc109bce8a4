// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testExperiment = "experiment/process"
	baseline       = "full"
	candidate      = "top20"
	reportEvery    = 30 * time.Second
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeFleet is agents that run what the rollout wants and report every tick, misbehaving on demand.
type fakeFleet struct {
	now    time.Time
	agents []Agent
	tweak  map[string]func(*Variant) // by agent ID: changes its candidate's figures
	stuck  map[string]bool           // never applies what it is sent
	mute   map[string]bool           // stops reporting
	frozen map[string]bool           // reports, but its windows stop advancing
}

func newFleet(n int) *fakeFleet {
	f := &fakeFleet{now: t0, tweak: map[string]func(*Variant){}, stuck: map[string]bool{}, mute: map[string]bool{}, frozen: map[string]bool{}}
	for i := range n {
		node := fmt.Sprintf("node-%02d", i)
		f.agents = append(f.agents, Agent{ID: fmt.Sprintf("agent-%02d", i), Node: node, Labels: map[string]string{"pool": "general"},
			Connected: true, LastReport: t0, ReportInterval: reportEvery, Figures: figures(node, baseline, t0, nil)})
	}
	return f
}

// figures is an agent's report: the baseline, and a candidate with a fifth of its series and cost that
// keeps fidelity, critical processes and rules; the last complete window ends on the minute.
func figures(node, active string, now time.Time, tweak func(*Variant)) *Figures {
	one, fid, cost, candCost := 1.0, 0.99, 10.0, 2.0
	cand := Variant{Name: candidate, Series: 200, DatapointsPerSecond: 20, BytesPerSecond: 1000, Fidelity: &fid,
		CriticalVisible: 1, RuleFidelity: &one, CostMonthly: &candCost, Currency: "USD"}
	if tweak != nil {
		tweak(&cand)
	}
	return &Figures{Node: node, At: now, Experiments: []Experiment{{Name: testExperiment, Baseline: baseline, Active: active,
		Window: time.Minute, WindowEnd: now.Truncate(time.Minute), Complete: true, Variants: []Variant{
			{Name: baseline, Series: 1000, DatapointsPerSecond: 100, BytesPerSecond: 5000, Fidelity: &one, CriticalVisible: 1,
				RuleFidelity: &one, CostMonthly: &cost, Currency: "USD"},
			cand}}}}
}

func (f *fakeFleet) agent(id string) *Agent {
	for i := range f.agents {
		if f.agents[i].ID == id {
			return &f.agents[i]
		}
	}
	panic(id)
}

// tick is one report interval: each agent takes the variant the first rollout wants for it and reports,
// then the controller steps every rollout.
func (f *fakeFleet) tick(rs ...*Rollout) {
	f.now = f.now.Add(reportEvery)
	for i := range f.agents {
		a := &f.agents[i]
		if a.Figures == nil || !a.Connected || f.mute[a.ID] {
			continue
		}
		if e, ok := a.experiment(testExperiment); ok {
			active := e.Active
			if v, ok := rs[0].Desired(*a); ok && !f.stuck[a.ID] {
				active = v
			}
			a.Figures = figures(a.Node, active, f.now, f.tweak[a.ID])
			if f.frozen[a.ID] {
				a.Figures.Experiments[0].WindowEnd = e.WindowEnd
			}
		}
		a.LastReport = f.now
	}
	for _, r := range rs {
		r.Step(f.now, f.agents)
	}
}

// until ticks until cond holds.
func (f *fakeFleet) until(t *testing.T, r *Rollout, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		f.tick(r)
	}
	require.FailNow(t, "never "+what, "phase %s wave %d paused %q reason %q", r.Phase, r.Wave, r.PauseReason, r.Reason)
}

func (f *fakeFleet) order(spec RolloutSpec) []string { return agentIDs(spec.Eligible(f.agents, f.now)) }

func agentIDs(as []Agent) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func goodSpec() RolloutSpec {
	return RolloutSpec{Experiment: testExperiment, Candidate: candidate,
		Waves: []Wave{{Count: 1}, {Percent: 10}, {Percent: 50}, {Percent: 100}},
		Soak:  runs.Duration{D: 5 * time.Minute}, ApplyTimeout: runs.Duration{D: 2 * time.Minute},
		Criteria: Criteria{MinSeriesReduction: 0.5, MinFidelity: 0.95, CriticalVisible: true, MinRuleFidelity: 0.9, MinCostSaving: 0.5}}
}

func newRollout(t *testing.T, f *fakeFleet, spec RolloutSpec) *Rollout {
	t.Helper()
	r, err := NewRollout("rollout-1", spec, f.now)
	require.NoError(t, err)
	return r
}

func phases(r *Rollout) []runs.Phase {
	var ps []runs.Phase
	for _, c := range r.Timeline {
		ps = append(ps, c.Phase)
	}
	return ps
}

// ended is a condition for until (r.Phase.Terminal as a method value would bind today's phase).
func ended(r *Rollout) func() bool { return func() bool { return r.Phase.Terminal() } }

// inWave2: the second wave's agents all run the candidate (it soaks).
func inWave2(r *Rollout) bool { return r.Wave == 1 && !r.Waves[1].AppliedAt.IsZero() }

func TestGoodCandidateWalksTheWavesAndIsPromoted(t *testing.T) {
	t.Parallel()
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	order := f.order(r.Spec)
	reversed := slices.Clone(f.agents)
	slices.Reverse(reversed)
	assert.Equal(t, order, agentIDs(r.Spec.Eligible(reversed, f.now)), "the order does not depend on the agents' order")

	f.until(t, r, "ended", ended(r))
	require.Equal(t, runs.Completed, r.Phase, r.Reason)
	assert.Equal(t, []runs.Phase{runs.Pending, runs.Initializing, runs.Running, runs.Analyzing, runs.Completed}, phases(r))
	require.Len(t, r.Waves, 4)
	for i, size := range []int{1, 2, 10, 20} {
		w := r.Waves[i]
		assert.Equal(t, size, w.Size, "wave %d", i+1)
		assert.Equal(t, order[:size], w.Agents, "wave %d: the first agents of the stable order, earlier waves' included", i+1)
		require.NotNil(t, w.Verdict)
		assert.True(t, w.Verdict.Pass, "wave %d: %v", i+1, w.Verdict.Reasons)
		assert.False(t, w.AppliedAt.Before(w.StartedAt))
		assert.GreaterOrEqual(t, w.EndedAt.Sub(w.AppliedAt), r.Spec.Soak.D, "wave %d soaked", i+1)
	}
	v := r.Verdict
	require.True(t, v.Pass, v.Reasons)
	assert.Equal(t, 20, v.Agents)
	assert.InDelta(t, 0.8, v.SeriesReduction, 1e-9)
	assert.InDelta(t, 0.99, *v.Fidelity, 1e-9)
	assert.Equal(t, 1.0, v.CriticalVisible)
	require.NotNil(t, v.Cost)
	assert.Equal(t, "USD", v.Cost.Currency)
	assert.InDelta(t, 40, v.Cost.Monthly, 1e-9)
	assert.InDelta(t, 160, v.Cost.MonthlySaving, 1e-9)
	assert.InDelta(t, 0.8, v.Cost.SavingRatio, 1e-9)

	assert.True(t, r.Promoted)
	for _, a := range f.agents {
		got, targeted := r.Desired(a)
		assert.True(t, targeted)
		assert.Equal(t, candidate, got, a.Node)
	}

	// A controller that starts the same rollout afresh picks the same canary.
	g := newFleet(20)
	again := newRollout(t, g, goodSpec())
	again.Step(g.now, g.agents)
	assert.Equal(t, order[:1], memberIDs(again.Assigned))
}

func TestWavesOnlyAddAgentsWhenTheFleetGrows(t *testing.T) {
	t.Parallel()
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
	for i := 20; i < 30; i++ { // new nodes, some ranking before the agents already chosen
		node := fmt.Sprintf("node-%02d", i)
		f.agents = append(f.agents, Agent{ID: fmt.Sprintf("agent-%02d", i), Node: node, Labels: map[string]string{"pool": "general"},
			Connected: true, LastReport: f.now, ReportInterval: reportEvery, Figures: figures(node, baseline, f.now, nil)})
	}
	f.until(t, r, "ended", ended(r))
	require.Equal(t, runs.Completed, r.Phase, r.Reason)
	require.Len(t, r.Waves, 4)
	for i := 1; i < len(r.Waves); i++ {
		prev, cur := r.Waves[i-1].Agents, r.Waves[i].Agents
		assert.Equal(t, prev, cur[:len(prev)], "wave %d keeps wave %d's agents", i+1, i)
	}
	assert.Equal(t, 15, r.Waves[2].Size, "50% of the 30 eligible now")
	assert.Len(t, r.Assigned, 30)
}

func TestRolloutResumesFromThePersistedWave(t *testing.T) {
	t.Parallel()
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
	f.tick(r)
	f.tick(r)
	assert.False(t, r.Step(f.now, f.agents), "nothing new at the same instant")

	data, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"soak":"5m0s"`)
	var resumed Rollout
	require.NoError(t, json.Unmarshal(data, &resumed))
	assert.Equal(t, 1, resumed.Wave)
	assert.Equal(t, memberIDs(r.Assigned), memberIDs(resumed.Assigned))
	assert.Equal(t, f.order(r.Spec)[:2], memberIDs(resumed.Assigned))

	// The restarted controller's copy and one that never stopped go on in lockstep.
	for range 500 {
		if r.Phase.Terminal() {
			break
		}
		f.tick(r, &resumed)
		a, err := json.Marshal(r)
		require.NoError(t, err)
		b, err := json.Marshal(&resumed)
		require.NoError(t, err)
		require.JSONEq(t, string(a), string(b))
	}
	assert.Equal(t, runs.Completed, resumed.Phase)
	assert.True(t, resumed.Promoted)
}

func TestGuardrailBreachRollsTheWaveBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bad  int // index in the stable order of the agent whose candidate breaks
		from int // the wave (index) from which it breaks
		tw   func(*Variant)
		// wave is where it fails; kept how many agents of the stable order keep the candidate.
		wave, kept int
		word       string
	}{
		{name: "critical process hidden in wave 2", bad: 1, tw: func(v *Variant) { v.CriticalVisible = 0.5 }, wave: 1, kept: 1, word: "critical"},
		{name: "fidelity drops on the canary", bad: 0, tw: func(v *Variant) { v.Fidelity = ptr(0.5) }, wave: 0, kept: 0, word: "fidelity 0.5000 < 0.9500"},
		{name: "no fidelity fails closed", bad: 3, tw: func(v *Variant) { v.Fidelity = nil }, wave: 2, kept: 2, word: "fidelity: no data"},
		{name: "rule fidelity breaks in wave 3", bad: 5, tw: func(v *Variant) { v.RuleFidelity = ptr(0.5) }, wave: 2, kept: 2, word: "rule fidelity"},
		{name: "candidate's figures missing", bad: 1, tw: func(v *Variant) { v.Name = "renamed" }, wave: 1, kept: 1, word: "no figures of top20"},
		// A canary that breaks during wave 2 loses the candidate too, although wave 1 passed.
		{name: "wave 1's agent breaks in wave 2", bad: 0, from: 1, tw: func(v *Variant) { v.CriticalVisible = 0 }, wave: 1, kept: 0, word: "critical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(20)
			r := newRollout(t, f, goodSpec())
			order := f.order(r.Spec)
			bad := f.agent(order[tc.bad])
			f.until(t, r, "in the wave", func() bool { return r.Wave >= tc.from && r.Phase == runs.Running })
			f.tweak[bad.ID] = tc.tw
			f.until(t, r, "paused", func() bool { return r.Paused })

			require.False(t, r.Phase.Terminal(), "paused, not ended: %s", r.Phase)
			assert.Equal(t, tc.wave, r.Wave)
			assert.Equal(t, order[:tc.kept], memberIDs(r.Assigned), "rolled back to the earlier waves' agents")
			require.NotNil(t, r.Verdict)
			assert.False(t, r.Verdict.Pass)
			assert.Equal(t, []string{bad.Node}, r.Verdict.Nodes)
			assert.Contains(t, strings.Join(r.Verdict.Reasons, "; "), bad.Node+": "+tc.word)
			assert.Contains(t, r.PauseReason, "guardrail broken: "+bad.Node+": "+tc.word)
			assert.Contains(t, r.Events[len(r.Events)-1].Message, "paused: guardrail broken")
			assert.Same(t, r.Verdict, r.Waves[tc.wave].Verdict)
			got, targeted := r.Desired(*bad)
			assert.True(t, targeted)
			assert.Equal(t, baseline, got)
			assert.Len(t, r.Waves, tc.wave+1, "no later wave started")
			for range 5 { // paused: it stays so, rolled back
				f.tick(r)
			}
			assert.True(t, r.Paused)
			assert.Equal(t, order[:tc.kept], memberIDs(r.Assigned))

			// Resume retries the wave, as a new record of it; the candidate still breaks there.
			require.NoError(t, r.Resume(f.now, f.agents))
			require.Len(t, r.Waves, tc.wave+2)
			assert.Equal(t, tc.wave, r.Waves[tc.wave+1].Wave)
			assert.Nil(t, r.Verdict, "a verdict to come")
			f.until(t, r, "paused again", func() bool { return r.Paused })
			assert.Equal(t, tc.wave, r.Wave)
			assert.Equal(t, order[:tc.kept], memberIDs(r.Assigned), "rolled back to the wave before, not to the first try")
			require.NoError(t, r.Cancel(f.now))
			assert.Equal(t, runs.Cancelled, r.Phase)
			assert.Empty(t, r.Assigned)
		})
	}
}

func ptr(x float64) *float64 { return &x }

func TestCriteriaNotMetEndsWithAFailingVerdict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spec  func(*RolloutSpec)
		tweak func(order []string) (id string, tw func(*Variant))
		wave  int
		kept  int
		word  string
	}{
		{name: "series reduction short on the canary", spec: func(s *RolloutSpec) { s.Criteria.MinSeriesReduction = 0.9 },
			wave: 0, kept: 0, word: "series reduction 0.8000 < 0.9000"},
		{name: "costs in two currencies are not summed", tweak: func(order []string) (string, func(*Variant)) {
			return order[1], func(v *Variant) { v.Currency = "EUR" }
		}, wave: 1, kept: 1, word: "mixed currencies"},
		{name: "cost not priced everywhere fails closed", tweak: func(order []string) (string, func(*Variant)) {
			return order[4], func(v *Variant) { v.CostMonthly = nil }
		}, wave: 2, kept: 2, word: "priced on 9 of 10 agents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(20)
			spec := goodSpec()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			r := newRollout(t, f, spec)
			order := f.order(spec)
			if tc.tweak != nil {
				id, tw := tc.tweak(order)
				f.tweak[id] = tw
			}
			f.until(t, r, "ended", ended(r))

			require.Equal(t, runs.Completed, r.Phase)
			assert.Equal(t, runs.Analyzing, r.Timeline[len(r.Timeline)-2].Phase)
			assert.Equal(t, tc.wave, r.Wave)
			require.NotNil(t, r.Verdict)
			assert.False(t, r.Verdict.Pass)
			assert.Contains(t, strings.Join(r.Verdict.Reasons, "; "), tc.word)
			assert.Contains(t, r.Reason, "did not meet the criteria")
			assert.False(t, r.Promoted)
			assert.Equal(t, order[:tc.kept], memberIDs(r.Assigned))
		})
	}
}

func TestAssignedAgentTroublePausesTheRollout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		breakIt    func(f *fakeFleet, a *Agent)
		fixIt      func(f *fakeFleet, a *Agent)
		pausedWith string
	}{
		{name: "disconnected", pausedWith: "disconnected",
			breakIt: func(_ *fakeFleet, a *Agent) { a.Connected = false }, fixIt: func(_ *fakeFleet, a *Agent) { a.Connected = true }},
		{name: "silent", pausedWith: "silent",
			breakIt: func(f *fakeFleet, a *Agent) { f.mute[a.ID] = true }, fixIt: func(f *fakeFleet, a *Agent) { f.mute[a.ID] = false }},
		{name: "windows stop", pausedWith: "no new window since",
			breakIt: func(f *fakeFleet, a *Agent) { f.frozen[a.ID] = true }, fixIt: func(f *fakeFleet, a *Agent) { f.frozen[a.ID] = false }},
		{name: "switched away from the candidate", pausedWith: "no longer runs top20 (active: full)",
			breakIt: func(f *fakeFleet, a *Agent) { f.stuck[a.ID] = true; a.Figures = figures(a.Node, baseline, f.now, nil) },
			fixIt:   func(f *fakeFleet, a *Agent) { f.stuck[a.ID] = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(20)
			r := newRollout(t, f, goodSpec())
			f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
			victim := f.agent(f.order(r.Spec)[1])
			assigned := memberIDs(r.Assigned)

			tc.breakIt(f, victim)
			f.until(t, r, "paused", func() bool { return r.Paused })
			assert.Contains(t, r.PauseReason, victim.Node)
			assert.Contains(t, r.PauseReason, tc.pausedWith)
			assert.Equal(t, runs.Running, r.Phase)
			for range 20 { // a pause holds: no rollback, no next wave
				f.tick(r)
			}
			assert.True(t, r.Paused)
			assert.Equal(t, 1, r.Wave)
			assert.Equal(t, assigned, memberIDs(r.Assigned), "a pause rolls nothing back")

			tc.fixIt(f, victim)
			f.tick(r)
			require.NoError(t, r.Resume(f.now, f.agents))
			assert.Equal(t, assigned, memberIDs(r.Assigned), "an agent that is back stays in the wave")
			assert.ErrorIs(t, r.Resume(f.now, f.agents), ErrNotPaused)
			f.until(t, r, "ended", ended(r))
			assert.Equal(t, runs.Completed, r.Phase, r.Reason)
			assert.True(t, r.Promoted)
		})
	}
}

func TestGuardrailsHoldWhilePaused(t *testing.T) {
	t.Parallel()
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	order := f.order(r.Spec)
	f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
	f.agent(order[1]).Connected = false
	f.until(t, r, "paused", func() bool { return r.Paused })
	f.tweak[order[0]] = func(v *Variant) { v.CriticalVisible = 0 } // the canary still runs the candidate
	f.until(t, r, "breached", func() bool { return r.Verdict != nil })
	assert.True(t, r.Paused)
	assert.Contains(t, r.PauseReason, "guardrail broken")
	assert.Equal(t, []string{f.agent(order[0]).Node}, r.Verdict.Nodes)
	assert.Empty(t, r.Assigned)
}

func TestResumeReleasesAnAgentThatIsStillGone(t *testing.T) {
	t.Parallel()
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	order := f.order(r.Spec)
	f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
	gone := f.agent(order[1])
	f.mute[gone.ID] = true
	f.until(t, r, "paused", func() bool { return r.Paused })

	require.NoError(t, r.Resume(f.now, f.agents))
	assert.Equal(t, []string{order[0], order[2]}, memberIDs(r.Assigned), "released, and the wave refilled in rank order")
	assert.Contains(t, r.Events[len(r.Events)-2].Message, "released "+gone.Node)
	f.until(t, r, "ended", ended(r))
	assert.Equal(t, runs.Completed, r.Phase, r.Reason)
	assert.NotContains(t, memberIDs(r.Assigned), gone.ID, "a silent agent is not eligible")
}

func TestApplyProblemsPause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		breakIt    func(f *fakeFleet, a *Agent)
		fixIt      func(f *fakeFleet, a *Agent)
		pausedWith string
		after      time.Duration // at least this long after the wave started
	}{
		{name: "never applies", pausedWith: "did not apply top20 within 2m0s", after: 2 * time.Minute,
			breakIt: func(f *fakeFleet, a *Agent) { f.stuck[a.ID] = true }, fixIt: func(f *fakeFleet, a *Agent) { f.stuck[a.ID] = false }},
		{name: "refuses the desired state", pausedWith: "refused the desired state: unknown variant",
			breakIt: func(_ *fakeFleet, a *Agent) { a.ApplyError = "unknown variant" }, fixIt: func(_ *fakeFleet, a *Agent) { a.ApplyError = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(20)
			r := newRollout(t, f, goodSpec())
			canary := f.agent(f.order(r.Spec)[0])
			tc.breakIt(f, canary)
			f.until(t, r, "paused", func() bool { return r.Paused })
			assert.Equal(t, runs.Initializing, r.Phase, "the canary never ran the candidate")
			assert.Contains(t, r.PauseReason, canary.Node)
			assert.Contains(t, r.PauseReason, tc.pausedWith)
			assert.GreaterOrEqual(t, f.now.Sub(r.Waves[0].StartedAt), tc.after)

			tc.fixIt(f, canary)
			require.NoError(t, r.Resume(f.now, f.agents))
			f.until(t, r, "running", func() bool { return r.Phase == runs.Running })
			assert.Equal(t, []string{canary.ID}, memberIDs(r.Assigned))
		})
	}
}

func TestNoEligibleAgentPausesAfterTheApplyTimeout(t *testing.T) {
	t.Parallel()
	f := newFleet(3)
	spec := goodSpec()
	spec.Selector = map[string]string{"pool": "gpu"}
	r := newRollout(t, f, spec)
	f.until(t, r, "paused", func() bool { return r.Paused })
	assert.Equal(t, runs.Initializing, r.Phase)
	assert.Contains(t, r.PauseReason, "no eligible agent: 3 agents: 0 not otelcol-phoenix (or not reporting yet), 0 without experiment/process, 3 not matching the selector")
	assert.Empty(t, r.Assigned)
}

func TestOnlyPhoenixAgentsThatMatchAreTargeted(t *testing.T) {
	t.Parallel()
	f := newFleet(20)
	excluded := map[string]string{}
	for i := range 3 { // OpAMP-managed otelcol-contrib: no figures
		f.agents[i].Figures = nil
		excluded[f.agents[i].ID] = "not otelcol-phoenix"
	}
	for i := 3; i < 6; i++ {
		f.agents[i].Labels = map[string]string{"pool": "gpu"}
		excluded[f.agents[i].ID] = "not selected"
	}
	f.agents[6].Labels = nil
	excluded[f.agents[6].ID] = "no labels"
	f.agents[7].Figures.Experiments[0].Name = "experiment/other"
	excluded[f.agents[7].ID] = "without the experiment"

	spec := goodSpec()
	spec.Selector = map[string]string{"pool": "general"}
	r := newRollout(t, f, spec)
	for range 500 {
		if r.Phase.Terminal() {
			break
		}
		f.tick(r)
		for _, m := range r.Assigned {
			require.NotContains(t, excluded, m.ID, "%s was targeted: %s", m.Node, excluded[m.ID])
		}
	}
	require.Equal(t, runs.Completed, r.Phase, r.Reason)
	assert.Equal(t, 12, r.Waves[3].Size)
	for _, a := range f.agents {
		got, targeted := r.Desired(a)
		if why, ok := excluded[a.ID]; ok {
			assert.False(t, targeted, "%s: %s", a.Node, why)
			assert.Empty(t, got)
			continue
		}
		assert.True(t, targeted, a.Node)
		assert.Equal(t, candidate, got, a.Node)
	}
}

func TestCancelAndRollback(t *testing.T) {
	t.Parallel()
	t.Run("cancel in wave 2", func(t *testing.T) {
		t.Parallel()
		f := newFleet(20)
		r := newRollout(t, f, goodSpec())
		f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
		require.NoError(t, r.Cancel(f.now))
		assert.Equal(t, runs.Cancelled, r.Phase)
		assert.Equal(t, f.now, r.EndedAt)
		assert.Empty(t, r.Assigned)
		for _, a := range f.agents {
			got, _ := r.Desired(a)
			assert.Equal(t, baseline, got)
		}
		assert.ErrorIs(t, r.Cancel(f.now), ErrEnded)
		assert.ErrorIs(t, r.Resume(f.now, f.agents), ErrEnded)
		assert.ErrorIs(t, r.Rollback(f.now, ""), ErrEnded, "nothing left on the candidate")
		assert.False(t, r.Step(f.now, f.agents))
	})
	t.Run("rollback in wave 2 fails the rollout", func(t *testing.T) {
		t.Parallel()
		f := newFleet(20)
		r := newRollout(t, f, goodSpec())
		f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
		require.NoError(t, r.Rollback(f.now, "by alice"))
		assert.Equal(t, runs.Failed, r.Phase)
		assert.Contains(t, r.Reason, "rolled back by alice")
		assert.Empty(t, r.Assigned)
		assert.Equal(t, f.now, r.RolledBackAt)
	})
	t.Run("rollback undoes a promotion", func(t *testing.T) {
		t.Parallel()
		f := newFleet(20)
		r := newRollout(t, f, goodSpec())
		f.until(t, r, "ended", ended(r))
		require.True(t, r.Promoted)
		assert.True(t, r.RolledBackAt.IsZero())
		require.NoError(t, r.Rollback(f.now, "by alice"))
		assert.Equal(t, runs.Completed, r.Phase, "the verdict stands")
		assert.False(t, r.Promoted)
		assert.Equal(t, f.now, r.RolledBackAt, "and says it no longer holds")
		for _, a := range f.agents {
			got, _ := r.Desired(a)
			assert.Equal(t, baseline, got)
		}
		assert.ErrorIs(t, r.Rollback(f.now, ""), ErrEnded)
	})
}

func TestSpecValidationListsEveryProblem(t *testing.T) {
	t.Parallel()
	require.NoError(t, goodSpec().Validate())

	bad := RolloutSpec{
		Waves: []Wave{{Count: 1, Percent: 5}, {}, {Count: -1}, {Count: 5}, {Count: 3}, {Percent: 150}, {Percent: math.NaN()},
			{Percent: 50}, {Percent: 20}},
		Soak: runs.Duration{D: -time.Second}, ApplyTimeout: runs.Duration{D: -time.Second},
		Selector: map[string]string{"": "x"},
		Criteria: Criteria{MinSeriesReduction: 1.5, MinFidelity: math.NaN(), MinRuleFidelity: -0.1, MinCostSaving: 2},
	}
	err := bad.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	for _, want := range []string{
		"experiment is required", "candidate is required",
		"waves[0]: set count or percent, not both", "waves[1]: set count (agents) or percent", "waves[2].count -1: want at least 1",
		"waves[4].count 3: smaller than an earlier wave's 5", "waves[5].percent 150: want a number in (0, 100]",
		"waves[6].percent NaN", "waves[8].percent 20: smaller than an earlier wave's 50",
		"soak -1s: want 0..168h0m0s", "apply_timeout -1s", "selector: a label name is empty",
		"criteria.min_series_reduction 1.5: want 0..1", "criteria.min_fidelity NaN", "criteria.min_rule_fidelity -0.1",
		"criteria.min_cost_saving 2",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Len(t, strings.Split(err.Error(), "\n"), 16, err.Error())

	_, err = NewRollout("r", RolloutSpec{Experiment: testExperiment, Candidate: candidate}, t0)
	assert.ErrorContains(t, err, "waves: at least one wave is required")
}

func TestWaveSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w        Wave
		eligible int
		want     int
	}{
		{Wave{Count: 1}, 20, 1}, {Wave{Count: 50}, 20, 20}, {Wave{Percent: 10}, 20, 2}, {Wave{Percent: 10}, 21, 3},
		{Wave{Percent: 1}, 20, 1}, {Wave{Percent: 100}, 20, 20}, {Wave{Percent: 50}, 0, 0},
	} {
		assert.Equal(t, tc.want, tc.w.size(tc.eligible), "%+v of %d", tc.w, tc.eligible)
	}
}

func TestAggregate(t *testing.T) {
	t.Parallel()
	nan, inf := math.NaN(), math.Inf(1)
	report := func(node string, complete bool, vs ...Variant) Agent {
		return Agent{ID: node, Node: node, Connected: true, Figures: &Figures{Node: node, Experiments: []Experiment{
			{Name: testExperiment, Baseline: baseline, Active: candidate, Complete: complete, Variants: vs}}}}
	}
	agents := []Agent{
		report("a", true,
			Variant{Name: baseline, Series: 1000, DatapointsPerSecond: 100, BytesPerSecond: 5000, Fidelity: ptr(1), CriticalVisible: 1, CostMonthly: ptr(10), Currency: "USD"},
			Variant{Name: candidate, Series: 200, DatapointsPerSecond: 20, BytesPerSecond: 1000, Fidelity: ptr(0.99), CriticalVisible: 1,
				RuleFidelity: ptr(1), CostMonthly: ptr(2), Currency: "USD", Errors: 1}),
		report("b", true,
			Variant{Name: baseline, Series: 500, DatapointsPerSecond: 50, BytesPerSecond: 2500, Fidelity: ptr(1), CriticalVisible: 1, CostMonthly: ptr(9), Currency: "EUR"},
			Variant{Name: candidate, Series: 100, DatapointsPerSecond: 10, BytesPerSecond: 500, Fidelity: ptr(0.9), CriticalVisible: 0.5,
				RuleFidelity: ptr(0.8), CostMonthly: ptr(1), Currency: "EUR"}),
		report("c", true, // numbers that are not finite count as not reported
			Variant{Name: baseline, Series: 100, DatapointsPerSecond: inf, BytesPerSecond: nan, Fidelity: ptr(nan), CriticalVisible: nan, CostMonthly: ptr(nan), Currency: "USD"},
			Variant{Name: candidate, Series: 10, Fidelity: ptr(nan), CriticalVisible: 1, CostMonthly: ptr(1), Currency: "USD"},
			Variant{Name: "top30", Pending: true, Series: 7}),
		report("d", false, Variant{Name: baseline, Series: 99}), // no complete window yet
		{ID: "contrib", Node: "contrib", Connected: true},       // not otelcol-phoenix
	}
	agents[3].Figures.Experiments[0].Active = baseline

	got := Aggregate(agents, testExperiment)
	require.Len(t, got, 3)
	assert.Equal(t, VariantTotals{Name: baseline, Baseline: true, Agents: 3, Active: 1, Pending: 1, Series: 1600,
		DatapointsPerSecond: 150, BytesPerSecond: 7500,
		Cost:            []CostTotal{{Currency: "EUR", Monthly: 9, Agents: 1}, {Currency: "USD", Monthly: 10, Agents: 1}},
		Fidelity:        &Worst{Value: 1, Node: "a", Agents: 2},
		CriticalVisible: &Worst{Value: 1, Node: "a", Agents: 2}}, got[0])
	assert.Equal(t, VariantTotals{Name: candidate, Agents: 3, Active: 3, Series: 310, DatapointsPerSecond: 30, BytesPerSecond: 1500, Errors: 1,
		Cost:            []CostTotal{{Currency: "EUR", Monthly: 1, Agents: 1}, {Currency: "USD", Monthly: 3, Agents: 2}},
		Fidelity:        &Worst{Value: 0.9, Node: "b", Agents: 2},
		RuleFidelity:    &Worst{Value: 0.8, Node: "b", Agents: 2},
		CriticalVisible: &Worst{Value: 0.5, Node: "b", Agents: 3}}, got[1])
	assert.Equal(t, VariantTotals{Name: "top30", Pending: 1}, got[2])

	data, err := json.Marshal(got)
	require.NoError(t, err, "NaN would not encode")
	assert.NotContains(t, string(data), "NaN")
	assert.Empty(t, Aggregate(agents, "experiment/none"))
}

// TestFirstWindowsWithoutFidelityAreWaitedFor: a node just started has no fidelity for a window or two (a
// rate needs two samples); the rollout waits up to unjudgedWindows for one before it fails closed.
func TestFirstWindowsWithoutFidelityAreWaitedFor(t *testing.T) {
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	canary := f.agent(f.order(r.Spec)[0])
	f.tweak[canary.ID] = func(v *Variant) { v.Fidelity = nil }
	f.until(t, r, "two windows unjudged", func() bool { return len(r.Assigned) > 0 && r.Assigned[0].Unjudged == unjudgedWindows-1 })
	delete(f.tweak, canary.ID)
	f.until(t, r, "ended", ended(r))
	require.Equal(t, runs.Completed, r.Phase, r.Reason)
	assert.True(t, r.Verdict.Pass, r.Verdict.Reasons)
}

// TestCountWaveAfterPercentWaveRefused: whether such a wave grows depends on the fleet's size, so it is
// refused when the rollout is created, not found out mid-rollout.
func TestCountWaveAfterPercentWaveRefused(t *testing.T) {
	spec := goodSpec()
	spec.Waves = []Wave{{Percent: 50}, {Count: 1}}
	err := spec.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "put count waves first")
}

// TestRestartedSoaksTheWaveAgain: after a controller restart the wave's soak starts over, since nothing
// says its agents kept the candidate while nobody watched.
func TestRestartedSoaksTheWaveAgain(t *testing.T) {
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	f.until(t, r, "soaking wave 2", func() bool { return inWave2(r) })
	applied := r.Waves[1].AppliedAt
	r.Restarted(f.now)
	assert.True(t, r.Waves[1].AppliedAt.IsZero())
	f.until(t, r, "applied again", func() bool { return !r.Waves[1].AppliedAt.IsZero() })
	assert.True(t, r.Waves[1].AppliedAt.After(applied), "the soak counts from after the restart")
	f.until(t, r, "ended", ended(r))
	assert.Equal(t, runs.Completed, r.Phase, r.Reason)
}
