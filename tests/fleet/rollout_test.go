// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package fleet

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// badNode is the node where chronyd is critical (agent-critical-chronyd.yaml): the top5_lean candidate
// hides it there, and only there. For experiment/process the stable ranking happens to be node-4, node-1,
// node-3, node-2, so node-1 joins in the second wave; nothing below depends on that order.
const badNode = "node-1"

// spec is a rollout of candidate in three waves (1 agent, half, all) with short soaks.
func spec(candidate, soak string) string {
	return fmt.Sprintf(`{"experiment": %q, "candidate": %q,
		"waves": [{"count": 1}, {"percent": 50}, {"percent": 100}], "soak": %q, "apply_timeout": "20s",
		"criteria": {"min_series_reduction": 0.3, "min_fidelity": 0.9, "critical_visible": true}}`, experiment, candidate, soak)
}

// TestFleetEndToEnd runs one controller and four agents and, in order: a good rollout walks its waves and
// promotes; a candidate that hides a critical process on one node fails at that node's wave, named, and
// that wave goes back; an agent killed mid-wave pauses the rollout, naming it; a controller killed
// mid-rollout resumes at the persisted wave and completes.
func TestFleetEndToEnd(t *testing.T) {
	harness.Binary(t) // skips without the built binary
	start := time.Now()
	f := &controller{owner: t, port: harness.FreePort(t), stateDir: t.TempDir()}
	f.start(t)
	var agents []*agent
	byNode := map[string]*agent{}
	for i := range 4 {
		node := fmt.Sprintf("node-%d", i+1)
		var extra []string
		if node == badNode {
			extra = append(extra, "agent-critical-chronyd.yaml")
		}
		a := newAgent(t, node, f.port, extra...)
		a.start()
		agents = append(agents, a)
		byNode[node] = a
	}

	// Every agent listed by the controller, connected, named by its node, reporting the experiment.
	ids := map[string]string{} // agent ID -> node
	require.NoError(t, f.c.WaitFor(60*time.Second, func() error {
		list, err := f.agents()
		if err != nil {
			return err
		}
		clear(ids)
		for _, a := range list {
			if _, ok := a.Experiments[experiment]; ok && a.Connected && byNode[a.Node] != nil {
				ids[a.ID] = a.Node
			}
		}
		if len(ids) != 4 {
			return fmt.Errorf("%d of 4 agents connected with %s: %+v", len(ids), experiment, list)
		}
		return nil
	}), "four agents connect and report")
	idOf := map[string]string{} // node -> agent ID
	for id, node := range ids {
		idOf[node] = id
	}
	t.Logf("fleet up after %s", time.Since(start).Round(time.Millisecond))

	t.Run("the candidate hides a critical process on one node only", func(t *testing.T) {
		// The node's own figures, before any rollout: every variant is measured in shadow.
		require.NoError(t, eventually(30*time.Second, func() error {
			for _, a := range agents {
				e, err := a.measured()
				if err != nil {
					return err
				}
				for _, v := range e.Variants {
					hidden := a.node == badNode && v.Name == "top5_lean"
					if hidden != (v.CriticalVisible < 1) {
						return fmt.Errorf("%s: %s critical_visible %v", a.node, v.Name, v.CriticalVisible)
					}
				}
			}
			return nil
		}))
	})

	t.Run("a good candidate walks the waves and is promoted", func(t *testing.T) {
		began := time.Now()
		r := f.startRollout(t, spec("top5", "3s"))
		r = f.waitRollout(t, r.ID, 90*time.Second, "the rollout ends", rollout.terminal)
		require.Equal(t, "completed", r.Phase, "%s", r)
		require.True(t, r.Promoted, "%s", r)
		require.NotNil(t, r.Verdict)
		assert.True(t, r.Verdict.Pass, "%s", r)
		assert.GreaterOrEqual(t, r.Verdict.SeriesReduction, 0.3)
		require.Len(t, r.Waves, 3, "%s", r)
		for i, w := range r.Waves {
			assert.Equal(t, []int{1, 2, 4}[i], w.Size, "wave %d's size", i+1)
			assert.Len(t, w.Agents, w.Size, "wave %d", i+1)
			if i > 0 {
				assert.Subset(t, w.Agents, r.Waves[i-1].Agents, "wave %d keeps the agents of wave %d", i+1, i)
			}
			assert.False(t, w.AppliedAt.IsZero(), "wave %d was applied", i+1)
			if assert.NotNil(t, w.Verdict, "wave %d judged", i+1) {
				assert.True(t, w.Verdict.Pass, "wave %d: %+v", i+1, *w.Verdict)
			}
		}
		waitActive(t, 15*time.Second, func(string) string { return "top5" }, agents...)
		t.Logf("promoted in %s", time.Since(began).Round(time.Millisecond))

		// A promotion stands — a later rollout's agents outside its waves keep it — until rolled back.
		status, body, err := call(http.MethodPost, f.url("/api/v1/fleet/rollouts/"+r.ID+"/rollback"), "")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, "%s", body)
		waitActive(t, 15*time.Second, func(string) string { return "full" }, agents...)
	})

	t.Run("a node whose candidate hides a critical process pauses the rollout and rolls its wave back, named", func(t *testing.T) {
		f.cancelInProgress(t)
		began := time.Now()
		r := f.startRollout(t, spec("top5_lean", "3s"))
		r = f.waitRollout(t, r.ID, 90*time.Second, "the rollout pauses on a breach (or ends)", func(r rollout) bool {
			return r.terminal() || r.Paused && r.Verdict != nil
		})
		require.Equal(t, "running", r.Phase, "%s", r)
		require.True(t, r.Paused, "%s", r)
		assert.False(t, r.Promoted)
		require.NotNil(t, r.Verdict, "%s", r)
		assert.False(t, r.Verdict.Pass)
		assert.Equal(t, []string{badNode}, r.Verdict.Nodes, "the verdict names the node: %s", r)
		assert.Contains(t, strings.Join(r.Verdict.Reasons, "; "), badNode+": critical processes visible", "and why")
		assert.Contains(t, r.PauseReason, "guardrail broken: "+badNode, "%s", r)
		assert.Contains(t, r.PauseReason, "rolled back wave", "%s", r)

		// It broke in the wave that added the node; the waves before it passed.
		last := r.Waves[len(r.Waves)-1]
		assert.Contains(t, last.Agents, idOf[badNode], "the failing wave holds the node")
		assert.Equal(t, last.Wave, r.Verdict.Wave)
		for _, w := range r.Waves[:len(r.Waves)-1] {
			assert.NotContains(t, w.Agents, idOf[badNode])
			if assert.NotNil(t, w.Verdict) {
				assert.True(t, w.Verdict.Pass, "wave %d passed before the node joined", w.Wave+1)
			}
		}
		// The failing wave is rolled back: the breaching node and the wave's other new agents on the
		// baseline, the agents of the waves that passed kept on the candidate.
		assert.False(t, r.assigned(idOf[badNode]), "%s", r)
		var kept []string
		if len(r.Waves) > 1 {
			kept = r.Waves[len(r.Waves)-2].Agents
		}
		for _, m := range r.Assigned {
			assert.Contains(t, kept, m.ID, "only agents of the waves that passed stay on the candidate")
		}
		waitActive(t, 15*time.Second, func(node string) string {
			if r.assigned(idOf[node]) {
				return "top5_lean"
			}
			return "full"
		}, agents...)
		t.Logf("paused in wave %d of 3 after %s: %s", last.Wave+1, time.Since(began).Round(time.Millisecond), r.PauseReason)
	})

	t.Run("an agent killed mid-wave pauses the rollout, named", func(t *testing.T) {
		f.cancelInProgress(t)
		began := time.Now()
		r := f.startRollout(t, spec("top10", "5m"))
		r = f.waitRollout(t, r.ID, 60*time.Second, "the first wave soaks", func(r rollout) bool {
			return r.Phase == "running" && len(r.Waves) == 1 && !r.Waves[0].AppliedAt.IsZero()
		})
		require.Len(t, r.Assigned, 1, "%s", r)
		victim := byNode[ids[r.Assigned[0].ID]]
		require.NotNil(t, victim, "%s", r)
		assert.Equal(t, victim.node, r.Assigned[0].Node, "the wave names its agent by node")
		kill(t, victim.c)
		r = f.waitRollout(t, r.ID, 20*time.Second, "paused", func(r rollout) bool { return r.Paused })
		assert.Contains(t, r.PauseReason, victim.node, "the pause names the node: %s", r)
		assert.Equal(t, "running", r.Phase, "a drop-off pauses, it does not fail: %s", r)
		assert.True(t, r.assigned(idOf[victim.node]), "nothing rolled back: %s", r)
		assert.Nil(t, r.Verdict, "no verdict on a pause")

		// Cancelled, the others run the baseline.
		status, body, err := call(http.MethodPost, f.url("/api/v1/fleet/rollouts/"+r.ID+"/cancel"), "")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, "%s", body)
		others := slices.DeleteFunc(slices.Clone(agents), func(a *agent) bool { return a == victim })
		waitActive(t, 15*time.Second, func(string) string { return "full" }, others...)
		t.Logf("paused and cancelled in %s: %s", time.Since(began).Round(time.Millisecond), r.PauseReason)

		// The node comes back under the same instance UID, for the next step.
		victim.start()
		require.NoError(t, f.waitFleet(60*time.Second, ids), "the restarted agent is back")
		require.NoError(t, eventually(30*time.Second, func() error { _, err := victim.measured(); return err }))
	})

	t.Run("a controller killed mid-rollout resumes at the persisted wave", func(t *testing.T) {
		f.cancelInProgress(t)
		began := time.Now()
		r := f.startRollout(t, spec("top5", "4s"))
		before := f.waitRollout(t, r.ID, 60*time.Second, "the second wave starts", func(r rollout) bool { return r.Wave == 1 })
		kill(t, f.c)
		require.Len(t, before.Waves, 2, "%s", before)
		first := byNode[ids[before.Assigned[0].ID]]
		// With its server gone the node keeps what it was last asked.
		time.Sleep(time.Second)
		got, err := first.active()
		require.NoError(t, err)
		assert.Equal(t, "top5", got, "%s keeps the candidate with the controller down", first.node)

		f.start(t)
		after, err := f.rollout(r.ID)
		require.NoError(t, err, "the rollout survived the restart")
		assert.Equal(t, r.ID, after.ID)
		assert.Equal(t, 1, after.Wave, "resumed at the persisted wave, not from the first: %s", after)
		require.Len(t, after.Waves, 2, "%s", after)
		assert.True(t, before.Waves[0].StartedAt.Equal(after.Waves[0].StartedAt), "the first wave's record is the same")
		assert.Equal(t, before.Waves[1].Agents, after.Waves[1].Agents, "the same agents in the wave")
		assert.False(t, after.terminal(), "%s", after)

		// Its agents reconnect within a few seconds (opamp-go's backoff) and are known as themselves again
		// (a reconnecting opamp-go client sends its description only when the server asks for its full
		// state); meanwhile the rollout must not take them for gone. Should it pause, say so, resume it and
		// check the rest.
		assert.NoError(t, f.waitFleet(15*time.Second, ids), "the restarted controller knows its four agents by node name again")
		r = f.waitRollout(t, r.ID, 90*time.Second, "the rollout ends or pauses", func(r rollout) bool { return r.terminal() || r.Paused })
		if r.Paused {
			t.Errorf("the restarted controller paused the rollout before its agents could reconnect: %q", r.PauseReason)
			status, body, err := call(http.MethodPost, f.url("/api/v1/fleet/rollouts/"+r.ID+"/resume"), "")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, "%s", body)
		}
		r = f.waitRollout(t, r.ID, 90*time.Second, "the rollout ends", rollout.terminal)
		require.Equal(t, "completed", r.Phase, "%s", r)
		assert.True(t, r.Promoted, "%s", r)
		require.Len(t, r.Waves, 3, "wave 2 went on to wave 3, none started again: %s", r)
		assert.True(t, before.Waves[1].StartedAt.Equal(r.Waves[1].StartedAt), "wave 2 was not restarted")
		for _, m := range r.Assigned {
			assert.Equal(t, ids[m.ID], m.Node, "members named by their node")
		}
		waitActive(t, 15*time.Second, func(string) string { return "top5" }, agents...)
		t.Logf("completed across a controller restart in %s", time.Since(began).Round(time.Millisecond))
	})
}
