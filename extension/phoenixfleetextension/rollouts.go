// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/sse"
)

// store keeps the rollouts across restarts (a storage extension's client), or nothing.
type store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
}

const rolloutsKey = "fleet/rollouts"

// maxRolloutHistory bounds the rollouts kept.
const maxRolloutHistory = 50

// rollouts runs the fleet rollouts over the agents table: it steps each one as agents report and turns
// what they decide into each agent's desired state. The last rollout of an experiment owns that
// experiment's part of every agent's desired state, ended or not (a promotion stays in force).
type rollouts struct {
	agents *agents
	logger *zap.Logger
	report time.Duration // agents' report interval: silent for three, an agent has dropped off
	now    func() time.Time

	mu    sync.Mutex
	list  []*fleet.Rollout // oldest first
	store store
	// graceUntil: after a restart, the agents have until then to reconnect and report before the rollouts
	// judge them (they would all look gone).
	graceUntil time.Time
	storageErr string // why storage is not in use, when configured
	damage     string // the damage found at start (the file moved aside)

	events *sse.Broker // a rollout that changed is published as a "rollout" event
}

func newRollouts(t *agents, logger *zap.Logger, report time.Duration) *rollouts {
	return &rollouts{agents: t, logger: logger, report: report, now: time.Now, events: sse.NewBroker()}
}

// load reads the persisted rollouts: a rollout in progress resumes at its persisted wave.
func (m *rollouts) load(ctx context.Context, s store) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.store = s
	data, err := s.Get(ctx, rolloutsKey)
	if err != nil {
		m.logger.Error("persisted rollouts unreadable; starting without them", zap.Error(err))
		m.storageErr = "reading the rollouts: " + err.Error()
		return
	}
	if len(data) == 0 {
		return
	}
	var list []*fleet.Rollout
	if err := json.Unmarshal(data, &list); err != nil {
		m.logger.Warn("persisted rollouts unreadable; starting without them", zap.Error(err))
		return
	}
	m.list = list
	m.graceUntil = m.now().Add(3 * m.report)
	for _, r := range list {
		r.Restarted(m.graceUntil)
		if !r.Phase.Terminal() {
			m.logger.Info("rollout resumed", zap.String("rollout", r.ID), zap.Int("wave", r.Wave+1))
		}
	}
}

// persist writes the rollouts (under m.mu).
func (m *rollouts) persist() {
	if m.store == nil {
		return
	}
	data, err := json.Marshal(m.list)
	if err == nil {
		err = m.store.Set(context.Background(), rolloutsKey, data)
	}
	if err != nil {
		m.logger.Warn("rollouts not persisted", zap.Error(err))
		m.storageErr = "writing the rollouts: " + err.Error()
		return
	}
	m.storageErr = ""
}

// storage says how persistence is doing: none, ok, or why not (under m.mu).
func (m *rollouts) storage(configured bool) string {
	switch {
	case m.storageErr != "":
		return "unavailable: " + m.storageErr
	case m.store == nil && !configured:
		return "none"
	case m.store == nil:
		return "pending"
	case m.damage != "":
		return "ok, " + m.damage
	}
	return "ok"
}

var errBusy = errors.New("a rollout of this experiment is in progress")

// start creates a rollout; one in progress per experiment.
func (m *rollouts) start(spec fleet.RolloutSpec) (fleet.Rollout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.list {
		if r.Spec.Experiment == spec.Experiment && !r.Phase.Terminal() {
			return fleet.Rollout{}, fmt.Errorf("%w: %s is %s", errBusy, r.ID, r.Phase)
		}
	}
	now := m.now()
	if err := spec.Validate(); err != nil {
		return fleet.Rollout{}, err
	}
	if !m.anyoneHas(now, spec) {
		return fleet.Rollout{}, fmt.Errorf("%w: no agent reports experiment %q with a variant %q (see GET /api/v1/fleet/agents)",
			fleet.ErrInvalid, spec.Experiment, spec.Candidate)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	r, err := fleet.NewRollout(fmt.Sprintf("rollout-%s-%x", now.UTC().Format("20060102T150405"), b), spec, now)
	if err != nil {
		return fleet.Rollout{}, err
	}
	m.list = append(m.list, r)
	if len(m.list) > maxRolloutHistory {
		m.list = m.list[len(m.list)-maxRolloutHistory:]
	}
	m.stepLocked(now)
	m.persist()
	m.events.Publish(sse.Event{Type: "rollout", Data: clone(r)})
	return clone(r), nil
}

// anyoneHas says whether some agent reports the experiment with the candidate: a typo is refused at once
// rather than found at the apply timeout.
func (m *rollouts) anyoneHas(now time.Time, spec fleet.RolloutSpec) bool {
	for _, a := range m.view(now) {
		if a.Figures == nil {
			continue
		}
		for _, e := range a.Figures.Experiments {
			if e.Name != spec.Experiment {
				continue
			}
			for _, v := range e.Variants {
				if v.Name == spec.Candidate {
					return true
				}
			}
		}
	}
	return false
}

// find is a rollout by ID (under m.mu).
func (m *rollouts) find(id string) *fleet.Rollout {
	for _, r := range m.list {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// act applies an operator's action (resume, cancel, rollback, pause) to a rollout.
func (m *rollouts) act(id, action string) (fleet.Rollout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.find(id)
	if r == nil {
		return fleet.Rollout{}, fmt.Errorf("%w: rollout %q", errNotFound, id)
	}
	now := m.now()
	var err error
	switch action {
	case "resume":
		err = r.Resume(now, m.view(now))
	case "cancel":
		err = r.Cancel(now)
	case "rollback":
		err = r.Rollback(now, "by the API")
	case "pause":
		err = r.Pause(now, "by the API")
	}
	if err != nil {
		return clone(r), err
	}
	m.stepLocked(now)
	m.persist()
	m.events.Publish(sse.Event{Type: "rollout", Data: clone(r)})
	return clone(r), nil
}

// snapshot is every rollout, oldest first.
func (m *rollouts) snapshot() []fleet.Rollout {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]fleet.Rollout, 0, len(m.list))
	for _, r := range m.list {
		out = append(out, clone(r))
	}
	return out
}

// clone is a deep copy of a rollout (under m.mu), for readers outside the lock: its slices and maps are
// the rollout's own, which steps change.
func clone(r *fleet.Rollout) fleet.Rollout {
	data, err := json.Marshal(r)
	var c fleet.Rollout
	if err == nil && json.Unmarshal(data, &c) == nil {
		return c
	}
	return fleet.Rollout{ID: r.ID, Spec: r.Spec, Phase: r.Phase, Reason: r.Reason} // a rollout always encodes
}

// tick steps every rollout and hands each agent its desired state.
func (m *rollouts) tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stepLocked(now)
}

func (m *rollouts) stepLocked(now time.Time) {
	view := m.view(now)
	var changed []fleet.Rollout
	for _, r := range m.list {
		if now.Before(m.graceUntil) {
			break // the desired states still go out: agents keep what the rollouts decided
		}
		if !r.Phase.Terminal() && r.Step(now, view) {
			changed = append(changed, clone(r))
		}
	}
	if len(changed) > 0 {
		m.persist()
	}
	for _, r := range changed {
		m.events.Publish(sse.Event{Type: "rollout", Data: r})
	}
	m.push(view)
}

// view is the agents as the rollouts see them.
func (m *rollouts) view(now time.Time) []fleet.Agent {
	list := m.agents.list()
	out := make([]fleet.Agent, 0, len(list))
	for _, a := range list {
		out = append(out, a.fleetAgent(now, 3*m.report, m.report))
	}
	return out
}

// push hands each phoenix agent the desired state its experiments' rollouts decide (nothing for an agent
// no rollout targets). For each experiment the newest rollout decides, except for an agent it leaves on the
// baseline while an earlier one still holds it on its candidate (a promotion, earlier waves): starting a
// rollout does not undo the last one's promotion on the agents outside its waves.
func (m *rollouts) push(view []fleet.Agent) {
	byExperiment := map[string][]*fleet.Rollout{} // newest first
	for i := len(m.list) - 1; i >= 0; i-- {
		r := m.list[i]
		byExperiment[r.Spec.Experiment] = append(byExperiment[r.Spec.Experiment], r)
	}
	experiments := make([]string, 0, len(byExperiment))
	for e := range byExperiment {
		experiments = append(experiments, e)
	}
	sort.Strings(experiments)
	byID := map[string]*agent{}
	for _, a := range m.agents.list() {
		byID[a.uid] = a
	}
	for _, fa := range view {
		desired := map[string]any{}
		for _, e := range experiments {
			if v, ok := decide(byExperiment[e], fa); ok {
				desired[e] = map[string]any{"active": v}
			}
		}
		if len(desired) == 0 {
			continue
		}
		body, err := yaml.Marshal(map[string]any{"experiments": desired})
		if err != nil {
			continue
		}
		if a := byID[fa.ID]; a != nil {
			a.setDesired(context.Background(), body)
		}
	}
}

// decide is the variant an agent runs for one experiment, given its rollouts newest first.
func decide(rollouts []*fleet.Rollout, a fleet.Agent) (string, bool) {
	v, ok := rollouts[0].Desired(a)
	if !ok || v == rollouts[0].Spec.Candidate {
		return v, ok
	}
	for _, earlier := range rollouts[1:] {
		if ev, held := earlier.Desired(a); held && ev == earlier.Spec.Candidate {
			return ev, true
		}
	}
	return v, true
}

// fleetAgent is the agent as a rollout sees it.
func (a *agent) fleetAgent(now time.Time, silence, report time.Duration) fleet.Agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	report = a.reportInterval(report)
	fa := fleet.Agent{ID: a.uid, Node: a.node, Labels: a.labels, Connected: a.live(now, silence),
		LastReport: a.lastFigures, ReportInterval: report, Figures: a.figures}
	if a.remote != nil && a.desired != nil && bytes.Equal(a.remote.LastRemoteConfigHash, a.desiredHash) &&
		a.remote.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED {
		fa.ApplyError = a.remote.ErrorMessage
	}
	return fa
}
