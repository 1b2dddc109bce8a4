// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package bench holds end-to-end benchmarks of the built binary. They are opt-in (make bench-e2e): they take
// minutes and report figures; they assert only that the runs did what they claim, never timings.
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // exporters compress by default

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// sink is an OTLP/gRPC metrics endpoint on loopback that counts what it receives.
type sink struct {
	pmetricotlp.UnimplementedGRPCServer
	datapoints atomic.Int64
	addr       string
}

func (s *sink) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	s.datapoints.Add(int64(req.Metrics().DataPointCount()))
	return pmetricotlp.NewExportResponse(), nil
}

func newSink(t *testing.T) *sink {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	s := &sink{addr: lis.Addr().String()}
	pmetricotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

const load = `
receivers:
  simulated_process:
    collection_interval: 1s
    initial_delay: 0s
    processes: 1000
    hosts: 4
    seed: 7
    profile: realistic
`

// telemetry exposes the collector's own metrics on port, for the exact count of input points; both ways
// carry it.
func telemetry(port int) string {
	return fmt.Sprintf(`
  telemetry:
    metrics:
      level: basic
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}`, port)
}

const variantsYAML = `
      full: {}
      top50:
        processors:
          - topk: {k: 50}
      by_executable:
        processors:
          - topk: {k: 0, group_by: [process.executable.name]}
`

// experimentConfig: one pipeline; the experiment runs the three variants and exports the active one.
func experimentConfig(active, out string, port int) string {
	return load + `
processors:
  experiment/process:
    baseline: full
    active: ` + active + `
    mode: shadow
    variants:` + variantsYAML + `
exporters:
  otlp_grpc:
    endpoint: ` + out + `
    tls: {insecure: true}
service:` + telemetry(port) + `
  pipelines:
    metrics:
      receivers: [simulated_process]
      processors: [experiment/process]
      exporters: [otlp_grpc]
`
}

// fanoutConfig: the upstream way — a forward connector fans out to three pipelines, one per variant, each
// exporting OTLP to a backend that would then compare them.
func fanoutConfig(full, top50, byExe string, port int) string {
	return load + `
connectors:
  forward/fanout: {}
processors:
  topk/top50: {k: 50}
  topk/by_executable: {k: 0, group_by: [process.executable.name]}
exporters:
  otlp_grpc/full:
    endpoint: ` + full + `
    tls: {insecure: true}
  otlp_grpc/top50:
    endpoint: ` + top50 + `
    tls: {insecure: true}
  otlp_grpc/by_executable:
    endpoint: ` + byExe + `
    tls: {insecure: true}
service:` + telemetry(port) + `
  pipelines:
    metrics/in:
      receivers: [simulated_process]
      exporters: [forward/fanout]
    metrics/full:
      receivers: [forward/fanout]
      exporters: [otlp_grpc/full]
    metrics/top50:
      receivers: [forward/fanout]
      processors: [topk/top50]
      exporters: [otlp_grpc/top50]
    metrics/by_executable:
      receivers: [forward/fanout]
      processors: [topk/by_executable]
      exporters: [otlp_grpc/by_executable]
`
}

// procCPU is a process's user+system CPU time, from /proc.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// inputPoints reads the data points the simulated_process receiver has produced so far from the collector's
// own telemetry.
func inputPoints(t *testing.T, port int) float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var n float64
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "otelcol_receiver_accepted_metric_points") && strings.Contains(line, `receiver="simulated_process"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			require.NoError(t, err, line)
			n += v
			found = true
		}
	}
	require.True(t, found, "no otelcol_receiver_accepted_metric_points for simulated_process in:\n%s", body)
	return n
}

// arm is one way of running the load: a collector configuration exporting to its own sinks.
type arm struct {
	name   string
	sinks  int
	config func(sinks []*sink, port int) string
}

// running is an arm's collector, exporting to every sink.
type running struct {
	t     *testing.T
	c     *harness.Collector
	port  int
	sinks []*sink
}

// sample is a running collector's CPU time, input points and exported points at one moment.
type sample struct {
	cpu time.Duration
	in  float64
	out []int64
}

// start runs the arm's collector and waits until every sink has received data.
func (a arm) start(t *testing.T, bin string) *running {
	r := &running{t: t, port: harness.FreePort(t)}
	for range a.sinks {
		r.sinks = append(r.sinks, newSink(t))
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(a.config(r.sinks, r.port)), 0o600))
	r.c = harness.Start(t, bin, path)
	require.NoError(t, r.c.WaitFor(30*time.Second, func() error {
		for i, s := range r.sinks {
			if s.datapoints.Load() == 0 {
				return fmt.Errorf("%s: no data in sink %d yet", a.name, i)
			}
		}
		return nil
	}))
	return r
}

func (r *running) sample() sample {
	s := sample{cpu: procCPU(r.t, r.c.Pid()), in: inputPoints(r.t, r.port)}
	for _, k := range r.sinks {
		s.out = append(s.out, k.datapoints.Load())
	}
	return s
}

// perMillion is the CPU seconds per million input points between two samples; every sink must have
// received data in between.
func (r *running) perMillion(s0, s1 sample) float64 {
	for i := range r.sinks {
		require.Greater(r.t, s1.out[i], s0.out[i], "sink %d received data while measured", i)
	}
	require.Positive(r.t, s1.in-s0.in)
	return (s1.cpu - s0.cpu).Seconds() / ((s1.in - s0.in) / 1e6)
}

func (r *running) stop() { require.NoError(r.t, r.c.Stop(30*time.Second)) }

// TestExperimentVsForwardConnectors runs the same simulated load (4 hosts × 1,000 processes every second)
// through the built binary three ways and reports CPU-seconds per million input points:
//   - the experiment with the full stream flowing on (evaluating, nothing changed downstream yet);
//   - the experiment with top50 flowing on (reducing, still measuring the full baseline in-process);
//   - the upstream way: a forward connector fans out to the three variant pipelines, each exporting to a
//     backend that would compare them, so the full stream is always shipped.
//
// It measures two ways, each in the collectors' steady state, after a warm-up: a collector's first ~15 s
// carry one-off costs (the heap growing to its working size faults pages in; the exporters' queues and
// connections fill) that a DaemonSet pod pays once in its life.
//   - Alternating: each round runs the three one after the other, each round in a different order.
//   - Side by side: the three run at once and are measured over the same windows, so a slow spell of this
//     shared VM falls on all of them alike; together they use a fraction of one core, so they rarely wait
//     for each other.
//
// Opt-in: PHOENIX_BENCH_E2E=1 (make bench-e2e); PHOENIX_BENCH_ROUNDS (alternating rounds, default 3),
// PHOENIX_BENCH_WINDOWS (side-by-side windows, default 6), PHOENIX_BENCH_SECONDS (seconds per run or window,
// default 20), PHOENIX_BENCH_WARMUP (seconds before measuring, default 15).
func TestExperimentVsForwardConnectors(t *testing.T) {
	if os.Getenv("PHOENIX_BENCH_E2E") == "" {
		t.Skip("opt-in benchmark: make bench-e2e")
	}
	bin := harness.Binary(t)
	rounds, windows := envInt(t, "PHOENIX_BENCH_ROUNDS", 3), envInt(t, "PHOENIX_BENCH_WINDOWS", 6)
	seconds := envInt(t, "PHOENIX_BENCH_SECONDS", 20)
	warmup := time.Duration(envInt(t, "PHOENIX_BENCH_WARMUP", 15)) * time.Second
	measure := time.Duration(seconds) * time.Second
	experiment := func(active string) func([]*sink, int) string {
		return func(s []*sink, port int) string { return experimentConfig(active, s[0].addr, port) }
	}
	arms := []arm{
		{"experiment (full flows)", 1, experiment("full")},
		{"experiment (top50 flows)", 1, experiment("top50")},
		{"forward fan-out", 3, func(s []*sink, port int) string {
			return fanoutConfig(s[0].addr, s[1].addr, s[2].addr, port)
		}},
	}
	b := bench{t: t, bin: bin, arms: arms, warmup: warmup, measure: measure}
	b.report(fmt.Sprintf("alternating (%d rounds × %ds after %s warm-up)", rounds, seconds, warmup), b.alternating(rounds))
	b.report(fmt.Sprintf("side by side (%d windows × %ds after %s warm-up)", windows, seconds, warmup), b.sideBySide(windows))
}

// bench measures the arms; its results are CPU-s per million input points, per arm, per round or window.
type bench struct {
	t               *testing.T
	bin             string
	arms            []arm // the last is the fan-out the others are compared with
	warmup, measure time.Duration
}

// alternating runs the arms one at a time, each round in a different order.
func (b bench) alternating(rounds int) [][]float64 {
	cpu := make([][]float64, len(b.arms))
	for r := range rounds {
		for k := range b.arms {
			a := (r + k) % len(b.arms)
			run := b.arms[a].start(b.t, b.bin)
			time.Sleep(b.warmup)
			s0 := run.sample()
			time.Sleep(b.measure)
			cpu[a] = append(cpu[a], run.perMillion(s0, run.sample()))
			run.stop()
		}
		b.log("alternating, round", r, cpu)
	}
	return cpu
}

// sideBySide runs the arms at once and reads them over the same windows.
func (b bench) sideBySide(windows int) [][]float64 {
	runs := make([]*running, len(b.arms))
	for a := range b.arms {
		runs[a] = b.arms[a].start(b.t, b.bin)
	}
	time.Sleep(b.warmup)
	cpu := make([][]float64, len(b.arms))
	last := make([]sample, len(b.arms))
	for a, run := range runs {
		last[a] = run.sample()
	}
	for w := range windows {
		time.Sleep(b.measure)
		for a, run := range runs {
			s := run.sample()
			cpu[a] = append(cpu[a], run.perMillion(last[a], s))
			last[a] = s
		}
		b.log("side by side, window", w, cpu)
	}
	for _, run := range runs {
		run.stop()
	}
	return cpu
}

func (b bench) log(what string, i int, cpu [][]float64) {
	b.t.Logf("%s %d: CPU-s per million input points: %s %.3f, %s %.3f, %s %.3f (ratios %.2f, %.2f)", what, i+1,
		b.arms[0].name, cpu[0][i], b.arms[1].name, cpu[1][i], b.arms[2].name, cpu[2][i], cpu[0][i]/cpu[2][i], cpu[1][i]/cpu[2][i])
}

func (b bench) report(how string, cpu [][]float64) {
	ef, et, f := mean(cpu[0]), mean(cpu[1]), mean(cpu[2])
	fmt.Printf("e2e %s: CPU-s per million input points: experiment, full flows %.3f (%.2f× fan-out); experiment, top50 flows %.3f (%.2f× fan-out); forward fan-out %.3f\n",
		how, ef, ef/f, et, et/f, f)
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	require.Positive(t, n, name)
	return n
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
