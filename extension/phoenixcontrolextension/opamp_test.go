// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	servertypes "github.com/open-telemetry/opamp-go/server/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"
	"github.com/phoenix-platform/otelcol-phoenix/internal/testcert"
)

// opampServer is a minimal OpAMP server on opamp-go's own server package, not ours: it keeps what agents
// report and hands out a remote config when told to.
type opampServer struct {
	t    *testing.T
	srv  interface{ Stop(context.Context) error }
	addr string

	mu        sync.Mutex
	header    http.Header
	connects  int
	desc      *protobufs.AgentDescription
	figures   []fleet.Figures
	status    *protobufs.RemoteConfigStatus
	effective *protobufs.EffectiveConfig
	custom    *protobufs.CustomCapabilities
	pending   *protobufs.AgentRemoteConfig
	health    *protobufs.ComponentHealth
	conns     []servertypes.Connection
}

// stop is an outage: no new connections, and the open ones dropped (the server's Stop leaves hijacked
// WebSocket connections open).
func (s *opampServer) stop() {
	require.NoError(s.t, s.srv.Stop(context.Background()))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Disconnect()
	}
}

func startOpAMPServer(t *testing.T, addr string) *opampServer {
	return startOpAMPServerTLS(t, addr, nil)
}

// startOpAMPServerTLS is startOpAMPServer serving TLS with tlsCfg (nil: plain).
func startOpAMPServerTLS(t *testing.T, addr string, tlsCfg *tls.Config) *opampServer {
	s := &opampServer{t: t}
	srv := server.New(opamplog.Logger{L: zap.NewNop()})
	onMessage := func(_ context.Context, _ servertypes.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
		s.mu.Lock()
		defer s.mu.Unlock()
		if msg.AgentDescription != nil {
			s.desc = msg.AgentDescription
		}
		if msg.RemoteConfigStatus != nil {
			s.status = msg.RemoteConfigStatus
		}
		if msg.EffectiveConfig != nil {
			s.effective = msg.EffectiveConfig
		}
		if msg.CustomCapabilities != nil {
			s.custom = msg.CustomCapabilities
		}
		if msg.Health != nil {
			s.health = msg.Health
		}
		if cm := msg.CustomMessage; cm != nil && cm.Capability == fleet.Capability && cm.Type == fleet.FiguresType {
			f, err := fleet.Decode(cm.Data)
			assert.NoError(t, err)
			s.figures = append(s.figures, f)
		}
		out := &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid}
		if s.pending != nil {
			out.RemoteConfig, s.pending = s.pending, nil
		}
		return out
	}
	err := srv.Start(server.StartSettings{ListenEndpoint: addr, TLSConfig: tlsCfg, Settings: server.Settings{
		CustomCapabilities: []string{fleet.Capability},
		Callbacks: servertypes.Callbacks{OnConnecting: func(r *http.Request) servertypes.ConnectionResponse {
			s.mu.Lock()
			s.header, s.connects = r.Header.Clone(), s.connects+1
			s.mu.Unlock()
			return servertypes.ConnectionResponse{Accept: true, ConnectionCallbacks: servertypes.ConnectionCallbacks{OnMessage: onMessage,
				OnConnected: func(_ context.Context, c servertypes.Connection) {
					s.mu.Lock()
					s.conns = append(s.conns, c)
					s.mu.Unlock()
				}}}
		}},
	}})
	require.NoError(t, err)
	s.srv, s.addr = srv, srv.Addr().String()
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return s
}

func (s *opampServer) offer(desired string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = &protobufs.AgentRemoteConfig{ConfigHash: []byte(desired),
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			fleet.DesiredStateFile: {Body: []byte(desired), ContentType: fleet.ContentType}}}}
}

func (s *opampServer) eventually(what string, cond func(s *opampServer) bool) {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return cond(s)
	}, 15*time.Second, 20*time.Millisecond, what)
}

func attr(kvs []*protobufs.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// TestOpAMPAgent: against a plain opamp-go server, over WebSocket and over HTTP, phoenix_control reports its
// description, health, custom capability and figures, applies a remote desired state exactly like the
// desired-state file and says so (applied, or failed with why), reports the effective desired state, and a
// server outage changes nothing on the node: it reconnects when the server is back.
func TestOpAMPAgent(t *testing.T) {
	for _, scheme := range []string{"ws", "http"} {
		t.Run(scheme, func(t *testing.T) {
			s := startOpAMPServer(t, "127.0.0.1:0")
			c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "node_name": "node-7",
				"opamp": map[string]any{"endpoint": scheme + "://" + s.addr + "/v1/opamp", "report_interval": "1s",
					"headers": map[string]any{"Authorization": "Bearer fleet-token"}}}), newHost())
			exp := newFakeExperiment()
			c.RegisterExperiment(exp)

			s.eventually("described, with the token", func(s *opampServer) bool {
				return s.desc != nil && attr(s.desc.NonIdentifyingAttributes, "host.name") == "node-7" &&
					s.header.Get("Authorization") == "Bearer fleet-token"
			})
			s.mu.Lock()
			assert.Equal(t, "otelcol-phoenix", attr(s.desc.IdentifyingAttributes, "service.name"))
			uid := attr(s.desc.IdentifyingAttributes, "service.instance.id")
			assert.Equal(t, c.cfg.OpAMP.instanceUID("node-7"), c.cfg.OpAMP.instanceUID("node-7"), "stable per node")
			assert.NotEqual(t, c.cfg.OpAMP.instanceUID("node-7"), c.cfg.OpAMP.instanceUID("node-8"))
			s.mu.Unlock()
			assert.NotEmpty(t, uid)
			s.eventually("figures of every variant", func(s *opampServer) bool {
				if len(s.figures) == 0 || s.custom == nil || s.health == nil {
					return false
				}
				f := s.figures[len(s.figures)-1]
				return f.Node == "node-7" && len(f.Experiments) == 1 && f.Experiments[0].Name == "experiment/process" &&
					len(f.Experiments[0].Variants) == 3 && s.health.Healthy
			})
			s.eventually("experiments described", func(s *opampServer) bool {
				return attr(s.desc.NonIdentifyingAttributes, "phoenix.experiments") == "experiment/process"
			})

			good := "experiments:\n  experiment/process: {active: top20}\n"
			s.offer(good)
			s.eventually("applied and said so", func(s *opampServer) bool {
				return s.status != nil && s.status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED &&
					string(s.status.LastRemoteConfigHash) == good
			})
			assert.Equal(t, "top20", exp.Snapshot().Active, "applied like the desired-state file")
			s.eventually("the effective desired state", func(s *opampServer) bool {
				return s.effective != nil && string(s.effective.GetConfigMap().GetConfigMap()[fleet.DesiredStateFile].GetBody()) == good
			})

			bad := "experiments:\n  experiment/process: {active: nope}\n"
			s.offer(bad)
			s.eventually("failed, with why", func(s *opampServer) bool {
				return s.status != nil && s.status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED &&
					strings.Contains(s.status.ErrorMessage, `no variant "nope"`)
			})
			assert.Equal(t, "top20", exp.Snapshot().Active, "a rejected desired state changes nothing")

			// The server goes away: nothing changes; it comes back on the same address: the agent reconnects.
			addr := s.addr
			s.stop()
			time.Sleep(1500 * time.Millisecond)
			assert.Equal(t, "top20", exp.Snapshot().Active)
			waitFree(t, addr)
			s2 := startOpAMPServer(t, addr)
			s2.eventually("reconnected", func(s *opampServer) bool { return s.connects > 0 })
			s2.eventually("reporting again", func(s *opampServer) bool { return len(s.figures) > 0 })
			s2.offer("experiments:\n  experiment/process: {active: by_executable}\n")
			require.Eventually(t, func() bool { return exp.Snapshot().Active == "by_executable" }, 15*time.Second, 20*time.Millisecond)
		})
	}
}

// waitFree waits until addr can be listened on again.
func waitFree(t *testing.T, addr string) {
	require.Eventually(t, func() bool {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		_ = ln.Close()
		return true
	}, 10*time.Second, 50*time.Millisecond)
}

func TestOpAMPConfig(t *testing.T) {
	err := configFrom(t, map[string]any{"opamp": map[string]any{"endpoint": "tcp://x", "instance_uid": "nope", "report_interval": "1ms"}}).Validate()
	require.Error(t, err)
	for _, want := range []string{"opamp.endpoint \"tcp://x\"", "opamp.instance_uid \"nope\"", "opamp.report_interval 1ms"} {
		assert.ErrorContains(t, err, want)
	}
	assert.ErrorContains(t, configFrom(t, map[string]any{"opamp": map[string]any{}}).Validate(), "opamp.endpoint: required")
	cfg := configFrom(t, map[string]any{"opamp": map[string]any{"endpoint": "wss://fleet:4320/v1/opamp"}})
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 30*time.Second, cfg.OpAMP.ReportInterval, "the default")
	assert.Nil(t, configFrom(t, map[string]any{}).OpAMP, "off unless configured")
}

// TestOpAMPRemoteStateSurvivesARestart: the last remote desired state is persisted and applied again at
// start, so a node restarted while its server is away keeps what the server asked for.
func TestOpAMPRemoteStateSurvivesARestart(t *testing.T) {
	store := memStore{remoteDesiredKey: []byte("experiments:\n  experiment/process: {active: by_executable}\n")}
	reg := newRegistry(zap.NewNop())
	reg.store = store
	d := newDesiredState("", "node-7", reg, zap.NewNop())
	reg.desired = d
	a := newOpAMPAgent(&OpAMPConfig{Endpoint: "ws://127.0.0.1:1/v1/opamp", ReportInterval: time.Second}, reg, d, apiInfo{Node: "node-7"}, zap.NewNop())
	a.restoreRemote(context.Background())
	exp := newFakeExperiment()
	reg.RegisterExperiment(exp)
	assert.Equal(t, "by_executable", exp.Snapshot().Active)
	assert.Equal(t, sourceOpAMP, d.snapshot().Source)
}

// TestOpAMPAgentOverTLS: wss and https with the controller's CA in opamp.tls.ca_file; a CA that did not
// sign the server's certificate connects nothing.
func TestOpAMPAgentOverTLS(t *testing.T) {
	server, other := testcert.New(t), testcert.New(t)
	cert, caFile, otherFile := server.Certificate, server.CertFile, other.CertFile
	for _, scheme := range []string{"wss", "https"} {
		t.Run(scheme, func(t *testing.T) {
			s := startOpAMPServerTLS(t, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			opamp := func(ca string) map[string]any {
				return map[string]any{"endpoint": scheme + "://" + s.addr + "/v1/opamp", "report_interval": "1s", "tls": map[string]any{"ca_file": ca}}
			}
			c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "node_name": "node-tls", "opamp": opamp(caFile)}), newHost())
			exp := newFakeExperiment()
			c.RegisterExperiment(exp)
			s.eventually("described over TLS", func(s *opampServer) bool {
				return s.desc != nil && attr(s.desc.NonIdentifyingAttributes, "host.name") == "node-tls"
			})
			good := "experiments:\n  experiment/process: {active: top20}\n"
			s.offer(good)
			s.eventually("applied", func(s *opampServer) bool {
				return s.status != nil && s.status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
			})
			assert.Equal(t, "top20", exp.Snapshot().Active)

			untrusting := startOpAMPServerTLS(t, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			opampOther := map[string]any{"endpoint": scheme + "://" + untrusting.addr + "/v1/opamp", "report_interval": "1s",
				"tls": map[string]any{"ca_file": otherFile}}
			startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "node_name": "node-x", "opamp": opampOther}), newHost())
			time.Sleep(2 * time.Second)
			untrusting.mu.Lock()
			assert.Nil(t, untrusting.desc, "a server its CA did not sign never hears from the agent")
			untrusting.mu.Unlock()
		})
	}
}

// TestOpAMPAgentWaitsForItsCertificate: TLS files that are not there yet (a node's certificate its bootstrap
// has not written) do not stop the collector, which serves without the controller; once they are, the
// agent connects with them (mutual TLS) and takes the controller's desired state.
func TestOpAMPAgentWaitsForItsCertificate(t *testing.T) {
	defer func(d time.Duration) { tlsRetry = d }(tlsRetry)
	tlsRetry = 100 * time.Millisecond
	pki := testcert.NewPKI(t)
	server := pki.Issue(t, "server", "fleet", nil, true)
	s := startOpAMPServerTLS(t, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{server}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool})
	dir := t.TempDir() // the node's certificate directory, empty
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "node_name": "node-late", "opamp": map[string]any{
		"endpoint": "wss://" + s.addr + "/v1/opamp", "report_interval": "1s",
		"tls": map[string]any{"ca_file": pki.CAFile(), "cert_file": filepath.Join(dir, "tls.crt"), "key_file": filepath.Join(dir, "tls.key")}}}), newHost())
	exp := newFakeExperiment()
	c.RegisterExperiment(exp)
	time.Sleep(500 * time.Millisecond)
	s.mu.Lock()
	assert.Nil(t, s.desc, "no certificate, no connection")
	s.mu.Unlock()

	pki.Issue(t, "node-late", "node-late", nil, false)
	for from, to := range map[string]string{"node-late.pem": "tls.crt", "node-late-key.pem": "tls.key"} {
		data, err := os.ReadFile(filepath.Join(pki.Dir, from))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, to), data, 0o600))
	}
	s.eventually("described once its certificate is there", func(s *opampServer) bool {
		return s.desc != nil && attr(s.desc.NonIdentifyingAttributes, "host.name") == "node-late"
	})
	s.offer("experiments:\n  experiment/process: {active: top20}\n")
	s.eventually("applied", func(s *opampServer) bool {
		return s.status != nil && s.status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	})
	assert.Equal(t, "top20", exp.Snapshot().Active)
}

// TestOpAMPAgentWithoutCertificateStops: an agent still waiting for its TLS files shuts down at once.
func TestOpAMPAgentWithoutCertificateStops(t *testing.T) {
	dir := t.TempDir()
	c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "node_name": "node-none", "opamp": map[string]any{
		"endpoint": "wss://127.0.0.1:1/v1/opamp", "report_interval": "1s",
		"tls": map[string]any{"cert_file": filepath.Join(dir, "tls.crt"), "key_file": filepath.Join(dir, "tls.key")}}}),
		extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, c.Start(context.Background(), newHost()), "a certificate not there yet does not stop the collector")
	start := time.Now()
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 2*time.Second)
}
