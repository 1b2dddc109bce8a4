// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// store keeps small values across restarts (a storage extension's client), or nothing.
type store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
}

// registry is the extension's domain state: registered experiments and simulators, and the persisted active
// variants. It knows nothing of HTTP.
type registry struct {
	logger *zap.Logger

	// switchMu orders every switch (API, run, desired-state file, restore) with its persistence and its
	// announcement, so what runs, what is stored and what is answered are the same.
	switchMu sync.Mutex

	mu          sync.Mutex
	experiments map[string]control.Experiment
	simulators  map[string]control.Simulator
	store       store // nil: switches last until restart
	events      *broker
	desired     *desiredState // nil: no desired-state file
	runs        *runManager
	rejected    map[string][]control.RejectedVariant // by experiment: runtime variants that did not build
}

var _ control.Registry = (*registry)(nil)

func newRegistry(logger *zap.Logger) *registry {
	r := &registry{logger: logger, experiments: map[string]control.Experiment{}, simulators: map[string]control.Simulator{},
		events: newBroker(), rejected: map[string][]control.RejectedVariant{}}
	r.runs = newRunManager(r)
	return r
}

func activeKey(experiment string) string { return "active/" + experiment }

// currentStore is the persistence in use, or nil.
func (r *registry) currentStore() store {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.store
}

// setStore attaches persistence and applies what it holds to the experiments already registered.
func (r *registry) setStore(s store) {
	r.mu.Lock()
	r.store = s
	exps := make([]control.Experiment, 0, len(r.experiments))
	for _, e := range r.experiments {
		exps = append(exps, e)
	}
	r.mu.Unlock()
	for _, e := range exps {
		r.restoreVariants(e)
		r.restoreSwitch(e, true, true)
	}
}

// restoreSwitch applies e's persisted active variant (active) and run history (runs). A history that does
// not decode was damaged in place (bbolt keeps no checksum of values): a canary may have been in progress,
// its candidate persisted as active, so e goes back to the variant it had before, persisted again.
func (r *registry) restoreSwitch(e control.Experiment, active, runs bool) {
	before := e.Snapshot().Active
	if active {
		r.restore(e)
	}
	if !runs || r.runs.loaded(e) || e.Snapshot().Active == before {
		return
	}
	if _, err := r.switchActive(context.Background(), e.Name(), before, "storage"); err != nil && !errors.Is(err, errNotPersisted) {
		r.logger.Error("could not go back to the variant in force before the damaged state was read",
			zap.String("experiment", e.Name()), zap.String("variant", before), zap.Error(err))
	}
}

// unreadable reports a persisted value that does not decode: logged, and damage in the storage status.
func (r *registry) unreadable(key string, err error) {
	r.logger.Error("persisted state unreadable (damaged in place): ignored", zap.String("key", key), zap.Error(err))
	if s, ok := r.currentStore().(*stateStore); ok {
		s.unreadable(key, err)
	}
}

// storageHealth is the state file's status and error count.
func (r *registry) storageHealth() (storageStatus, uint64) {
	switch s := r.currentStore().(type) {
	case nil:
		return storageStatus{Status: statusNone}, 0
	case *stateStore:
		return s.health()
	default: // an in-memory store (tests) has no file to damage
		return storageStatus{Status: statusOK}, 0
	}
}

// RegisterExperiment implements control.Registry: a persisted switch overrides the configured active variant.
func (r *registry) RegisterExperiment(e control.Experiment) func() {
	r.mu.Lock()
	r.experiments[e.Name()] = e
	desired := r.desired
	r.mu.Unlock()
	r.restoreVariants(e) // before the switch: the persisted active variant may be one of them
	if desired != nil {
		desired.buildVariants(e) // so may it be one of the file's
	}
	r.restoreSwitch(e, true, true) // an interrupted canary gives its variant back
	if desired != nil {
		desired.registered(e) // the file outranks both
	}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.experiments[e.Name()] == e {
			delete(r.experiments, e.Name())
			delete(r.rejected, e.Name())
		}
	}
}

func (r *registry) restore(e control.Experiment) {
	s := r.currentStore()
	if s == nil {
		return
	}
	r.switchMu.Lock()
	defer r.switchMu.Unlock()
	v, err := s.Get(context.Background(), activeKey(e.Name()))
	if err != nil || len(v) == 0 {
		return
	}
	if err := e.SetActive(string(v)); err == nil {
		r.events.Publish(event{Type: "switch", Data: switchEvent{Experiment: e.Name(), Variant: string(v), Source: "storage"}})
	} else {
		r.logger.Warn("persisted active variant no longer exists; keeping the configured one",
			zap.String("experiment", e.Name()), zap.String("variant", string(v)), zap.Error(err))
	}
}

// RegisterSimulator implements control.Registry.
func (r *registry) RegisterSimulator(name string, s control.Simulator) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.simulators[name] = s
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.simulators[name] == s {
			delete(r.simulators, name)
		}
	}
}

var (
	errNotFound = errors.New("not found")
	errInvalid  = errors.New("invalid")
)

func (r *registry) experimentNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.experiments))
	for n := range r.experiments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *registry) experiment(name string) (control.Experiment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.experiments[name]
	if !ok {
		return nil, fmt.Errorf("%w: experiment %q", errNotFound, name)
	}
	return e, nil
}

// errNotPersisted: the switch happened, but storage failed (it will not survive a restart).
var errNotPersisted = errors.New("switched, but not persisted")

// setActive is an API switch.
func (r *registry) setActive(ctx context.Context, name, variant string) (control.ExperimentSnapshot, error) {
	return r.switchActive(ctx, name, variant, "api")
}

// switchActive switches a variant, persists and announces the switch, and answers the experiment as it left
// it, all under switchMu; source says who switched (api, run, desired_state). An unknown variant changes
// nothing.
func (r *registry) switchActive(ctx context.Context, name, variant, source string) (control.ExperimentSnapshot, error) {
	e, err := r.experiment(name)
	if err != nil {
		return control.ExperimentSnapshot{}, err
	}
	r.switchMu.Lock()
	defer r.switchMu.Unlock()
	if err := e.SetActive(variant); err != nil {
		if errors.Is(err, control.ErrUnknownVariant) {
			return control.ExperimentSnapshot{}, fmt.Errorf("%w: %w", errInvalid, err)
		}
		return control.ExperimentSnapshot{}, err
	}
	var persistErr error
	if s := r.currentStore(); s != nil {
		if err := s.Set(ctx, activeKey(name), []byte(variant)); err != nil {
			persistErr = fmt.Errorf("%w: %w", errNotPersisted, err)
		}
	}
	r.events.Publish(event{Type: "switch", Data: switchEvent{Experiment: name, Variant: variant, Source: source}})
	return e.Snapshot(), persistErr
}

func (r *registry) simulatorNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.simulators))
	for n := range r.simulators {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *registry) simulator(name string) (control.Simulator, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.simulators[name]
	if !ok {
		return nil, fmt.Errorf("%w: simulator %q", errNotFound, name)
	}
	return s, nil
}

// switchEvent is published when the active variant changes.
type switchEvent struct {
	Experiment string `json:"experiment"`
	Variant    string `json:"variant"`
	Source     string `json:"source"` // api, run, desired_state or storage
}
