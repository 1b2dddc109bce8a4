// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
)

// brokenStorage is a storage extension whose file cannot be opened (damaged, locked, a full disk).
type brokenStorage struct {
	component.StartFunc
	component.ShutdownFunc
}

func (brokenStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return nil, errors.New("invalid database")
}

type hostWith struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h.exts }

// TestBrokenStorageDoesNotStopTheController: state it cannot open is reported, and the controller runs
// without persistence.
func TestBrokenStorageDoesNotStopTheController(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}).Unmarshal(cfg))
	f := newFleet(cfg, extensiontest.NewNopSettings(metadata.Type))
	host := hostWith{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.MustNewID("file_storage"): brokenStorage{}}}
	require.NoError(t, f.Start(context.Background(), host), "damaged state never stops the collector")
	t.Cleanup(func() { require.NoError(t, f.Shutdown(context.Background())) })
	require.NoError(t, f.NotifyConfig(context.Background(), confmap.NewFromStringMap(map[string]any{
		"extensions": map[string]any{"file_storage": map[string]any{"directory": t.TempDir()}}})))
	resp, err := http.Get("http://" + f.Addr().String() + "/api/v1/fleet/info")
	require.NoError(t, err)
	defer resp.Body.Close()
	var info struct{ Storage string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	assert.Contains(t, info.Storage, "unavailable")
	assert.Contains(t, info.Storage, "invalid database")
}

// startOnFileStorage starts a controller on a real file_storage in dir, as the collector does: Start, then
// NotifyConfig with the effective configuration.
func startOnFileStorage(t *testing.T, dir string) *phoenixFleet {
	ctx := context.Background()
	fs := filestorage.NewFactory()
	scfg := fs.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"directory": dir}).Unmarshal(scfg))
	se, err := fs.Create(ctx, extensiontest.NewNopSettings(fs.Type()), scfg)
	require.NoError(t, err)
	require.NoError(t, se.Start(ctx, componenttest.NewNopHost()))
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}).Unmarshal(cfg))
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewID("phoenix_fleet")
	f := newFleet(cfg, set)
	host := hostWith{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.MustNewID("file_storage"): se}}
	require.NoError(t, f.Start(ctx, host))
	require.NoError(t, f.NotifyConfig(ctx, confmap.NewFromStringMap(map[string]any{
		"extensions": map[string]any{"file_storage": map[string]any{"directory": dir}}})))
	t.Cleanup(func() { _ = f.Shutdown(ctx); _ = se.Shutdown(ctx) })
	return f
}

// TestDamagedStateFileIsMovedAside: random bytes over the data pages (bbolt would panic in a goroutine of
// its own) or an emptied file: the controller starts, says so, and persists afresh.
func TestDamagedStateFileIsMovedAside(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"random data pages": func(t *testing.T, path string) {
			st, err := os.Stat(path)
			require.NoError(t, err)
			junk := make([]byte, st.Size()-2*4096)
			_, _ = rand.Read(junk)
			fh, err := os.OpenFile(path, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = fh.WriteAt(junk, 2*4096)
			require.NoError(t, err)
			require.NoError(t, fh.Close())
		},
		"emptied": func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			f := startOnFileStorage(t, dir)
			seedAgent(f.agents, "e", "c")
			_, err := f.rollouts.start(fleet.RolloutSpec{Experiment: "e", Candidate: "c", Waves: []fleet.Wave{{Count: 1}}})
			require.NoError(t, err)
			require.NoError(t, f.Shutdown(context.Background()))
			files, err := filepath.Glob(filepath.Join(dir, "extension_phoenix_fleet*"))
			require.NoError(t, err)
			require.Len(t, files, 1)
			damage(t, files[0])

			f = startOnFileStorage(t, dir)
			seedAgent(f.agents, "e", "c")
			resp, err := http.Get("http://" + f.Addr().String() + "/api/v1/fleet/info")
			require.NoError(t, err)
			defer resp.Body.Close()
			var info struct{ Storage string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
			assert.Contains(t, info.Storage, "damaged")
			assert.Contains(t, info.Storage, "moved aside")
			aside, _ := filepath.Glob(files[0] + ".damaged-*")
			assert.Len(t, aside, 1, "the damaged file is kept for a look")
			_, err = f.rollouts.start(fleet.RolloutSpec{Experiment: "e", Candidate: "c", Waves: []fleet.Wave{{Count: 1}}})
			assert.NoError(t, err, "and persists afresh")
		})
	}
}
