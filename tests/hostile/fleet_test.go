// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"
	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// goodRollout is a rollout the controller would start: its one agent reports the experiment and candidate.
const goodRollout = `{"experiment":"experiment/process","candidate":"top20","waves":[{"count":1}],"soak":"1m"}`

// fleetConfig is a fleet controller with phoenix_fleet's defaults on loopback ports (no auth: the guards are
// on), pprof beside it, and extra settings of phoenix_fleet (indented under it).
func fleetConfig(t *testing.T, pprofPort, port int, extra string) string {
	config := filepath.Join(t.TempDir(), "fleet.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`extensions:
  pprof:
    endpoint: 127.0.0.1:%d
  phoenix_fleet:
    endpoint: 127.0.0.1:%d
%s
receivers:
  simulated_process:
    collection_interval: 10s
    processes: 10
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
  extensions: [pprof, phoenix_fleet]
  pipelines:
    metrics:
      receivers: [simulated_process]
      exporters: [nop]
`, pprofPort, port, extra)), 0o600))
	return config
}

// startFleetTarget runs a fleet controller and one otelcol-phoenix agent connected, so that a rejected
// rollout is one that would otherwise have started. With separateAPI the fleet API is on a server of its own
// (api:), and that server is the target; the agents' endpoint then serves OpAMP only.
func startFleetTarget(t *testing.T, separateAPI bool) (*target, *harness.Collector) {
	port, apiPort, pprofPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	extra := ""
	if separateAPI {
		extra = fmt.Sprintf("    api:\n      endpoint: 127.0.0.1:%d", apiPort)
	} else {
		apiPort = port
	}
	c := harness.Start(t, harness.Binary(t), fleetConfig(t, pprofPort, port, extra))
	api := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	_, err := c.WaitHTTP(api+"/api/v1/fleet/info", http.StatusOK, 60*time.Second)
	require.NoError(t, err, "the controller serves its API")
	uid := startAgent(t, "ws://127.0.0.1:"+strconv.Itoa(port)+"/v1/opamp", "node-a")
	reads := []string{"/api/v1/fleet/rollouts", "/api/v1/fleet/agents", "/api/v1/fleet/agents/" + uid, "/"}
	if !separateAPI {
		reads = append(reads, "/v1/opamp")
	}
	tg := &target{api: api, addr: strings.TrimPrefix(api, "http://"), pprof: "http://127.0.0.1:" + strconv.Itoa(pprofPort), pid: c.Pid(),
		info:    "/api/v1/fleet/info",
		reads:   reads,
		writes:  []request{{http.MethodPost, "/api/v1/fleet/rollouts", goodRollout}},
		maxBody: 1 << 20,
		events:  "/api/v1/fleet/events", // "rollout" events only when one changes: none unasked
		paths: []string{"/api/v1/fleet/info", "/api/v1/fleet/agents", "/api/v1/fleet/agents/" + uid,
			"/api/v1/fleet/experiments/experiment%2Fprocess", "/api/v1/fleet/rollouts", "/api/v1/fleet/rollouts/x",
			"/api/v1/fleet/rollouts/x/pause", "/api/v1/fleet/rollouts/x/rollback", "/api/v1/fleet/events",
			"/api/v1/fleet/openapi.yaml", "/metrics", "/v1/opamp", "/ui/", "/ui/../../etc/passwd", "/"},
		fuzzBody: func(rng *rand.Rand, junk func(int) string) string {
			return `{"experiment":"experiment/process","candidate":` + strconv.Quote(junk(rng.IntN(20))) +
				`,"waves":[{"percent":"` + junk(5) + `"}]}`
		},
	}
	require.NoError(t, c.WaitFor(10*time.Second, func() error {
		return harness.ExpectBodyContains(api+"/api/v1/fleet/agents", `"top20"`)
	}), "the agent's figures are in")
	return tg, c
}

// startAgent connects an otelcol-phoenix agent for node over WebSocket that reports experiment/process with
// a top20 variant once; it returns its instance UID.
func startAgent(t *testing.T, url, node string) string {
	uid, send := connectAgent(t, url, node)
	require.Eventually(t, send, 30*time.Second, 50*time.Millisecond, "figures sent")
	return uid
}

// connectAgent starts the agent; send tries once to send its figures, false until it is connected.
func connectAgent(t *testing.T, url, node string) (uid string, send func() bool) {
	c := client.NewWebSocket(opamplog.Logger{L: zap.NewNop()})
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	require.NoError(t, c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes:    []*protobufs.KeyValue{str("service.name", "otelcol-phoenix"), str("service.version", "0.159.0")},
		NonIdentifyingAttributes: []*protobufs.KeyValue{str("host.name", node)},
	}))
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus | protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	require.NoError(t, c.SetCapabilities(&caps))
	require.NoError(t, c.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleet.Capability}}))
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(node))
	require.NoError(t, c.Start(context.Background(), types.StartSettings{OpAMPServerURL: url, InstanceUid: types.InstanceUid(id)}))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	fid := 0.99
	data, err := fleet.Encode(fleet.Figures{Node: node, Version: "0.159.0", At: time.Now(), Experiments: []fleet.Experiment{{
		Name: "experiment/process", Baseline: "full", Active: "full", Window: time.Second, Complete: true, WindowEnd: time.Now(),
		Variants: []fleet.Variant{{Name: "full", Series: 1000, Fidelity: &fid, CriticalVisible: 1},
			{Name: "top20", Series: 200, Fidelity: &fid, CriticalVisible: 1}}}}})
	require.NoError(t, err)
	return id.String(), func() bool {
		_, err := c.SendCustomMessage(&protobufs.CustomMessage{Capability: fleet.Capability, Type: fleet.FiguresType, Data: data})
		return err == nil
	}
}

// TestHostileFleet runs the same attacks at phoenix_fleet's API: served beside the agents' OpAMP endpoint,
// and on a server of its own (api:).
func TestHostileFleet(t *testing.T) {
	t.Parallel()
	for _, separateAPI := range []bool{false, true} {
		name := "one server"
		if separateAPI {
			name = "api server"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			attackFleet(t, separateAPI)
		})
	}
}

func attackFleet(t *testing.T, separateAPI bool) {
	tg, c := startFleetTarget(t, separateAPI)
	client := &http.Client{Timeout: 10 * time.Second}
	g0, rss0 := tg.baseline(t)
	rollouts0, agents0 := tg.get(t, "/api/v1/fleet/rollouts"), agentIDs(tg.get(t, "/api/v1/fleet/agents"))

	t.Run("slowloris", func(t *testing.T) { slowloris(t, tg, client) })
	t.Run("idle connections", func(t *testing.T) { idleConnections(t, tg, client) })
	t.Run("event streams", func(t *testing.T) { eventStreams(t, tg) })
	t.Run("oversized and nested bodies", func(t *testing.T) { oversizedAndNested(t, tg, client) })
	t.Run("DNS rebinding and cross-site writes", func(t *testing.T) { rebinding(t, tg, client) })
	t.Run("header and path fuzzing", func(t *testing.T) { fuzzHeadersAndPaths(t, tg) })
	t.Run("nothing changed, all back to baseline", func(t *testing.T) {
		assert.Zero(t, tg.serverErr.Load(), "no 5xx")
		assert.Equal(t, rollouts0, tg.get(t, "/api/v1/fleet/rollouts"), "no rejected request started a rollout")
		assert.Equal(t, agents0, agentIDs(tg.get(t, "/api/v1/fleet/agents")), "no junk request added or dropped an agent")
		backToBaseline(t, tg, c, g0, rss0)
	})
	t.Run("the refused rollout starts when asked properly", func(t *testing.T) {
		// From the page's own origin: the guard refused the others for their Host or Origin, not their body.
		own := http.Header{"Content-Type": {"application/json"}, "Origin": {tg.api}}
		assert.Equal(t, http.StatusCreated, tg.send(client, http.MethodPost, "/api/v1/fleet/rollouts", "", own, strings.NewReader(goodRollout)))
	})
	t.Run("shutdown with clients attached", func(t *testing.T) { shutdownAttached(t, tg, c) })
}

// TestFleetAtItsConnectionLimit fills the agents' endpoint past max_connections with idle connections: the
// limit holds (a new agent waits, nothing is refused with an error), the connected agent stays, the
// operators' api server answers as before, and once the flood ends the waiting agent comes in.
func TestFleetAtItsConnectionLimit(t *testing.T) {
	t.Parallel()
	const maxConnections = 8
	port, apiPort, pprofPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	c := harness.Start(t, harness.Binary(t), fleetConfig(t, pprofPort, port, fmt.Sprintf(
		"    max_agents: 4\n    max_connections: %d\n    api:\n      endpoint: 127.0.0.1:%d", maxConnections, apiPort)))
	api := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	_, err := c.WaitHTTP(api+"/api/v1/fleet/info", http.StatusOK, 60*time.Second)
	require.NoError(t, err, "the controller serves its API")
	opamp := "ws://127.0.0.1:" + strconv.Itoa(port) + "/v1/opamp"
	startAgent(t, opamp, "node-a")
	require.NoError(t, c.WaitFor(10*time.Second, func() error {
		return harness.ExpectBodyContains(api+"/api/v1/fleet/agents", `"node-a"`)
	}), "the first agent is in")

	// node-a holds one connection; the flood takes every other one and waits in the backlog for more.
	var flood []net.Conn
	for range 4 * maxConnections {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
		require.NoError(t, err, "the kernel queues connections past the limit")
		flood = append(flood, conn)
	}
	closeFlood := func() {
		for _, conn := range flood {
			_ = conn.Close()
		}
		flood = nil
	}
	defer closeFlood()

	uidB, sendB := connectAgent(t, opamp, "node-b") // its WebSocket dial waits in the backlog
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !sendB(); {
			time.Sleep(50 * time.Millisecond)
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	for range 3 { // over ~3 s: below the 10 s header timeout that would free the flood's accepted slots
		resp, err := client.Get(api + "/api/v1/fleet/agents")
		require.NoError(t, err, "the api server has limits of its own: the agents' flood does not reach it")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), `"node-a"`, "the connected agent stays")
		assert.NotContains(t, string(body), uidB, "no connection past max_connections is served")
		time.Sleep(time.Second)
	}

	closeFlood()
	<-sent
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(api+"/api/v1/fleet/agents", uidB)
	}), "the waiting agent comes in once the flood ends")
}

var agentID = regexp.MustCompile(`"id": ?"([^"]*)"`)

// agentIDs are the agents the controller lists.
func agentIDs(body string) []string {
	var ids []string
	for _, m := range agentID.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}
