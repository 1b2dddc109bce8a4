// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpguard"
)

// do sends one request with the given Host and Origin headers and returns the status.
func do(t *testing.T, method, url, host, origin, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestDNSRebindingRefused: without auth on loopback, a request naming another host (a rebinding page) is
// refused before it can read or switch anything; loopback names are served.
func TestDNSRebindingRefused(t *testing.T) {
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0"}), newHost())
	e := newFakeExperiment()
	c.RegisterExperiment(e)
	addr := c.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	exp := "http://" + addr + "/api/v1/experiments/experiment%2Fprocess"

	for _, h := range []string{"attacker.example", "attacker.example:" + port, "127.0.0.1.nip.io:" + port, "localhost.attacker.example"} {
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodGet, exp, h, "", ""), h)
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPut, exp+"/active", h, "", `{"variant":"top20"}`), h)
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodGet, "http://"+addr+"/", h, "", ""), "the dashboard too: %s", h)
	}
	assert.Equal(t, "full", e.Snapshot().Active, "a refused request changes nothing")
	for _, h := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "LOCALHOST", "app.localhost:" + port} {
		assert.Equal(t, http.StatusOK, do(t, http.MethodGet, exp, h, "", ""), h)
	}
}

// TestAuthenticatedAPIAnswersAnyHost: with auth the token protects the API, so proxies and Services may
// use any name.
func TestAuthenticatedAPIAnswersAnyHost(t *testing.T) {
	h := newHost()
	h.exts[component.MustNewID("bearertokenauth")] = startExt(t, bearertokenauthextension.NewFactory(), map[string]any{"token": "s3cret"})
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "auth": map[string]any{"authenticator": "bearertokenauth"}}), h)
	req, err := http.NewRequest(http.MethodGet, "http://"+c.Addr().String()+"/api/v1/info", nil)
	require.NoError(t, err)
	req.Host = "phoenix.monitoring.svc"
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestCrossOriginWritesRefused: a page elsewhere cannot switch a variant through the user's browser; the
// dashboard's own origin and CORS-allowed ones can.
func TestCrossOriginWritesRefused(t *testing.T) {
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0",
		"cors": map[string]any{"allowed_origins": []any{"https://*.grafana.example"}}}), newHost())
	e := newFakeExperiment()
	c.RegisterExperiment(e)
	addr := c.Addr().String()
	active := "http://" + addr + "/api/v1/experiments/experiment%2Fprocess/active"
	for _, o := range []string{"http://evil.example", "null", "http://" + addr + ".evil.example", "https://grafana.example.evil",
		"https://" + addr, "http://evil@" + addr} {
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPut, active, "", o, `{"variant":"top20"}`), o)
	}
	assert.Equal(t, "full", e.Snapshot().Active)
	assert.Equal(t, http.StatusOK, do(t, http.MethodGet, "http://"+addr+"/api/v1/info", "", "http://evil.example", ""), "reads are CORS' business")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPut, active, "", "http://"+addr, `{"variant":"top20"}`), "same origin")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPut, active, "", "https://ops.grafana.example", `{"variant":"full"}`), "CORS-allowed")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPut, active, "", "", `{"variant":"top20"}`), "no Origin: not a browser")
}

// TestEventStreamOutlivesServerTimeouts: a stream stays open past the server's read and write timeouts
// (which cut every other response), with keep-alive comments while nothing happens.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	cfg := configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "events_interval": "1h",
		"read_timeout": "300ms", "write_timeout": "300ms"})
	c := startControl(t, cfg, newHost())
	resp, err := http.Get("http://" + c.Addr().String() + "/api/v1/events")
	require.NoError(t, err)
	defer resp.Body.Close()

	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, ": connected\n", line)
	// 1.5 s is five write timeouts: the stream must still deliver what is published now.
	time.Sleep(1500 * time.Millisecond)
	c.events.Publish(event{Type: "switch", Data: switchEvent{Experiment: "e", Variant: "v", Source: "api"}})
	got := make(chan string, 1)
	go func() {
		var all strings.Builder
		for {
			l, err := r.ReadString('\n')
			all.WriteString(l)
			if err != nil || strings.HasPrefix(l, "data:") {
				got <- all.String()
				return
			}
		}
	}()
	select {
	case s := <-got:
		assert.Contains(t, s, `event: switch`)
		assert.Contains(t, s, `"variant":"v"`)
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the server's timeouts")
	}
}

// TestSlowClientsAreBounded: a client that never finishes its headers or its body is cut off; beyond
// max_connections new clients wait for a free slot instead of piling up.
func TestSlowClientsAreBounded(t *testing.T) {
	cfg := configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "read_header_timeout": "200ms", "read_timeout": "400ms",
		"max_connections": 3})
	c := startControl(t, cfg, newHost())
	c.RegisterExperiment(newFakeExperiment())
	addr := c.Addr().String()

	// closedWithin: the server ends the connection (after a 408 or not) before our own deadline.
	closedWithin := func(conn net.Conn, d time.Duration) bool {
		_ = conn.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, conn)
		var ne net.Error
		return !errors.As(err, &ne) || !ne.Timeout()
	}
	slowHeaders, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slowHeaders.Close()
	_, _ = fmt.Fprint(slowHeaders, "GET /api/v1/info HTTP/1.1\r\nHost: localhost\r\n") // never ends the headers
	assert.True(t, closedWithin(slowHeaders, 5*time.Second), "slow headers are cut off")

	slowBody, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slowBody.Close()
	_, _ = fmt.Fprint(slowBody, "PUT /api/v1/experiments/experiment%2Fprocess/active HTTP/1.1\r\nHost: localhost\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	assert.True(t, closedWithin(slowBody, 5*time.Second), "slow bodies are cut off")

	var held []net.Conn
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		held = append(held, conn)
	}
	time.Sleep(50 * time.Millisecond) // accepted: the slots are taken
	client := &http.Client{Timeout: 100 * time.Millisecond}
	_, err = client.Get("http://" + addr + "/api/v1/info")
	assert.Error(t, err, "a fourth connection waits while three are open")
	for _, conn := range held {
		conn.Close()
	}
	client.Timeout = 5 * time.Second
	resp, err := client.Get("http://" + addr + "/api/v1/info")
	require.NoError(t, err, "served once the slots are free")
	resp.Body.Close()
}

// TestShutdownBoundedWhateverClientsDo: clients stuck in the middle of their bodies do not hold shutdown
// beyond its grace.
func TestShutdownBoundedWhateverClientsDo(t *testing.T) {
	cfg := configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "read_timeout": "1h"})
	c := newControlForTest(t, cfg)
	c.RegisterExperiment(newFakeExperiment())
	for range 5 {
		conn, err := net.Dial("tcp", c.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		_, _ = fmt.Fprint(conn, "PUT /api/v1/experiments/experiment%2Fprocess/active HTTP/1.1\r\nHost: localhost\r\n"+
			"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	}
	time.Sleep(100 * time.Millisecond) // the handlers are reading the bodies
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, c.Shutdown(ctx))
	assert.Less(t, time.Since(start), httpguard.ShutdownGrace+3*time.Second)
}

func newControlForTest(t *testing.T, cfg *Config) *phoenixControl {
	c := newControl(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, c.Start(context.Background(), newHost()))
	return c
}

// TestDefaultsBoundClients: out of the box no client can hold a connection or a request for ever.
func TestDefaultsBoundClients(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Positive(t, cfg.ReadHeaderTimeout)
	assert.Positive(t, cfg.ReadTimeout)
	assert.Positive(t, cfg.IdleTimeout)
	assert.Positive(t, cfg.MaxConnections)
}

// TestEventStreamsCannotTakeEveryConnection: streams live long; beyond max_event_streams they get 429, so
// the API and /metrics stay reachable within max_connections.
func TestEventStreamsCannotTakeEveryConnection(t *testing.T) {
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "max_connections": 4, "max_event_streams": 2}), newHost())
	base := "http://" + c.Addr().String()
	for range 2 {
		resp, err := http.Get(base + "/api/v1/events")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	resp, err := http.Get(base + "/api/v1/events")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err = client.Get(base + "/metrics")
	require.NoError(t, err, "/metrics is still reachable")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestJSONKeysAreExact: encoding/json matches keys ignoring case and lets a repeated key win; the API
// refuses both, and non-UTF-8 charsets, changing nothing.
func TestJSONKeysAreExact(t *testing.T) {
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0"}), newHost())
	e := newFakeExperiment()
	c.RegisterExperiment(e)
	base := "http://" + c.Addr().String() + "/api/v1/experiments/experiment%2Fprocess"
	for _, body := range []string{`{"Variant":"top20"}`, `{"VARIANT":"top20"}`, `{"variant":"full","variant":"top20"}`} {
		assert.Equal(t, http.StatusBadRequest, do(t, http.MethodPut, base+"/active", "", "", body), body)
	}
	assert.Equal(t, http.StatusBadRequest, do(t, http.MethodPost, base+"/runs", "", "", `{"Candidate":"top20","duration":"1m"}`))
	assert.Equal(t, http.StatusBadRequest, do(t, http.MethodPost, base+"/runs", "", "",
		`{"candidate":"top20","duration":"1m","criteria":{"Min_Fidelity":0.9}}`), "nested keys too")
	req, err := http.NewRequest(http.MethodPut, base+"/active", strings.NewReader(`{"variant":"top20"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json; charset=utf-16")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Equal(t, "full", e.Snapshot().Active, "nothing switched")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPut, base+"/active", "", "", `{"variant":"top20"}`))
}
