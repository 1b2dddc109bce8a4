// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package soak runs the built binary for a long time under the chaos profile, three variants and a control
// client that switches, runs experiments and injects chaos throughout, and checks that memory and goroutines
// stay bounded and that no data point is lost between the receiver and the exporter. Opt-in: `make soak`
// (SOAK_DURATION, default 30m); skipped otherwise.
package soak

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const config = `extensions:
  health_check: {endpoint: "127.0.0.1:%[1]d"}
  pprof: {endpoint: "127.0.0.1:%[2]d"}
  file_storage/phoenix: {directory: "%[3]s", create_directory: true}
  phoenix_control: {endpoint: "127.0.0.1:%[4]d", storage: file_storage/phoenix, events_interval: 1s}
receivers:
  simulated_process:
    control: phoenix_control
    collection_interval: 2s
    processes: 400
    profile: chaos
processors:
  experiment/soak:
    control: phoenix_control
    baseline: full
    active: full
    window: 20s
    critical: {attribute: process.executable.name, patterns: ["^kubelet$", "^containerd$", "^systemd$"]}
    variants:
      full: {}
      top20:
        processors:
          - topk: {k: 20, keep: {patterns: ["^kubelet$", "^containerd$", "^systemd$"]}}
      by_executable:
        processors:
          - topk: {k: 0, group_by: [process.executable.name]}
  batch: {timeout: 200ms}
exporters:
  prometheus:
    endpoint: "127.0.0.1:%[5]d"
    resource_to_telemetry_conversion: {enabled: true}
service:
  extensions: [health_check, pprof, file_storage/phoenix, phoenix_control]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %[6]d}}}
  pipelines:
    metrics:
      receivers: [simulated_process]
      processors: [experiment/soak, batch]
      exporters: [prometheus]
`

type sample struct {
	at         time.Duration
	rssMiB     float64
	goroutines int
}

func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("opt-in: make soak (SOAK_DURATION=30m)")
	}
	bin := harness.Binary(t)
	health, pprof, api, exporter, self := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	path := filepath.Join(t.TempDir(), "soak.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(config, health, pprof, t.TempDir(), api, exporter, self)), 0o600))
	c := harness.Start(t, bin, path)
	_, err = c.WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", health), 200, time.Minute)
	require.NoError(t, err)
	base := fmt.Sprintf("http://127.0.0.1:%d", api)
	client := &http.Client{Timeout: 10 * time.Second}

	var samples []sample
	var switches, runsStarted, chaos, failures int
	start := time.Now()
	rng := rand.New(rand.NewPCG(7, 7))
	variants := []string{"full", "top20", "by_executable"}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; time.Since(start) < d; i++ {
		<-tick.C
		require.False(t, c.Exited(), "the collector exited")
		switch {
		case i%5 == 0:
			status := call(client, http.MethodPut, base+"/api/v1/experiments/experiment%2Fsoak/active", fmt.Sprintf(`{"variant":%q}`, variants[rng.IntN(3)]))
			switches++
			failures += bad(status, 200)
		case i%61 == 0:
			status := call(client, http.MethodPost, base+"/api/v1/experiments/experiment%2Fsoak/runs", fmt.Sprintf(
				`{"candidate":"top20","warm_up":"0s","duration":"40s","activate":%v,"criteria":{"min_fidelity":0.5}}`, rng.IntN(2) == 0))
			runsStarted++
			failures += bad(status, 201, 409) // 409: the previous run is still going
		case i%17 == 0:
			status := call(client, http.MethodPost, base+"/api/v1/simulators/simulated_process/chaos", `{"kind":"kill","target":{"class":"low"}}`)
			chaos++
			failures += bad(status, 200, 202)
		case i%3 == 0:
			_ = call(client, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", exporter), "") // the backend scrapes
		}
		if i%15 == 0 {
			samples = append(samples, sample{time.Since(start), rss(t, c.Pid()), goroutines(t, pprof)})
		}
	}
	t.Logf("%s: %d switches, %d runs started, %d chaos injections, %d unexpected answers", d, switches, runsStarted, chaos, failures)
	assert.Zero(t, failures)

	// Bounded, no drift: the second half never exceeds the first half's peak by more than a margin.
	half := len(samples) / 2
	var peak1, peak2 sample
	for i, s := range samples {
		p := &peak1
		if i >= half {
			p = &peak2
		}
		p.rssMiB, p.goroutines = max(p.rssMiB, s.rssMiB), max(p.goroutines, s.goroutines)
	}
	for _, s := range samples {
		t.Logf("  %7s  RSS %6.1f MiB  goroutines %d", s.at.Round(time.Second), s.rssMiB, s.goroutines)
	}
	t.Logf("peak RSS %.1f MiB in the first half, %.1f MiB in the second; goroutines %d, %d", peak1.rssMiB, peak2.rssMiB, peak1.goroutines, peak2.goroutines)
	assert.LessOrEqual(t, peak2.rssMiB, peak1.rssMiB*1.15+16, "RSS drifts")
	assert.LessOrEqual(t, peak2.goroutines, peak1.goroutines+10, "goroutines drift")

	// Nothing lost: what the receiver accepted entered the experiment, and what the experiment let flow was
	// sent by the exporter or reported failed (batch, in between, keeps no count of its own). Counted when
	// nothing is in flight (between two collections), so retried until the figures meet.
	selfURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", self)
	var last string
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		m := scrape(t, selfURL)
		accepted := m.sum("otelcol_receiver_accepted_metric_points", `receiver="simulated_process"`)
		refused := m.sum("otelcol_receiver_refused_metric_points", `receiver="simulated_process"`)
		expIn := m.sum("otelcol_processor_incoming_items", `processor="experiment/soak"`)
		expOut := m.sum("otelcol_processor_outgoing_items", `processor="experiment/soak"`)
		sent := m.sum("otelcol_exporter_sent_metric_points", `exporter="prometheus"`)
		failed := m.sum("otelcol_exporter_send_failed_metric_points", `exporter="prometheus"`)
		last = fmt.Sprintf("receiver accepted %v (refused %v), experiment in %v out %v, exporter sent %v failed %v",
			accepted, refused, expIn, expOut, sent, failed)
		if accepted == 0 || accepted+refused != expIn || expOut != sent+failed {
			return fmt.Errorf("%s", last)
		}
		return nil
	}))
	t.Log(last)
	require.NoError(t, c.Stop(30*time.Second))
}

func call(client *http.Client, method, url, body string) int {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func bad(status int, ok ...int) int {
	for _, s := range ok {
		if status == s {
			return 0
		}
	}
	return 1
}

func rss(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m)
	kb, _ := strconv.Atoi(string(m[1]))
	return float64(kb) / 1024
}

func goroutines(t *testing.T, port int) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`goroutine profile: total (\d+)`).FindSubmatch(b)
	require.NotNil(t, m)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// exposition is a Prometheus text page, line by line.
type exposition []string

func scrape(t *testing.T, url string) exposition {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var lines exposition
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// sum adds the values of the metric (with or without the _total suffix) on lines holding every label.
func (e exposition) sum(name string, labels ...string) float64 {
	var total float64
	for _, l := range e {
		metric, rest, ok := strings.Cut(l, "{")
		if !ok || (metric != name && metric != name+"_total") {
			continue
		}
		all := true
		for _, lb := range labels {
			all = all && strings.Contains(rest, lb)
		}
		if !all {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			total += v
		}
	}
	return total
}
