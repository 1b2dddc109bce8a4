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

// run starts the collector on config, waits until every sink receives data, lets it warm up, then measures
// its CPU time against the points its receiver produced. It returns CPU seconds per million input points.
func run(t *testing.T, bin, config string, port int, sinks []*sink, warmup, measure time.Duration) float64 {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	c := harness.Start(t, bin, path)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		for i, s := range sinks {
			if s.datapoints.Load() == 0 {
				return fmt.Errorf("no data in sink %d yet", i)
			}
		}
		return nil
	}))
	time.Sleep(warmup)
	pid := c.Pid()
	cpu0, in0 := procCPU(t, pid), inputPoints(t, port)
	out0 := make([]int64, len(sinks))
	for i, s := range sinks {
		out0[i] = s.datapoints.Load()
	}
	time.Sleep(measure)
	cpu1, in1 := procCPU(t, pid), inputPoints(t, port)
	for i, s := range sinks {
		require.Greater(t, s.datapoints.Load(), out0[i], "sink %d received data while measured", i)
	}
	require.NoError(t, c.Stop(30*time.Second))
	require.Positive(t, in1-in0)
	return (cpu1 - cpu0).Seconds() / ((in1 - in0) / 1e6)
}

// TestExperimentVsForwardConnectors runs the same simulated load (4 hosts × 1,000 processes every second)
// through the built binary three ways and reports CPU-seconds per million input points:
//   - the experiment with the full stream flowing on (evaluating, nothing changed downstream yet);
//   - the experiment with top50 flowing on (reducing, still measuring the full baseline in-process);
//   - the upstream way: a forward connector fans out to the three variant pipelines, each exporting to a
//     backend that would compare them, so the full stream is always shipped.
//
// Each round runs the three once, each round in a different order, so that a slow spell of the machine does
// not always fall on the same one. Opt-in: PHOENIX_BENCH_E2E=1 (make bench-e2e); PHOENIX_BENCH_ROUNDS
// (default 3) and PHOENIX_BENCH_SECONDS (measured seconds per run, default 20).
func TestExperimentVsForwardConnectors(t *testing.T) {
	if os.Getenv("PHOENIX_BENCH_E2E") == "" {
		t.Skip("opt-in benchmark: make bench-e2e")
	}
	bin := harness.Binary(t)
	rounds, seconds := envInt(t, "PHOENIX_BENCH_ROUNDS", 3), envInt(t, "PHOENIX_BENCH_SECONDS", 20)
	measure := time.Duration(seconds) * time.Second
	experiment := func(active string) func() float64 {
		return func() float64 {
			out, port := newSink(t), harness.FreePort(t)
			return run(t, bin, experimentConfig(active, out.addr, port), port, []*sink{out}, 3*time.Second, measure)
		}
	}
	arms := []struct {
		name string
		run  func() float64
	}{
		{"experiment (full flows)", experiment("full")},
		{"experiment (top50 flows)", experiment("top50")},
		{"forward fan-out", func() float64 {
			full, top, byExe, port := newSink(t), newSink(t), newSink(t), harness.FreePort(t)
			return run(t, bin, fanoutConfig(full.addr, top.addr, byExe.addr, port), port, []*sink{full, top, byExe}, 3*time.Second, measure)
		}},
	}
	cpu := make([][]float64, len(arms)) // per arm, per round
	for r := range rounds {
		for k := range arms {
			a := (r + k) % len(arms)
			cpu[a] = append(cpu[a], arms[a].run())
		}
		t.Logf("round %d: CPU-s per million input points: %s %.3f, %s %.3f, %s %.3f (ratios %.2f, %.2f)", r+1,
			arms[0].name, cpu[0][r], arms[1].name, cpu[1][r], arms[2].name, cpu[2][r], cpu[0][r]/cpu[2][r], cpu[1][r]/cpu[2][r])
	}
	ef, et, f := mean(cpu[0]), mean(cpu[1]), mean(cpu[2])
	fmt.Printf("e2e (%d rounds × %ds): CPU-s per million input points: experiment, full flows %.3f (%.2f× fan-out); experiment, top50 flows %.3f (%.2f× fan-out); forward fan-out %.3f\n",
		rounds, seconds, ef, ef/f, et, et/f, f)
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
