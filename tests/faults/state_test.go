// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// stateFile is file_storage's name for phoenix_control's state in examples/control.yaml's directory.
const stateFile = "extension_phoenix_control_"

type storageInfo struct {
	Status  string `json:"status"`
	File    string `json:"file"`
	Error   string `json:"error"`
	MovedTo string `json:"moved_to"`
}

func storageOf(t *testing.T, api string) storageInfo {
	status, body, err := call(http.MethodGet, api+"/api/v1/info", "")
	require.NoError(t, err)
	require.Equal(t, 200, status, string(body))
	var info struct {
		Storage storageInfo `json:"storage"`
	}
	require.NoError(t, json.Unmarshal(body, &info), string(body))
	return info.Storage
}

func metric(t *testing.T, api, name string) string {
	_, body, err := call(http.MethodGet, api+"/metrics", "")
	require.NoError(t, err)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return strings.TrimPrefix(l, name+" ")
		}
	}
	return ""
}

func switchTo(t *testing.T, api, variant string) *http.Response {
	req, err := http.NewRequest(http.MethodPut, api+experiment+"/active", strings.NewReader(`{"variant":"`+variant+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func noise(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// metaField overwrites a 4-byte field of both bbolt meta pages (4 KiB pages, after the 16-byte page header).
func metaField(t *testing.T, path string, off int64, v uint32) {
	for _, page := range []int64{0, 4096} {
		overwrite(t, path, page+16+off, binary.LittleEndian.AppendUint32(nil, v))
	}
}

// TestStateDamage: for every kind of damage the fault review found, the built binary starts on its
// configuration, serves, reports the damage (API and /metrics), has moved the file aside, and persists the
// next switch across a restart.
func TestStateDamage(t *testing.T) {
	damages := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated to 0 bytes", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 0)) }},
		{"truncated in the first meta page", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 100)) }},
		{"truncated after the first meta page", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 5000)) }},
		{"truncated inside the data pages", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 2*4096+2048)) }},
		{"zeroed header", func(t *testing.T, p string) { overwrite(t, p, 0, make([]byte, 2*4096)) }},
		{"noise over the meta pages", func(t *testing.T, p string) { overwrite(t, p, 0, noise(2*4096, 1)) }},
		{"wrong magic", func(t *testing.T, p string) { metaField(t, p, 0, 0xDEADBEEF) }},
		{"wrong version", func(t *testing.T, p string) { metaField(t, p, 4, 99) }},
		{"wrong checksum", func(t *testing.T, p string) { metaField(t, p, 60, 1) }},
		{"noise over the data pages", func(t *testing.T, p string) {
			st, err := os.Stat(p)
			require.NoError(t, err)
			overwrite(t, p, 2*4096, noise(int(st.Size())-2*4096, 2))
		}},
		{"a directory in its place", func(t *testing.T, p string) { require.NoError(t, os.Remove(p)); require.NoError(t, os.Mkdir(p, 0o700)) }},
		{"a text file in its place", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, []byte("hello\n"), 0o600)) }},
		{"zeros in its place", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, make([]byte, 64<<10), 0o600)) }},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			example := harness.NewControlExample(t)
			c := example.Start(t)
			require.Equal(t, 200, switchTo(t, example.API, "top20").StatusCode)
			require.NoError(t, c.Stop(20*time.Second))
			path := filepath.Join(example.StateDir, stateFile)
			d.damage(t, path)

			c = example.Start(t) // Start fails the test unless the collector becomes healthy
			st := storageOf(t, example.API)
			assert.Equal(t, "damaged", st.Status, "%+v", st)
			assert.NotEmpty(t, st.Error)
			require.NotEmpty(t, st.MovedTo)
			_, err := os.Lstat(st.MovedTo)
			assert.NoError(t, err, "the damaged file is kept aside for a post-mortem")
			assert.Equal(t, "0", metric(t, example.API, "phoenix_control_storage_ok"))
			assert.NotEqual(t, "0", metric(t, example.API, "phoenix_control_storage_errors_total"))
			assert.Contains(t, []string{"full", "top20"}, active(t, example.API), "the configured state, or what was readable")

			require.Equal(t, 200, switchTo(t, example.API, "by_executable").StatusCode)
			require.NoError(t, c.Stop(20*time.Second))
			c = example.Start(t)
			assert.Equal(t, "by_executable", active(t, example.API), "the fresh file persists")
			assert.Equal(t, "ok", storageOf(t, example.API).Status)
			require.NoError(t, c.Stop(20*time.Second))
		})
	}
}

// mountTmpfs mounts a small tmpfs made for the test (root only; CI runs as root).
func mountTmpfs(t *testing.T, size string) string {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the full-disk and read-only cases mount a tmpfs: run as root (CI does)")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes into dir until the filesystem is full.
func fill(t *testing.T, dir string) {
	f, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4096)
	for range 1 << 16 {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
	t.Fatal("the tmpfs did not fill")
}

// TestFullDisk: a disk that fills while the collector runs loses nothing acknowledged; a collector that
// starts on a full disk serves, reports that nothing persists, answers switches with a "not persisted"
// warning, and persists the state in force once there is room again — without a restart.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	example := harness.NewControlExample(t)
	example.StateDir = filepath.Join(dir, "state")
	c := example.Start(t)
	require.Equal(t, 200, switchTo(t, example.API, "top20").StatusCode)
	fill(t, dir)
	require.NoError(t, c.Stop(20*time.Second))
	c = example.Start(t)
	assert.Equal(t, "top20", active(t, example.API), "acknowledged before the disk filled")
	require.NoError(t, c.Stop(20*time.Second))

	require.NoError(t, os.RemoveAll(example.StateDir)) // a new node whose disk is full from the start
	fill(t, dir)
	c = example.Start(t)
	st := storageOf(t, example.API)
	assert.Equal(t, "unavailable", st.Status, "%+v", st)
	assert.Contains(t, st.Error, "no space left")
	assert.Equal(t, "0", metric(t, example.API, "phoenix_control_storage_ok"))
	resp := switchTo(t, example.API, "by_executable")
	assert.Equal(t, 200, resp.StatusCode, "the switch happened")
	assert.Contains(t, resp.Header.Get("Warning"), "not persisted")

	require.NoError(t, os.Remove(filepath.Join(dir, "filler")))
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		if resp := switchTo(t, example.API, "by_executable"); resp.Header.Get("Warning") != "" {
			return fmt.Errorf("still: %s", resp.Header.Get("Warning"))
		}
		return nil
	}), "persisting again once there is room (tried again on use)")
	assert.Equal(t, "ok", storageOf(t, example.API).Status)
	require.NoError(t, c.Stop(20*time.Second))
	c = example.Start(t)
	assert.Equal(t, "by_executable", active(t, example.API), "persisted once there was room")
	require.NoError(t, c.Stop(20*time.Second))
}

// TestReadOnlyStateDirectory: the state directory is read-only (a remounted volume): the collector starts
// on what the file holds and serves, reports that nothing persists, and switches still work until the
// restart.
func TestReadOnlyStateDirectory(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	example := harness.NewControlExample(t)
	example.StateDir = dir
	c := example.Start(t)
	require.Equal(t, 200, switchTo(t, example.API, "top20").StatusCode)
	require.NoError(t, c.Stop(20*time.Second))
	out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput()
	require.NoError(t, err, string(out))

	c = example.Start(t)
	assert.Equal(t, "top20", active(t, example.API), "the acknowledged switch, read from the read-only file")
	st := storageOf(t, example.API)
	assert.Equal(t, "unavailable", st.Status, "%+v", st)
	assert.Contains(t, st.Error, "read-only")
	assert.Equal(t, "0", metric(t, example.API, "phoenix_control_storage_ok"))
	resp := switchTo(t, example.API, "by_executable")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Warning"), "not persisted")
	assert.Equal(t, "by_executable", active(t, example.API))
	require.NoError(t, c.Stop(20*time.Second))
}
