// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
	"github.com/phoenix-platform/otelcol-phoenix/internal/statefile"
)

// configWatcher is extensioncapabilities.ConfigWatcher, which the service calls after every extension started
// and before any pipeline starts.
type configWatcher interface {
	NotifyConfig(ctx context.Context, conf *confmap.Conf) error
}

// startOnFileStorage starts the real file_storage over dir and phoenix_control over it in the service's
// order: extensions' Start, the effective configuration, then the pipelines (the experiment registers).
func startOnFileStorage(t *testing.T, dir string) (*phoenixControl, *fakeExperiment, func()) {
	return startOn(t, dir, nil, nil)
}

// startOn is startOnFileStorage with more file_storage configuration and the storage extension wrapped (a
// fault injected in front of the real one); both may be nil.
func startOn(t *testing.T, dir string, conf map[string]any, wrap func(storage.Extension) storage.Extension) (*phoenixControl, *fakeExperiment, func()) {
	ctx := context.Background()
	fs := filestorage.NewFactory()
	cfg := fs.CreateDefaultConfig()
	storageConf := map[string]any{"directory": dir}
	for k, v := range conf {
		storageConf[k] = v
	}
	require.NoError(t, confmap.NewFromStringMap(storageConf).Unmarshal(cfg))
	storageExt, err := fs.Create(ctx, extensiontest.NewNopSettings(fs.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, storageExt.Start(ctx, componenttest.NewNopHost()))
	h := newHost()
	h.exts[component.MustNewID("file_storage")] = storageExt
	if wrap != nil {
		h.exts[component.MustNewID("file_storage")] = wrap(storageExt.(storage.Extension))
	}
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewID("phoenix_control")
	c := newControl(configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "storage": "file_storage"}), set)
	require.NoError(t, c.Start(ctx, h), "damaged state never fails the start")
	w, ok := any(c).(configWatcher)
	require.True(t, ok, "phoenix_control learns where the state file is from the effective configuration")
	require.NoError(t, w.NotifyConfig(ctx, confmap.NewFromStringMap(map[string]any{"extensions": map[string]any{
		"file_storage": storageConf, "phoenix_control": map[string]any{"storage": "file_storage"}}})))
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
	{"truncated before the root page", func(t *testing.T, p string) { // bbolt's map freelist picks the root's page at random
		pageSize, root, err := statefile.Meta(p)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(p, int64(root*pageSize)))
	}},
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
			// Every access is a bbolt write transaction, alternating meta pages: one more after the switch,
			// and both meta pages hold it, whichever is damaged.
			_, err := c.state.Get(context.Background(), "probe")
			require.NoError(t, err)
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
	assert.Regexp(t, `page \d+: identifies as`, info.Error)
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

// copyOver is `cp src dst`: dst keeps its inode, its content is replaced.
func copyOver(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// moveOver is `mv` of a copy of src onto dst: another inode takes dst's name.
func moveOver(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst+".new", data, 0o600))
	require.NoError(t, os.Rename(dst+".new", dst))
}

// otherStateFile is another collector's valid state file (a backup, say): by_executable active, one run.
func otherStateFile(t *testing.T) (string, runs.Run) {
	dir := t.TempDir()
	c, _, stop := startOnFileStorage(t, dir)
	putActive(t, c, "by_executable")
	r, err := c.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	stop()
	return filepath.Join(dir, stateFile), *r
}

func runIDs(c *phoenixControl) []string {
	var ids []string
	for _, r := range c.runs.list("experiment/process") {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestStateFileChangedUnderneath: a valid file copied or moved over the running collector's (an operator's
// restore) is never handed to the stale bbolt client, which would panic out of reach (cp) or keep writing
// to the unlinked file (mv). The file is reopened and stays; the collector keeps what it changed since start
// and adopts the file's values for the rest, and reports the change.
func TestStateFileChangedUnderneath(t *testing.T) {
	for _, change := range []struct {
		name    string
		replace func(t *testing.T, src, dst string)
	}{{"copied over (cp: same inode)", copyOver}, {"moved over (mv: another inode)", moveOver}} {
		t.Run(change.name+", this process switched", func(t *testing.T) {
			other, otherRun := otherStateFile(t)
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			c, e, stop := startOnFileStorage(t, dir)
			change.replace(t, other, path)
			putActive(t, c, "top20")
			info := getStorageInfo(t, c)
			assert.Equal(t, "damaged", info.Status)
			assert.Contains(t, info.Error, "changed underneath")
			assert.Empty(t, info.MovedTo, "a valid file is the operator's: it stays")
			moved, _ := filepath.Glob(path + ".damaged-*")
			assert.Empty(t, moved)
			assert.Equal(t, "top20", e.Snapshot().Active, "what this process switched stands")
			assert.Eventually(t, func() bool { return slices.Equal(runIDs(c), []string{otherRun.ID}) }, 5*time.Second, 10*time.Millisecond,
				"the file's run history is adopted: this process did not change it")
			stop()

			c, e, stop = startOnFileStorage(t, dir)
			defer stop()
			assert.Equal(t, "top20", e.Snapshot().Active)
			assert.Equal(t, []string{otherRun.ID}, runIDs(c))
			assert.Equal(t, "ok", getStorageInfo(t, c).Status)
		})
		t.Run(change.name+", this process ran", func(t *testing.T) {
			other, _ := otherStateFile(t)
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			c, _, stop := startOnFileStorage(t, dir)
			putActive(t, c, "top20")
			stop()

			c, e, stop := startOnFileStorage(t, dir)
			require.Equal(t, "top20", e.Snapshot().Active)
			change.replace(t, other, path)
			run, err := c.runs.start("experiment/process", testSpec())
			require.NoError(t, err)
			assert.Contains(t, getStorageInfo(t, c).Error, "changed underneath")
			assert.Eventually(t, func() bool { return e.Snapshot().Active == "by_executable" }, 5*time.Second, 10*time.Millisecond,
				"the file's variant is applied: this process did not switch since start")
			assert.Equal(t, []string{run.ID}, runIDs(c), "the run history this process changed stands")
			stop()

			c, e, stop = startOnFileStorage(t, dir)
			defer stop()
			assert.Equal(t, "by_executable", e.Snapshot().Active)
			assert.Equal(t, []string{run.ID}, runIDs(c))
		})
	}
}

// TestStateFileDeletedWhileRunning: a file deleted under the running collector is noticed before the next
// write, which would go to the unlinked file: a fresh one holds the state in force.
func TestStateFileDeletedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	c, _, stop := startOnFileStorage(t, dir)
	putActive(t, c, "top20")
	run, err := c.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))

	putActive(t, c, "by_executable")
	info := getStorageInfo(t, c)
	assert.Equal(t, "damaged", info.Status)
	assert.Contains(t, info.Error, "changed underneath")
	_, err = os.Stat(path)
	require.NoError(t, err, "a fresh file in its place")
	stop()

	c, e, stop := startOnFileStorage(t, dir)
	defer stop()
	assert.Equal(t, "by_executable", e.Snapshot().Active)
	assert.Equal(t, []string{run.ID}, runIDs(c), "the run history this process knew")
}

// TestOversizedStateFileIsMovedAsideUnread: phoenix_control's state is tens of KiB; a file past
// maxStateFileSize is damage, moved aside without being read (a sparse 100 GB file would not fit in memory).
func TestOversizedStateFileIsMovedAsideUnread(t *testing.T) {
	for name, size := range map[string]int64{"a valid file padded to 1 GiB": 1 << 30, "a sparse 100 GB file": 100 << 30} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			c, _, stop := startOnFileStorage(t, dir)
			putActive(t, c, "top20")
			stop()
			require.NoError(t, os.Truncate(path, size))

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, e, stop := startOnFileStorage(t, dir)
			defer stop()
			runtime.ReadMemStats(&after)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "not read")
			assert.Equal(t, "full", e.Snapshot().Active, "the configured state")
			info := getStorageInfo(t, c)
			assert.Equal(t, "damaged", info.Status)
			assert.Contains(t, info.Error, "oversized")
			st, err := os.Stat(info.MovedTo)
			require.NoError(t, err, "kept aside")
			assert.Equal(t, size, st.Size())
			putActive(t, c, "by_executable")
			assert.Equal(t, "damaged", getStorageInfo(t, c).Status, "a fresh file persists")
		})
	}
}

// TestLateOpenAppliesTheStoredState: a file that opens late (another collector held its lock at start) is
// not overwritten with what this process only read: its stored variant and run history are applied, and only
// what this process switched while nothing persisted is written to it.
func TestLateOpenAppliesTheStoredState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	otherExperiment := func() *fakeExperiment {
		return &fakeExperiment{name: "experiment/other", active: "full", variants: []string{"full", "top20", "by_executable"}}
	}
	c, _, stop := startOnFileStorage(t, dir)
	c.RegisterExperiment(otherExperiment())
	putActive(t, c, "by_executable")
	for range 3 {
		r, err := c.runs.start("experiment/process", testSpec())
		require.NoError(t, err)
		_, err = c.runs.cancel("experiment/process", r.ID)
		require.NoError(t, err)
	}
	stored := runIDs(c)
	_, err := c.setActive(ctx, "experiment/other", "top20")
	require.NoError(t, err)
	stop()

	holder, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second}) // another collector
	require.NoError(t, err)
	c, e, stop := startOn(t, dir, map[string]any{"timeout": "50ms"}, nil)
	defer stop()
	now := time.Now()
	c.state.mu.Lock()
	c.state.now = func() time.Time { return now }
	c.state.mu.Unlock()
	other := otherExperiment()
	c.RegisterExperiment(other)
	info := getStorageInfo(t, c)
	require.Equal(t, "unavailable", info.Status)
	assert.Contains(t, info.Error, "timeout")
	assert.Equal(t, "full", e.Snapshot().Active, "the configured state while the file is unavailable")
	_, err = c.setActive(ctx, "experiment/other", "by_executable")
	require.ErrorIs(t, err, errNotPersisted)

	require.NoError(t, holder.Close())
	c.state.mu.Lock()
	now = now.Add(reopenInterval)
	c.state.mu.Unlock()
	_, err = c.state.Get(ctx, "anything") // opens the file on use
	require.NoError(t, err)
	assert.Equal(t, "ok", getStorageInfo(t, c).Status)
	assert.Eventually(t, func() bool { return e.Snapshot().Active == "by_executable" }, 5*time.Second, 10*time.Millisecond,
		"the stored variant is applied when the file opens")
	assert.Eventually(t, func() bool { return slices.Equal(runIDs(c), stored) }, 5*time.Second, 10*time.Millisecond,
		"and the stored run history")
	assert.Equal(t, "by_executable", other.Snapshot().Active, "what this process switched stands")
	v, err := c.state.Get(ctx, activeKey("experiment/other"))
	require.NoError(t, err)
	assert.Equal(t, "by_executable", string(v), "and is written to the file")
	stop()

	c, e, stop = startOnFileStorage(t, dir)
	defer stop()
	other = otherExperiment()
	c.RegisterExperiment(other)
	assert.Equal(t, "by_executable", e.Snapshot().Active)
	assert.Equal(t, stored, runIDs(c), "the stored history was not overwritten")
	assert.Equal(t, "by_executable", other.Snapshot().Active)
}

// deniedStorage fails to open the file as file_storage does on a read-only volume or a file it may not write.
type deniedStorage struct {
	storage.Extension
	err error
}

func (d *deniedStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return nil, &os.PathError{Op: "open", Path: "/state/" + stateFile, Err: d.err}
}

// TestReadOnlyStorageIsReported: a file that cannot be opened for writing is reported as read-only.
func TestReadOnlyStorageIsReported(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EROFS, syscall.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			c, e, stop := startOn(t, t.TempDir(), nil, func(se storage.Extension) storage.Extension { return &deniedStorage{Extension: se, err: errno} })
			defer stop()
			info := getStorageInfo(t, c)
			assert.Equal(t, "unavailable", info.Status)
			assert.Contains(t, info.Error, "read-only")
			assert.Contains(t, info.Error, errno.Error())
			_, err := c.setActive(context.Background(), "experiment/process", "top20")
			require.ErrorIs(t, err, errNotPersisted)
			assert.Equal(t, "top20", e.Snapshot().Active)
		})
	}
}

// TestReadOnlyStorageKeepsTheStoredState: a state directory remounted read-only (or no longer writable)
// still holds what was acknowledged: it is read and in force, and the status says nothing persists.
func TestReadOnlyStorageKeepsTheStoredState(t *testing.T) {
	dir := t.TempDir()
	c, _, stop := startOnFileStorage(t, dir)
	putActive(t, c, "top20")
	r, err := c.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	stop()
	for _, errno := range []syscall.Errno{syscall.EROFS, syscall.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			c, e, stop := startOn(t, dir, nil, func(se storage.Extension) storage.Extension { return &deniedStorage{Extension: se, err: errno} })
			defer stop()
			assert.Equal(t, "top20", e.Snapshot().Active, "the acknowledged switch")
			assert.Equal(t, []string{r.ID}, runIDs(c), "and the run history")
			info := getStorageInfo(t, c)
			assert.Equal(t, "unavailable", info.Status)
			assert.Contains(t, info.Error, "read-only")
			assert.Contains(t, info.Error, "nothing persists")
		})
	}
}

// fullDisk hands out clients whose writes fail while full is set, as bbolt's on a full disk.
type fullDisk struct {
	storage.Extension
	full *atomic.Bool
}

func (f *fullDisk) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := f.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	return &fullDiskClient{Client: c, full: f.full}, nil
}

type fullDiskClient struct {
	storage.Client
	full *atomic.Bool
}

func (c *fullDiskClient) Set(ctx context.Context, key string, value []byte) error {
	if c.full.Load() {
		return fmt.Errorf("write %s: %w", stateFile, syscall.ENOSPC)
	}
	return c.Client.Set(ctx, key, value)
}

// TestFailedWritesAreReportedAndWrittenBack: writes failing on a full disk make the storage unavailable
// (not ok), and what they failed to write is written at the next operation once there is room.
func TestFailedWritesAreReportedAndWrittenBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	full := &atomic.Bool{}
	c, _, stop := startOn(t, dir, nil, func(se storage.Extension) storage.Extension { return &fullDisk{Extension: se, full: full} })
	putActive(t, c, "top20")
	full.Store(true)
	run, err := c.runs.start("experiment/process", testSpec()) // its history is not written
	require.NoError(t, err)
	info := getStorageInfo(t, c)
	assert.Equal(t, "unavailable", info.Status)
	assert.Contains(t, info.Error, "no space left")
	assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_ok 0")

	full.Store(false)
	_, err = c.state.Get(ctx, activeKey("experiment/process"))
	require.NoError(t, err)
	assert.Equal(t, "ok", getStorageInfo(t, c).Status)
	assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_ok 1")
	stop()

	c, e, stop := startOnFileStorage(t, dir)
	defer stop()
	assert.Equal(t, "top20", e.Snapshot().Active)
	assert.Equal(t, []string{run.ID}, runIDs(c), "the history is written once there is room")
}

// TestValueDamagedInPlace: bbolt keeps no checksum of values, so a byte changed inside the run history
// passes every structural check. A canary's candidate may then be the persisted active variant with nothing
// left to say so: the collector starts on the configured variant, reports the damage, and starts a new
// history over the unreadable one.
func TestValueDamagedInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	c, _, stop := startOnFileStorage(t, dir)
	putActive(t, c, "top20")
	_, err := c.runs.start("experiment/process", testSpec())
	require.NoError(t, err)
	stop()

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		var found bool
		err := tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			if v := b.Get([]byte("runs/experiment/process")); v != nil {
				found = true
				damaged := bytes.Clone(v)
				damaged[len(damaged)/2] = '{' // one byte, as a bit flip on disk would
				return b.Put([]byte("runs/experiment/process"), damaged)
			}
			return nil
		})
		require.True(t, found, "the run history is in the file")
		return err
	}))
	require.NoError(t, db.Close())

	c, e, stop := startOnFileStorage(t, dir)
	assert.Equal(t, "full", e.Snapshot().Active, "the configured variant, not the persisted one the history cannot vouch for")
	info := getStorageInfo(t, c)
	assert.Equal(t, "damaged", info.Status)
	assert.Contains(t, info.Error, "runs/experiment/process: unreadable value")
	assert.Empty(t, info.MovedTo, "the file's structure is sound: it stays")
	assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_ok 0")
	assert.Contains(t, metricsOf(t, c), "phoenix_control_storage_errors_total 1")
	assert.Empty(t, runIDs(c), "a new history")
	stop()

	c, e, stop = startOnFileStorage(t, dir)
	defer stop()
	assert.Equal(t, "full", e.Snapshot().Active, "the configured variant was persisted again")
	assert.Equal(t, "ok", getStorageInfo(t, c).Status, "nothing unreadable is left")
}

// TestDamagedFilesAreBounded: a file damaged at every start leaves at most the newest three aside
// (statefile.MoveAside, phoenix_fleet's too).
func TestDamagedFilesAreBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	for i, stamp := range []string{"20261101T000000.000Z", "20261102T000000.000Z", "20261103T000000.000Z", "20261103T000000.000Z-2"} {
		require.NoError(t, os.WriteFile(path+".damaged-"+stamp, []byte{byte(i)}, 0o600))
	}
	require.NoError(t, os.WriteFile(path, []byte("not a bbolt file"), 0o600))
	c, _, stop := startOnFileStorage(t, dir)
	defer stop()
	info := getStorageInfo(t, c)
	require.Equal(t, "damaged", info.Status)
	left, err := filepath.Glob(path + ".damaged-*")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{path + ".damaged-20261103T000000.000Z", path + ".damaged-20261103T000000.000Z-2", info.MovedTo}, left)
}
