// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

const maxHistory = 50 // runs kept per experiment

// runManager keeps each experiment's runs (at most one in progress), steps them, and persists their history.
type runManager struct {
	reg    *registry
	now    func() time.Time
	random io.Reader // run IDs' suffixes

	mu      sync.Mutex
	history map[string][]*runs.Run // per experiment, oldest first
}

func newRunManager(reg *registry) *runManager {
	return &runManager{reg: reg, now: time.Now, random: rand.Reader, history: map[string][]*runs.Run{}}
}

func runsKey(experiment string) string { return "runs/" + experiment }

// loaded reads an experiment's persisted history when it registers; a run that was in progress when the
// collector stopped is marked failed (its window figures were in memory), and a canary gives back the
// variant it replaced. False: the history is there but does not decode (reported; a new one starts).
func (m *runManager) loaded(e control.Experiment) bool {
	experiment := e.Name()
	s := m.reg.currentStore()
	if s == nil {
		return true
	}
	data, err := s.Get(context.Background(), runsKey(experiment))
	if err != nil || len(data) == 0 {
		return true
	}
	var hist []*runs.Run
	if err := json.Unmarshal(data, &hist); err != nil {
		m.reg.unreadable(runsKey(experiment), err)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.history[experiment] = nil
		m.persist(experiment) // a new history, over the value no restart could read either
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range hist {
		r.Interrupt(e, m.switcher(experiment), m.now())
	}
	m.history[experiment] = hist
	m.persist(experiment)
	return true
}

// persist writes an experiment's history (under m.mu).
func (m *runManager) persist(experiment string) {
	s := m.reg.currentStore()
	if s == nil {
		return
	}
	data, err := json.Marshal(m.history[experiment])
	if err == nil {
		err = s.Set(context.Background(), runsKey(experiment), data)
	}
	if err != nil {
		m.reg.logger.Warn("run history not persisted", zap.String("experiment", experiment), zap.Error(err))
	}
}

func (m *runManager) switcher(experiment string) runs.Switcher {
	return func(v string) error {
		_, err := m.reg.switchActive(context.Background(), experiment, v, "run")
		if errors.Is(err, errNotPersisted) {
			// The variant is switched: the run must follow it (a failed run would leave its candidate
			// active), only a restart will not remember it.
			m.reg.logger.Warn("run switched the variant, but the switch was not persisted", zap.String("experiment", experiment), zap.Error(err))
			return nil
		}
		return err
	}
}

// judging is the run in progress whose candidate is variant ("" when none).
func (m *runManager) judging(experiment, variant string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.history[experiment] {
		if !r.Phase.Terminal() && r.Spec.Candidate == variant {
			return r.ID
		}
	}
	return ""
}

// start creates a run; one at a time per experiment.
func (m *runManager) start(experiment string, spec runs.Spec) (*runs.Run, error) {
	e, err := m.reg.experiment(experiment)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.history[experiment] {
		if !r.Phase.Terminal() {
			return nil, fmt.Errorf("%w: %s is %s", runs.ErrBusy, r.ID, r.Phase)
		}
	}
	now := m.now()
	id, err := m.newID(experiment, now)
	if err != nil {
		return nil, err
	}
	r, err := runs.New(id, e, spec, now)
	if err != nil {
		return nil, err
	}
	h := append(m.history[experiment], r)
	if len(h) > maxHistory {
		h = h[len(h)-maxHistory:]
	}
	m.history[experiment] = h
	// Stored before a canary switches: a crash right after finds the run, which gives the variant back.
	m.persist(experiment)
	r.Step(e, m.switcher(experiment), now) // pending -> initializing at once
	m.persist(experiment)
	m.reg.events.Publish(event{Type: "run", Data: *r})
	return r, nil
}

// newID names a run by its start second, for people, and 48 random bits: a restart in the same second must
// not reuse the name of a run it interrupted. A name already in the history is drawn again (under m.mu).
func (m *runManager) newID(experiment string, now time.Time) (string, error) {
	b := make([]byte, 6)
	for {
		if _, err := io.ReadFull(m.random, b); err != nil {
			return "", fmt.Errorf("run id: %w", err)
		}
		id := fmt.Sprintf("run-%s-%x", now.UTC().Format("20060102T150405"), b)
		if _, err := m.find(experiment, id); err != nil {
			return id, nil
		}
	}
}

// tick steps every run in progress.
func (m *runManager) tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for experiment, hist := range m.history {
		e, err := m.reg.experiment(experiment)
		if err != nil {
			continue
		}
		for _, r := range hist {
			if !r.Phase.Terminal() && r.Step(e, m.switcher(experiment), now) {
				m.persist(experiment)
				m.reg.events.Publish(event{Type: "run", Data: *r})
			}
		}
	}
}

func (m *runManager) find(experiment, id string) (*runs.Run, error) {
	for _, r := range m.history[experiment] {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: run %q of %s", errNotFound, id, experiment)
}

func (m *runManager) get(experiment, id string) (runs.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(experiment, id)
	if err != nil {
		return runs.Run{}, err
	}
	return *r, nil
}

func (m *runManager) list(experiment string) []runs.Run {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]runs.Run, 0, len(m.history[experiment]))
	for _, r := range m.history[experiment] {
		out = append(out, *r)
	}
	return out
}

func (m *runManager) cancel(experiment, id string) (runs.Run, error) {
	e, err := m.reg.experiment(experiment)
	if err != nil {
		return runs.Run{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(experiment, id)
	if err != nil {
		return runs.Run{}, err
	}
	if err := r.Cancel(e, m.switcher(experiment), m.now()); err != nil {
		return runs.Run{}, fmt.Errorf("%w: %w", errConflict, err)
	}
	m.persist(experiment)
	m.reg.events.Publish(event{Type: "run", Data: *r})
	return *r, nil
}

// errConflict: the request contradicts the state (a run already running, a variant name taken, a limit
// reached, a variant that cannot be removed).
var errConflict = errors.New("conflict")

// HTTP handlers.

func (a *api) startRun(w http.ResponseWriter, r *http.Request) {
	if _, err := a.reg.experiment(r.PathValue("name")); err != nil {
		writeFailure(w, err)
		return
	}
	var spec runs.Spec
	if !httpjson.Decode(w, r, a.maxBody, &spec) {
		return
	}
	run, err := a.reg.runs.start(r.PathValue("name"), spec)
	switch {
	case errors.Is(err, runs.ErrBusy):
		httpjson.Error(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, runs.ErrInvalid):
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
	case err != nil:
		writeFailure(w, err)
	default:
		httpjson.Write(w, http.StatusCreated, run)
	}
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request) {
	if _, err := a.reg.experiment(r.PathValue("name")); err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"runs": a.reg.runs.list(r.PathValue("name"))})
}

func (a *api) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := a.reg.runs.get(r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, run)
}

func (a *api) cancelRun(w http.ResponseWriter, r *http.Request) {
	run, err := a.reg.runs.cancel(r.PathValue("name"), r.PathValue("id"))
	if errors.Is(err, errConflict) {
		httpjson.Error(w, http.StatusConflict, "conflict", err.Error())
		return
	}
	if err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, run)
}
