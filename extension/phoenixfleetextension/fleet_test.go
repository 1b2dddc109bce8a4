// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"
)

// simAgent is a lightweight OpAMP agent on opamp-go's client: it describes itself as a node, reports
// figures when it is an otelcol-phoenix one, and takes the remote desired state as applied.
type simAgent struct {
	node    string
	client  client.OpAMPClient
	phoenix bool

	mu      sync.Mutex
	desired []byte
	active  string
	stopped sync.Once
}

// stop stops the client once (opamp-go's Stop may be called only once).
func (a *simAgent) stop() { a.stopped.Do(func() { _ = a.client.Stop(context.Background()) }) }

func startSimAgent(t testing.TB, url, node string, phoenix bool) *simAgent {
	return startSimAgentWith(t, url, node, phoenix, simOptions{})
}

// simOptions: a client TLS configuration (a client certificate), an instance UID other than the node's.
type simOptions struct {
	tls *tls.Config
	uid uuid.UUID
	// quiet: no heartbeats (ReportsHeartbeat off), as some agents run; labels: more description attributes.
	quiet  bool
	labels map[string]string
}

func startSimAgentWith(t testing.TB, url, node string, phoenix bool, opts simOptions) *simAgent {
	a := &simAgent{node: node, phoenix: phoenix, active: "full"}
	if url[:4] == "http" {
		a.client = client.NewHTTP(opamplog.Logger{L: zap.NewNop()})
	} else {
		a.client = client.NewWebSocket(opamplog.Logger{L: zap.NewNop()})
	}
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	service := "otelcol-contrib"
	if phoenix {
		service = "otelcol-phoenix"
	}
	require.NoError(t, a.client.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes:    []*protobufs.KeyValue{str("service.name", service), str("service.version", "0.159.0")},
		NonIdentifyingAttributes: append([]*protobufs.KeyValue{str("host.name", node), str("zone", "a")}, extraLabels(opts.labels, str)...),
	}))
	require.NoError(t, a.client.SetHealth(&protobufs.ComponentHealth{Healthy: true, Status: "running"}))
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus | protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig | protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	if opts.quiet {
		caps &^= protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	}
	require.NoError(t, a.client.SetCapabilities(&caps))
	if phoenix {
		require.NoError(t, a.client.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleet.Capability}}))
	}
	interval := 200 * time.Millisecond
	uid := opts.uid
	if uid == uuid.Nil {
		uid = uuid.NewSHA1(uuid.NameSpaceURL, []byte(node))
	}
	require.NoError(t, a.client.Start(context.Background(), types.StartSettings{OpAMPServerURL: url, InstanceUid: types.InstanceUid(uid),
		TLSConfig: opts.tls, HeartbeatInterval: &interval, Callbacks: types.Callbacks{OnMessage: a.onMessage}}))
	t.Cleanup(a.stop)
	return a
}

func extraLabels(labels map[string]string, str func(k, v string) *protobufs.KeyValue) []*protobufs.KeyValue {
	var kvs []*protobufs.KeyValue
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		kvs = append(kvs, str(k, labels[k]))
	}
	return kvs
}

func (a *simAgent) onMessage(_ context.Context, msg *types.MessageData) {
	if msg.RemoteConfig == nil {
		return
	}
	a.mu.Lock()
	a.desired = msg.RemoteConfig.GetConfig().GetConfigMap()[fleet.DesiredStateFile].GetBody()
	a.mu.Unlock()
	_ = a.client.SetRemoteConfigStatus(&protobufs.RemoteConfigStatus{LastRemoteConfigHash: msg.RemoteConfig.ConfigHash,
		Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED})
}

// report sends one figures message.
func (a *simAgent) report() error {
	if !a.phoenix {
		return nil
	}
	fid := 0.99
	f := fleet.Figures{Node: a.node, Version: "0.159.0", At: time.Now(), Experiments: []fleet.Experiment{{
		Name: "experiment/process", Baseline: "full", Active: a.active, Window: time.Second, Complete: true, WindowEnd: time.Now(),
		Variants: []fleet.Variant{{Name: "full", Series: 1000, Fidelity: &fid, CriticalVisible: 1},
			{Name: "top20", Series: 200, Fidelity: &fid, CriticalVisible: 1}, {Name: "by_executable", Series: 50, Fidelity: &fid, CriticalVisible: 1}}}}}
	data, err := fleet.Encode(f)
	if err != nil {
		return err
	}
	ch, err := a.client.SendCustomMessage(&protobufs.CustomMessage{Capability: fleet.Capability, Type: fleet.FiguresType, Data: data})
	if err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s: figures not sent within 10s", a.node)
	}
}

func startFleet(t testing.TB) *phoenixFleet {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "report_interval": "1s"}).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	f := newFleet(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, f.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, f.Shutdown(context.Background())) })
	return f
}

func getAgents(t testing.TB, f *phoenixFleet) []agentView {
	resp, err := http.Get("http://" + f.Addr().String() + "/api/v1/fleet/agents")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct{ Agents []agentView }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Agents
}

// TestAgentsListed: otelcol-phoenix agents over WebSocket and plain HTTP and an otelcol-contrib one are
// listed with their node, version, health and experiments; the contrib one has none; a desired state the
// controller sets reaches each transport and comes back applied; a closed connection shows.
func TestAgentsListed(t *testing.T) {
	f := startFleet(t)
	base := f.Addr().String() + opampPath
	ws := startSimAgent(t, "ws://"+base, "node-a", true)
	httpAgent := startSimAgent(t, "http://"+base, "node-b", true)
	startSimAgent(t, "ws://"+base, "node-c", false)
	require.Eventually(t, func() bool { return len(getAgents(t, f)) == 3 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, ws.report())
	require.NoError(t, httpAgent.report())
	require.Eventually(t, func() bool {
		n := 0
		for _, a := range getAgents(t, f) {
			if len(a.Experiments) == 1 {
				n++
			}
		}
		return n == 2
	}, 10*time.Second, 20*time.Millisecond)
	byNode := map[string]agentView{}
	for _, a := range getAgents(t, f) {
		byNode[a.Node] = a
	}
	assert.True(t, byNode["node-a"].Phoenix)
	assert.Equal(t, "otelcol-phoenix", byNode["node-a"].Service)
	assert.Equal(t, "0.159.0", byNode["node-a"].Version)
	assert.Equal(t, "a", byNode["node-a"].Labels["zone"])
	assert.True(t, byNode["node-a"].Healthy)
	assert.Equal(t, "full", byNode["node-b"].Experiments["experiment/process"].Active)
	assert.False(t, byNode["node-c"].Phoenix, "an otelcol-contrib agent: no experiments")
	assert.Empty(t, byNode["node-c"].Experiments)

	for _, node := range []string{"node-a", "node-b"} {
		for _, ag := range f.agents.list() {
			if ag.node == node {
				ag.setDesired(context.Background(), []byte(fmt.Sprintf("experiments:\n  experiment/process: {active: top20}\n# %s\n", node)))
			}
		}
	}
	for _, a := range []*simAgent{ws, httpAgent} {
		require.Eventually(t, func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.desired != nil
		}, 10*time.Second, 20*time.Millisecond, a.node)
	}
	require.Eventually(t, func() bool {
		for _, a := range getAgents(t, f) {
			if a.Node != "node-c" && a.Desired != "applied" {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "applied, as the agents said")

	ws.stop()
	require.Eventually(t, func() bool {
		for _, a := range getAgents(t, f) {
			if a.Node == "node-a" {
				return !a.Connected
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "a closed connection shows")
}

func nopLogger() *zap.Logger { return zap.NewNop() }

// TestAgentsLiveness: a WebSocket agent that sends no heartbeats (otelcol-contrib's come every 30 s,
// whatever the controller's report_interval) is connected while its connection is; a poller is connected
// while it polls; an agent that says it reports less often than the controller's report_interval
// (phoenix.report_interval) is silent only after three of its own intervals.
func TestAgentsLiveness(t *testing.T) {
	f := startFleet(t) // report_interval 1s
	base := f.Addr().String() + opampPath
	startSimAgentWith(t, "ws://"+base, "quiet-ws", false, simOptions{quiet: true})
	poller := startSimAgentWith(t, "http://"+base, "poller", true, simOptions{quiet: true})
	startSimAgentWith(t, "ws://"+base, "slow", true, simOptions{quiet: true, labels: map[string]string{"phoenix.report_interval": "30s"}})
	connected := func() map[string]bool {
		out := map[string]bool{}
		for _, a := range getAgents(t, f) {
			out[a.Node] = a.Connected
		}
		return out
	}
	require.Eventually(t, func() bool { return len(connected()) == 3 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(3500 * time.Millisecond) // over three of the controller's report intervals, nothing sent
	got := connected()
	assert.True(t, got["quiet-ws"], "an open WebSocket is a connected agent")
	assert.True(t, got["slow"])
	agents := f.rollouts.view(time.Now())
	for _, a := range agents {
		if a.Node == "slow" {
			assert.Equal(t, 30*time.Second, a.ReportInterval, "its own interval")
		}
	}
	poller.stop()
	require.Eventually(t, func() bool { return !connected()["poller"] }, 10*time.Second, 50*time.Millisecond,
		"a poller that stopped polling drops off")
}
