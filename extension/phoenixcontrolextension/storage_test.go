// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
)

// configWatcher is extensioncapabilities.ConfigWatcher, which the service calls after every extension started
// and before any pipeline starts.
type configWatcher interface {
	NotifyConfig(ctx context.Context, conf *confmap.Conf) error
}

// startOnFileStorage starts the real file_storage over dir and phoenix_control over it in the service's
// order: extensions' Start, the effective configuration, then the pipelines (the experiment registers).
func startOnFileStorage(t *testing.T, dir string) (*phoenixControl, *fakeExperiment, func()) {
	ctx := context.Background()
	fs := filestorage.NewFactory()
	cfg := fs.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"directory": dir}).Unmarshal(cfg))
	storageExt, err := fs.Create(ctx, extensiontest.NewNopSettings(fs.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, storageExt.Start(ctx, componenttest.NewNopHost()))
	h := newHost()
	h.exts[component.MustNewID("file_storage")] = storageExt
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewID("phoenix_control")
	c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}), set)
	require.NoError(t, c.Start(ctx, h), "damaged state never fails the start")
	w, ok := any(c).(configWatcher)
	require.True(t, ok, "phoenix_control learns where the state file is from the effective configuration")
	require.NoError(t, w.NotifyConfig(ctx, confmap.NewFromStringMap(map[string]any{"extensions": map[string]any{
		"file_storage": map[string]any{"directory": dir}, "phoenix_control": map[string]any{"storage": "file_storage"}}})))
	e := newFakeExperiment()
	c.RegisterExperiment(e)
	return c, e, func() {
		require.NoError(t, c.Shutdown(ctx))
		require.NoError(t, storageExt.Shutdown(ctx))
	}
}

func putActive(t *testing.T, c *phoenixControl, variant string) {
	req, err := http.NewRequest(http.MethodPut, "http://"+c.Addr().String()+"/api/v1/experiments/experiment%2Fprocess/active",
		strings.NewReader(`{"variant":"`+variant+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "switched and persisted")
}

type storageInfo struct {
	Status  string `json:"status"`
	Error   string `json:"error"`
	MovedTo string `json:"moved_to"`
}

func getStorageInfo(t *testing.T, c *phoenixControl) storageInfo {
	status, body := get(t, "http://"+c.Addr().String()+"/api/v1/info", "")
	require.Equal(t, http.StatusOK, status)
	var info struct {
		Storage storageInfo `json:"storage"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	return info.Storage
}

func metricsOf(t *testing.T, c *phoenixControl) string {
	status, body := get(t, "http://"+c.Addr().String()+"/metrics", "")
	require.Equal(t, http.StatusOK, status)
	return body
}

const stateFile = "extension_phoenix_control_" // file_storage's name for phoenix_control's client

// writeAt overwrites the file at off.
func writeAt(t *testing.T, path string, off int64, b []byte) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// metaField overwrites a 4-byte field of both meta pages (page size 4096, after the 16-byte page header).
func metaField(t *testing.T, path string, off int64, v uint32) {
	for _, page := range []int64{0, 4096} {
		writeAt(t, path, page+16+off, binary.LittleEndian.AppendUint32(nil, v))
	}
}

// damages are the ways the state file was found broken in the fault review (issue 20).
var damages = []struct {
	name   string
	damage func(t *testing.T, path string)
}{
	{"truncated to 0 bytes", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 0)) }},
	{"truncated inside the first meta page", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 100)) }},
	{"truncated after the first meta page", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 5000)) }},
	{"truncated after the meta pages", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 3*4096)) }},
	{"zeroed header", func(t *testing.T, p string) { writeAt(t, p, 0, make([]byte, 2*4096)) }},
	{"random bytes over the meta pages", func(t *testing.T, p string) { writeAt(t, p, 0, randomBytes(2*4096, 1)) }},
	{"wrong magic", func(t *testing.T, p string) { metaField(t, p, 0, 0xDEADBEEF) }},
	{"wrong version", func(t *testing.T, p string) { metaField(t, p, 4, 99) }},
	{"wrong checksum", func(t *testing.T, p string) { metaField(t, p, 60, 1) }},
	{"random bytes over the data pages", func(t *testing.T, p string) {
		st, err := os.Stat(p)
		require.NoError(t, err)
		writeAt(t, p, 2*4096, randomBytes(int(st.Size())-2*4096, 2))
	}},
	{"a directory in place of the file", func(t *testing.T, p string) {
		require.NoError(t, os.Remove(p))
		require.NoError(t, os.Mkdir(p, 0o700))
	}},
	{"a text file in place of the file", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, []byte("hello\n"), 0o600)) }},
	{"zeros in place of the file", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, make([]byte, 64<<10), 0o600)) }},
}

// TestStateDamageNeverStopsTheCollector: for every kind of damage the collector starts on the configured
// state, reports the damage (API and /metrics), moves the file aside and persists again in a fresh one.
func TestStateDamageNeverStopsTheCollector(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			c, _, stop := startOnFileStorage(t, dir)
			assert.Equal(t, "ok", getStorageInfo(t, c).Status)
			putActive(t, c, "top20")
			_, err := c.runs.start("experiment/process", testSpec()) // a run history too
			require.NoError(t, err)
			stop()
			d.damage(t, path)

			c, e, stop := startOnFileStorage(t, dir)
			assert.Equal(t, "full", e.Snapshot().Active, "the configured state")
			info := getStorageInfo(t, c)
			assert.Equal(t, "damaged", info.Status)
			assert.NotEmpty(t, info.Error)
			assert.True(t, strings.HasPrefix(info.MovedTo, path+".damaged-"), info.MovedTo)
			_, err = os.Stat(info.MovedTo)
			require.NoError(t, err, "the damaged file is kept aside")
			assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_ok 0")
			putActive(t, c, "by_executable")
			stop()

			c, e, stop = startOnFileStorage(t, dir)
			defer stop()
			assert.Equal(t, "by_executable", e.Snapshot().Active, "a switch after the damage survives a restart")
			assert.Equal(t, "ok", getStorageInfo(t, c).Status)
			assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_ok 1")
		})
	}
}

// TestStateDamageBboltReadsIsKept: damage bbolt reads past (one meta page gone, bytes after the last page)
// loses nothing, so nothing is moved or reported.
func TestStateDamageBboltReadsIsKept(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, p string){
		"first meta page zeroed": func(t *testing.T, p string) { writeAt(t, p, 0, make([]byte, 4096)) },
		"bytes appended": func(t *testing.T, p string) {
			st, err := os.Stat(p)
			require.NoError(t, err)
			writeAt(t, p, st.Size(), []byte(strings.Repeat("x", 5000)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c, _, stop := startOnFileStorage(t, dir)
			putActive(t, c, "top20")
			stop()
			damage(t, filepath.Join(dir, stateFile))
			c, e, stop := startOnFileStorage(t, dir)
			defer stop()
			assert.Equal(t, "top20", e.Snapshot().Active)
			assert.Equal(t, "ok", getStorageInfo(t, c).Status)
		})
	}
}

// TestStateDamagedWhileRunning: pages damaged under a running collector would make bbolt panic in a goroutine
// of its own (the page scan of a rolled-back write), so they are found before bbolt touches them; the switch
// still happens and is persisted in a fresh file with everything else this process knew.
func TestStateDamagedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	c, _, stop := startOnFileStorage(t, dir)
	putActive(t, c, "top20")
	run, err := c.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	writeAt(t, path, 2*4096, randomBytes(int(st.Size())-2*4096, 3)) // the live mmap sees it

	putActive(t, c, "by_executable")
	info := getStorageInfo(t, c)
	assert.Equal(t, "damaged", info.Status)
	assert.Contains(t, info.Error, "page 3: identifies as")
	_, err = os.Stat(info.MovedTo)
	require.NoError(t, err)
	stop()

	c, e, stop := startOnFileStorage(t, dir)
	defer stop()
	assert.Equal(t, "by_executable", e.Snapshot().Active)
	hist := c.runs.list("experiment/process")
	require.Len(t, hist, 1, "the run history this process knew was written to the fresh file")
	assert.Equal(t, run.ID, hist[0].ID)
}

// panickyStorage hands out clients that panic on their first Set, as bbolt does on a corrupt page.
type panickyStorage struct {
	storage.Extension
	handedOut int
}

func (p *panickyStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := p.Extension.GetClient(ctx, kind, id, name)
	p.handedOut++
	if err != nil || p.handedOut > 1 {
		return c, err
	}
	return &panickyClient{Client: c}, nil
}

type panickyClient struct{ storage.Client }

func (*panickyClient) Set(context.Context, string, []byte) error {
	panic("assertion failed: page 3: has unexpected type/flags: 0")
}

// TestStorageClientPanicIsRecovered: a panic of the storage client is damage: the client is dropped, the file
// moved aside, and the switch persisted in a fresh one.
func TestStorageClientPanicIsRecovered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := filestorage.NewFactory()
	cfg := fs.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"directory": dir}).Unmarshal(cfg))
	inner, err := fs.Create(ctx, extensiontest.NewNopSettings(fs.Type()), cfg)
	require.NoError(t, err)
	h := newHost()
	h.exts[component.MustNewID("file_storage")] = &panickyStorage{Extension: inner.(storage.Extension)}
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewID("phoenix_control")
	c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}), set)
	require.NoError(t, c.Start(ctx, h))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()
	require.NoError(t, c.NotifyConfig(ctx, confmap.NewFromStringMap(map[string]any{"extensions": map[string]any{
		"file_storage": map[string]any{"directory": dir}}})))
	e := newFakeExperiment()
	c.RegisterExperiment(e)

	putActive(t, c, "top20")
	info := getStorageInfo(t, c)
	assert.Equal(t, "damaged", info.Status)
	assert.Contains(t, info.Error, "storage panicked: assertion failed")
	_, err = os.Stat(info.MovedTo)
	require.NoError(t, err)
	stored, err := c.state.Get(ctx, activeKey("experiment/process"))
	require.NoError(t, err)
	assert.Equal(t, "top20", string(stored), "persisted in the fresh file")
	assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_errors_total 1")
}

// unavailableStorage fails to hand out clients while down, as file_storage does on a full or read-only disk.
type unavailableStorage struct {
	storage.Extension
	down bool
}

func (u *unavailableStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	if u.down {
		return nil, fmt.Errorf("open state: %w", syscall.ENOSPC)
	}
	return u.Extension.GetClient(ctx, kind, id, name)
}

// TestUnavailableStorageIsTriedAgain: a file that could not be opened (full disk) is tried again on use, and
// the state in force — switched while nothing persisted — is written once it opens.
func TestUnavailableStorageIsTriedAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := filestorage.NewFactory()
	cfg := fs.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"directory": dir}).Unmarshal(cfg))
	inner, err := fs.Create(ctx, extensiontest.NewNopSettings(fs.Type()), cfg)
	require.NoError(t, err)
	flaky := &unavailableStorage{Extension: inner.(storage.Extension), down: true}
	h := newHost()
	h.exts[component.MustNewID("file_storage")] = flaky
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewID("phoenix_control")
	c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}), set)
	require.NoError(t, c.Start(ctx, h))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()
	now := time.Now()
	c.state.now = func() time.Time { return now }
	require.NoError(t, c.NotifyConfig(ctx, confmap.NewFromStringMap(map[string]any{"extensions": map[string]any{
		"file_storage": map[string]any{"directory": dir}}})))
	c.RegisterExperiment(newFakeExperiment())
	assert.Equal(t, "unavailable", getStorageInfo(t, c).Status)

	_, err = c.setActive(ctx, "experiment/process", "top20")
	require.ErrorIs(t, err, errNotPersisted, "switched, not persisted")
	flaky.down = false
	_, err = c.setActive(ctx, "experiment/process", "top20")
	require.ErrorIs(t, err, errNotPersisted, "not tried again before reopenInterval")
	now = now.Add(reopenInterval)
	_, err = c.setActive(ctx, "experiment/process", "by_executable")
	require.NoError(t, err, "tried again on use once the interval passed")
	assert.Equal(t, "ok", getStorageInfo(t, c).Status)
	stored, err := c.state.Get(ctx, activeKey("experiment/process"))
	require.NoError(t, err)
	assert.Equal(t, "by_executable", string(stored))
}
