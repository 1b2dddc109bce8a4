// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/testcert"
)

// identityFleet starts phoenix_fleet with node_identity: certificate and mutual TLS from pki (max_agents 4)
// and returns it with an API client (node-a's certificate) and a reader of its agents table (UID → node).
func identityFleet(t *testing.T, pki *testcert.PKI, apiCert tls.Certificate) (*phoenixFleet, *http.Client, func() map[string]agentView) {
	pki.Issue(t, "server", "fleet", nil, true)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "report_interval": "1s", "max_agents": 4,
		"node_identity": "certificate", "tls": map[string]any{"cert_file": filepath.Join(pki.Dir, "server.pem"),
			"key_file": filepath.Join(pki.Dir, "server-key.pem"), "client_ca_file": pki.CAFile()}}).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	f := newFleet(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, f.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, f.Shutdown(context.Background())) })
	api := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.Client(apiCert)}}
	agents := func() map[string]agentView {
		resp, err := api.Get("https://" + f.Addr().String() + "/api/v1/fleet/agents")
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct{ Agents []agentView }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		m := map[string]agentView{}
		for _, a := range out.Agents {
			m[a.ID] = a
		}
		return m
	}
	return f, api, agents
}

// TestNodeIdentityFromCertificates: with node_identity: certificate, an agent is listed under the host.name
// its client certificate names (common name or DNS name); one reporting another node's name, or taking
// over another node's instance UID, is refused and changes nothing; no certificate, no connection.
func TestNodeIdentityFromCertificates(t *testing.T) {
	pki := testcert.NewPKI(t)
	certA := pki.Issue(t, "node-a", "node-a", nil, false)
	certB := pki.Issue(t, "node-b", "node-b.internal", []string{"node-b"}, false)
	f, api, agentsView := identityFleet(t, pki, certA)
	url := "wss://" + f.Addr().String() + "/v1/opamp"
	agents := func() map[string]string {
		m := map[string]string{}
		for id, a := range agentsView() {
			m[id] = a.Node
		}
		return m
	}
	uidOf := func(node string) string { return uuid.NewSHA1(uuid.NameSpaceURL, []byte(node)).String() }

	a := startSimAgentWith(t, url, "node-a", true, simOptions{tls: pki.Client(certA)})
	startSimAgentWith(t, url, "node-b", true, simOptions{tls: pki.Client(certB)}) // its DNS name
	require.Eventually(t, func() bool { m := agents(); return m[uidOf("node-a")] == "node-a" && m[uidOf("node-b")] == "node-b" },
		10*time.Second, 50*time.Millisecond, "both nodes listed under their certificates' names")

	// node-b's certificate, claiming to be node-c: refused.
	startSimAgentWith(t, url, "node-c", true, simOptions{tls: pki.Client(certB)})
	// node-a goes; node-b's certificate takes node-a's UID, as node-a and as itself: both refused.
	a.stop()
	startSimAgentWith(t, url, "node-a", true, simOptions{tls: pki.Client(certB), uid: uuid.MustParse(uidOf("node-a"))})
	startSimAgentWith(t, url, "node-b", true, simOptions{tls: pki.Client(certB), uid: uuid.MustParse(uidOf("node-a"))})
	time.Sleep(time.Second) // several heartbeats of each
	m := agents()
	assert.NotContains(t, m, uidOf("node-c"), "a node reporting another's name is not listed")
	assert.Equal(t, "node-a", m[uidOf("node-a")], "node-a's UID still stands for node-a")
	assert.Len(t, m, 2)

	// Without a client certificate there is no connection at all (tls.client_ca_file).
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}}}
	if resp, err := noCert.Get("https://" + f.Addr().String() + "/api/v1/fleet/info"); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s", resp.Status)
	}
	resp, err := api.Get("https://" + f.Addr().String() + "/api/v1/fleet/info")
	require.NoError(t, err)
	defer resp.Body.Close()
	var info struct {
		NodeIdentity string `json:"node_identity"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	assert.Equal(t, "certificate", info.NodeIdentity)
}

// TestNodeIdentityConfig: node_identity is checked at startup, with every problem.
func TestNodeIdentityConfig(t *testing.T) {
	for _, c := range []struct {
		conf map[string]any
		want string
	}{
		{map[string]any{"node_identity": "certificate"}, "needs tls.client_ca_file"},
		{map[string]any{"node_identity": "certificate", "tls": map[string]any{"cert_file": "a", "key_file": "b"}}, "needs tls.client_ca_file"},
		{map[string]any{"node_identity": "cert"}, `node_identity "cert": want certificate or none`},
	} {
		cfg := createDefaultConfig().(*Config)
		c.conf["endpoint"] = "127.0.0.1:0"
		require.NoError(t, confmap.NewFromStringMap(c.conf).Unmarshal(cfg))
		assert.ErrorContains(t, cfg.Validate(), c.want)
	}
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "node_identity": "none"}).Unmarshal(cfg))
	assert.NoError(t, cfg.Validate())
}

// TestNodeIdentityHolds: the UID a node's agent derives from its name is that node's even when another
// certificate used it first; one certificate is one agent (it cannot fill max_agents); a second host.name
// cannot change the label selectors match; names compare as DNS names; refusals are counted.
func TestNodeIdentityHolds(t *testing.T) {
	pki := testcert.NewPKI(t)
	certEvil := pki.Issue(t, "evil", "evil", nil, false)
	certVictim := pki.Issue(t, "victim", "victim", nil, false)
	certD := pki.Issue(t, "node-d", "Node-D", nil, false)
	f, api, agents := identityFleet(t, pki, certEvil)
	url := "wss://" + f.Addr().String() + "/v1/opamp"
	victimUID := fleet.NodeUID("victim")

	// evil takes victim's UID first, as itself: accepted (nothing says whose it is yet)...
	squat := startSimAgentWith(t, url, "evil", true, simOptions{tls: pki.Client(certEvil), uid: victimUID})
	require.Eventually(t, func() bool { return agents()[victimUID.String()].Node == "evil" }, 10*time.Second, 50*time.Millisecond)
	// ...and more agents of evil's: refused, the node has its one.
	for range 4 {
		startSimAgentWith(t, url, "evil", true, simOptions{tls: pki.Client(certEvil), uid: uuid.New()})
	}
	// victim comes with the UID its name gives: it is victim's; the squatter's connection goes.
	startSimAgentWith(t, url, "victim", true, simOptions{tls: pki.Client(certVictim), uid: victimUID})
	require.Eventually(t, func() bool { return agents()[victimUID.String()].Node == "victim" }, 10*time.Second, 50*time.Millisecond,
		"the rightful node reclaims its UID")
	squat.stop()

	// Names compare as DNS names: Node-D's certificate, host.name "node-d.".
	startSimAgentWith(t, url, "node-d.", true, simOptions{tls: pki.Client(certD)})
	require.Eventually(t, func() bool {
		return agents()[uuid.NewSHA1(uuid.NameSpaceURL, []byte("node-d.")).String()].Node == "node-d."
	},
		10*time.Second, 50*time.Millisecond)
	// however it is spelt, node-d is one node: more agents of it are refused
	startSimAgentWith(t, url, "NODE-D", true, simOptions{tls: pki.Client(certD), uid: uuid.New()})
	startSimAgentWith(t, url, "node-d", true, simOptions{tls: pki.Client(certD), uid: uuid.New()})
	// a certificate naming two nodes may rename its agent (same UID) once the first is gone
	certXY := pki.Issue(t, "node-xy", "node-x", []string{"node-x", "node-y"}, false)
	uidXY := uuid.New()
	x := startSimAgentWith(t, url, "node-x", true, simOptions{tls: pki.Client(certXY), uid: uidXY})
	require.Eventually(t, func() bool { return agents()[uidXY.String()].Node == "node-x" }, 10*time.Second, 50*time.Millisecond)
	x.stop()
	startSimAgentWith(t, url, "node-y", true, simOptions{tls: pki.Client(certXY), uid: uidXY})
	require.Eventually(t, func() bool { return agents()[uidXY.String()].Node == "node-y" }, 10*time.Second, 50*time.Millisecond,
		"renamed within its certificate's names")
	time.Sleep(500 * time.Millisecond)
	nodeD := 0
	for _, a := range agents() {
		if strings.EqualFold(strings.TrimSuffix(a.Node, "."), "node-d") {
			nodeD++
		}
	}
	assert.Equal(t, 1, nodeD, "one agent for node-d, however spelt")
	evils := 0
	for id, a := range agents() {
		if a.Node == "evil" {
			evils++
			assert.NotEqual(t, victimUID.String(), id)
		}
	}
	assert.LessOrEqual(t, evils, 1, "one agent per node: evil's others never got in")

	resp, err := api.Get("https://" + f.Addr().String() + "/api/v1/fleet/info")
	require.NoError(t, err)
	defer resp.Body.Close()
	var info struct {
		Refused int64 `json:"identity_refused"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	assert.Positive(t, info.Refused)
}

// TestSecondHostNameIsNotALabel: selectors match the host.name an agent is known as, not a second one in
// its description.
func TestSecondHostNameIsNotALabel(t *testing.T) {
	a := &agent{}
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	a.describe(&protobufs.AgentDescription{NonIdentifyingAttributes: []*protobufs.KeyValue{
		str("host.name", "evil"), str("zone", "a"), str("host.name", "node-b"), str("zone", "b")}})
	assert.Equal(t, "evil", a.node)
	assert.Equal(t, map[string]string{"host.name": "evil", "zone": "a"}, a.labels)
}

// TestSeparateAPIEndpoint: with api set, the agents' endpoint serves OpAMP only and the API, page and
// /metrics are on api.endpoint (with settings of their own), so a node's credentials need not reach them.
func TestSeparateAPIEndpoint(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "report_interval": "1s"}).Unmarshal(cfg))
	assert.Nil(t, cfg.API.Get(), "not set: one server")
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"api": map[string]any{"endpoint": "127.0.0.1:0"}}).Unmarshal(cfg))
	require.NotNil(t, cfg.API.Get())
	assert.Equal(t, int64(1<<20), cfg.API.Get().MaxRequestBodySize, "the API's defaults")
	require.NoError(t, cfg.Validate())
	f := newFleet(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, f.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, f.Shutdown(context.Background())) })
	require.NotEqual(t, f.Addr().String(), f.APIAddr().String())

	startSimAgent(t, "ws://"+f.Addr().String()+"/v1/opamp", "node-a", true)
	get := func(addr, path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	require.Eventually(t, func() bool {
		_, body := get(f.APIAddr().String(), "/api/v1/fleet/agents")
		return strings.Contains(body, `"node-a"`)
	}, 10*time.Second, 50*time.Millisecond, "the agent, connected on the agents' endpoint, listed on the API's")
	for _, path := range []string{"/api/v1/fleet/info", "/", "/metrics"} {
		code, _ := get(f.APIAddr().String(), path)
		assert.Equal(t, http.StatusOK, code, "api endpoint %s", path)
		code, body := get(f.Addr().String(), path)
		assert.Equal(t, http.StatusNotFound, code, "agents' endpoint %s", path)
		assert.Contains(t, body, "api.endpoint")
	}

	bad := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"api": map[string]any{"endpoint": ""}}).Unmarshal(bad))
	assert.ErrorContains(t, bad.Validate(), "api.endpoint: required")
}
