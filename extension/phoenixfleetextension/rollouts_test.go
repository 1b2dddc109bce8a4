// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

// runLoop makes a sim agent behave as an otelcol-phoenix node: it takes the desired state's active
// variant and reports a complete window every period, with the candidate hiding a critical process on
// the nodes told to.
func (a *simAgent) runLoop(t *testing.T, period time.Duration, hidesCritical bool) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(period):
			}
			a.mu.Lock()
			if a.desired != nil {
				var d struct {
					Experiments map[string]struct{ Active string }
				}
				if yaml.Unmarshal(a.desired, &d) == nil && d.Experiments["experiment/process"].Active != "" {
					a.active = d.Experiments["experiment/process"].Active
				}
			}
			active := a.active
			a.mu.Unlock()
			fid := 0.99
			crit := 1.0
			if hidesCritical {
				crit = 0.5
			}
			f := fleet.Figures{Node: a.node, Version: "0.159.0", At: time.Now(), Experiments: []fleet.Experiment{{
				Name: "experiment/process", Baseline: "full", Active: active, Window: period, Complete: true, WindowEnd: time.Now(),
				Variants: []fleet.Variant{{Name: "full", Series: 1000, Fidelity: &fid, CriticalVisible: 1},
					{Name: "top20", Series: 200, Fidelity: &fid, CriticalVisible: crit}}}}}
			data, _ := fleet.Encode(f)
			if ch, err := a.client.SendCustomMessage(&protobufs.CustomMessage{Capability: fleet.Capability, Type: fleet.FiguresType, Data: data}); err == nil {
				select {
				case <-ch:
				case <-stop:
					return
				}
			}
		}
	}()
}

func postJSON(t *testing.T, url, body string) (int, []byte) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func getRollout(t *testing.T, f *phoenixFleet, id string) fleet.Rollout {
	resp, err := http.Get("http://" + f.Addr().String() + "/api/v1/fleet/rollouts/" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r fleet.Rollout
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return r
}

// TestRolloutOverOpAMP: a rollout walks its waves over four agents (both transports) to a promotion, an
// otelcol-contrib agent is never targeted; with one node whose candidate hides a critical process the
// rollout fails naming it, and that node is back on the baseline.
func TestRolloutOverOpAMP(t *testing.T) {
	for name, bad := range map[string]string{"good candidate": "", "one node hides a critical process": "node-3"} {
		t.Run(name, func(t *testing.T) {
			f := startFleet(t)
			base := f.Addr().String() + opampPath
			var sims []*simAgent
			for i := range 4 {
				scheme := "ws://"
				if i%2 == 1 {
					scheme = "http://"
				}
				node := fmt.Sprintf("node-%d", i+1)
				a := startSimAgent(t, scheme+base, node, true)
				a.runLoop(t, 100*time.Millisecond, node == bad)
				sims = append(sims, a)
			}
			contrib := startSimAgent(t, "ws://"+base, "node-contrib", false)
			require.Eventually(t, func() bool {
				n := 0
				for _, a := range getAgents(t, f) {
					if len(a.Experiments) == 1 && a.Connected {
						n++
					}
				}
				return n == 4
			}, 15*time.Second, 20*time.Millisecond)

			events, unsubscribe := f.rollouts.events.Subscribe()
			defer unsubscribe()
			status, body := postJSON(t, "http://"+f.Addr().String()+"/api/v1/fleet/rollouts", `{"experiment":"experiment/process",
				"candidate":"top20","waves":[{"count":1},{"percent":50},{"percent":100}],"soak":"300ms","apply_timeout":"10s",
				"criteria":{"min_series_reduction":0.5,"min_fidelity":0.9,"critical_visible":true}}`)
			require.Equal(t, http.StatusCreated, status, "%s", body)
			var r fleet.Rollout
			require.NoError(t, json.Unmarshal(body, &r))
			require.Eventually(t, func() bool { // ended, or paused on a breach
				r := getRollout(t, f, r.ID)
				return r.Phase.Terminal() || r.Paused && r.Verdict != nil
			}, 30*time.Second, 50*time.Millisecond)
			r = getRollout(t, f, r.ID)
			var phases []string // as the event stream told them
			for len(events) > 0 {
				if e := <-events; e.Type == "rollout" && e.Data.(fleet.Rollout).ID == r.ID {
					phases = append(phases, string(e.Data.(fleet.Rollout).Phase))
				}
			}
			require.NotEmpty(t, phases)
			assert.Equal(t, string(r.Phase), phases[len(phases)-1], "the last event is the rollout as it is")
			actives := func() map[string]string {
				out := map[string]string{}
				for _, s := range sims {
					s.mu.Lock()
					out[s.node] = s.active
					s.mu.Unlock()
				}
				return out
			}
			if bad == "" {
				assert.Equal(t, runs.Completed, r.Phase, "%+v", r)
				require.NotNil(t, r.Verdict)
				assert.True(t, r.Verdict.Pass, "%+v", r.Verdict)
				assert.True(t, r.Promoted)
				require.Eventually(t, func() bool {
					for _, v := range actives() {
						if v != "top20" {
							return false
						}
					}
					return true
				}, 10*time.Second, 20*time.Millisecond, "promoted to the whole fleet: %v", actives())
			} else {
				assert.Equal(t, runs.Running, r.Phase, "%+v", r)
				assert.True(t, r.Paused, "a breach pauses: %+v", r)
				require.NotNil(t, r.Verdict)
				assert.Contains(t, r.Verdict.Nodes, bad, "the verdict names the node")
				assert.Contains(t, strings.Join(r.Verdict.Reasons, "; "), "critical")
				assert.Contains(t, r.PauseReason, "guardrail broken: "+bad)
				require.Eventually(t, func() bool { return actives()[bad] == "full" }, 10*time.Second, 20*time.Millisecond,
					"the breaching node is back on the baseline: %v", actives())
				status, body := postJSON(t, "http://"+f.Addr().String()+"/api/v1/fleet/rollouts/"+r.ID+"/cancel", `{}`)
				require.Equal(t, http.StatusOK, status, "%s", body)
				r = getRollout(t, f, r.ID)
				assert.Equal(t, runs.Cancelled, r.Phase)
			}
			contrib.mu.Lock()
			assert.Nil(t, contrib.desired, "an otelcol-contrib agent is never targeted")
			contrib.mu.Unlock()

			status, body = postJSON(t, "http://"+f.Addr().String()+"/api/v1/fleet/rollouts", `{"experiment":"experiment/process","candidate":"","waves":[]}`)
			assert.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
			resp, err := http.Get("http://" + f.Addr().String() + "/api/v1/fleet/experiments/experiment%2Fprocess")
			require.NoError(t, err)
			var totals struct{ Variants []fleet.VariantTotals }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&totals))
			resp.Body.Close()
			require.Len(t, totals.Variants, 2)
			assert.Equal(t, uint64(4000), totals.Variants[0].Series, "the baseline's series summed over the fleet")
			resp, err = http.Get("http://" + f.Addr().String() + "/metrics")
			require.NoError(t, err)
			var metrics bytes.Buffer
			_, _ = metrics.ReadFrom(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`phoenix_fleet_agents{connected="true",phoenix="true"} 4`, `phoenix_fleet_agents{connected="true",phoenix="false"} 1`,
				`phoenix_fleet_variant_series{experiment="experiment/process",variant="full"} 4000`,
				`phoenix_fleet_variant_series{experiment="experiment/process",variant="top20"} 800`,
				`phoenix_fleet_rollout_phase{candidate="top20",experiment="experiment/process",phase="` + string(r.Phase) + `",rollout="` + r.ID + `"} 1`} {
				assert.Contains(t, metrics.String(), want)
			}
		})
	}
}

// memStore is a storage client in memory.
type memStore map[string][]byte

func (m memStore) Get(_ context.Context, k string) ([]byte, error) { return m[k], nil }
func (m memStore) Set(_ context.Context, k string, v []byte) error { m[k] = bytes.Clone(v); return nil }

// TestRolloutResumesFromStorage: a controller restarted mid-rollout resumes at the persisted wave with the
// same agents.
func TestRolloutResumesFromStorage(t *testing.T) {
	store := memStore{}
	t1 := newAgents(nopLogger(), 100)
	seedAgent(t1, "experiment/process", "top20")
	m1 := newRollouts(t1, nopLogger(), time.Second)
	m1.load(context.Background(), store)
	spec := fleet.RolloutSpec{Experiment: "experiment/process", Candidate: "top20",
		Waves: []fleet.Wave{{Count: 1}, {Percent: 100}}, Soak: runs.Duration{D: time.Hour}}
	r, err := m1.start(spec)
	require.NoError(t, err)
	m1.mu.Lock()
	m1.persist()
	m1.mu.Unlock()
	require.NotEmpty(t, store[rolloutsKey])

	t2 := newAgents(nopLogger(), 100)
	seedAgent(t2, "experiment/process", "top20")
	m2 := newRollouts(t2, nopLogger(), time.Second)
	m2.load(context.Background(), store)
	got := m2.snapshot()
	require.Len(t, got, 1)
	assert.Equal(t, r.ID, got[0].ID)
	assert.Equal(t, r.Wave, got[0].Wave)
	assert.Equal(t, r.Phase, got[0].Phase)
	_, err = m2.start(spec)
	assert.ErrorIs(t, err, errBusy, "one rollout in progress per experiment, after a restart too")
}

// TestANewRolloutKeepsTheLastPromotion: the agents outside a new rollout's waves stay on what the previous
// rollout promoted, and go back to it when the new one is cancelled; a rollback of the promotion ends it.
func TestANewRolloutKeepsTheLastPromotion(t *testing.T) {
	a := fleet.Agent{ID: "a", Node: "node-a", Connected: true, LastReport: time.Now(), Figures: &fleet.Figures{
		Experiments: []fleet.Experiment{{Name: "experiment/process", Baseline: "full", Active: "top10"}}}}
	b := &fleet.Rollout{Spec: fleet.RolloutSpec{Experiment: "experiment/process", Candidate: "top10"}, Phase: runs.Completed, Promoted: true}
	c := &fleet.Rollout{Spec: fleet.RolloutSpec{Experiment: "experiment/process", Candidate: "top5"}, Phase: runs.Running}
	v, ok := decide([]*fleet.Rollout{c, b}, a)
	assert.True(t, ok)
	assert.Equal(t, "top10", v, "outside the new rollout's waves: the last promotion holds")
	c.Assigned = []fleet.Member{{ID: "a"}}
	v, _ = decide([]*fleet.Rollout{c, b}, a)
	assert.Equal(t, "top5", v, "in its wave: the new candidate")
	c.Assigned, c.Phase = nil, runs.Cancelled
	v, _ = decide([]*fleet.Rollout{c, b}, a)
	assert.Equal(t, "top10", v, "cancelled: back to the promotion")
	b.Promoted = false
	v, _ = decide([]*fleet.Rollout{c, b}, a)
	assert.Equal(t, "full", v, "the promotion rolled back: the baseline")
}

// seedAgent puts in the table one connected agent that reports the experiment with the variant.
func seedAgent(tbl *agents, experiment, variant string) {
	tbl.byUID["seed"] = &agent{uid: "seed", node: "node-seed", connected: true, lastSeen: time.Now(), phoenix: true,
		labels: map[string]string{}, figures: &fleet.Figures{Node: "node-seed", Experiments: []fleet.Experiment{{
			Name: experiment, Baseline: "full", Active: "full", Variants: []fleet.Variant{{Name: "full"}, {Name: variant}}}}}}
}

// TestRolloutOfWhatNobodyRunsRefused: a typo in the experiment or the candidate is a 422 at once.
func TestRolloutOfWhatNobodyRunsRefused(t *testing.T) {
	tbl := newAgents(nopLogger(), 10)
	seedAgent(tbl, "experiment/process", "top20")
	m := newRollouts(tbl, nopLogger(), time.Second)
	for _, spec := range []fleet.RolloutSpec{
		{Experiment: "experiment/procss", Candidate: "top20", Waves: []fleet.Wave{{Count: 1}}},
		{Experiment: "experiment/process", Candidate: "top02", Waves: []fleet.Wave{{Count: 1}}},
	} {
		_, err := m.start(spec)
		assert.ErrorIs(t, err, fleet.ErrInvalid)
		assert.ErrorContains(t, err, "no agent reports")
	}
	_, err := m.start(fleet.RolloutSpec{Experiment: "experiment/process", Candidate: "top20", Waves: []fleet.Wave{{Count: 1}}})
	assert.NoError(t, err)
}
