// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package httpguard

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/phoenix-platform/otelcol-phoenix/internal/testcert"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	status := func(g Guard, method, host, origin string) int {
		r := httptest.NewRequest(method, "http://127.0.0.1:8999/api", nil)
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		g.Wrap(ok).ServeHTTP(w, r)
		return w.Code
	}
	loopback := Guard{LoopbackHostsOnly: true}
	for _, h := range []string{"attacker.example", "attacker.example:8999", "127.0.0.1.nip.io:8999", "localhost.attacker.example"} {
		assert.Equal(t, http.StatusForbidden, status(loopback, http.MethodGet, h, ""), h)
	}
	for _, h := range []string{"localhost:8999", "127.0.0.1:8999", "127.0.0.2", "[::1]:8999", "LOCALHOST", "localhost.", "app.localhost:8999", ""} {
		assert.Equal(t, http.StatusNoContent, status(loopback, http.MethodGet, h, ""), h)
	}
	assert.Equal(t, http.StatusNoContent, status(Guard{}, http.MethodGet, "attacker.example", ""), "with auth any name")

	cors := Guard{AllowedOrigins: []string{"https://*.grafana.example"}}
	for _, o := range []string{"http://evil.example", "null", "http://127.0.0.1:8999.evil.example", "https://grafana.example.evil",
		"https://127.0.0.1:8999", "http://evil@127.0.0.1:8999"} {
		assert.Equal(t, http.StatusForbidden, status(cors, http.MethodPost, "127.0.0.1:8999", o), o)
	}
	assert.Equal(t, http.StatusNoContent, status(cors, http.MethodGet, "127.0.0.1:8999", "http://evil.example"), "reads are CORS' business")
	assert.Equal(t, http.StatusNoContent, status(cors, http.MethodPut, "127.0.0.1:8999", "http://127.0.0.1:8999"), "same origin")
	assert.Equal(t, http.StatusNoContent, status(cors, http.MethodDelete, "127.0.0.1:8999", "https://ops.grafana.example"), "CORS-allowed")
	assert.Equal(t, http.StatusNoContent, status(cors, http.MethodPost, "127.0.0.1:8999", ""), "no Origin: not a browser")
}

func TestFor(t *testing.T) {
	cfg := confighttp.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = "localhost:4320"
	assert.True(t, For(&cfg).LoopbackHostsOnly)
	cfg.NetAddr.Endpoint = "0.0.0.0:4320"
	assert.False(t, For(&cfg).LoopbackHostsOnly, "any interface: names are the operator's")
	cfg.NetAddr.Endpoint = "127.0.0.1:4320"
	cfg.Auth = configoptional.Some(confighttp.AuthConfig{})
	assert.False(t, For(&cfg).LoopbackHostsOnly, "auth protects it")
}

// TestListenUnderTLS: the server still sees TLS connections under the limit (a request's TLS state, HTTP/2;
// a limit over TLS would hide them), and the limit holds.
func TestListenUnderTLS(t *testing.T) {
	c := testcert.New(t)
	cfg := confighttp.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{CertFile: c.CertFile, KeyFile: c.KeyFile}})
	serve := func(limit int) (net.Listener, chan *http.Request) {
		ln, err := Listen(context.Background(), &cfg, limit)
		require.NoError(t, err)
		seen := make(chan *http.Request, 10)
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen <- r })}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return ln, seen
	}
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's own certificate

	ln, seen := serve(5)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: insecure}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	resp.Body.Close()
	r := <-seen
	assert.NotNil(t, r.TLS, "the request's TLS state")
	assert.Equal(t, "HTTP/2.0", r.Proto)

	// Two connections held open: a third is not served until one closes.
	ln, _ = serve(2)
	var held []net.Conn
	for range 2 {
		c, err := tls.Dial("tcp", ln.Addr().String(), insecure)
		require.NoError(t, err)
		held = append(held, c)
	}
	third := make(chan error, 1)
	go func() {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), insecure)
		if err == nil {
			c.Close()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third connection was served beside two: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-third:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was never served")
	}
	held[1].Close()
}
