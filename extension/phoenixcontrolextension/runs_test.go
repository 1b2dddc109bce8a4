// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

func TestRunsAPI(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(newFakeExperiment())
	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-a"}, 4096, testProcessors()).handler())
	defer srv.Close()
	runs := "/api/v1/experiments/experiment%2Fprocess/runs"
	run(t, srv, []step{
		{"empty history", "GET", runs, "", "", 200, []string{`"runs": []`}},
		{"unknown candidate", "POST", runs, `{"candidate":"nope","duration":"1m"}`, "", 422, []string{`candidate \"nope\"`}},
		{"baseline as candidate", "POST", runs, `{"candidate":"full","duration":"1m"}`, "", 422, []string{"is the baseline"}},
		{"wrong type", "POST", runs, `{"candidate":"top20","duration":60}`, "", 400, []string{"bad_json"}},
		{"unknown field", "POST", runs, `{"candidate":"top20","duration":"1m","speed":"fast"}`, "", 400, nil},
		{"unknown experiment", "POST", "/api/v1/experiments/nope/runs", `{"candidate":"top20","duration":"1m"}`, "", 404, nil},
		{"start", "POST", runs, `{"candidate":"top20","warm_up":"0s","duration":"1m","criteria":{"min_fidelity":0.9}}`, "", 201, []string{`"phase": "initializing"`, `"previous_active": "full"`}},
		{"one at a time", "POST", runs, `{"candidate":"top20","duration":"1m"}`, "", 409, []string{"already in progress"}},
		{"history", "GET", runs, "", "", 200, []string{`"candidate": "top20"`}},
		{"unknown run", "GET", runs + "/nope", "", "", 404, nil},
	})

	var list struct {
		Runs []struct {
			ID string `json:"id"`
		} `json:"runs"`
	}
	resp, err := http.Get(srv.URL + runs)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Runs, 1)
	id := list.Runs[0].ID
	run(t, srv, []step{
		{"get", "GET", runs + "/" + id, "", "", 200, []string{`"id": "` + id + `"`}},
		{"cancel", "POST", runs + "/" + id + "/cancel", "", "", 200, []string{`"phase": "cancelled"`}},
		{"cancel again", "POST", runs + "/" + id + "/cancel", "", "", 409, []string{"already cancelled"}},
		{"a new run may start", "POST", runs, `{"candidate":"by_executable","duration":"1m"}`, "", 201, nil},
		{"phase metric", "GET", "/metrics", "", "", 200, []string{`phoenix_experiment_run_phase{candidate="by_executable",experiment="experiment/process"`, `phase="initializing"`}},
	})
	assert.True(t, strings.HasPrefix(id, "run-"))
}

// TestRunInFlightAtRestartIsMarkedFailed: the history comes back from storage and a run that was in
// progress is failed with the reason, since its window figures were in memory.
func TestRunInFlightAtRestartIsMarkedFailed(t *testing.T) {
	store := memStore{"runs/experiment/process": []byte(`[{"id":"run-1","experiment":"experiment/process","phase":"running","spec":{"candidate":"top20","warm_up":"0s","duration":"10m","criteria":{"min_series_reduction":0,"min_fidelity":0,"critical_visible":false},"activate":false,"auto_promote":false}},
{"id":"run-0","experiment":"experiment/process","phase":"completed","spec":{"candidate":"top20","warm_up":"0s","duration":"1m","criteria":{"min_series_reduction":0,"min_fidelity":0,"critical_visible":false},"activate":false,"auto_promote":false}}]`)}
	reg := newRegistry(zap.NewNop())
	reg.store = store
	reg.RegisterExperiment(newFakeExperiment())
	hist := reg.runs.list("experiment/process")
	require.Len(t, hist, 2)
	assert.Equal(t, "failed", string(hist[0].Phase))
	assert.Contains(t, hist[0].Reason, "restarted during the run")
	assert.Equal(t, "completed", string(hist[1].Phase), "finished runs stay as they were")
	assert.Contains(t, string(store["runs/experiment/process"]), `"phase":"failed"`, "the outcome is persisted")
}

// TestRunFollowsASwitchThatWasNotPersisted: when storage fails, the variant is switched all the same, so
// a run must carry on with it (failing the run would leave its candidate active with no run in charge).
func TestRunFollowsASwitchThatWasNotPersisted(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	e := newFakeExperiment()
	reg.RegisterExperiment(e)
	reg.store = failingStore{}
	_, err := reg.setActive(context.Background(), "experiment/process", "top20")
	require.ErrorIs(t, err, errNotPersisted, "the API still says so")
	require.NoError(t, newRunManager(reg).switcher("experiment/process")("by_executable"))
	assert.Equal(t, "by_executable", e.Snapshot().Active)
}

type failingStore struct{}

func (failingStore) Get(context.Context, string) ([]byte, error) { return nil, nil }
func (failingStore) Set(context.Context, string, []byte) error   { return errors.New("disk full") }

func testSpec() runs.Spec {
	return runs.Spec{Candidate: "top20", Duration: runs.Duration{D: time.Minute}}
}

// TestCanaryInterruptedByACrashRestoresThePreviousVariant: a kill during a canary leaves the candidate
// active and persisted; at the restart the run fails and the variant it replaced comes back, persisted.
func TestCanaryInterruptedByACrashRestoresThePreviousVariant(t *testing.T) {
	store := memStore{"active/experiment/process": []byte("top20"), "runs/experiment/process": []byte(`[{"id":"run-1",` +
		`"experiment":"experiment/process","phase":"running","previous_active":"by_executable","spec":{"candidate":"top20",` +
		`"warm_up":"0s","duration":"10m","activate":true}}]`)}
	reg := newRegistry(zap.NewNop())
	reg.store = store
	e := newFakeExperiment()
	reg.RegisterExperiment(e)
	assert.Equal(t, "by_executable", e.Snapshot().Active, "the canary ended with the collector")
	assert.Equal(t, "by_executable", string(store["active/experiment/process"]), "persisted like any switch")
	hist := reg.runs.list("experiment/process")
	require.Len(t, hist, 1)
	assert.Equal(t, runs.Failed, hist[0].Phase)
	assert.Contains(t, hist[0].Reason, "restored the previous variant by_executable")
	assert.Contains(t, string(store["runs/experiment/process"]), "restored the previous variant")
}

// TestRunIDsAreUniqueAcrossRestarts: a kill, a restart and a new run in the same second must not reuse the
// killed run's ID, so the new run can be fetched and cancelled.
func TestRunIDsAreUniqueAcrossRestarts(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := memStore{}
	seen := map[string]bool{}
	for restart := range 3 {
		reg := newRegistry(zap.NewNop())
		reg.runs.now = func() time.Time { return now }
		reg.store = store
		reg.RegisterExperiment(newFakeExperiment()) // the run left by the previous "kill" is failed
		r, err := reg.runs.start("experiment/process", testSpec())
		require.NoError(t, err, "restart %d", restart)
		require.False(t, seen[r.ID], "restart %d reused %s", restart, r.ID)
		seen[r.ID] = true
		got, err := reg.runs.get("experiment/process", r.ID)
		require.NoError(t, err)
		assert.Equal(t, runs.Initializing, got.Phase, "the new run, not the interrupted one")
	}
	reg := newRegistry(zap.NewNop())
	reg.runs.now = func() time.Time { return now }
	reg.store = store
	reg.RegisterExperiment(newFakeExperiment())
	for _, r := range reg.runs.list("experiment/process") {
		require.Equal(t, runs.Failed, r.Phase)
	}
	r, err := reg.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	_, err = reg.runs.cancel("experiment/process", r.ID)
	require.NoError(t, err, "the running one can be cancelled")
}

// TestRunIDIsNeverOneInHistory: a drawn ID already in the history is drawn again.
func TestRunIDIsNeverOneInHistory(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(newFakeExperiment())
	reg.runs.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	reg.runs.random = strings.NewReader(strings.Repeat("\x00", 12) + strings.Repeat("\x01", 6))
	first, err := reg.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	assert.Equal(t, "run-20270115T080000-000000000000", first.ID)
	_, err = reg.runs.cancel("experiment/process", first.ID)
	require.NoError(t, err)
	second, err := reg.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	assert.Equal(t, "run-20270115T080000-010101010101", second.ID, "the repeated draw was skipped")
}

// orderedStore records the keys written, in order.
type orderedStore struct {
	memStore
	keys []string
}

func (o *orderedStore) Set(ctx context.Context, k string, v []byte) error {
	o.keys = append(o.keys, k)
	return o.memStore.Set(ctx, k, v)
}

// TestCanaryRunIsStoredBeforeItSwitches: a kill between a canary's switch and the write of its run would leave
// the candidate active with no run to give the variant back at restart; the run is written first.
func TestCanaryRunIsStoredBeforeItSwitches(t *testing.T) {
	store := &orderedStore{memStore: memStore{}}
	reg := newRegistry(zap.NewNop())
	reg.store = store
	reg.RegisterExperiment(newFakeExperiment())
	spec := testSpec()
	spec.Activate = true
	_, err := reg.runs.start("experiment/process", spec)
	require.NoError(t, err)
	runsAt, activeAt := slices.Index(store.keys, "runs/experiment/process"), slices.Index(store.keys, "active/experiment/process")
	require.GreaterOrEqual(t, activeAt, 0, "the canary switched: %v", store.keys)
	assert.True(t, runsAt >= 0 && runsAt < activeAt, "the run is stored before the switch: %v", store.keys)
}
