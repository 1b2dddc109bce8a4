// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package control // import "github.com/phoenix-platform/otelcol-phoenix/internal/control"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
)

// VariantStats are one variant's figures over a window, and how they compare with the baseline's.
type VariantStats struct {
	Name        string `json:"name"`
	Active      bool   `json:"active"`
	Baseline    bool   `json:"baseline"`
	PassThrough bool   `json:"pass_through"`
	// Source says where the variant is defined: config (the collector config), api or desired_state (added
	// at runtime).
	Source string `json:"source"`
	// Pending: added at runtime, measured from the first whole window after it was added; until that
	// window completes its figures are empty (zero, fidelity null) and no guardrail passes on it.
	Pending bool `json:"pending"`

	Series      uint64 `json:"series"`     // distinct series (metric name + resource and point attributes)
	NewSeries   uint64 `json:"new_series"` // of which not in the previous window (churn)
	SeriesExact bool   `json:"series_exact"`
	Datapoints  uint64 `json:"datapoints"`
	Bytes       uint64 `json:"bytes"` // OTLP protobuf size

	DatapointsPerSecond float64 `json:"datapoints_per_second"`
	BytesPerSecond      float64 `json:"bytes_per_second"`

	// Savings against the baseline: 1 - variant/baseline (0.9 = 90% less; negative = more).
	SeriesSavings    float64 `json:"series_savings"`
	DatapointSavings float64 `json:"datapoint_savings"`
	ByteSavings      float64 `json:"byte_savings"`

	// Fidelity against the baseline, in [0,1]: per configured counter (compared as rates) and gauge (compared
	// as window means), 1 - |variant - baseline| / |baseline|; Fidelity is the lowest of them.
	Fidelity       *float64           `json:"fidelity"` // nil: no data (nothing to compare in the window)
	MetricFidelity map[string]float64 `json:"metric_fidelity"`
	// FidelityUntracked counts the window's points (of this variant or the baseline) whose series could
	// not be followed, the fidelity state being full (series_cap): then there is no fidelity (nil), since
	// a part of the data would be compared as if it were the whole.
	FidelityUntracked uint64 `json:"fidelity_untracked_points"`
	// CriticalVisible is the share of critical processes seen in the baseline that the variant still shows
	// on their own (1 when the baseline has none).
	CriticalVisible float64 `json:"critical_visible"`

	Errors uint64 `json:"errors"` // batches the variant's chain failed on

	// Cost is what the variant's output would cost in the backend's bill (nil without an experiment cost:
	// block); Rules how the user's own rules and dashboard queries fare on it (nil without rules:).
	Cost  *CostStats `json:"cost,omitempty"`
	Rules *RuleStats `json:"rules,omitempty"`
}

// CostStats are a variant's projected monthly cost (a month is 730 hours) under the experiment's billing
// model, for this collector's share of the fleet.
type CostStats struct {
	Model    string `json:"model"` // active_series | hourly_series | datapoints | bytes
	Currency string `json:"currency"`
	// Units is what the model bills, as measured: active series over the horizon, the mean of distinct
	// series per hour, data points per month, or GB per month.
	Units float64 `json:"units"`
	// OverageDPM are the data points per minute beyond those included per series (active_series only).
	OverageDPM    float64 `json:"overage_dpm,omitempty"`
	Monthly       float64 `json:"monthly"`        // projected cost per month
	MonthlySaving float64 `json:"monthly_saving"` // the baseline's monthly cost minus this one's
	SavingRatio   float64 `json:"saving_ratio"`   // 1 - monthly / baseline's monthly (0 when the baseline costs nothing)
	// Exact is false once the distinct series over the horizon are estimated (HyperLogLog beyond series_cap).
	Exact bool `json:"exact"`
}

// RuleStats are how the user's rules (alerting, recording, dashboard queries, inline PromQL) evaluate on
// the variant's output compared with the baseline's, at the end of the last complete window.
type RuleStats struct {
	// Fidelity is the share of rules whose verdict is same (nil: nothing evaluated yet).
	Fidelity *float64     `json:"fidelity"`
	Same     int          `json:"same"`
	Changed  int          `json:"changed"`
	Broken   int          `json:"broken"`
	Rules    []RuleResult `json:"rules"`
	// EvaluatedAt is the evaluation time (the window's end).
	EvaluatedAt time.Time `json:"evaluated_at"`
	// Error says why the rules could not be evaluated on this variant (its store is full), or that the rule
	// files changed and failed to load (the last good set is evaluated).
	Error string `json:"error,omitempty"`
	// SkippedEvaluations counts window ends that found the previous evaluation still running (evaluations
	// slower than the window): run guardrails fail on a stale evaluation.
	SkippedEvaluations uint64 `json:"skipped_evaluations"`
}

// Rule verdicts.
const (
	RuleSame    = "same"
	RuleChanged = "changed"
	RuleBroken  = "broken"
)

// RuleResult is one rule's verdict on a variant.
type RuleResult struct {
	Name   string `json:"name"`   // alert or record name, dashboard "title / panel / refId", or the inline name
	Source string `json:"source"` // file (and group), or "inline"
	Kind   string `json:"kind"`   // alert | record | dashboard | inline
	Expr   string `json:"expr"`
	// Verdict: same (same series, values within tolerance, same alerts), changed (same series, a value
	// beyond tolerance: MaxRelDiff), broken (no result where the baseline has one, an error, other series
	// or another set of pending/firing alerts: Reason says which selector or label).
	Verdict    string  `json:"verdict"`
	MaxRelDiff float64 `json:"max_rel_diff"`
	Reason     string  `json:"reason,omitempty"`
	// Series are the result's series count on the variant and on the baseline.
	Series         int `json:"series"`
	BaselineSeries int `json:"baseline_series"`
	// Firing and Pending are the alerts (their label sets) on the variant, for alerting rules.
	Firing  []string `json:"firing,omitempty"`
	Pending []string `json:"pending,omitempty"`
}

// ExperimentSnapshot is an experiment's state: its variants over the last complete window (or, before the
// first one completes, the window so far).
type ExperimentSnapshot struct {
	Name        string         `json:"name"`
	Mode        string         `json:"mode"`
	Baseline    string         `json:"baseline"`
	Active      string         `json:"active"`
	Window      time.Duration  `json:"window"`
	WindowStart time.Time      `json:"window_start"`
	WindowEnd   time.Time      `json:"window_end"`
	Complete    bool           `json:"complete"` // false while the first window is still running
	Variants    []VariantStats `json:"variants"`
	// Rejected are runtime variants that could not be rebuilt (persisted or in the desired-state file), with
	// why: reported, never fatal.
	Rejected []RejectedVariant `json:"rejected_variants,omitempty"`
}

// RejectedVariant is a runtime variant definition that does not build here.
type RejectedVariant struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Error  string `json:"error"`
}

// MarshalJSON writes the window as a duration ("1m0s"), the form runs take theirs in.
func (s ExperimentSnapshot) MarshalJSON() ([]byte, error) {
	type plain ExperimentSnapshot
	return json.Marshal(struct {
		plain
		Window string `json:"window"`
	}{plain(s), s.Window.String()})
}

// UnmarshalJSON reads the window as a duration string, or as nanoseconds (what older versions wrote).
func (s *ExperimentSnapshot) UnmarshalJSON(b []byte) error {
	type plain ExperimentSnapshot
	aux := struct {
		*plain
		Window json.RawMessage `json:"window"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s.Window = 0
	if len(aux.Window) == 0 || string(aux.Window) == "null" {
		return nil
	}
	var text string
	if err := json.Unmarshal(aux.Window, &text); err == nil {
		d, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("window: %w", err)
		}
		s.Window = d
		return nil
	}
	var ns int64
	if err := json.Unmarshal(aux.Window, &ns); err != nil {
		return fmt.Errorf("window: want a duration such as \"1m0s\": %w", err)
	}
	s.Window = time.Duration(ns)
	return nil
}

// Variant returns the named variant's stats.
func (s ExperimentSnapshot) Variant(name string) (VariantStats, bool) {
	for _, v := range s.Variants {
		if v.Name == name {
			return v, true
		}
	}
	return VariantStats{}, false
}

// ErrUnknownVariant is returned when a variant name is not one of the experiment's.
var ErrUnknownVariant = errors.New("unknown variant")

// Errors of runtime variant changes; InvalidChainError says what is wrong with a definition.
var (
	ErrVariantExists    = errors.New("variant exists")
	ErrVariantProtected = errors.New("variant cannot be removed")
	ErrVariantLimit     = errors.New("variant limit reached")
)

// Where a variant is defined.
const (
	SourceConfig       = "config"
	SourceAPI          = "api"
	SourceDesiredState = "desired_state"
)

// VariantDefinition is a variant added at runtime: a name and its processors in order, each a one-key map
// {type[/name]: config}, as in the experiment processor's variants config.
type VariantDefinition struct {
	Name       string                      `json:"name" yaml:"name"`
	Processors []map[string]map[string]any `json:"processors" yaml:"processors"`
}

// StepProblem is one problem of a chain of processors, at its step (1-based; 0 when it is about the whole
// definition: its name, its length).
type StepProblem struct {
	Step    int    `json:"step"`
	ID      string `json:"id,omitempty"` // the step's type[/name], when it has one
	Message string `json:"message"`
}

// InvalidChainError lists every problem of a variant definition.
type InvalidChainError struct {
	Variant  string
	Problems []StepProblem
}

func (e *InvalidChainError) Error() string {
	msgs := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		msgs = append(msgs, p.String())
	}
	return fmt.Sprintf("variant %q: %s", e.Variant, strings.Join(msgs, "; "))
}

// String says where the problem is and what it is: "processor 2 (filter/x): …".
func (p StepProblem) String() string {
	switch {
	case p.Step == 0:
		return p.Message
	case p.ID == "":
		return fmt.Sprintf("processor %d: %s", p.Step, p.Message)
	}
	return fmt.Sprintf("processor %d (%s): %s", p.Step, p.ID, p.Message)
}

// Experiment is what an experiment processor offers to the control extension. All methods are safe for
// concurrent use.
type Experiment interface {
	// Name is the processor's component ID (e.g. "experiment/process").
	Name() string
	Snapshot() ExperimentSnapshot
	// SetActive switches the variant whose output flows downstream (in shadow mode); every batch is routed
	// whole by one variant.
	SetActive(variant string) error
	// VariantSteps returns a variant's processors, in order, as configured (none for a pass-through).
	VariantSteps(variant string) ([]ProcessorStep, error)
	// AddVariant builds, starts and adds a variant (source: api or desired_state), measured from the next
	// whole window: an *InvalidChainError lists every problem of the definition, ErrVariantExists and
	// ErrVariantLimit say why it cannot be added. Every batch is run by the variants there were when it came.
	AddVariant(ctx context.Context, def VariantDefinition, source string) error
	// RemoveVariant stops and removes a runtime variant, once the batches running through it are done;
	// ErrVariantProtected for the baseline, the active variant or one defined in the config.
	RemoveVariant(ctx context.Context, name string) error
	// CheckVariant reports what AddVariant would find wrong with a definition, and whether the variant
	// limit leaves room for it, building its chain without starting it (nil: it would be added).
	CheckVariant(ctx context.Context, def VariantDefinition) error
}

// ProcessorStep is one processor of a variant: its component ID (type[/name]) and its configuration.
type ProcessorStep struct {
	ID     string         `json:"id"`
	Config map[string]any `json:"config"`
}

// Registry is implemented by the control extension; components register with it at Start and unregister at
// Shutdown.
type Registry interface {
	RegisterExperiment(e Experiment) (unregister func())
	RegisterSimulator(name string, s Simulator) (unregister func())
}

// FindRegistry returns the control extension id among a host's extensions, with a clear error when it is not
// configured or is not a phoenix_control extension.
func FindRegistry(extensions map[component.ID]component.Component, id component.ID) (Registry, error) {
	ext, ok := extensions[id]
	if !ok {
		return nil, fmt.Errorf("control: extension %s is not configured (add it to service.extensions)", id)
	}
	reg, ok := ext.(Registry)
	if !ok {
		return nil, fmt.Errorf("control: extension %s is not a phoenix_control extension", id)
	}
	return reg, nil
}
