// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// slowStore takes a random while to write, as a disk does, so that writes may land out of order.
type slowStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *slowStore) Get(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k], nil
}

func (s *slowStore) Set(_ context.Context, k string, v []byte) error {
	time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
	return nil
}

// TestConcurrentSwitchesAgreeWithStorage: under bursts of concurrent PUTs, switches by a run and by the
// desired-state file, each answer names the variant it switched to, and after every burst the variant that
// runs is the one stored (the one a restart would run).
func TestConcurrentSwitchesAgreeWithStorage(t *testing.T) {
	store := &slowStore{m: map[string][]byte{}}
	reg := newRegistry(zap.NewNop())
	reg.store = store
	e := newFakeExperiment()
	reg.RegisterExperiment(e)
	desiredPath := filepath.Join(t.TempDir(), "desired.yaml")
	desired := newDesiredState(desiredPath, "node-1", reg, zap.NewNop())
	reg.desired = desired
	srv := httptest.NewServer(newAPI(reg, apiInfo{}, 1024, testProcessors()).handler())
	defer srv.Close()
	url := srv.URL + "/api/v1/experiments/experiment%2Fprocess/active"

	for burst := range 60 {
		var wg sync.WaitGroup
		for i := range 8 {
			want := e.variants[(burst+i)%len(e.variants)]
			wg.Go(func() {
				req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"variant":"`+want+`"}`))
				assert.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				resp, err := srv.Client().Do(req)
				if !assert.NoError(t, err) {
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var snap struct {
					Active string `json:"active"`
				}
				assert.NoError(t, json.Unmarshal(b, &snap))
				assert.Equal(t, want, snap.Active, "the answer is the switch it made")
			})
		}
		wg.Go(func() {
			assert.NoError(t, reg.runs.switcher("experiment/process")(e.variants[burst%len(e.variants)]))
		})
		wg.Go(func() {
			assert.NoError(t, os.WriteFile(desiredPath, []byte("experiments:\n  experiment/process: {active: "+
				e.variants[(burst+1)%len(e.variants)]+"}\n"), 0o600))
			desired.poll(time.Now())
		})
		wg.Wait()
		stored, err := store.Get(context.Background(), activeKey("experiment/process"))
		require.NoError(t, err)
		require.Equal(t, e.Snapshot().Active, string(stored), "burst %d: what runs is what a restart runs", burst)
	}
}
