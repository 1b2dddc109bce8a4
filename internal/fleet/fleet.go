// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package fleet is what otelcol-phoenix agents tell an OpAMP server beyond OpAMP's standard messages: each
// experiment's per-variant figures, as a custom message of a custom capability. Any OpAMP server can read
// it (JSON); one that does not know the capability ignores it.
package fleet // import "github.com/phoenix-platform/otelcol-phoenix/internal/fleet"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

const (
	// Capability is the custom capability agents and controllers declare (a reverse FQDN, versioned).
	Capability = "io.github.phoenix-platform.experiments.v1"
	// FiguresType is the custom message type of an agent's report of its experiments' figures.
	FiguresType = "figures"
	// DesiredStateFile is the remote configuration file an agent takes its desired state from: the content
	// of a desired-state file (phoenix_control's desired_state).
	DesiredStateFile = "desired-state.yaml"
	// ContentType is the desired state's content type in a remote configuration.
	ContentType = "text/yaml"
	// MaxFiguresSize bounds a figures message (decoding refuses larger ones).
	MaxFiguresSize = 256 << 10
)

// Figures are one agent's experiments at one time.
type Figures struct {
	Node        string       `json:"node"`
	Version     string       `json:"version"`
	At          time.Time    `json:"at"`
	Experiments []Experiment `json:"experiments"`
}

// Experiment is an experiment's last complete window, per variant.
type Experiment struct {
	Name      string        `json:"name"`
	Baseline  string        `json:"baseline"`
	Active    string        `json:"active"`
	Window    time.Duration `json:"window_ns"`
	WindowEnd time.Time     `json:"window_end"`
	Complete  bool          `json:"complete"`
	Variants  []Variant     `json:"variants"`
}

// Variant is one variant's figures: what a fleet sums (series, data points, bytes, cost) and what it takes
// the worst node of (fidelity, rule fidelity, critical visibility).
type Variant struct {
	Name                string   `json:"name"`
	Source              string   `json:"source,omitempty"`
	Pending             bool     `json:"pending,omitempty"`
	Series              uint64   `json:"series"`
	DatapointsPerSecond float64  `json:"datapoints_per_second"`
	BytesPerSecond      float64  `json:"bytes_per_second"`
	Fidelity            *float64 `json:"fidelity"`
	CriticalVisible     float64  `json:"critical_visible"`
	RuleFidelity        *float64 `json:"rule_fidelity,omitempty"`
	CostMonthly         *float64 `json:"cost_monthly,omitempty"`
	Currency            string   `json:"currency,omitempty"`
	Errors              uint64   `json:"errors,omitempty"`
}

// FromSnapshot is an experiment's figures as agents report them.
func FromSnapshot(s control.ExperimentSnapshot) Experiment {
	e := Experiment{Name: s.Name, Baseline: s.Baseline, Active: s.Active, Window: s.Window, WindowEnd: s.WindowEnd,
		Complete: s.Complete, Variants: make([]Variant, 0, len(s.Variants))}
	for _, v := range s.Variants {
		fv := Variant{Name: v.Name, Source: v.Source, Pending: v.Pending, Series: v.Series,
			DatapointsPerSecond: v.DatapointsPerSecond, BytesPerSecond: v.BytesPerSecond, Fidelity: v.Fidelity,
			CriticalVisible: v.CriticalVisible, Errors: v.Errors}
		if v.Rules != nil {
			fv.RuleFidelity = v.Rules.Fidelity
		}
		if v.Cost != nil {
			fv.CostMonthly, fv.Currency = &v.Cost.Monthly, v.Cost.Currency
		}
		e.Variants = append(e.Variants, fv)
	}
	return e
}

// Encode writes a figures message.
func Encode(f Figures) ([]byte, error) { return json.Marshal(f) }

// Decode reads a figures message strictly: bounded, one JSON object, known fields, finite numbers.
func Decode(data []byte) (Figures, error) {
	if len(data) > MaxFiguresSize {
		return Figures{}, fmt.Errorf("figures: %d bytes, more than %d", len(data), MaxFiguresSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data)) // unknown fields pass: a newer agent may say more
	var f Figures
	if err := dec.Decode(&f); err != nil {
		return Figures{}, fmt.Errorf("figures: %w", err)
	}
	if dec.More() {
		return Figures{}, errors.New("figures: one JSON object expected")
	}
	seen := map[string]bool{}
	for _, e := range f.Experiments {
		if seen[e.Name] {
			return Figures{}, fmt.Errorf("figures: experiment %q twice", e.Name)
		}
		seen[e.Name] = true
		for _, v := range e.Variants {
			if err := v.check(); err != nil {
				return Figures{}, fmt.Errorf("figures: %s/%s: %w", e.Name, v.Name, err)
			}
		}
	}
	return f, nil
}

// maxSeries and maxRate bound what one agent may claim: far beyond any node, and small enough that a
// fleet's sums neither wrap nor overflow.
const (
	maxSeries = 1e12
	maxRate   = 1e15
)

// check refuses figures no agent measures: ratios outside [0,1], counts and rates beyond any node.
func (v Variant) check() error {
	for _, r := range []*float64{v.Fidelity, v.RuleFidelity, &v.CriticalVisible} {
		if r != nil && !(*r >= 0 && *r <= 1) { // NaN too
			return fmt.Errorf("a ratio %v outside 0..1", *r)
		}
	}
	for _, x := range []*float64{&v.DatapointsPerSecond, &v.BytesPerSecond, v.CostMonthly} {
		if x != nil && !(*x >= 0 && *x <= maxRate) {
			return fmt.Errorf("%v: want 0..%g", *x, maxRate)
		}
	}
	if v.Series > maxSeries {
		return fmt.Errorf("series %d: want at most %g", v.Series, maxSeries)
	}
	return nil
}

// NodeUID is the OpAMP instance UID of the otelcol-phoenix agent on node (phoenix_control's default): the
// same on every start, and what phoenix_fleet's node identity expects of a node's agent.
func NodeUID(node string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("otelcol-phoenix:node:"+node))
}
