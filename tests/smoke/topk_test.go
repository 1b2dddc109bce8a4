// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package smoke

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

var pidLabel = regexp.MustCompile(`process_pid="(\d+)"`)

// servedCPUStates scrapes a prometheus exporter: per process_pid, the states of its CPU time served.
func servedCPUStates(url string) (map[string][]string, error) {
	samples, err := harness.Scrape(url, func(name string) bool { return name == "process_cpu_time_seconds_total" })
	if err != nil {
		return nil, err
	}
	states := map[string][]string{}
	for _, s := range samples {
		if pid := s.Labels["process_pid"]; pid != "" {
			states[pid] = append(states[pid], s.Labels["state"])
		}
	}
	return states, nil
}

// TestTopKExample runs examples/topk.yaml: of 200 simulated processes only the top 10, the critical agents
// (and any retained) reach the Prometheus exporter, plus one "other" resource.
func TestTopKExample(t *testing.T) {
	bin := harness.Binary(t)
	config, ports := harness.RewritePorts(t, filepath.Join(harness.RepoRoot(t), "examples", "topk.yaml"))
	c := harness.Start(t, bin, config, "--set=service::telemetry::metrics::level=none",
		"--set=receivers::simulated_process::collection_interval=1s")
	url := "http://127.0.0.1:" + strconv.Itoa(ports[8889]) + "/metrics"
	var body string
	require.NoError(t, c.WaitFor(60*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return harness.ExpectContains(body, `process_executable_name="other"`, `process_executable_name="kubelet"`)
	}))
	pids := map[string]bool{}
	for _, m := range pidLabel.FindAllStringSubmatch(body, -1) {
		pids[m[1]] = true
	}
	// 10 ranked + kubelet, containerd, systemd, + at most a few retained for 2 intervals.
	assert.GreaterOrEqual(t, len(pids), 13, "the top 10 and the critical agents are exported")
	assert.LessOrEqual(t, len(pids), 30, fmt.Sprintf("200 processes reduced (got %d)", len(pids)))

	// A process leaving the top K ends all its series at once, as the exporter serves them: no pid keeps
	// some of its CPU states (the exporter at v0.159 read a metric only up to its first end point, so an
	// exited process's "system" and "wait" stayed served, frozen, for metric_expiration).
	for scrape := range 12 {
		time.Sleep(time.Second)
		states, err := servedCPUStates(url)
		require.NoError(t, err)
		for pid, s := range states {
			require.Len(t, s, 3, "scrape %d: pid %s is served with the CPU states %v only", scrape, pid, s)
		}
	}
	require.NoError(t, c.Stop(30*time.Second))
}
