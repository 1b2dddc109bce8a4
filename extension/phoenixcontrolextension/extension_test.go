// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
)

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

func newHost() host {
	return host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{}}
}

func configFrom(t *testing.T, conf map[string]any) *Config {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	return cfg
}

func startControl(t *testing.T, cfg *Config, h host) *phoenixControl {
	c := newControl(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, c.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	return c
}

// startExt creates and starts another extension from its factory.
func startExt(t *testing.T, f extension.Factory, conf map[string]any) extension.Extension {
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	e, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	return e
}

func get(t *testing.T, url, token string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestValidate(t *testing.T) {
	def := createDefaultConfig().(*Config)
	require.NoError(t, def.Validate())
	assert.Equal(t, "localhost:8999", def.NetAddr.Endpoint, "loopback by default")

	remote := configFrom(t, map[string]any{"endpoint": "0.0.0.0:8999"})
	err := remote.Validate()
	require.ErrorContains(t, err, `endpoint "0.0.0.0:8999" is not a loopback address and no auth is configured`)

	require.NoError(t, configFrom(t, map[string]any{"endpoint": "0.0.0.0:8999", "allow_unauthenticated_remote": true}).Validate())
	require.NoError(t, configFrom(t, map[string]any{"endpoint": "0.0.0.0:8999", "auth": map[string]any{"authenticator": "bearertokenauth"}}).Validate())
	require.NoError(t, configFrom(t, map[string]any{"endpoint": "[::1]:8999"}).Validate())
	require.ErrorContains(t, configFrom(t, map[string]any{"endpoint": "nohostport"}).Validate(), "nohostport")
}

func TestBearerTokenAuth(t *testing.T) {
	h := newHost()
	h.exts[component.MustNewID("bearertokenauth")] = startExt(t, bearertokenauthextension.NewFactory(), map[string]any{"token": "s3cret"})
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "auth": map[string]any{"authenticator": "bearertokenauth"}}), h)
	url := "http://" + c.Addr().String() + "/api/v1/experiments"
	status, _ := get(t, url, "")
	assert.Equal(t, http.StatusUnauthorized, status, "no token")
	status, _ = get(t, url, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status, "wrong token")
	status, body := get(t, url, "s3cret")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "experiments")
}

// TestSwitchSurvivesRestart: a switch is persisted through file_storage and applied when the experiment
// registers again after a restart.
func TestSwitchSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	restart := func() (*phoenixControl, *fakeExperiment, func()) {
		h := newHost()
		fs := filestorage.NewFactory()
		cfg := fs.CreateDefaultConfig()
		require.NoError(t, confmap.NewFromStringMap(map[string]any{"directory": dir}).Unmarshal(cfg))
		storageExt, err := fs.Create(context.Background(), extensiontest.NewNopSettings(fs.Type()), cfg)
		require.NoError(t, err)
		require.NoError(t, storageExt.Start(context.Background(), componenttest.NewNopHost()))
		h.exts[component.MustNewID("file_storage")] = storageExt
		set := extensiontest.NewNopSettings(metadata.Type)
		set.ID = component.MustNewID("phoenix_control") // stable across restarts, as in a collector
		c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}), set)
		require.NoError(t, c.Start(context.Background(), h))
		e := newFakeExperiment()
		c.RegisterExperiment(e)
		return c, e, func() {
			require.NoError(t, c.Shutdown(context.Background()))
			require.NoError(t, storageExt.Shutdown(context.Background()))
		}
	}
	c, e, stop := restart()
	assert.Equal(t, "full", e.Snapshot().Active)
	req, err := http.NewRequest(http.MethodPut, "http://"+c.Addr().String()+"/api/v1/experiments/experiment%2Fprocess/active", strings.NewReader(`{"variant":"top20"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	stop()

	_, e, stop = restart()
	defer stop()
	assert.Equal(t, "top20", e.Snapshot().Active, "the switch survived the restart")
}

func TestLifecycle(t *testing.T) {
	c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0"}), extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, c.Shutdown(context.Background()), "shutdown without start")
	require.NoError(t, c.Start(context.Background(), newHost()))
	require.Error(t, c.Start(context.Background(), newHost()), "double start")
	require.NoError(t, c.Shutdown(context.Background()))
	require.NoError(t, c.Shutdown(context.Background()), "double shutdown")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := newControl(configFrom(t, map[string]any{"endpoint": ln.Addr().String()}), extensiontest.NewNopSettings(metadata.Type))
	require.ErrorContains(t, busy.Start(context.Background(), newHost()), "listen on", "a port conflict fails start")

	missing := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}), extensiontest.NewNopSettings(metadata.Type))
	require.ErrorContains(t, missing.Start(context.Background(), newHost()), "storage: extension file_storage is not configured")
}

// TestEventStream: snapshots arrive on the stream, an API switch is announced, and shutdown ends open
// streams at once instead of waiting for them.
func TestEventStream(t *testing.T) {
	cfg := configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "events_interval": "100ms"})
	c := newControl(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, c.Start(context.Background(), newHost()))
	c.RegisterExperiment(newFakeExperiment())
	c.RegisterSimulator("simulated_process", newSimulator(t))
	base := "http://" + c.Addr().String()

	resp, err := http.Get(base + "/api/v1/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := resp.Body.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.Index(acc, "\n\n")
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+2:]
			}
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(prefix, contains string) {
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "stream ended before %q", prefix)
				if strings.HasPrefix(l, prefix) && strings.Contains(l, contains) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q event containing %q", prefix, contains)
			}
		}
	}
	waitFor("event: snapshot", `"name":"experiment/process"`)
	waitFor("event: simulator", `"simulator":"simulated_process","status":{"profile":"realistic"`)

	req, err := http.NewRequest(http.MethodPut, base+"/api/v1/experiments/experiment%2Fprocess/active", strings.NewReader(`{"variant":"top20"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	waitFor("event: switch", `"variant":"top20","source":"api"`)

	start := time.Now()
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 5*time.Second, "an open stream does not hold shutdown")
	for range lines { // the stream ends
	}
}
