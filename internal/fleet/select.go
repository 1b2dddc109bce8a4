// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package fleet // import "github.com/phoenix-platform/otelcol-phoenix/internal/fleet"

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"
)

// DefaultReportInterval is how often an agent is taken to report when the controller does not know better:
// the phoenix_control extension's default opamp.report_interval.
const DefaultReportInterval = 30 * time.Second

// SilentReports is how many report intervals without a report make an agent silent: one late report is
// noise, three are an agent gone.
const SilentReports = 3

// Agent is the controller's view of one agent.
type Agent struct {
	ID        string            // OpAMP instance UID: stable across the agent's restarts
	Node      string            // host name, for people
	Labels    map[string]string // from its description, for selectors
	Connected bool
	// LastReport is when its last figures arrived; ReportInterval how often it reports (0:
	// DefaultReportInterval).
	LastReport     time.Time
	ReportInterval time.Duration
	// Figures are its last report; nil: not otelcol-phoenix (e.g. an OpAMP-managed otelcol-contrib) or
	// nothing reported yet. Such agents are shown but never targeted.
	Figures *Figures
	// ApplyError is why it refused the last desired state it was sent ("" when applied or not answered).
	ApplyError string
}

// name is what messages call the agent.
func (a Agent) name() string {
	if a.Node != "" {
		return a.Node
	}
	return a.ID
}

func (a Agent) experiment(name string) (Experiment, bool) {
	if a.Figures == nil {
		return Experiment{}, false
	}
	for _, e := range a.Figures.Experiments {
		if e.Name == name {
			return e, true
		}
	}
	return Experiment{}, false
}

// silent: no report for more than SilentReports intervals (or none at all: fail closed).
func (a Agent) silent(now time.Time) bool {
	interval := a.ReportInterval
	if interval <= 0 {
		interval = DefaultReportInterval
	}
	return a.LastReport.IsZero() || now.Sub(a.LastReport) > SilentReports*interval
}

func (e Experiment) variant(name string) (Variant, bool) {
	for _, v := range e.Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// targets says whether a rollout of the spec drives the agent at all: an otelcol-phoenix agent that runs
// the experiment and matches the selector.
func (s RolloutSpec) targets(a Agent) bool {
	if _, ok := a.experiment(s.Experiment); !ok {
		return false
	}
	for k, v := range s.Selector {
		if got, ok := a.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Eligible are the agents a wave may take now — targeted, connected and reporting — in the rollout's
// stable order.
func (s RolloutSpec) Eligible(agents []Agent, now time.Time) []Agent {
	out := make([]Agent, 0, len(agents))
	seen := make(map[string]bool, len(agents))
	for _, a := range agents {
		if a.ID == "" || seen[a.ID] || !a.Connected || a.silent(now) || !s.targets(a) {
			continue
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Agent) int {
		return cmp.Or(cmp.Compare(rank(s.Experiment, a.ID), rank(s.Experiment, b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// rank orders agents stably per experiment — FNV-1a 64 of experiment and agent ID, as the desired-state
// file's percent rollouts hash nodes — so a restarted controller picks the same agents, and different
// experiments start on different nodes.
func rank(experiment, id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(experiment + "\x00" + id))
	return h.Sum64()
}

// size is the wave's number of agents out of n eligible: at least one, at most n.
func (w Wave) size(n int) int {
	k := w.Count
	if w.Percent > 0 {
		k = int(math.Ceil(w.Percent * float64(n) / 100))
	}
	return min(max(k, 1), n)
}

// ineligible says why agents are not eligible, for a rollout that finds none.
func (s RolloutSpec) ineligible(agents []Agent, now time.Time) string {
	var notPhoenix, noExperiment, unselected, away int
	for _, a := range agents {
		_, hasExperiment := a.experiment(s.Experiment)
		switch {
		case a.Figures == nil:
			notPhoenix++
		case !hasExperiment:
			noExperiment++
		case !s.targets(a):
			unselected++
		case !a.Connected || a.silent(now):
			away++
		}
	}
	return fmt.Sprintf("%d agents: %d not otelcol-phoenix (or not reporting yet), %d without %s, %d not matching the selector, %d disconnected or silent",
		len(agents), notPhoenix, noExperiment, s.Experiment, unselected, away)
}

// listNames names a few agents and counts the rest, so messages stay short on a large fleet.
func listNames(names []string) string {
	const shown = 5
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}
