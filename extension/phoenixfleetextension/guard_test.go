// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
)

// TestHostileBrowsersRefused: on its default loopback endpoint without auth, the controller answers only
// loopback Host names (DNS rebinding) and refuses cross-site writes, as phoenix_control does; the agents'
// OpAMP goes on.
func TestHostileBrowsersRefused(t *testing.T) {
	f := startFleet(t)
	addr := f.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	status := func(method, path, host, origin, contentType string) int {
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(`{}`))
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []string{"attacker.example", "attacker.example:" + port} {
		assert.Equal(t, http.StatusForbidden, status(http.MethodGet, "/api/v1/fleet/info", h, "", "application/json"), h)
		assert.Equal(t, http.StatusForbidden, status(http.MethodGet, "/", h, "", ""), "the page too: %s", h)
		assert.Equal(t, http.StatusForbidden, status(http.MethodPost, opampPath, h, "", "application/x-protobuf"), "OpAMP too: %s", h)
	}
	assert.Equal(t, http.StatusOK, status(http.MethodGet, "/api/v1/fleet/info", "localhost:"+port, "", ""))
	for _, path := range []string{"/api/v1/fleet/rollouts", "/api/v1/fleet/rollouts/x/cancel"} {
		assert.Equal(t, http.StatusForbidden, status(http.MethodPost, path, "", "http://evil.example", "application/x-www-form-urlencoded"), path)
	}
	assert.Equal(t, http.StatusNotFound, status(http.MethodPost, "/api/v1/fleet/rollouts/x/cancel", "", "http://"+addr, "application/json"),
		"same origin: reaches the API")
	startSimAgent(t, "ws://"+addr+opampPath, "node-a", true)
	require.Eventually(t, func() bool { return len(getAgents(t, f)) == 1 }, 10*time.Second, 20*time.Millisecond)
}

// TestDefaultsBoundClients: slow and idle clients are bounded by default on both servers, and connections
// by max_connections (above max_agents).
func TestDefaultsBoundClients(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	for name, sc := range map[string]*confighttp.ServerConfig{"endpoint": &cfg.ServerConfig, "api": cfg.API.GetOrInsertDefault()} {
		assert.Positive(t, sc.ReadHeaderTimeout, name)
		assert.Positive(t, sc.ReadTimeout, name)
		assert.Positive(t, sc.IdleTimeout, name)
	}
	assert.Greater(t, cfg.MaxConnections, cfg.MaxAgents)
	cfg.MaxAgents = cfg.MaxConnections
	assert.ErrorContains(t, cfg.Validate(), "max_connections 11024: want 0 (no limit) or more than max_agents (11024)")
}
