// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package bench holds end-to-end benchmarks of the built binary. They are opt-in (make bench-e2e): they take
// minutes and report figures; they assert only that the runs did what they claim, never timings.
package bench

import (
	"context"
	"fmt"
	"net"
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
func experimentConfig(out string) string {
	return load + `
processors:
  experiment/process:
    baseline: full
    active: full
    mode: shadow
    variants:` + variantsYAML + `
exporters:
  otlp_grpc:
    endpoint: ` + out + `
    tls: {insecure: true}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics:
      receivers: [simulated_process]
      processors: [experiment/process]
      exporters: [otlp_grpc]
`
}

// fanoutConfig: the upstream way — a forward connector fans out to three pipelines, one per variant, each
// exporting OTLP to a backend that would then compare them.
func fanoutConfig(full, top50, byExe string) string {
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
service:
  telemetry: {metrics: {level: none}}
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

// run starts the collector on config, lets it warm up, then measures its CPU time while the input sink
// (the stream equal to the input: full) receives data points. It returns CPU seconds per million input data
// points.
func run(t *testing.T, bin, config string, input *sink, warmup, measure time.Duration) float64 {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	c := harness.Start(t, bin, path)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		if input.datapoints.Load() == 0 {
			return fmt.Errorf("no data yet")
		}
		return nil
	}))
	time.Sleep(warmup)
	pid := c.Pid()
	cpu0, dp0 := procCPU(t, pid), input.datapoints.Load()
	time.Sleep(measure)
	cpu1, dp1 := procCPU(t, pid), input.datapoints.Load()
	require.NoError(t, c.Stop(30*time.Second))
	require.Positive(t, dp1-dp0)
	return (cpu1 - cpu0).Seconds() / (float64(dp1-dp0) / 1e6)
}

// TestExperimentVsForwardConnectors runs the same simulated load (4 hosts × 1,000 processes every second)
// through the built binary both ways, alternating runs, and reports CPU-seconds per million input data
// points. Opt-in: PHOENIX_BENCH_E2E=1 (make bench-e2e).
func TestExperimentVsForwardConnectors(t *testing.T) {
	if os.Getenv("PHOENIX_BENCH_E2E") == "" {
		t.Skip("opt-in benchmark: make bench-e2e")
	}
	bin := harness.Binary(t)
	rounds, measure := 2, 20*time.Second
	if v := os.Getenv("PHOENIX_BENCH_SECONDS"); v != "" {
		s, err := strconv.Atoi(v)
		require.NoError(t, err)
		measure = time.Duration(s) * time.Second
	}
	var exp, fan []float64
	for r := range rounds {
		in := newSink(t)
		exp = append(exp, run(t, bin, experimentConfig(in.addr), in, 3*time.Second, measure))
		full, top, byExe := newSink(t), newSink(t), newSink(t)
		fan = append(fan, run(t, bin, fanoutConfig(full.addr, top.addr, byExe.addr), full, 3*time.Second, measure))
		require.Positive(t, top.datapoints.Load(), "the top50 pipeline exported")
		require.Positive(t, byExe.datapoints.Load(), "the by_executable pipeline exported")
		t.Logf("round %d: experiment %.3f CPU-s per million input points, forward fan-out %.3f, ratio %.2f", r+1, exp[r], fan[r], exp[r]/fan[r])
	}
	e, f := mean(exp), mean(fan)
	t.Logf("mean: experiment %.3f CPU-s per million input points, forward fan-out %.3f, ratio %.2f", e, f, e/f)
	fmt.Printf("e2e: experiment %.3f CPU-s/M dp, forward fan-out %.3f CPU-s/M dp, ratio %.2f\n", e, f, e/f)
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
