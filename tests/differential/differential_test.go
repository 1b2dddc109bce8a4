// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package differential checks otelcol-phoenix's reductions where users read them: in a real Prometheus. Each
// case runs the built binary with every variant of examples/experiment.yaml in `tee` mode (all variants'
// outputs flow, tagged phoenix.variant) into Debian's `prometheus` by remote write, and compares each variant
// with the baseline through PromQL over Prometheus' HTTP API: totals of counters (rate, increase) and
// gauges, non-process metrics passed through unchanged, no counter resets or doubled points made by the
// reduction, series that leave ending with an end point, and the experiment's own figures (fidelity,
// series) against the same figures computed by PromQL on the same outputs. See README.md.
package differential

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const (
	// processInterval is the collection interval of every process receiver; the PromQL windows and the
	// instants compared are multiples of it.
	processInterval = 2 * time.Second
	// lookbackDelta is Prometheus' --query.lookback-delta: how long after its last point a series counts in
	// an instant query. It is the one knob that decides how long an exited process stays in the backend's
	// sum(): exited processes must leave it promptly, in the baseline as in `other`, which stops carrying
	// an exited member at the next collection. Points reach Prometheus by remote write with their own
	// timestamps, so with one interval a series that gets no new point — an exited process, in the
	// baseline as in a variant — leaves sum() exactly when the next collection no longer has it. The
	// default (5m) would keep every exited process in the baseline's sum() for five minutes. This takes
	// the place of the prometheus exporter's metric_expiration, which decides the same when Prometheus
	// scrapes that exporter; README.md says why the suite does not scrape it (measured: with 6s, three
	// intervals, the baseline's own sum(process_memory_usage_bytes) is +38% under high_churn). Series
	// slower than this (two_receivers_one_host's 6s system receiver) count only in the interval after each
	// of their points, in every variant alike.
	lookbackDelta = processInterval
	// outOfOrderWindow lets Prometheus take points older than a series' newest: the gateway's agents
	// send through a 10-consumer queue, so the tee collector may get a host's batches out of order.
	outOfOrderWindow = time.Minute
	// experimentWindow is the experiment's accounting window. The experiment puts a batch in a window by
	// when it passes, Prometheus by its points' collection time, a moment earlier; so up to one batch at
	// each end can fall in different windows. Under high_churn one batch brings ~3.5% of a 30s window's
	// series; 40s keeps that well inside seriesTolerance and still gives two windows in a case's run.
	experimentWindow = 40 * time.Second
	// warmUp passes after every variant's first sample before anything is compared: topk needs two points
	// of a counter to rank it by rate.
	warmUp = 20 * time.Second
	// measureSpan is how long the totals are compared, at an instant every collection interval.
	measureSpan = 60 * time.Second
	// ghostRead is how often the ends sink is checked for series gone without an end point.
	ghostRead = 5 * time.Second
	// minWindows complete experiment windows after the warm-up are compared with PromQL.
	minWindows = 2

	totalsTolerance   = 0.01 // relative, mean over the instants
	fidelityTolerance = 0.02 // absolute, on fidelity in [0,1]
	seriesTolerance   = 0.05 // relative

	baselineVariant = "full"
	// controlVariant is a second pass-through variant added to every case: the oracle's own control. Its
	// output is the baseline's, so every figure must match exactly; a breach on it is a bug of the oracle
	// (or of tee), not of a reduction.
	controlVariant = "full_copy"
)

// windowIntervals are the PromQL range windows, in collection intervals (2, 5 and 10: 4s, 10s, 20s).
var windowIntervals = []int{2, 5, 10}

// TestMain lets every case run at once: they spend most of their time waiting for data, and -parallel
// defaults to GOMAXPROCS (2 here), which would run them two by two. An explicit -parallel is kept.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(len(topologies), runtime.GOMAXPROCS(0))))
	}
	m.Run()
}

// TestDifferential runs the real-host topologies one at a time, then the others as parallel subtests; run
// one with -run TestDifferential/<name>.
func TestDifferential(t *testing.T) {
	bin := harness.Binary(t)
	harness.NeedTool(t, "prometheus", "prometheus")
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.alone {
				t.Parallel() // parallel subtests start once the sequential ones (alone) are done
			}
			runCase(t, bin, tc.name, tc.build(t, bin))
		})
	}
}

// topology is one case's collector setup: what feeds the experiment's pipeline.
type topology struct {
	receivers map[string]any // the tee collector's receivers
	pipeline  []string       // the receivers of its metrics pipeline
	// variants are added to examples/experiment.yaml's variants for this case.
	variants map[string]any
	// start starts what feeds the collector's receivers from outside (agents, an OTLP sender), once the
	// collector is healthy; nil when the receivers produce everything.
	start func(t *testing.T)
}

// runCase starts the tee collector and Prometheus, waits for the data, then compares every variant with the
// baseline and reports every breach at once.
func runCase(t *testing.T, bin, name string, topo topology) {
	health, control := harness.FreePort(t), harness.FreePort(t)
	ends := newEndsSink(t)
	experiment := exampleExperiment(t)
	variants := experiment["variants"].(map[string]any)
	variants[controlVariant] = map[string]any{}
	for k, v := range topo.variants {
		variants[k] = v
	}
	prom := harness.StartPrometheusWith(t, harness.PrometheusOptions{RemoteWrite: true, OutOfOrderWindow: outOfOrderWindow,
		Flags: []string{"--query.lookback-delta=" + lookbackDelta.String()}})
	c := harness.Start(t, bin, writeYAML(t, "collector.yaml",
		teeConfig(health, control, prom.RemoteWriteURL(), ends.addr, experiment, topo)))
	if _, err := c.WaitHTTP("http://"+loopback(health)+"/", http.StatusOK, 60*time.Second); err != nil {
		t.Fatalf("tee collector not healthy: %v", err)
	}
	if topo.start != nil {
		topo.start(t)
	}

	names := make([]string, 0, len(variants))
	for v := range variants {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		q := fmt.Sprintf(`count(last_over_time(process_cpu_time_seconds_total{phoenix_variant=%q}[1m])) > 0`, v)
		require.NoError(t, prom.WaitQuery(90*time.Second, q), "variant %s never reached Prometheus", v)
	}
	first := time.Now()
	maxW := time.Duration(windowIntervals[len(windowIntervals)-1]) * processInterval
	end := first.Add(warmUp + maxW + measureSpan)
	t.Logf("%s: all %d variants in Prometheus at %s; comparing until %s (lookback %s, window %s)",
		name, len(names), first.Format(time.TimeOnly), end.Format(time.TimeOnly), lookbackDelta, experimentWindow)

	o := &oracle{t: t, prom: prom, caseName: name, variants: names}
	w := &watcher{api: "http://" + loopback(control), ends: ends, o: o}
	windows := w.run(t, c, first.Add(warmUp), end)
	// Query only what Prometheus has: every variant's points up to a collection after the last instant
	// and window compared (remote write may lag behind on a loaded machine).
	last := end
	for _, win := range windows {
		last = maxTime(last, win.End)
	}
	if err := waitIngested(prom, names, last.Add(processInterval)); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	if c.Exited() {
		t.Fatalf("tee collector exited during the run:\n%s", c.Logs())
	}

	o.span = [2]time.Time{first, time.Now()}
	o.backendHealth()
	o.totals(end)
	o.passThrough(end)
	o.resets(end)
	o.onePointPerInterval(end)
	o.reportGhosts()
	o.experimentFigures(windows)
	if len(windows) < minWindows {
		o.breach("experiment: %d complete windows after the warm-up, want %d", len(windows), minWindows)
	}
	o.report()
}

// waitIngested waits (up to a minute) until Prometheus has a point at or after `after` for every variant.
func waitIngested(prom *harness.Prometheus, variants []string, after time.Time) error {
	deadline := time.Now().Add(time.Minute)
	for {
		samples, err := prom.Query(`max by (phoenix_variant) (timestamp(process_cpu_time_seconds_total))`, time.Now())
		if err == nil {
			newest := map[string]float64{}
			for _, s := range samples {
				newest[s.Labels["phoenix_variant"]] = s.Value
			}
			done := true
			for _, v := range variants {
				done = done && newest[v] >= float64(after.UnixMilli())/1e3
			}
			if done {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Prometheus has no point after %s for every variant within a minute (last error: %v)",
				after.Format(time.TimeOnly), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// teeConfig is the collector under test: the case's receivers → memory_limiter → experiment (tee, the
// example's variants, a control extension to read its figures) → batch → prometheus_remote_write into
// Prometheus, and otlp_grpc into the ends sink.
func teeConfig(health, control int, remoteWrite, sink string, experiment map[string]any, topo topology) map[string]any {
	experiment["mode"] = "tee"
	experiment["variant_attribute"] = "phoenix.variant"
	experiment["window"] = experimentWindow.String()
	experiment["control"] = "phoenix_control"
	return map[string]any{
		"extensions": map[string]any{
			"health_check":    map[string]any{"endpoint": loopback(health)},
			"phoenix_control": map[string]any{"endpoint": loopback(control)},
		},
		"receivers": topo.receivers,
		"processors": map[string]any{
			"memory_limiter":     map[string]any{"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
			"experiment/process": experiment,
			"batch":              map[string]any{},
		},
		"exporters": map[string]any{
			"prometheus_remote_write": map[string]any{
				"endpoint":                         remoteWrite,
				"resource_to_telemetry_conversion": map[string]any{"enabled": true},
				"target_info":                      map[string]any{"enabled": false},
				// one consumer: every series' points arrive in order (the default 5 may reorder them)
				"remote_write_queue": map[string]any{"num_consumers": 1},
			},
			"otlp_grpc": map[string]any{"endpoint": sink, "tls": map[string]any{"insecure": true}},
		},
		"service": map[string]any{
			"extensions": []string{"health_check", "phoenix_control"},
			"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
			"pipelines": map[string]any{
				"metrics": map[string]any{
					"receivers":  topo.pipeline,
					"processors": []string{"memory_limiter", "experiment/process", "batch"},
					"exporters":  []string{"prometheus_remote_write", "otlp_grpc"},
				},
			},
		},
	}
}

// exampleExperiment returns processors.experiment/process of examples/experiment.yaml: its baseline,
// variants and critical list, as every case runs them.
func exampleExperiment(t *testing.T) map[string]any {
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "examples", "experiment.yaml"))
	require.NoError(t, err)
	var doc struct {
		Processors map[string]map[string]any `yaml:"processors"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	exp, ok := doc.Processors["experiment/process"]
	require.True(t, ok, "examples/experiment.yaml has no processors.experiment/process")
	require.Equal(t, baselineVariant, exp["baseline"], "the suite compares against the example's baseline")
	require.Contains(t, exp, "critical")
	variants, ok := exp["variants"].(map[string]any)
	require.True(t, ok && len(variants) >= 2, "examples/experiment.yaml: variants missing")
	return exp
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func writeYAML(t *testing.T, name string, v any) string {
	data, err := yaml.Marshal(v)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}
