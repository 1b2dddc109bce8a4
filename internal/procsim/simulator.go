// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package procsim is a seeded, deterministic model of the processes of one or more hosts: executables,
// command lines, owners, a process tree, priority classes, CPU, memory and disk behaviour, churn and chaos.
// It knows nothing of the collector; the simulated_process receiver turns its state into metrics.
package procsim // import "github.com/phoenix-platform/otelcol-phoenix/internal/procsim"

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Profile names a kind of load.
type Profile string

const (
	ProfileRealistic       Profile = "realistic"        // a typical Kubernetes node
	ProfileHighCardinality Profile = "high_cardinality" // many distinct executables, long command lines
	ProfileHighChurn       Profile = "high_churn"       // short-lived processes, new PIDs every interval
	ProfileChaos           Profile = "chaos"            // CPU spikes, memory leaks, kills and respawns
)

// Profiles lists every profile.
var Profiles = []Profile{ProfileRealistic, ProfileHighCardinality, ProfileHighChurn, ProfileChaos}

// ParseProfile checks a profile name.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown profile %q: want one of %v", s, Profiles)
}

// Rates are per process and per interval: the chance that a process is replaced (churn), starts a CPU
// spike, starts leaking memory, or is killed and restarted.
type Rates struct {
	Churn, Spike, Leak, Kill float64
}

// DefaultRates are each profile's rates.
func DefaultRates(p Profile) Rates {
	switch p {
	case ProfileHighChurn:
		return Rates{Churn: 0.2}
	case ProfileChaos:
		return Rates{Churn: 0.01, Spike: 0.01, Leak: 0.002, Kill: 0.002}
	default:
		return Rates{Churn: 0.002}
	}
}

// RateOverrides replace a profile's default rates where set.
type RateOverrides struct {
	Churn, Spike, Leak, Kill *float64
}

func (o RateOverrides) apply(r Rates) Rates {
	for _, f := range []struct {
		dst *float64
		src *float64
	}{{&r.Churn, o.Churn}, {&r.Spike, o.Spike}, {&r.Leak, o.Leak}, {&r.Kill, o.Kill}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return r
}

// Options configure a Simulator.
type Options struct {
	Profile     Profile
	Processes   int    // per host
	Hosts       int    // emulated hosts
	HostPrefix  string // host.name = HostPrefix + index, when Hosts > 1
	Seed        uint64
	Cores       int
	MemoryBytes uint64
	Interval    time.Duration // simulated time per Step
	Start       time.Time     // simulated clock before the first Step
	Rates       RateOverrides
}

// MaxProcesses bounds processes per host: ten times a very busy real host, and about 1.5 GB of simulator
// state, so that no config or PATCH can make the simulator take the node down.
const MaxProcesses = 100_000

// Validate lists every problem with the options.
func (o *Options) Validate() error {
	var errs []error
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		errs = append(errs, err)
	}
	if o.Processes < 1 || o.Processes > MaxProcesses {
		errs = append(errs, fmt.Errorf("processes %d: want 1..%d", o.Processes, MaxProcesses))
	}
	if o.Hosts < 1 || o.Hosts > 10_000 {
		errs = append(errs, fmt.Errorf("hosts %d: want 1..10000", o.Hosts))
	}
	if o.Cores < 1 || o.Cores > 4096 {
		errs = append(errs, fmt.Errorf("cores %d: want 1..4096", o.Cores))
	}
	if o.MemoryBytes < 1<<28 {
		errs = append(errs, fmt.Errorf("memory %d bytes: want at least 256 MiB", o.MemoryBytes))
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %s: want > 0", o.Interval))
	}
	for name, r := range map[string]*float64{"churn_rate": o.Rates.Churn, "spike_rate": o.Rates.Spike, "leak_rate": o.Rates.Leak, "kill_rate": o.Rates.Kill} {
		if r != nil && (*r < 0 || *r > 1) {
			errs = append(errs, fmt.Errorf("%s %v: want 0..1", name, *r))
		}
	}
	return errors.Join(errs...)
}

// jobShare is the share of a host's processes that are short-lived jobs.
func (o *Options) jobShare() float64 {
	if o.Profile == ProfileHighChurn {
		return 0.5
	}
	return 0.04
}

// Simulator is a set of simulated hosts. It implements control.Simulator; all methods are safe for
// concurrent use.
type Simulator struct {
	mu    sync.Mutex
	opts  Options
	hosts []*Host
}

var _ control.Simulator = (*Simulator)(nil)

// New builds the hosts and their initial processes.
func New(opts Options) (*Simulator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Simulator{opts: opts}
	cat := s.catalog()
	rates := opts.Rates.apply(DefaultRates(opts.Profile))
	for i := range opts.Hosts {
		s.hosts = append(s.hosts, newHost(fmt.Sprintf("%s%d", opts.HostPrefix, i), i, &s.opts, rates, cat))
	}
	return s, nil
}

// catalog is shared, read-only, by every host.
func (s *Simulator) catalog() *catalog {
	return newCatalog(s.opts.Profile, s.opts.Processes, rand.New(rand.NewPCG(s.opts.Seed, 0xc47a109)))
}

// Tick advances every host by one interval, then calls observe for each while no control call can change
// them. Process slices passed to observe are valid only during the call.
func (s *Simulator) Tick(observe func(h *Host)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hosts {
		h.Step()
		observe(h)
	}
}

// Status reports the profile and process counts.
func (s *Simulator) Status() control.SimulatorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := control.SimulatorStatus{Profile: string(s.opts.Profile), Processes: s.opts.Processes, Hosts: len(s.hosts)}
	for _, p := range Profiles {
		st.Profiles = append(st.Profiles, string(p))
	}
	for _, h := range s.hosts {
		st.Live += len(h.procs)
		st.Intervals = h.tick
	}
	return st
}

// SetProfile switches every host to another profile.
func (s *Simulator) SetProfile(name string) error {
	p, err := ParseProfile(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Profile = p
	cat := s.catalog()
	rates := s.opts.Rates.apply(DefaultRates(p))
	for _, h := range s.hosts {
		h.reset(rates, cat)
	}
	return nil
}

// SetProcessCount changes the number of processes per host.
func (s *Simulator) SetProcessCount(n int) error {
	if n < 1 || n > MaxProcesses {
		return fmt.Errorf("processes %d: want 1..%d", n, MaxProcesses)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Processes = n
	for _, h := range s.hosts {
		h.target = n
		h.fitTarget()
	}
	return nil
}

// InjectChaos applies ev to the matching processes of every host.
func (s *Simulator) InjectChaos(ev control.ChaosEvent) (int, error) {
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	if ev.Kind == control.ChaosCPUSpike && ev.Intervals == 0 {
		ev.Intervals = 5
	}
	var class Class
	if ev.Target.Class != "" {
		class, _ = ParseClass(ev.Target.Class) // validated above
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hosts {
		n += h.inject(ev, class)
	}
	if n == 0 {
		return 0, fmt.Errorf("no live process matches %+v", ev.Target)
	}
	return n, nil
}
