// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package fleet // import "github.com/phoenix-platform/otelcol-phoenix/internal/fleet"

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

// A fleet rollout moves an experiment's candidate variant onto the fleet in waves, with the lifecycle of a
// node run (runs.Phase): pending → initializing (the first wave applies the candidate) → running (each
// wave soaks, its agents' guardrails checked at every window, then the next wave) → analyzing (the
// verdict) → completed | failed | cancelled. It is pure: the controller passes the agents and the time,
// persists the Rollout (JSON) and turns Desired into each agent's remote desired state.

const (
	// DefaultApplyTimeout is how long a wave's agents have to report the candidate active when the spec
	// sets none: a few report intervals, enough for agents that poll for their remote config.
	DefaultApplyTimeout = 5 * time.Minute
	// maxSoak bounds a wave's soak, as runs bound a run's duration: a longer one is a typo.
	maxSoak = 7 * 24 * time.Hour
	// maxEvents bounds the event log, which is persisted with the rollout.
	maxEvents = 200
	// stuckWindows is how many windows an agent's figures may lag before the wave pauses on it.
	stuckWindows = 3
)

// Errors of the rollout's API.
var (
	ErrInvalid   = errors.New("invalid rollout")
	ErrEnded     = errors.New("rollout has ended")
	ErrNotPaused = errors.New("rollout is not paused")
)

// RolloutSpec is what to roll out.
type RolloutSpec struct {
	Experiment string `json:"experiment"`
	Candidate  string `json:"candidate"`
	// Waves are the candidate's successive shares of the eligible agents; each includes the ones before.
	Waves []Wave        `json:"waves"`
	Soak  runs.Duration `json:"soak"` // per wave, from when all its agents run the candidate
	// ApplyTimeout is how long a wave's agents have to report the candidate active (0: DefaultApplyTimeout).
	ApplyTimeout runs.Duration `json:"apply_timeout"`
	// Selector restricts the rollout to agents with all these labels.
	Selector map[string]string `json:"selector,omitempty"`
	Criteria Criteria          `json:"criteria"`
}

// Wave is a number of agents or a percentage of the eligible ones (exactly one of them).
type Wave struct {
	Count   int     `json:"count,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// Criteria are runs.Criteria on a fleet: the ratios are the wave's sums, the guardrails hold on every node
// and are checked at each node's every window. rules_must_hold has no fleet form: agents report rule
// fidelity, not each rule's verdict.
type Criteria struct {
	MinSeriesReduction float64 `json:"min_series_reduction"` // 1 - Σ candidate series / Σ baseline series
	MinFidelity        float64 `json:"min_fidelity"`         // every node; no fidelity fails (no proof)
	CriticalVisible    bool    `json:"critical_visible"`     // every node shows every critical process
	// MinRuleFidelity holds on every node that reports one (agents without a rules: block report none),
	// and needs at least one.
	MinRuleFidelity float64 `json:"min_rule_fidelity"`
	// MinCostSaving is 1 - Σ candidate cost / Σ baseline cost; fails closed unless every node prices both
	// variants in one currency.
	MinCostSaving float64 `json:"min_cost_saving"`
}

// Validate lists every problem of the spec.
func (s RolloutSpec) Validate() error {
	var errs []error
	if s.Experiment == "" {
		errs = append(errs, errors.New("experiment is required"))
	}
	if s.Candidate == "" {
		errs = append(errs, errors.New("candidate is required"))
	}
	if len(s.Waves) == 0 {
		errs = append(errs, errors.New("waves: at least one wave is required"))
	}
	lastCount, lastPercent := 0, 0.0
	for i, w := range s.Waves {
		switch {
		case w.Count != 0 && w.Percent != 0:
			errs = append(errs, fmt.Errorf("waves[%d]: set count or percent, not both", i))
		case w.Count == 0 && w.Percent == 0:
			errs = append(errs, fmt.Errorf("waves[%d]: set count (agents) or percent (of the eligible agents)", i))
		case w.Count < 0:
			errs = append(errs, fmt.Errorf("waves[%d].count %d: want at least 1", i, w.Count))
		case w.Count > 0 && w.Count < lastCount:
			errs = append(errs, fmt.Errorf("waves[%d].count %d: smaller than an earlier wave's %d (waves only grow)", i, w.Count, lastCount))
		case w.Count > 0 && lastPercent > 0: // whether it grows depends on the fleet's size: say so now, not mid-rollout
			errs = append(errs, fmt.Errorf("waves[%d].count %d after a percent wave: put count waves first (1, 10%%, 50%%, 100%%)", i, w.Count))
		case w.Count > 0:
			lastCount = w.Count
		case !(w.Percent > 0 && w.Percent <= 100): // NaN too
			errs = append(errs, fmt.Errorf("waves[%d].percent %v: want a number in (0, 100]", i, w.Percent))
		case w.Percent < lastPercent:
			errs = append(errs, fmt.Errorf("waves[%d].percent %v: smaller than an earlier wave's %v (waves only grow)", i, w.Percent, lastPercent))
		default:
			lastPercent = w.Percent
		}
	}
	if s.Soak.D < 0 || s.Soak.D > maxSoak {
		errs = append(errs, fmt.Errorf("soak %s: want 0..%s", s.Soak.D, maxSoak))
	}
	if s.ApplyTimeout.D < 0 {
		errs = append(errs, fmt.Errorf("apply_timeout %s: want at least 0 (0: %s)", s.ApplyTimeout.D, DefaultApplyTimeout))
	}
	for _, k := range sortedKeys(s.Selector) {
		if k == "" {
			errs = append(errs, errors.New("selector: a label name is empty"))
		}
	}
	c := s.Criteria
	for _, r := range []struct {
		name string
		v    float64
	}{{"min_series_reduction", c.MinSeriesReduction}, {"min_fidelity", c.MinFidelity},
		{"min_rule_fidelity", c.MinRuleFidelity}, {"min_cost_saving", c.MinCostSaving}} {
		if !(r.v >= 0 && r.v <= 1) { // NaN too
			errs = append(errs, fmt.Errorf("criteria.%s %v: want 0..1", r.name, r.v))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func (s RolloutSpec) applyTimeout() time.Duration {
	if s.ApplyTimeout.D > 0 {
		return s.ApplyTimeout.D
	}
	return DefaultApplyTimeout
}

// Rollout is one fleet rollout and its history; persisted as JSON, it resumes where it was.
type Rollout struct {
	ID     string      `json:"id"`
	Spec   RolloutSpec `json:"spec"`
	Phase  runs.Phase  `json:"phase"`
	Reason string      `json:"reason,omitempty"`
	Wave   int         `json:"wave"` // index in Spec.Waves of the wave in progress (or last)
	// WaveSince is when the wave's agents were last asked to apply the candidate (its start, a refill or
	// a resume): the apply timeout counts from it.
	WaveSince   time.Time `json:"wave_since,omitzero"`
	Paused      bool      `json:"paused"`
	PauseReason string    `json:"pause_reason,omitempty"`
	// Assigned are the agents that run the candidate now, in rank order.
	Assigned []Member `json:"assigned"`
	Promoted bool     `json:"promoted"` // every targeted agent runs the candidate
	// RolledBackAt is when it was rolled back: in progress (it failed then), or after it ended with agents
	// on the candidate (a promotion, a failure's earlier waves; its phase and verdict stand).
	RolledBackAt time.Time `json:"rolled_back_at,omitzero"`
	Verdict      *Verdict  `json:"verdict,omitempty"`
	Waves        []WaveRun `json:"waves"`
	// Timeline is every phase entered, as a run's; Events what happened within them.
	Timeline   []runs.PhaseChange `json:"timeline"`
	Events     []Event            `json:"events,omitempty"`
	CreatedAt  time.Time          `json:"created_at"`
	PhaseSince time.Time          `json:"phase_since"`
	EndedAt    time.Time          `json:"ended_at,omitzero"`
}

// Member is an assigned agent and how far it got.
type Member struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	AppliedAt time.Time `json:"applied_at,omitzero"` // first seen running the candidate (cleared by a resume)
	// LastWindow is the end of its newest complete window whose guardrails were checked.
	LastWindow time.Time `json:"last_window,omitzero"`
	Windows    int       `json:"windows_checked"`
	// Unjudged counts its windows without a fidelity yet (a node just started: a rate needs two samples),
	// waited for up to unjudgedWindows before fidelity fails closed.
	Unjudged int `json:"windows_unjudged,omitempty"`
}

// unjudgedWindows is how many windows without a fidelity a node gets before that fails its guardrail.
const unjudgedWindows = 3

// WaveRun is one wave's record.
type WaveRun struct {
	Wave      int       `json:"wave"`
	Size      int       `json:"size"`
	Agents    []string  `json:"agents"` // IDs, including the earlier waves' agents
	StartedAt time.Time `json:"started_at"`
	AppliedAt time.Time `json:"applied_at,omitzero"` // every agent of the wave runs the candidate: soak starts
	EndedAt   time.Time `json:"ended_at,omitzero"`
	Verdict   *Verdict  `json:"verdict,omitempty"`
}

// Event is one thing that happened, for people.
type Event struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// Verdict is runs.Verdict over a wave: fleet sums for the ratios, the worst node for the guardrails.
type Verdict struct {
	Pass            bool     `json:"pass"`
	SeriesReduction float64  `json:"series_reduction"`
	Fidelity        *float64 `json:"fidelity"` // worst node; null: no data
	CriticalVisible float64  `json:"critical_visible"`
	RuleFidelity    *float64 `json:"rule_fidelity,omitempty"`
	Reasons         []string `json:"reasons,omitempty"` // why it did not pass
	Cost            *Cost    `json:"cost,omitempty"`

	Wave   int       `json:"wave"`            // index in the spec's waves
	Agents int       `json:"agents"`          // whose figures it covers
	Nodes  []string  `json:"nodes,omitempty"` // the nodes that broke a guardrail
	At     time.Time `json:"at"`
}

// Cost is the wave's monthly cost of the candidate and its saving, in control.CostStats' terms.
type Cost struct {
	Currency      string  `json:"currency"`
	Monthly       float64 `json:"monthly"`
	MonthlySaving float64 `json:"monthly_saving"`
	SavingRatio   float64 `json:"saving_ratio"`
}

// NewRollout makes a pending rollout.
func NewRollout(id string, spec RolloutSpec, now time.Time) (*Rollout, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	r := &Rollout{ID: id, Spec: spec, CreatedAt: now}
	r.enter(runs.Pending, now)
	return r, nil
}

// Step advances the rollout at now over the agents the controller knows; it returns true when the rollout
// changed (and should be persisted).
func (r *Rollout) Step(now time.Time, agents []Agent) bool {
	switch r.Phase {
	case runs.Pending:
		r.enter(runs.Initializing, now)
		r.startWave(0, now, agents)
		return true
	case runs.Initializing, runs.Running:
		return r.stepWave(now, agents)
	case runs.Analyzing:
		r.conclude(now, agents)
		return true
	}
	return false
}

func (r *Rollout) stepWave(now time.Time, agents []Agent) bool {
	byID := make(map[string]Agent, len(agents))
	for _, a := range agents {
		byID[a.ID] = a
	}
	// Guardrails first and even while paused: the assigned agents still run the candidate.
	changed := r.checkWindows(now, byID)
	if r.Phase.Terminal() || r.Paused {
		return changed
	}
	if problems := r.health(now, byID); len(problems) > 0 {
		r.pause(now, strings.Join(problems, "; "))
		return true
	}
	if len(r.Assigned) == 0 { // nobody was eligible when the wave started: try again
		changed = r.fill(now, agents) || changed
		if len(r.Assigned) == 0 {
			if now.Sub(r.WaveSince) > r.Spec.applyTimeout() {
				r.pause(now, "no eligible agent: "+r.Spec.ineligible(agents, now))
				return true
			}
			return changed
		}
	}
	w := &r.Waves[len(r.Waves)-1]
	if w.AppliedAt.IsZero() {
		var waiting []string
		for i := range r.Assigned {
			m := &r.Assigned[i]
			if !m.AppliedAt.IsZero() {
				continue
			}
			if r.runsCandidate(byID[m.ID]) {
				m.AppliedAt, changed = now, true
			} else {
				waiting = append(waiting, m.Node)
			}
		}
		if len(waiting) > 0 {
			if now.Sub(r.WaveSince) > r.Spec.applyTimeout() {
				r.pause(now, fmt.Sprintf("%s: %s did not apply %s within %s", r.waveName(), listNames(waiting), r.Spec.Candidate, r.Spec.applyTimeout()))
				return true
			}
			return changed
		}
		w.AppliedAt = now
		r.event(now, "%s: %s runs on every agent (%d); soaking %s", r.waveName(), r.Spec.Candidate, len(r.Assigned), r.Spec.Soak.D)
		if r.Phase == runs.Initializing {
			r.enter(runs.Running, now)
		}
		return true
	}
	if now.Sub(w.AppliedAt) < r.Spec.Soak.D {
		return changed
	}
	for _, m := range r.Assigned {
		if !m.LastWindow.After(w.AppliedAt) { // every node judged at least once with the whole wave on
			return changed
		}
	}
	v := r.evaluate(now, byID)
	w.Verdict, w.EndedAt = v, now
	if v.Pass && r.Wave < len(r.Spec.Waves)-1 {
		r.event(now, "%s passed: %s", r.waveName(), v.summary())
		r.startWave(r.Wave+1, now, agents)
		return true
	}
	r.Verdict = v
	r.enter(runs.Analyzing, now)
	return true
}

// checkWindows checks the guardrails of every new complete window of the agents that run the candidate;
// a breach rolls the wave back and pauses the rollout.
func (r *Rollout) checkWindows(now time.Time, byID map[string]Agent) bool {
	changed := false
	var breached, reasons []string
	for i := range r.Assigned {
		m := &r.Assigned[i]
		a := byID[m.ID]
		e, ok := a.experiment(r.Spec.Experiment)
		if !ok || e.Active != r.Spec.Candidate || !e.Complete || !e.WindowEnd.After(m.LastWindow) {
			continue
		}
		v, found := e.variant(r.Spec.Candidate)
		if found && v.Pending { // added within the window: no whole window to judge yet
			continue
		}
		m.LastWindow, changed = e.WindowEnd, true
		if found && v.Fidelity == nil && r.Spec.Criteria.MinFidelity > 0 && m.Unjudged < unjudgedWindows {
			m.Unjudged++ // not yet a fidelity to judge: the next window will tell
			continue
		}
		m.Windows++
		broken := []string{"no figures of " + r.Spec.Candidate + " in a complete window"}
		if found {
			broken = r.Spec.Criteria.guardrails(v)
		}
		if len(broken) > 0 {
			breached = append(breached, m.ID)
			for _, why := range broken {
				reasons = append(reasons, m.Node+": "+why)
			}
		}
	}
	if len(breached) > 0 {
		r.breach(now, byID, breached, reasons)
	}
	return changed
}

// guardrails are the criteria one node's window must meet (fail closed on fidelity, as runs do).
func (c Criteria) guardrails(v Variant) []string {
	var reasons []string
	switch min := c.MinFidelity; {
	case min <= 0:
	case v.Fidelity == nil:
		reasons = append(reasons, fmt.Sprintf("fidelity: no data in the window (min %.4f)", min))
	case !(*v.Fidelity >= min): // NaN too
		reasons = append(reasons, fmt.Sprintf("fidelity %.4f < %.4f", *v.Fidelity, min))
	}
	if c.CriticalVisible && !(v.CriticalVisible >= 1) {
		reasons = append(reasons, fmt.Sprintf("critical processes visible %.2f < 1", v.CriticalVisible))
	}
	if min := c.MinRuleFidelity; min > 0 && v.RuleFidelity != nil && !(*v.RuleFidelity >= min) {
		reasons = append(reasons, fmt.Sprintf("rule fidelity %.4f < %.4f", *v.RuleFidelity, min))
	}
	return reasons
}

// health is why the wave cannot go on: an assigned agent gone, silent, without the experiment, refusing
// the desired state, or no longer running the candidate. It pauses; nothing is rolled back, since none
// of it is the candidate's fault.
func (r *Rollout) health(now time.Time, byID map[string]Agent) []string {
	var problems []string
	for _, m := range r.Assigned {
		a, known := byID[m.ID]
		e, hasExperiment := a.experiment(r.Spec.Experiment)
		switch {
		case !known:
			problems = append(problems, m.Node+" is no longer known")
		case !a.Connected:
			problems = append(problems, m.Node+" disconnected")
		case a.silent(now):
			problems = append(problems, fmt.Sprintf("%s silent (last report %s)", m.Node, a.LastReport.Format(time.RFC3339)))
		case !hasExperiment:
			problems = append(problems, m.Node+" no longer reports "+r.Spec.Experiment)
		case a.ApplyError != "":
			problems = append(problems, m.Node+" refused the desired state: "+a.ApplyError)
		case !m.AppliedAt.IsZero() && e.Active != r.Spec.Candidate:
			problems = append(problems, fmt.Sprintf("%s no longer runs %s (active: %s)", m.Node, r.Spec.Candidate, e.Active))
		case stuck(a.Figures.At, e):
			problems = append(problems, fmt.Sprintf("%s: no new window since %s (window %s)", m.Node, e.WindowEnd.Format(time.RFC3339), e.Window))
		case pendingTooLong(m, e, r.Spec.Candidate):
			problems = append(problems, fmt.Sprintf("%s: %s still pending (added within the window) %d windows after it was applied", m.Node, r.Spec.Candidate, stuckWindows))
		}
	}
	return problems
}

// pendingTooLong: the candidate, applied, is still pending (not measured over a whole window) stuckWindows
// windows later, by the agent's clock: its guardrails are never checked, and the soak would wait for ever.
func pendingTooLong(m Member, e Experiment, candidate string) bool {
	v, ok := e.variant(candidate)
	return ok && v.Pending && !m.AppliedAt.IsZero() && e.Window > 0 && e.WindowEnd.Sub(m.AppliedAt) > stuckWindows*e.Window
}

// stuck: the agent reports but its last complete window is more than stuckWindows windows old, by its own
// clock — the soak would wait for a window that never comes.
func stuck(at time.Time, e Experiment) bool {
	return e.Window > 0 && !e.WindowEnd.IsZero() && !at.IsZero() && at.Sub(e.WindowEnd) > stuckWindows*e.Window
}

func (r *Rollout) runsCandidate(a Agent) bool {
	e, ok := a.experiment(r.Spec.Experiment)
	return ok && e.Active == r.Spec.Candidate
}

func (r *Rollout) startWave(i int, now time.Time, agents []Agent) {
	r.Wave, r.WaveSince = i, now
	r.Waves = append(r.Waves, WaveRun{Wave: i, StartedAt: now})
	r.fill(now, agents)
}

// fill grows the wave to its size with eligible agents in rank order, after the ones already assigned: a
// wave only adds agents, so earlier waves' agents stay in and a restarted controller keeps its choice.
func (r *Rollout) fill(now time.Time, agents []Agent) bool {
	eligible := r.Spec.Eligible(agents, now)
	w := &r.Waves[len(r.Waves)-1]
	w.Size = max(r.Spec.Waves[r.Wave].size(len(eligible)), len(r.Assigned))
	var added []string
	for _, a := range eligible {
		if len(r.Assigned) >= w.Size {
			break
		}
		if r.member(a.ID) == nil {
			r.Assigned = append(r.Assigned, Member{ID: a.ID, Node: a.name()})
			added = append(added, a.name())
		}
	}
	w.Agents = memberIDs(r.Assigned)
	if len(added) == 0 {
		return false
	}
	w.AppliedAt, r.WaveSince = time.Time{}, now // new agents to wait for
	r.event(now, "%s: %s, adding %s", r.waveName(), agentCount(len(r.Assigned)), listNames(added))
	return true
}

// breach rolls the wave back on a broken guardrail and pauses the rollout, its verdict naming the nodes
// and why. A person decides what follows: resume retries the wave, cancel or rollback end it.
func (r *Rollout) breach(now time.Time, byID map[string]Agent, breached, reasons []string) {
	v := r.evaluate(now, byID)
	v.Pass, v.Reasons, v.Nodes = false, reasons, nil
	for _, id := range breached {
		v.Nodes = append(v.Nodes, r.member(id).Node)
	}
	w := &r.Waves[len(r.Waves)-1]
	if r.breached() { // again, while paused on the first: one record says both
		w.Verdict.Reasons = append(w.Verdict.Reasons, v.Reasons...)
		w.Verdict.Nodes = append(w.Verdict.Nodes, v.Nodes...)
		v = w.Verdict
	}
	w.Verdict, r.Verdict = v, v
	if w.EndedAt.IsZero() {
		w.EndedAt = now
	}
	done := r.rollbackWave(breached)
	r.pause(now, fmt.Sprintf("guardrail broken: %s; %s (resume retries the wave; cancel or rollback ends the rollout)",
		strings.Join(reasons, "; "), done))
}

// breached: the wave in progress broke a guardrail and waits, rolled back and paused, for a resume.
func (r *Rollout) breached() bool {
	n := len(r.Waves)
	return (r.Phase == runs.Initializing || r.Phase == runs.Running) && n > 0 && r.Waves[n-1].Verdict != nil && !r.Waves[n-1].Verdict.Pass
}

// maxTries bounds the records one wave keeps: each retry after a breach is a record of its own (with its
// agents), and the rollout is persisted whole at every change.
const maxTries = 5

// retryWave starts the wave again after a breach, as a new record of it; the oldest of its records beyond
// maxTries is dropped (the events keep what happened).
func (r *Rollout) retryWave(now time.Time) {
	r.Waves = append(r.Waves, WaveRun{Wave: r.Wave, StartedAt: now})
	r.Verdict = nil
	var tries []int
	for i, w := range r.Waves {
		if w.Wave == r.Wave {
			tries = append(tries, i)
		}
	}
	if len(tries) > maxTries {
		r.Waves = slices.Delete(r.Waves, tries[0], tries[0]+1)
	}
}

// rollbackWave gives the wave's new agents, and those excluded, the baseline: the agents of the wave
// before, which passed, keep the candidate. It says what it did.
func (r *Rollout) rollbackWave(exclude []string) string {
	var keep []string
	for i := len(r.Waves) - 1; i >= 0; i-- {
		if r.Waves[i].Wave < r.Wave { // the wave before; a retried wave has several records
			keep = r.Waves[i].Agents
			break
		}
	}
	kept := r.Assigned[:0]
	for _, m := range r.Assigned {
		if slices.Contains(keep, m.ID) && !slices.Contains(exclude, m.ID) {
			kept = append(kept, m)
		}
	}
	r.Assigned = kept
	if len(kept) == 0 {
		return "rolled back " + r.waveName() + ": every agent on the baseline"
	}
	return fmt.Sprintf("rolled back %s to the %s of wave %d", r.waveName(), agentCount(len(kept)), r.Wave)
}

// conclude ends the analysis: a passing verdict promotes the candidate to every targeted agent; a failing
// one rolls the last wave back.
func (r *Rollout) conclude(now time.Time, agents []Agent) {
	if r.Verdict != nil && r.Verdict.Pass {
		for _, a := range r.Spec.Eligible(agents, now) {
			if r.member(a.ID) == nil {
				r.Assigned = append(r.Assigned, Member{ID: a.ID, Node: a.name()})
			}
		}
		r.Promoted = true
		r.event(now, "promoted %s: %s; %s (every targeted agent, and those that join later)", r.Spec.Candidate, r.Verdict.summary(), agentCount(len(r.Assigned)))
		r.end(runs.Completed, "", now)
		return
	}
	reasons := "no verdict"
	if r.Verdict != nil {
		reasons = strings.Join(r.Verdict.Reasons, "; ")
	}
	done := r.rollbackWave(nil)
	r.end(runs.Completed, fmt.Sprintf("%s did not meet the criteria: %s; %s", r.waveName(), reasons, done), now)
}

// evaluate is the verdict on the assigned agents' last complete windows.
func (r *Rollout) evaluate(now time.Time, byID map[string]Agent) *Verdict {
	c := r.Spec.Criteria
	v := &Verdict{Wave: r.Wave, At: now}
	var cand, base VariantTotals
	for _, m := range r.Assigned {
		e, _ := byID[m.ID].experiment(r.Spec.Experiment)
		cv, okC := e.variant(r.Spec.Candidate)
		bv, okB := e.variant(e.Baseline)
		if !e.Complete || !okC || !okB || cv.Pending || bv.Pending {
			v.Reasons = append(v.Reasons, m.Node+": no complete window of "+r.Spec.Candidate+" and the baseline")
			continue
		}
		cand.add(m.Node, cv)
		base.add(m.Node, bv)
		v.Agents++
	}
	if base.Series > 0 {
		v.SeriesReduction = 1 - float64(cand.Series)/float64(base.Series)
	}
	if v.SeriesReduction < c.MinSeriesReduction {
		v.Reasons = append(v.Reasons, fmt.Sprintf("series reduction %.4f < %.4f (%d series of %d)", v.SeriesReduction, c.MinSeriesReduction, cand.Series, base.Series))
	}
	if cand.Fidelity != nil {
		v.Fidelity = &cand.Fidelity.Value
	}
	switch {
	case c.MinFidelity <= 0:
	case cand.Fidelity == nil || cand.Fidelity.Agents < v.Agents:
		v.Reasons = append(v.Reasons, fmt.Sprintf("fidelity: no data on %d of %d agents", v.Agents-agentsOf(cand.Fidelity), v.Agents))
	case cand.Fidelity.Value < c.MinFidelity:
		v.Reasons = append(v.Reasons, fmt.Sprintf("fidelity %.4f < %.4f on %s", cand.Fidelity.Value, c.MinFidelity, cand.Fidelity.Node))
	}
	if cand.CriticalVisible != nil {
		v.CriticalVisible = cand.CriticalVisible.Value
	}
	if c.CriticalVisible && v.CriticalVisible < 1 {
		node := ""
		if cand.CriticalVisible != nil {
			node = " on " + cand.CriticalVisible.Node
		}
		v.Reasons = append(v.Reasons, fmt.Sprintf("critical processes visible %.2f < 1%s", v.CriticalVisible, node))
	}
	if cand.RuleFidelity != nil {
		v.RuleFidelity = &cand.RuleFidelity.Value
	}
	switch {
	case c.MinRuleFidelity <= 0:
	case cand.RuleFidelity == nil:
		v.Reasons = append(v.Reasons, "rule fidelity: no agent reported one")
	case cand.RuleFidelity.Value < c.MinRuleFidelity:
		v.Reasons = append(v.Reasons, fmt.Sprintf("rule fidelity %.4f < %.4f on %s", cand.RuleFidelity.Value, c.MinRuleFidelity, cand.RuleFidelity.Node))
	}
	cost, why := fleetCost(cand.Cost, base.Cost, v.Agents)
	v.Cost = cost
	switch {
	case c.MinCostSaving <= 0:
	case cost == nil:
		v.Reasons = append(v.Reasons, fmt.Sprintf("cost: %s (min_cost_saving %.4f)", why, c.MinCostSaving))
	case cost.SavingRatio < c.MinCostSaving:
		v.Reasons = append(v.Reasons, fmt.Sprintf("cost saving %.4f < %.4f (%.2f %s a month saved of %.2f)", cost.SavingRatio, c.MinCostSaving,
			cost.MonthlySaving, cost.Currency, cost.Monthly+cost.MonthlySaving))
	}
	v.Pass = len(v.Reasons) == 0
	return v
}

// fleetCost sums the wave's cost only when every agent priced both variants in one currency: a partial
// or mixed sum is no figure.
func fleetCost(cand, base []CostTotal, agents int) (*Cost, string) {
	switch {
	case len(cand) == 0 || len(base) == 0:
		return nil, "not priced"
	case len(cand) > 1 || len(base) > 1 || cand[0].Currency != base[0].Currency:
		return nil, "mixed currencies, not summed"
	case cand[0].Agents < agents || base[0].Agents < agents:
		return nil, fmt.Sprintf("priced on %d of %d agents", min(cand[0].Agents, base[0].Agents), agents)
	case !(base[0].Monthly > 0):
		return nil, "the baseline costs nothing"
	}
	return &Cost{Currency: cand[0].Currency, Monthly: cand[0].Monthly, MonthlySaving: base[0].Monthly - cand[0].Monthly,
		SavingRatio: 1 - cand[0].Monthly/base[0].Monthly}, ""
}

// Desired is the variant the agent should run now; targeted is false for agents the rollout does not
// drive (not otelcol-phoenix, without the experiment, not selected), which are sent nothing.
func (r *Rollout) Desired(a Agent) (variant string, targeted bool) {
	e, ok := a.experiment(r.Spec.Experiment)
	switch {
	case !ok:
		return "", false
	case r.member(a.ID) != nil: // even if its labels changed since: it is in the wave
		return r.Spec.Candidate, true
	case !r.Spec.targets(a):
		return "", false
	case r.Promoted:
		return r.Spec.Candidate, true
	}
	return e.Baseline, true
}

// Restarted tells a rollout in progress that its controller was down: nothing says the wave's agents kept
// the candidate meanwhile (one may have restarted on its baseline and been put back since), so the wave is
// applied and soaked again, from now.
func (r *Rollout) Restarted(now time.Time) {
	if r.Phase.Terminal() || len(r.Waves) == 0 {
		return
	}
	for i := range r.Assigned {
		r.Assigned[i].AppliedAt = time.Time{}
	}
	if last := &r.Waves[len(r.Waves)-1]; last.EndedAt.IsZero() { // a breached one is history
		last.AppliedAt = time.Time{}
	}
	r.WaveSince = now
	r.event(now, "%s: the controller restarted; the wave is applied and soaked again", r.waveName())
}

// Resume lifts a pause. The wave is checked again from the start: every agent must show the candidate
// again and the soak restarts. Agents still gone (disconnected, silent, unknown) are released — they get
// the baseline when they are back — and the wave is refilled from the eligible ones, so a node that left
// for good does not hold the rollout forever. After a breach the wave is retried, as a new record of it,
// with the same choice of agents (the breaching ones too).
func (r *Rollout) Resume(now time.Time, agents []Agent) error {
	if r.Phase.Terminal() {
		return fmt.Errorf("%w: %s is %s", ErrEnded, r.ID, r.Phase)
	}
	if !r.Paused {
		return fmt.Errorf("%w: %s", ErrNotPaused, r.ID)
	}
	byID := make(map[string]Agent, len(agents))
	for _, a := range agents {
		byID[a.ID] = a
	}
	var released []string
	kept := r.Assigned[:0]
	for _, m := range r.Assigned {
		if a, ok := byID[m.ID]; !ok || !a.Connected || a.silent(now) {
			released = append(released, m.Node)
			continue
		}
		m.AppliedAt = time.Time{}
		kept = append(kept, m)
	}
	r.Assigned = kept
	r.Paused, r.PauseReason, r.WaveSince = false, "", now
	if r.breached() {
		r.retryWave(now)
	}
	if len(r.Waves) > 0 {
		r.Waves[len(r.Waves)-1].AppliedAt = time.Time{}
		r.Waves[len(r.Waves)-1].Agents = memberIDs(r.Assigned)
	}
	msg := "resumed"
	if len(released) > 0 {
		msg += "; released " + listNames(released) + " (still gone: the baseline when back)"
	}
	r.event(now, "%s", msg)
	if len(r.Waves) > 0 {
		r.fill(now, agents)
	}
	return nil
}

// Cancel ends a rollout in progress and gives every agent the baseline.
func (r *Rollout) Cancel(now time.Time) error {
	if r.Phase.Terminal() {
		return fmt.Errorf("%w: %s is %s", ErrEnded, r.ID, r.Phase)
	}
	r.Assigned, r.Paused, r.PauseReason = nil, false, ""
	r.closeWave(now)
	r.event(now, "cancelled: every agent on the baseline")
	r.end(runs.Cancelled, "cancelled: every agent on the baseline", now)
	return nil
}

// closeWave marks the wave in progress ended (a cancel or a rollback stops it).
func (r *Rollout) closeWave(now time.Time) {
	if n := len(r.Waves); n > 0 && r.Waves[n-1].EndedAt.IsZero() {
		r.Waves[n-1].EndedAt = now
	}
}

// Rollback gives every agent the baseline: a rollout in progress fails; an ended one that left agents on
// the candidate (a promotion, the earlier waves of a failed rollout) is undone.
func (r *Rollout) Rollback(now time.Time, why string) error {
	if why == "" {
		why = "by request"
	}
	if r.Phase.Terminal() {
		if len(r.Assigned) == 0 && !r.Promoted {
			return fmt.Errorf("%w: %s is %s with no agent on the candidate", ErrEnded, r.ID, r.Phase)
		}
		r.Assigned, r.Promoted, r.RolledBackAt = nil, false, now
		r.event(now, "rolled back %s: every agent on the baseline", why)
		return nil
	}
	r.Assigned, r.Paused, r.PauseReason, r.RolledBackAt = nil, false, "", now
	r.closeWave(now)
	r.event(now, "rolled back %s: every agent on the baseline", why)
	r.end(runs.Failed, "rolled back "+why+": every agent on the baseline", now)
	return nil
}

func (r *Rollout) member(id string) *Member {
	for i := range r.Assigned {
		if r.Assigned[i].ID == id {
			return &r.Assigned[i]
		}
	}
	return nil
}

func (r *Rollout) waveName() string { return fmt.Sprintf("wave %d of %d", r.Wave+1, len(r.Spec.Waves)) }

// Pause stops the rollout where it is until Resume: the wave's agents keep the candidate, and their
// guardrails are still checked.
func (r *Rollout) Pause(now time.Time, why string) error {
	if r.Phase.Terminal() {
		return fmt.Errorf("%w: %s is %s", ErrEnded, r.ID, r.Phase)
	}
	if !r.Paused {
		r.pause(now, why)
	}
	return nil
}

func (r *Rollout) pause(now time.Time, reason string) {
	r.Paused, r.PauseReason = true, reason
	r.event(now, "paused: %s", reason)
}

func (r *Rollout) event(now time.Time, format string, args ...any) {
	r.Events = append(r.Events, Event{At: now, Message: fmt.Sprintf(format, args...)})
	if len(r.Events) > maxEvents {
		r.Events = slices.Delete(r.Events, 0, len(r.Events)-maxEvents)
	}
}

func (r *Rollout) enter(p runs.Phase, now time.Time) {
	r.Phase, r.PhaseSince = p, now
	r.Timeline = append(r.Timeline, runs.PhaseChange{Phase: p, At: now})
}

func (r *Rollout) end(p runs.Phase, reason string, now time.Time) {
	r.enter(p, now)
	r.Reason, r.EndedAt = reason, now
}

// summary is a verdict's figures in a few words, for events.
func (v *Verdict) summary() string {
	s := fmt.Sprintf("%s, series reduction %.1f%%", agentCount(v.Agents), 100*v.SeriesReduction)
	if v.Fidelity != nil {
		s += fmt.Sprintf(", worst fidelity %.4f", *v.Fidelity)
	}
	if v.Cost != nil {
		s += fmt.Sprintf(", %.2f %s a month saved (%.1f%%)", v.Cost.MonthlySaving, v.Cost.Currency, 100*v.Cost.SavingRatio)
	}
	return s
}

func agentCount(n int) string {
	if n == 1 {
		return "1 agent"
	}
	return fmt.Sprintf("%d agents", n)
}

func memberIDs(ms []Member) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// VariantTotals are one variant's figures over a fleet: sums of what adds up, the worst node of what does
// not. Only agents with a whole window of the variant count.
type VariantTotals struct {
	Name     string `json:"name"`
	Baseline bool   `json:"baseline"` // the baseline on the agents that report it
	Agents   int    `json:"agents"`   // with a whole window of it
	Active   int    `json:"active"`   // on which it is the active variant
	Pending  int    `json:"pending"`  // with no whole window of it yet

	Series              uint64  `json:"series"`
	DatapointsPerSecond float64 `json:"datapoints_per_second"`
	BytesPerSecond      float64 `json:"bytes_per_second"`
	Errors              uint64  `json:"errors"`
	// Cost has one sum per currency: amounts in different currencies are listed, never added.
	Cost []CostTotal `json:"cost,omitempty"`

	Fidelity        *Worst `json:"fidelity"`
	RuleFidelity    *Worst `json:"rule_fidelity,omitempty"`
	CriticalVisible *Worst `json:"critical_visible"`
}

// Worst is the lowest value any agent reported, which node it was, and how many reported one.
type Worst struct {
	Value  float64 `json:"value"`
	Node   string  `json:"node"`
	Agents int     `json:"agents"`
}

// CostTotal is a monthly cost summed over the agents that priced in one currency.
type CostTotal struct {
	Currency string  `json:"currency"`
	Monthly  float64 `json:"monthly"`
	Agents   int     `json:"agents"`
}

// Aggregate is the experiment's figures over the given agents, per variant in name order. A number that
// is not finite counts as not reported, so no NaN reaches a figure.
func Aggregate(agents []Agent, experiment string) []VariantTotals {
	byName := map[string]*VariantTotals{}
	for _, a := range agents {
		e, ok := a.experiment(experiment)
		if !ok {
			continue
		}
		for _, v := range e.Variants {
			t := byName[v.Name]
			if t == nil {
				t = &VariantTotals{Name: v.Name}
				byName[v.Name] = t
			}
			t.Baseline = t.Baseline || v.Name == e.Baseline
			if v.Name == e.Active {
				t.Active++
			}
			if !e.Complete || v.Pending {
				t.Pending++
				continue
			}
			t.add(a.name(), v)
		}
	}
	out := make([]VariantTotals, 0, len(byName))
	for _, name := range sortedKeys(byName) {
		out = append(out, *byName[name])
	}
	return out
}

func (t *VariantTotals) add(node string, v Variant) {
	t.Agents++
	t.Series += v.Series
	t.DatapointsPerSecond += finiteOrZero(v.DatapointsPerSecond)
	t.BytesPerSecond += finiteOrZero(v.BytesPerSecond)
	t.Errors += v.Errors
	t.Fidelity = worse(t.Fidelity, v.Fidelity, node)
	t.RuleFidelity = worse(t.RuleFidelity, v.RuleFidelity, node)
	t.CriticalVisible = worse(t.CriticalVisible, &v.CriticalVisible, node)
	if v.CostMonthly == nil || !finite(*v.CostMonthly) {
		return
	}
	i := slices.IndexFunc(t.Cost, func(c CostTotal) bool { return c.Currency == v.Currency })
	if i < 0 {
		t.Cost = append(t.Cost, CostTotal{Currency: v.Currency})
		slices.SortFunc(t.Cost, func(a, b CostTotal) int { return cmp.Compare(a.Currency, b.Currency) })
		i = slices.IndexFunc(t.Cost, func(c CostTotal) bool { return c.Currency == v.Currency })
	}
	t.Cost[i].Monthly += *v.CostMonthly
	t.Cost[i].Agents++
}

func worse(w *Worst, x *float64, node string) *Worst {
	if x == nil || !finite(*x) {
		return w
	}
	if w == nil {
		return &Worst{Value: *x, Node: node, Agents: 1}
	}
	w.Agents++
	if *x < w.Value {
		w.Value, w.Node = *x, node
	}
	return w
}

func agentsOf(w *Worst) int {
	if w == nil {
		return 0
	}
	return w.Agents
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func finiteOrZero(x float64) float64 {
	if finite(x) {
		return x
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
