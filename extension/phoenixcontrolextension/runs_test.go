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
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestRunsAPI(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(newFakeExperiment())
	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-a"}, 4096).handler())
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
