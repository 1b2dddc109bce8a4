// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package differential

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// snapshot is one experiment's figures as GET /api/v1/experiments serves them (extension/
// phoenixcontrolextension/api.go, types in internal/control): the last complete window and each variant's
// figures over it. Fidelity figures are pointers: null is "no data".
type snapshot struct {
	Name     string    `json:"name"`
	Start    time.Time `json:"window_start"`
	End      time.Time `json:"window_end"`
	Complete bool      `json:"complete"`
	Variants []struct {
		Name           string              `json:"name"`
		Series         uint64              `json:"series"`
		Datapoints     uint64              `json:"datapoints"`
		Fidelity       *float64            `json:"fidelity"`
		MetricFidelity map[string]*float64 `json:"metric_fidelity"`
	} `json:"variants"`
}

// variantStats is one variant's figures in a snapshot.
type variantStats struct {
	Series         uint64
	Datapoints     uint64
	Fidelity       *float64
	MetricFidelity map[string]*float64
}

// Variant returns the named variant's figures.
func (s snapshot) Variant(name string) (variantStats, bool) {
	for _, v := range s.Variants {
		if v.Name == name {
			return variantStats{Series: v.Series, Datapoints: v.Datapoints, Fidelity: v.Fidelity, MetricFidelity: v.MetricFidelity}, true
		}
	}
	return variantStats{}, false
}

// experimentSnapshot reads experiment/process from the control API.
func experimentSnapshot(api string) (snapshot, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(api + "/api/v1/experiments")
	if err != nil {
		return snapshot{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return snapshot{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return snapshot{}, fmt.Errorf("GET /api/v1/experiments: status %d: %s", resp.StatusCode, body)
	}
	var list struct {
		Experiments []snapshot `json:"experiments"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return snapshot{}, fmt.Errorf("GET /api/v1/experiments: %w: %.200s", err, body)
	}
	for _, e := range list.Experiments {
		if e.Name == "experiment/process" {
			return e, nil
		}
	}
	return snapshot{}, fmt.Errorf("GET /api/v1/experiments: no experiment/process in %.200s", body)
}

// watcher follows a running case: it reads the experiment's windows from the control API and, every
// ghostRead, the ends sink for series gone without an end.
type watcher struct {
	api  string // control API base URL
	ends *endsSink
	o    *oracle
}

// run polls until end and until minWindows complete windows that began after `from` have been seen
// (bounded: two more windows past end), and returns each such window once, in order.
func (w *watcher) run(t *testing.T, c *harness.Collector, from, end time.Time) []snapshot {
	seen := map[time.Time]snapshot{}
	deadline := end.Add(2*experimentWindow + 10*time.Second)
	nextGhostRead := from
	var lastErr error
	for {
		if c.Exited() {
			t.Fatalf("tee collector exited:\n%s", c.Logs())
		}
		s, err := experimentSnapshot(w.api)
		if err != nil {
			lastErr = err
		} else if s.Complete && !s.Start.Before(from) {
			if _, ok := seen[s.End]; !ok {
				seen[s.End] = s
			}
		}
		now := time.Now()
		if !now.Before(nextGhostRead) && now.Before(end) {
			w.o.readGhosts(w.ends)
			nextGhostRead = now.Add(ghostRead)
		}
		if (!now.Before(end) && len(seen) >= minWindows) || now.After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if len(seen) == 0 && lastErr != nil {
		t.Errorf("experiment API: %v", lastErr)
	}
	out := make([]snapshot, 0, len(seen))
	for _, s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].End.Before(out[j].End) })
	return out
}
