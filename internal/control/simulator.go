// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package control is the contract between otelcol-phoenix components and the phoenix_control extension:
// plain data types and interfaces, no HTTP and no collector host types. Components implement the interfaces;
// the extension finds them and drives them.
package control // import "github.com/phoenix-platform/otelcol-phoenix/internal/control"

import (
	"errors"
	"fmt"
)

// ChaosKind names a fault that can be injected into simulated processes.
type ChaosKind string

const (
	// ChaosCPUSpike makes the targets burn CPU close to every core for a number of intervals.
	ChaosCPUSpike ChaosKind = "cpu_spike"
	// ChaosMemoryLeak makes the targets' resident memory grow every interval until they are killed.
	ChaosMemoryLeak ChaosKind = "memory_leak"
	// ChaosKill kills the targets; their supervisor restarts them with a new PID.
	ChaosKill ChaosKind = "kill"
)

// ChaosKinds lists every ChaosKind.
var ChaosKinds = []ChaosKind{ChaosCPUSpike, ChaosMemoryLeak, ChaosKill}

// ChaosTarget selects processes. Set fields are combined with AND; at least one must be set.
type ChaosTarget struct {
	PID        int64  `json:"pid,omitempty"`
	Class      string `json:"class,omitempty"`      // critical, high, normal or low
	Executable string `json:"executable,omitempty"` // process.executable.name
}

// ChaosEvent is one fault to inject.
type ChaosEvent struct {
	Kind   ChaosKind   `json:"kind"`
	Target ChaosTarget `json:"target"`
	// Intervals is how long a cpu_spike lasts, in collection intervals (0 means the default, 5).
	Intervals int `json:"intervals,omitempty"`
}

// ErrNoTarget is returned when a ChaosEvent selects nothing to act on.
var ErrNoTarget = errors.New("chaos target: set at least one of pid, class, executable")

// Validate checks the event's shape (not whether any process matches).
func (e ChaosEvent) Validate() error {
	var errs []error
	switch e.Kind {
	case ChaosCPUSpike, ChaosMemoryLeak, ChaosKill:
	default:
		errs = append(errs, fmt.Errorf("chaos kind %q: want one of %v", e.Kind, ChaosKinds))
	}
	if e.Target == (ChaosTarget{}) {
		errs = append(errs, ErrNoTarget)
	}
	if e.Target.Class != "" && !validClass(e.Target.Class) {
		errs = append(errs, fmt.Errorf("chaos target class %q: want critical, high, normal or low", e.Target.Class))
	}
	if e.Intervals < 0 || e.Intervals > 1000 {
		errs = append(errs, fmt.Errorf("chaos intervals %d: want 0..1000", e.Intervals))
	}
	return errors.Join(errs...)
}

func validClass(c string) bool {
	switch c {
	case "critical", "high", "normal", "low":
		return true
	}
	return false
}

// SimulatorStatus describes a simulated_process receiver at one moment.
type SimulatorStatus struct {
	Profile   string   `json:"profile"`
	Profiles  []string `json:"profiles"`
	Processes int      `json:"processes"` // target per host
	Live      int      `json:"live"`      // live processes across all hosts
	Hosts     int      `json:"hosts"`
	Intervals uint64   `json:"intervals"` // intervals simulated so far
}

// Simulator is what a simulated_process receiver offers to the control extension. Changes take effect at the
// next collection interval. Every method is safe for concurrent use.
type Simulator interface {
	Status() SimulatorStatus
	// SetProfile replaces the process population with the named profile's (PIDs are never reused).
	SetProfile(profile string) error
	// SetProcessCount sets the number of processes per host, spawning or killing low-priority ones.
	SetProcessCount(n int) error
	// InjectChaos applies ev to every matching process on every host and reports how many it affected.
	InjectChaos(ev ChaosEvent) (affected int, err error)
}
