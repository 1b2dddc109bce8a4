// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
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
	resp, err := http.Get("http://" + f.Addr().String() + "/api/v1/fleet/info")
	require.NoError(t, err)
	defer resp.Body.Close()
	var info struct{ Storage string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	assert.Contains(t, info.Storage, "unavailable")
	assert.Contains(t, info.Storage, "invalid database")
}
