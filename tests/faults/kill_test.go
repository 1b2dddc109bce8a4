// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package faults breaks the built binary the way nodes break: SIGKILL in the middle of switches, runs and
// desired-state changes, a damaged state file, a full disk, a read-only state directory. Each case ends in
// a collector that serves and reports the problem, and nothing it acknowledged is lost.
package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const experiment = "/api/v1/experiments/experiment%2Fprocess"

var variants = []string{"full", "top20", "by_executable"}

var client = &http.Client{Timeout: 5 * time.Second}

func call(method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type snapshot struct {
	Active string `json:"active"`
}

type run struct {
	ID       string `json:"id"`
	Phase    string `json:"phase"`
	Reason   string `json:"reason"`
	Previous string `json:"previous_active"`
	Spec     struct {
		Activate bool `json:"activate"`
	} `json:"spec"`
}

func active(t *testing.T, api string) string {
	status, body, err := call(http.MethodGet, api+experiment, "")
	require.NoError(t, err)
	require.Equal(t, 200, status, string(body))
	var s snapshot
	require.NoError(t, json.Unmarshal(body, &s))
	return s.Active
}

func runs(t *testing.T, api string) []run {
	status, body, err := call(http.MethodGet, api+experiment+"/runs", "")
	require.NoError(t, err)
	require.Equal(t, 200, status, string(body))
	var r struct {
		Runs []run `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(body, &r))
	return r.Runs
}

// killAfter SIGKILLs the collector after d and waits for it to be gone.
func killAfter(c *harness.Collector, d time.Duration) {
	time.Sleep(d)
	_ = syscall.Kill(c.Pid(), syscall.SIGKILL)
	_ = c.Stop(10 * time.Second)
}

// TestKillDuringSwitchesAndRuns: 60 kills at random moments of API switches and canary runs. After every
// restart the variant that runs is the last one the API acknowledged (or one whose answer the kill cut off),
// a canary interrupted by the kill has given back its previous variant, no run is left in progress, and run
// IDs are unique.
func TestKillDuringSwitchesAndRuns(t *testing.T) {
	example := harness.NewControlExample(t)
	api := example.API
	rng := rand.New(rand.NewPCG(20, 26))
	expected := []string{"full"} // the variants that may run after the next restart
	deadline := time.Now().Add(4 * time.Minute)
	const iterations = 60
	for i := range iterations {
		require.True(t, time.Now().Before(deadline), "iteration %d: out of time", i)
		c := example.Start(t)
		got := active(t, api)
		require.Contains(t, expected, got, "iteration %d: after the restart", i)
		hist := runs(t, api)
		ids := map[string]bool{}
		for _, r := range hist {
			require.False(t, ids[r.ID], "iteration %d: run ID %s twice", i, r.ID)
			ids[r.ID] = true
			require.Contains(t, []string{"completed", "failed", "cancelled"}, r.Phase, "iteration %d: run %s left %s after a restart", i, r.ID, r.Phase)
		}

		if rng.IntN(3) > 0 { // switches, killed at a random moment
			var mu sync.Mutex
			acked, inFlight := got, map[string]bool{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range 1 + rng.IntN(6) {
					v := variants[rng.IntN(len(variants))]
					mu.Lock()
					inFlight[v] = true
					mu.Unlock()
					status, _, err := call(http.MethodPut, api+experiment+"/active", fmt.Sprintf(`{"variant":%q}`, v))
					mu.Lock()
					if err == nil && status == 200 {
						acked = v
						delete(inFlight, v)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			killAfter(c, time.Duration(rng.IntN(40))*time.Millisecond)
			<-done
			mu.Lock()
			expected = []string{acked}
			for v := range inFlight {
				expected = append(expected, v)
			}
			mu.Unlock()
			continue
		}

		// A canary run from the baseline, killed while it starts or runs.
		if got != "full" {
			status, body, err := call(http.MethodPut, api+experiment+"/active", `{"variant":"full"}`)
			require.NoError(t, err)
			require.Equal(t, 200, status, string(body))
		}
		started := make(chan string, 1)
		go func() {
			status, body, err := call(http.MethodPost, api+experiment+"/runs",
				`{"candidate":"top20","warm_up":"0s","duration":"1m","activate":true}`)
			var r run
			if err == nil && status == 201 && json.Unmarshal(body, &r) == nil {
				started <- r.ID
			}
			close(started)
		}()
		killAfter(c, time.Duration(rng.IntN(300))*time.Millisecond)
		id := <-started
		expected = []string{"full"} // whether or not the run began, the canary must not outlive the kill

		if id != "" { // check the interrupted run at the next start
			c := example.Start(t)
			require.Equal(t, "full", active(t, api), "iteration %d: the interrupted canary gave back the baseline", i)
			idx := slices.IndexFunc(runs(t, api), func(r run) bool { return r.ID == id })
			require.GreaterOrEqual(t, idx, 0, "iteration %d: the acknowledged run %s is in the history", i, id)
			r := runs(t, api)[idx]
			require.Equal(t, "failed", r.Phase, "iteration %d", i)
			require.Contains(t, r.Reason, "interrupted", "iteration %d", i)
			killAfter(c, 0)
		}
	}
}

// TestKillDuringDesiredStateChanges: the desired-state file is replaced (as a ConfigMap update does: a new
// file renamed into place) while the collector reads it, and the collector is killed at random moments; after
// every restart the variant that runs is the file's.
func TestKillDuringDesiredStateChanges(t *testing.T) {
	example := harness.NewControlExample(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	write := func(v string) {
		tmp := filepath.Join(dir, ".tmp")
		require.NoError(t, os.WriteFile(tmp, []byte("experiments:\n  experiment/process: {active: "+v+"}\n"), 0o600))
		require.NoError(t, os.Rename(tmp, path))
	}
	write("top20")
	rng := rand.New(rand.NewPCG(4, 2))
	want := "top20"
	for i := range 12 {
		c := example.Start(t, "--set=extensions::phoenix_control::desired_state::path="+path,
			"--set=extensions::phoenix_control::desired_state::poll_interval=1s")
		require.Equal(t, want, active(t, example.API), "iteration %d: after the restart the file's variant runs", i)
		want = variants[rng.IntN(len(variants))]
		write(want)
		killAfter(c, time.Duration(rng.IntN(1500))*time.Millisecond)
	}
}
