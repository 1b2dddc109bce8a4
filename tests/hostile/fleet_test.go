// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// startFleetTarget runs a fleet controller with phoenix_fleet's defaults on a loopback port (no auth: the
// guards are on), pprof beside it, and one otelcol-phoenix agent connected, so that a rejected rollout is
// one that would otherwise have started.
func startFleetTarget(t *testing.T) (*target, *harness.Collector) {
	port, pprofPort := harness.FreePort(t), harness.FreePort(t)
	config := filepath.Join(t.TempDir(), "fleet.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`extensions:
  pprof:
    endpoint: 127.0.0.1:%d
  phoenix_fleet:
    endpoint: 127.0.0.1:%d
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
`, pprofPort, port)), 0o600))
	c := harness.Start(t, harness.Binary(t), config)
	api := "http://127.0.0.1:" + strconv.Itoa(port)
	_, err := c.WaitHTTP(api+"/api/v1/fleet/info", http.StatusOK, 60*time.Second)
	require.NoError(t, err, "the controller serves its API")
	uid := startAgent(t, "ws://127.0.0.1:"+strconv.Itoa(port)+"/v1/opamp")
	tg := &target{api: api, addr: strings.TrimPrefix(api, "http://"), pprof: "http://127.0.0.1:" + strconv.Itoa(pprofPort), pid: c.Pid(),
		info:    "/api/v1/fleet/info",
		reads:   []string{"/api/v1/fleet/rollouts", "/api/v1/fleet/agents", "/api/v1/fleet/agents/" + uid, "/", "/v1/opamp"},
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

// startAgent connects an otelcol-phoenix agent over WebSocket that reports experiment/process with a
// top20 variant once; it returns its instance UID.
func startAgent(t *testing.T, url string) string {
	c := client.NewWebSocket(opamplog.Logger{L: zap.NewNop()})
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	require.NoError(t, c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes:    []*protobufs.KeyValue{str("service.name", "otelcol-phoenix"), str("service.version", "0.159.0")},
		NonIdentifyingAttributes: []*protobufs.KeyValue{str("host.name", "node-a")},
	}))
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus | protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	require.NoError(t, c.SetCapabilities(&caps))
	require.NoError(t, c.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleet.Capability}}))
	uid := uuid.NewSHA1(uuid.NameSpaceURL, []byte("node-a"))
	require.NoError(t, c.Start(context.Background(), types.StartSettings{OpAMPServerURL: url, InstanceUid: types.InstanceUid(uid)}))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	fid := 0.99
	data, err := fleet.Encode(fleet.Figures{Node: "node-a", Version: "0.159.0", At: time.Now(), Experiments: []fleet.Experiment{{
		Name: "experiment/process", Baseline: "full", Active: "full", Window: time.Second, Complete: true, WindowEnd: time.Now(),
		Variants: []fleet.Variant{{Name: "full", Series: 1000, Fidelity: &fid, CriticalVisible: 1},
			{Name: "top20", Series: 200, Fidelity: &fid, CriticalVisible: 1}}}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := c.SendCustomMessage(&protobufs.CustomMessage{Capability: fleet.Capability, Type: fleet.FiguresType, Data: data})
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "figures sent")
	return uid.String()
}

// TestHostileFleet runs the same attacks at phoenix_fleet's API and OpAMP endpoint.
func TestHostileFleet(t *testing.T) {
	t.Parallel()
	tg, c := startFleetTarget(t)
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

var agentID = regexp.MustCompile(`"id": ?"([^"]*)"`)

// agentIDs are the agents the controller lists.
func agentIDs(body string) []string {
	var ids []string
	for _, m := range agentID.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}
