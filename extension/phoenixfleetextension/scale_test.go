// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"
	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

// The scale benchmark (opt-in: PHOENIX_FLEET_SCALE=1, `make bench-fleet`): one controller and 2,000 agents
// on loopback — lightweight opamp-go WebSocket clients in a child process, so that the controller's memory
// is its own — each reporting 3 variants every 30 s. It reports the controller's heap per agent, its CPU
// per report, and how long a wave to 10% of them takes to be delivered and acknowledged (applied).
func TestFleetScale(t *testing.T) {
	if os.Getenv("PHOENIX_FLEET_SCALE") == "" {
		t.Skip("opt-in: PHOENIX_FLEET_SCALE=1 (make bench-fleet)")
	}
	agents := envInt("PHOENIX_FLEET_AGENTS", 2000)
	report := 30 * time.Second
	f := startFleet(t)
	f.rollouts.report = report
	memBefore := memoryInUse()

	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetLoadGenerator$", "-test.v")
	cmd.Env = append(os.Environ(), "PHOENIX_FLEET_LOADGEN=ws://"+f.Addr().String()+opampPath, "PHOENIX_FLEET_AGENTS="+strconv.Itoa(agents),
		"PHOENIX_FLEET_REPORT="+report.String(), "PHOENIX_FLEET_SCALE=")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "loadgen: all connected") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(3 * time.Minute):
		t.Fatal("the load generator did not connect its agents within 3 minutes")
	}
	// Every agent has reported its figures at least once.
	deadline := time.Now().Add(2 * report)
	for reported(f) < agents {
		require.True(t, time.Now().Before(deadline), "only %d of %d agents reported", reported(f), agents)
		time.Sleep(200 * time.Millisecond)
	}
	memAfter := memoryInUse()

	// CPU per report: the controller's process CPU over one report interval (the load generator is another
	// process), over the reports it received.
	before, cpuBefore := reportsReceived(f), processCPU()
	time.Sleep(report)
	after, cpuAfter := reportsReceived(f), processCPU()

	// A wave to 10%: from the rollout's start until every agent of the wave acknowledged the desired state.
	start := time.Now()
	r, err := f.rollouts.start(fleet.RolloutSpec{Experiment: "experiment/process", Candidate: "top20",
		Waves: []fleet.Wave{{Percent: 10}}, Soak: runs.Duration{D: time.Hour}})
	require.NoError(t, err)
	want := len(r.Assigned)
	require.Equal(t, (agents+9)/10, want)
	for applied(f) < want {
		require.Less(t, time.Since(start), time.Minute, "%d of %d applied", applied(f), want)
		time.Sleep(10 * time.Millisecond)
	}
	delivered := time.Since(start)

	perAgent := float64(memAfter-memBefore) / float64(agents)
	cpuPerReport := (cpuAfter - cpuBefore).Seconds() / float64(max(1, after-before))
	t.Logf("fleet scale: %d agents, %s report interval: controller memory (heap and goroutine stacks) %.1f KiB per agent (target ≤ 20), CPU %.0f µs per report (%d reports in %s), "+
		"wave to 10%% (%d agents) delivered and applied in %s (target ≤ 5s)", agents, report, perAgent/1024, cpuPerReport*1e6,
		after-before, report, want, delivered.Round(time.Millisecond))
	fmt.Printf("BENCH fleet_scale agents=%d kib_per_agent=%.1f cpu_us_per_report=%.0f wave10_ms=%d\n", agents, perAgent/1024,
		cpuPerReport*1e6, delivered.Milliseconds())
}

// TestFleetLoadGenerator is the scale benchmark's child process: agents that report and apply.
func TestFleetLoadGenerator(t *testing.T) {
	url := os.Getenv("PHOENIX_FLEET_LOADGEN")
	if url == "" {
		t.Skip("the scale benchmark's load generator")
	}
	n := envInt("PHOENIX_FLEET_AGENTS", 2000)
	report, err := time.ParseDuration(os.Getenv("PHOENIX_FLEET_REPORT"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	clients := make([]*loadAgent, n)
	for i := range n {
		clients[i] = newLoadAgent(t, url, fmt.Sprintf("node-%05d", i), report)
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // a fleet does not connect in one instant either
		}
	}
	fmt.Println("loadgen: all connected")
	sig := make(chan os.Signal, 1)
	signalNotify(sig)
	stop := make(chan struct{})
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(stop) }()
	}
	<-sig
	close(stop)
	wg.Wait()
	for _, c := range clients {
		_ = c.client.Stop(context.Background())
	}
}

type loadAgent struct {
	client client.OpAMPClient
	node   string
	report time.Duration
	mu     sync.Mutex
	active string
}

func newLoadAgent(t *testing.T, url, node string, report time.Duration) *loadAgent {
	a := &loadAgent{client: client.NewWebSocket(opamplog.Logger{L: zap.NewNop()}), node: node, report: report, active: "full"}
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	require.NoError(t, a.client.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{str("service.name", "otelcol-phoenix"), str("service.version", "0.159.0")},
		NonIdentifyingAttributes: []*protobufs.KeyValue{str("host.name", node), str("os.type", "linux"),
			str("phoenix.experiments", "experiment/process")}}))
	require.NoError(t, a.client.SetHealth(&protobufs.ComponentHealth{Healthy: true, Status: "running"}))
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus | protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig | protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	require.NoError(t, a.client.SetCapabilities(&caps))
	require.NoError(t, a.client.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleet.Capability}}))
	uid := uuid.NewSHA1(uuid.NameSpaceURL, []byte(node))
	require.NoError(t, a.client.Start(context.Background(), types.StartSettings{OpAMPServerURL: url, InstanceUid: types.InstanceUid(uid),
		HeartbeatInterval: &report, Callbacks: types.Callbacks{OnMessage: func(_ context.Context, msg *types.MessageData) {
			if msg.RemoteConfig == nil {
				return
			}
			a.mu.Lock()
			a.active = "top20"
			a.mu.Unlock()
			_ = a.client.SetRemoteConfigStatus(&protobufs.RemoteConfigStatus{LastRemoteConfigHash: msg.RemoteConfig.ConfigHash,
				Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED})
		}}}))
	return a
}

// run reports 3 variants every report interval, the first soon (spread over the interval).
func (a *loadAgent) run(stop chan struct{}) {
	fid := 0.99
	first := time.Duration(uint64(uuid.NewSHA1(uuid.NameSpaceURL, []byte(a.node)).ID()) % uint64(a.report/10))
	timer := time.NewTimer(first)
	for {
		select {
		case <-stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		a.mu.Lock()
		active := a.active
		a.mu.Unlock()
		f := fleet.Figures{Node: a.node, Version: "0.159.0", At: time.Now(), Experiments: []fleet.Experiment{{
			Name: "experiment/process", Baseline: "full", Active: active, Window: time.Minute, Complete: true, WindowEnd: time.Now(),
			Variants: []fleet.Variant{{Name: "by_executable", Series: 300, Fidelity: &fid, CriticalVisible: 1, DatapointsPerSecond: 60, BytesPerSecond: 3000},
				{Name: "full", Series: 12000, Fidelity: &fid, CriticalVisible: 1, DatapointsPerSecond: 2400, BytesPerSecond: 120000},
				{Name: "top20", Series: 900, Fidelity: &fid, CriticalVisible: 1, DatapointsPerSecond: 180, BytesPerSecond: 9000}}}}}
		data, _ := fleet.Encode(f)
		_, _ = a.client.SendCustomMessage(&protobufs.CustomMessage{Capability: fleet.Capability, Type: fleet.FiguresType, Data: data})
		timer.Reset(a.report)
	}
}

func reported(f *phoenixFleet) int {
	n := 0
	for _, a := range f.agents.list() {
		a.mu.Lock()
		if a.figures != nil {
			n++
		}
		a.mu.Unlock()
	}
	return n
}

func reportsReceived(f *phoenixFleet) int { return int(f.agents.reports.Load()) }

func applied(f *phoenixFleet) int {
	n := 0
	for _, a := range f.agents.list() {
		a.mu.Lock()
		if a.desired != nil && a.remote != nil && a.remote.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED &&
			string(a.remote.LastRemoteConfigHash) == string(a.desiredHash) {
			n++
		}
		a.mu.Unlock()
	}
	return n
}

// memoryInUse is what the agents' connections hold: heap, and the stacks of their goroutines.
func memoryInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func signalNotify(c chan os.Signal) { signal.Notify(c, syscall.SIGTERM, os.Interrupt) }
