// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package runs drives timed experiment runs through their lifecycle — pending, initializing (warm-up),
// running (guardrails checked every window), analyzing (verdict against criteria) and completed, failed or
// cancelled — over a control.Experiment. It has no transport and no clock of its own: the caller ticks it.
package runs // import "github.com/phoenix-platform/otelcol-phoenix/internal/runs"

import (
	"errors"
	"fmt"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Phase is a run's lifecycle phase.
type Phase string

const (
	Pending      Phase = "pending"
	Initializing Phase = "initializing"
	Running      Phase = "running"
	Analyzing    Phase = "analyzing"
	Completed    Phase = "completed"
	Failed       Phase = "failed"
	Cancelled    Phase = "cancelled"
)

// Terminal reports whether a run has ended.
func (p Phase) Terminal() bool { return p == Completed || p == Failed || p == Cancelled }

// Criteria decide the verdict; the guardrails (fidelity, critical visibility) are also checked every window.
type Criteria struct {
	MinSeriesReduction float64 `json:"min_series_reduction"` // e.g. 0.5: at least half the series saved
	MinFidelity        float64 `json:"min_fidelity"`         // e.g. 0.95
	CriticalVisible    bool    `json:"critical_visible"`     // every critical process must stay visible
	// MinCostSaving is the share of the baseline's monthly cost the candidate must save, e.g. 0.3 (needs an
	// experiment cost: block; checked in the verdict, like min_series_reduction).
	MinCostSaving float64 `json:"min_cost_saving"`
	// MinRuleFidelity is the share of the user's rules that must evaluate the same on the candidate as on
	// the baseline, and RulesMustHold names rules that must never be broken (both need an experiment
	// rules: block; checked every window).
	MinRuleFidelity float64  `json:"min_rule_fidelity"`
	RulesMustHold   []string `json:"rules_must_hold,omitempty"`
}

// Spec is what to run.
type Spec struct {
	Candidate   string   `json:"candidate"`
	WarmUp      Duration `json:"warm_up"`
	Duration    Duration `json:"duration"`
	Criteria    Criteria `json:"criteria"`
	Activate    bool     `json:"activate"`     // make the candidate the active variant during the run (canary)
	AutoPromote bool     `json:"auto_promote"` // keep the candidate active when the verdict passes
}

// Verdict is the analysis of the last complete window.
type Verdict struct {
	Pass            bool     `json:"pass"`
	SeriesReduction float64  `json:"series_reduction"`
	Fidelity        *float64 `json:"fidelity"` // null: no data
	CriticalVisible float64  `json:"critical_visible"`
	RuleFidelity    *float64 `json:"rule_fidelity,omitempty"` // share of the rules unchanged (with a rules: block)
	Reasons         []string `json:"reasons,omitempty"`       // why it did not pass

	// Cost is the candidate's cost figures in the analyzed window (with a cost: block): monthly cost,
	// monthly saving and saving ratio against the baseline, in the experiment's model and currency.
	Cost *control.CostStats `json:"cost,omitempty"`
}

// Run is one run and its history.
type Run struct {
	ID         string    `json:"id"`
	Experiment string    `json:"experiment"`
	Spec       Spec      `json:"spec"`
	Phase      Phase     `json:"phase"`
	Reason     string    `json:"reason,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	PhaseSince time.Time `json:"phase_since"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	Previous   string    `json:"previous_active"` // the active variant when the run started
	Promoted   bool      `json:"promoted"`
	Verdict    *Verdict  `json:"verdict,omitempty"`
	Windows    int       `json:"windows_checked"`
	// Timeline is every phase the run entered, in order, with when.
	Timeline   []PhaseChange `json:"timeline"`
	lastWindow time.Time
}

// PhaseChange is one step of a run's timeline.
type PhaseChange struct {
	Phase Phase     `json:"phase"`
	At    time.Time `json:"at"`
}

// Errors of Start.
var (
	ErrInvalid = errors.New("invalid run")
	ErrBusy    = errors.New("a run of this experiment is already in progress")
)

// Validate checks a spec against an experiment's variants.
func (s Spec) Validate(snap control.ExperimentSnapshot) error {
	var errs []error
	if _, ok := snap.Variant(s.Candidate); !ok {
		errs = append(errs, fmt.Errorf("candidate %q: not a variant of %s", s.Candidate, snap.Name))
	}
	if s.Candidate == snap.Baseline {
		errs = append(errs, fmt.Errorf("candidate %q is the baseline", s.Candidate))
	}
	if s.WarmUp.D < 0 || s.WarmUp.D > 24*time.Hour {
		errs = append(errs, fmt.Errorf("warm_up %s: want 0..24h", s.WarmUp.D))
	}
	if s.Duration.D < snap.Window || s.Duration.D > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("duration %s: want at least one window (%s) and at most 7 days", s.Duration.D, snap.Window))
	}
	errs = append(errs, s.Criteria.validateRules(snap)...)
	errs = append(errs, s.Criteria.validateCost(snap)...)
	for name, v := range map[string]float64{"min_series_reduction": s.Criteria.MinSeriesReduction, "min_fidelity": s.Criteria.MinFidelity,
		"min_rule_fidelity": s.Criteria.MinRuleFidelity, "min_cost_saving": s.Criteria.MinCostSaving} {
		if v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("criteria.%s %v: want 0..1", name, v))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// New makes a pending run.
func New(id string, e Experiment, spec Spec, now time.Time) (*Run, error) {
	snap := e.Snapshot()
	if err := spec.Validate(snap); err != nil {
		return nil, err
	}
	r := &Run{ID: id, Experiment: e.Name(), Spec: spec, CreatedAt: now, Previous: snap.Active}
	r.enter(Pending, now)
	return r, nil
}

// Experiment is what a run reads: the experiment's figures (a control.Experiment has them).
type Experiment interface {
	Name() string
	Snapshot() control.ExperimentSnapshot
}

// Switcher changes the active variant (the control extension's persisted switch).
type Switcher func(variant string) error

// Step advances a run at now; it returns true when the run changed.
func (r *Run) Step(e Experiment, switchTo Switcher, now time.Time) bool {
	if r.Phase.Terminal() {
		return false
	}
	snap := e.Snapshot()
	switch r.Phase {
	case Pending:
		if r.Spec.Activate {
			if err := switchTo(r.Spec.Candidate); err != nil {
				r.end(Failed, "activate candidate: "+err.Error(), now)
				return true
			}
		}
		r.enter(Initializing, now)
		return true
	case Initializing:
		// Warm-up, and a window that started after the run did, so figures are the candidate's own (a
		// candidate added at runtime has its first whole window by then, no longer pending).
		if now.Sub(r.PhaseSince) >= r.Spec.WarmUp.D && snap.Complete && !snap.WindowStart.Before(r.CreatedAt) && !pending(snap, r.Spec.Candidate) {
			r.enter(Running, now)
			r.lastWindow = snap.WindowEnd
			return true
		}
		if now.Sub(r.PhaseSince) > r.Spec.WarmUp.D+3*snap.Window {
			r.fallback(e, switchTo)
			r.end(Failed, fmt.Sprintf("initializing timed out: no complete window within warm-up + 3 windows (%s)", r.Spec.WarmUp.D+3*snap.Window), now)
			return true
		}
		return false
	case Running:
		changed := false
		if snap.Complete && snap.WindowEnd.After(r.lastWindow) { // a new window: guardrails
			r.lastWindow = snap.WindowEnd
			r.Windows++
			changed = true
			v, ok := snap.Variant(r.Spec.Candidate)
			reasons := []string{"the candidate variant was removed"}
			if ok {
				reasons = r.guardrails(v, snap.WindowStart)
			}
			if len(reasons) > 0 {
				fellBack := r.fallback(e, switchTo)
				msg := "guardrail broken: " + reasons[0]
				if fellBack {
					msg += "; fell back to the baseline"
				}
				r.end(Failed, msg, now)
				return true
			}
		}
		if now.Sub(r.PhaseSince) >= r.Spec.Duration.D {
			r.enter(Analyzing, now)
			return true
		}
		return changed
	case Analyzing:
		v, _ := snap.Variant(r.Spec.Candidate)
		r.Verdict = r.verdict(v, snap.WindowStart)
		switch {
		case r.Verdict.Pass && r.Spec.AutoPromote:
			if err := switchTo(r.Spec.Candidate); err == nil {
				r.Promoted = true
			}
		case r.Spec.Activate && snap.Active == r.Spec.Candidate:
			_ = switchTo(r.Previous) // the canary ends; a switch made during the run stands
		}
		r.end(Completed, "", now)
		return true
	}
	return false
}

// pending says the variant has no whole window of figures yet (added at runtime).
func pending(snap control.ExperimentSnapshot, variant string) bool {
	v, ok := snap.Variant(variant)
	return ok && v.Pending
}

// guardrails checks the candidate's figures of the window that started at windowStart.
func (r *Run) guardrails(v control.VariantStats, windowStart time.Time) []string {
	var reasons []string
	switch min := r.Spec.Criteria.MinFidelity; {
	case min <= 0:
	case v.Fidelity == nil: // fails closed: nothing to compare is no proof of fidelity
		reasons = append(reasons, fmt.Sprintf("fidelity: no data in the window (min %.4f)", min))
	case *v.Fidelity < min:
		reasons = append(reasons, fmt.Sprintf("fidelity %.4f < %.4f", *v.Fidelity, min))
	}
	if r.Spec.Criteria.CriticalVisible && v.CriticalVisible < 1 {
		reasons = append(reasons, fmt.Sprintf("critical processes visible %.2f < 1", v.CriticalVisible))
	}
	return append(reasons, r.Spec.Criteria.ruleGuardrails(v.Rules, windowStart)...)
}

// validateRules checks the rule criteria against the experiment: they need a rules: block, and every
// must-hold rule must be one of its rules.
func (c Criteria) validateRules(snap control.ExperimentSnapshot) []error {
	if c.MinRuleFidelity <= 0 && len(c.RulesMustHold) == 0 {
		return nil
	}
	base, _ := snap.Variant(snap.Baseline)
	if base.Rules == nil {
		return []error{fmt.Errorf("criteria.min_rule_fidelity / rules_must_hold: experiment %s has no rules: block", snap.Name)}
	}
	known := map[string]bool{}
	for _, r := range base.Rules.Rules {
		known[r.Name] = true
	}
	var errs []error
	for _, name := range c.RulesMustHold {
		if !known[name] {
			errs = append(errs, fmt.Errorf("criteria.rules_must_hold: %q is not one of the experiment's %d rules", name, len(known)))
		}
	}
	return errs
}

// ruleGuardrails fail closed: no rule evaluation in the window is no proof that the rules hold. Rules are
// evaluated at each window's end, off the pipeline: the evaluation at the window's start (the previous
// window's end) is the newest that is sure to be done; an older one (evaluations slower than the window,
// or stuck) is stale. Rule files that no longer load fail too: the rules evaluated are not the user's.
func (c Criteria) ruleGuardrails(rs *control.RuleStats, windowStart time.Time) []string {
	if c.MinRuleFidelity <= 0 && len(c.RulesMustHold) == 0 {
		return nil
	}
	switch {
	case rs == nil || rs.Fidelity == nil:
		return []string{"rule fidelity: no evaluation in the window"}
	case rs.EvaluatedAt.Before(windowStart):
		return []string{fmt.Sprintf("rule fidelity: the last evaluation (%s) is older than the window (%s): evaluations are slower than the window or stuck",
			rs.EvaluatedAt.Format(time.RFC3339), windowStart.Format(time.RFC3339))}
	case rs.Error != "":
		return []string{"rule fidelity: " + rs.Error}
	}
	var reasons []string
	if *rs.Fidelity < c.MinRuleFidelity {
		reasons = append(reasons, fmt.Sprintf("rule fidelity %.4f < %.4f (%d broken, %d changed)", *rs.Fidelity, c.MinRuleFidelity, rs.Broken, rs.Changed))
	}
	for _, name := range c.RulesMustHold {
		found := false
		for _, r := range rs.Rules {
			if r.Name != name {
				continue
			}
			found = true
			if r.Verdict == control.RuleBroken {
				reasons = append(reasons, fmt.Sprintf("must-hold rule %q broken: %s", name, r.Reason))
			}
		}
		if !found {
			reasons = append(reasons, fmt.Sprintf("must-hold rule %q: not evaluated in the window", name))
		}
	}
	return reasons
}

func (r *Run) verdict(v control.VariantStats, windowStart time.Time) *Verdict {
	out := &Verdict{SeriesReduction: v.SeriesSavings, Fidelity: v.Fidelity, CriticalVisible: v.CriticalVisible}
	if v.Rules != nil {
		out.RuleFidelity = v.Rules.Fidelity
	}
	out.Reasons = r.guardrails(v, windowStart)
	if v.SeriesSavings < r.Spec.Criteria.MinSeriesReduction {
		out.Reasons = append(out.Reasons, fmt.Sprintf("series reduction %.4f < %.4f", v.SeriesSavings, r.Spec.Criteria.MinSeriesReduction))
	}
	out.Cost = v.Cost
	out.Reasons = append(out.Reasons, r.Spec.Criteria.costReasons(v.Cost)...)
	out.Pass = len(out.Reasons) == 0
	return out
}

// validateCost: min_cost_saving needs a cost: block on the experiment.
func (c Criteria) validateCost(snap control.ExperimentSnapshot) []error {
	if c.MinCostSaving <= 0 {
		return nil
	}
	if base, _ := snap.Variant(snap.Baseline); base.Cost == nil {
		return []error{fmt.Errorf("criteria.min_cost_saving: experiment %s has no cost: block (add one to the experiment processor to price its variants)", snap.Name)}
	}
	return nil
}

// costReasons fail closed: no cost figure, or a baseline that costs nothing, is no proof of a saving.
func (c Criteria) costReasons(cs *control.CostStats) []string {
	switch min := c.MinCostSaving; {
	case min <= 0:
		return nil
	case cs == nil:
		return []string{fmt.Sprintf("cost: no figure in the window (min_cost_saving %.4f)", min)}
	case cs.Monthly+cs.MonthlySaving == 0: // the baseline's monthly cost
		return []string{fmt.Sprintf("cost: the baseline costs nothing in the window (min_cost_saving %.4f)", min)}
	case cs.SavingRatio < min:
		return []string{fmt.Sprintf("cost saving %.4f < %.4f (%.2f %s a month saved of %.2f)", cs.SavingRatio, min, cs.MonthlySaving,
			cs.Currency, cs.Monthly+cs.MonthlySaving)}
	}
	return nil
}

// fallback switches to the baseline when the candidate is the active variant; it reports whether it did.
func (r *Run) fallback(e Experiment, switchTo Switcher) bool {
	snap := e.Snapshot()
	if snap.Active != r.Spec.Candidate {
		return false
	}
	return switchTo(snap.Baseline) == nil
}

// Cancel ends a run that is in progress, restoring the previous variant if the run activated the candidate.
func (r *Run) Cancel(e Experiment, switchTo Switcher, now time.Time) error {
	if r.Phase.Terminal() {
		return fmt.Errorf("run %s already %s", r.ID, r.Phase)
	}
	if r.Spec.Activate && e.Snapshot().Active == r.Spec.Candidate {
		_ = switchTo(r.Previous)
	}
	r.end(Cancelled, "cancelled", now)
	return nil
}

// Interrupt fails a run that was in progress when the collector stopped: its measurements are gone. A canary
// that had activated its candidate gives the active variant back, as a cancel would: nobody is watching the
// candidate's guardrails any more. It reports whether the run changed.
func (r *Run) Interrupt(e Experiment, switchTo Switcher, now time.Time) bool {
	if r.Phase.Terminal() {
		return false
	}
	reason := "interrupted: the collector restarted during the run (its window figures are not kept)"
	if r.Spec.Activate && r.Previous != "" && r.Previous != r.Spec.Candidate && e.Snapshot().Active == r.Spec.Candidate {
		if err := switchTo(r.Previous); err != nil {
			reason += "; could not restore the previous variant " + r.Previous + ": " + err.Error()
		} else {
			reason += "; restored the previous variant " + r.Previous
		}
	}
	r.end(Failed, reason, now)
	return true
}

func (r *Run) enter(p Phase, now time.Time) {
	r.Phase, r.PhaseSince = p, now
	r.Timeline = append(r.Timeline, PhaseChange{Phase: p, At: now})
}

func (r *Run) end(p Phase, reason string, now time.Time) {
	r.enter(p, now)
	r.Reason, r.EndedAt = reason, now
}

// Duration is a time.Duration written as "30s", "5m" in JSON.
type Duration struct{ D time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.D.String() + `"`), nil }

// UnmarshalJSON reads "30s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("duration: want a string like \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	d.D = v
	return nil
}
