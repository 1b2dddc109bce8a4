// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestParseDesiredListsEveryProblem(t *testing.T) {
	f, err := parseDesired([]byte("experiments:\n  experiment/a: {active: top20}\n  experiment/b: {rollout: {variant: x, percent: 25}}\n"))
	require.NoError(t, err)
	assert.Equal(t, "top20", f.Experiments["experiment/a"].Active)
	assert.InDelta(t, 25, *f.Experiments["experiment/b"].Rollout.Percent, 0)

	_, err = parseDesired(nil)
	require.NoError(t, err, "an empty file is an empty desired state")

	_, err = parseDesired([]byte(`experiments:
  both: {active: a, rollout: {variant: b, percent: 5}}
  neither: {}
  novariant: {rollout: {percent: 5}}
  toomuch: {rollout: {variant: b, percent: 150}}
`))
	for _, want := range []string{"both: set active or rollout, not both", "neither: set active, rollout or variants", "novariant: rollout.variant is required", "toomuch: rollout.percent 150"} {
		assert.ErrorContains(t, err, want)
	}
	_, err = parseDesired([]byte("experiments:\n  e: {activ: x}\n"))
	assert.ErrorContains(t, err, "activ", "unknown keys are rejected")
}

func TestRolloutIsStableAndMonotonic(t *testing.T) {
	in25, in50 := 0, 0
	for i := range 4000 {
		node := fmt.Sprintf("node-%04d", i)
		a, b := inRollout(node, "experiment/process", 25), inRollout(node, "experiment/process", 50)
		require.Equal(t, a, inRollout(node, "experiment/process", 25), "stable")
		if a {
			in25++
			require.True(t, b, "raising the percent only adds nodes")
		}
		if b {
			in50++
		}
	}
	assert.InDelta(t, 1000, in25, 120)
	assert.InDelta(t, 2000, in50, 150)
	assert.False(t, inRollout("any", "e", 0))
	assert.True(t, inRollout("any", "e", 100))
}

// TestDesiredStatePrecedence walks the documented order: configured < persisted < file < API (until the file
// changes); an invalid file keeps the last good state; a late experiment gets the file applied on register.
func TestDesiredStatePrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write := func(s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o600)) }
	reg := newRegistry(zap.NewNop())
	reg.store = memStore{"active/experiment/process": []byte("by_executable")} // a persisted switch
	exp := newFakeExperiment()
	reg.RegisterExperiment(exp)
	require.Equal(t, "by_executable", exp.Snapshot().Active, "persisted beats configured")

	d := newDesiredState(path, "node-1", reg, zap.NewNop())
	reg.desired = d
	now := time.Unix(1_800_000_000, 0)
	write("experiments:\n  experiment/process: {active: top20}\n  experiment/late: {active: top20}\n")
	d.poll(now)
	assert.Equal(t, "top20", exp.Snapshot().Active, "the file beats a persisted switch")
	assert.Equal(t, []string{"experiment/late"}, d.snapshot().Pending)

	_, err := reg.setActive(context.Background(), "experiment/process", "full")
	require.NoError(t, err)
	d.poll(now.Add(time.Minute))
	assert.Equal(t, "full", exp.Snapshot().Active, "an API switch lasts while the file is unchanged")

	write("experiments:\n  experiment/process: {rollout: {variant: by_executable, percent: 100}}\n")
	d.poll(now.Add(2 * time.Minute))
	assert.Equal(t, "by_executable", exp.Snapshot().Active, "a changed file applies again")
	write("experiments:\n  experiment/process: {rollout: {variant: by_executable, percent: 0}}\n")
	d.poll(now.Add(3 * time.Minute))
	assert.Equal(t, "full", exp.Snapshot().Active, "outside the rollout: the baseline")

	write("experiments:\n  experiment/process: {active: nope}\n")
	d.poll(now.Add(4 * time.Minute))
	assert.Equal(t, "full", exp.Snapshot().Active, "an invalid file changes nothing")
	st := d.snapshot()
	assert.Contains(t, st.LastError, `experiment/process: no variant "nope"`)
	assert.Equal(t, "full", st.Applied["experiment/process"])

	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-a"}, 1024, testProcessors()).handler())
	defer srv.Close()
	run(t, srv, []step{{"status", "GET", "/api/v1/desired-state", "", "", 200, []string{`"node": "node-1"`, `no variant \"nope\"`}}})

	write("experiments:\n  experiment/process: {active: top20}\n  experiment/late: {active: by_executable}\n")
	d.poll(now.Add(5 * time.Minute))
	assert.Empty(t, d.snapshot().LastError, "a good file clears the error")
	late := newFakeExperiment()
	late.name = "experiment/late"
	reg.RegisterExperiment(late)
	assert.Equal(t, "by_executable", late.Snapshot().Active, "applied when the experiment registers")
	assert.Empty(t, d.snapshot().Pending)

	require.NoError(t, os.Remove(path))
	d.poll(now.Add(6 * time.Minute))
	assert.Contains(t, d.snapshot().LastError, "no such file", "a missing file is reported; state kept")
	assert.Equal(t, "top20", exp.Snapshot().Active)
}

type memStore map[string][]byte

func (m memStore) Get(_ context.Context, k string) ([]byte, error) { return m[k], nil }
func (m memStore) Set(_ context.Context, k string, v []byte) error { m[k] = v; return nil }

func TestDesiredStateConfig(t *testing.T) {
	cfg := configFrom(t, map[string]any{"desired_state": map[string]any{"path": "/etc/phoenix/desired.yaml", "poll_interval": "10ms"}})
	require.ErrorContains(t, cfg.Validate(), "desired_state.poll_interval 10ms")
	assert.Equal(t, "given", nodeName("given"))
	t.Setenv("K8S_NODE_NAME", "from-env")
	assert.Equal(t, "from-env", nodeName(""))
}

// TestParseDesiredRejectsNonNumbers: NaN would put every node on the baseline, silently; infinities and
// out-of-range values are as wrong.
func TestParseDesiredRejectsNonNumbers(t *testing.T) {
	for percent, want := range map[string]string{
		".nan": "e: rollout.percent NaN: want a number in 0..100", ".NaN": "rollout.percent NaN",
		".inf": "rollout.percent +Inf", "-.inf": "rollout.percent -Inf", "-0.5": "rollout.percent -0.5",
		"100.01": "rollout.percent 100.01",
	} {
		_, err := parseDesired([]byte("experiments:\n  e: {rollout: {variant: x, percent: " + percent + "}}\n"))
		assert.ErrorContains(t, err, want, percent)
	}
	for _, percent := range []string{"0", "0.01", "100", "1e1"} {
		_, err := parseDesired([]byte("experiments:\n  e: {rollout: {variant: x, percent: " + percent + "}}\n"))
		assert.NoError(t, err, percent)
	}
}

// TestParseDesiredKeysMatchExactly: keys are matched as written (no case folding, in YAML or JSON form), and
// every unknown key is listed.
func TestParseDesiredKeysMatchExactly(t *testing.T) {
	for doc, want := range map[string][]string{
		"Experiments:\n  e: {active: x}\n":                         {"field Experiments not found"},
		"experiments:\n  e: {Active: x}\n":                         {"field Active not found"},
		`{"experiments": {"e": {"ACTIVE": "x"}}}`:                  {"field ACTIVE not found"},
		"experiments:\n  e: {rollout: {Variant: x, PERCENT: 5}}\n": {"field Variant not found", "field PERCENT not found"},
		"experiments:\n  e: {activ: x, rollot: {}}\nextra: 1\n":    {"field activ not found", "field rollot not found", "field extra not found"},
	} {
		_, err := parseDesired([]byte(doc))
		for _, w := range want {
			assert.ErrorContains(t, err, w, doc)
		}
	}
}

// TestParseDesiredBoundsNesting: a small file nested thousands deep (in a variant's config) is refused
// before anything decodes it; 64 levels are fine.
func TestParseDesiredBoundsNesting(t *testing.T) {
	deep := func(n int) []byte {
		return []byte("experiments:\n  experiment/process:\n    variants:\n      deep:\n        processors: [{topk: {k: 5, keep: {patterns: " +
			strings.Repeat("[", n) + strings.Repeat("]", n) + "}}}]\n")
	}
	start := time.Now()
	_, err := parseDesired(deep(9000))
	require.ErrorContains(t, err, "nested deeper than 64 levels")
	assert.Less(t, time.Since(start), 5*time.Second, "refused, not worked through")
	_, err = parseDesired(deep(55)) // 64 levels with the 9 above
	require.NoError(t, err)
	_, err = parseDesired(deep(56))
	require.ErrorContains(t, err, "nested deeper than 64 levels")
	_, err = parseDesired([]byte("experiments:\n  x: {active: a, bogus: 1}\n"))
	require.ErrorContains(t, err, "line 2: field bogus not found", "unknown keys still named where they are")
}

// TestDesiredStateFileSizeIsBounded: a file over 1 MiB is not read whole; it is an error, reported at GET
// /api/v1/desired-state, and the last good state is kept. The same good file again clears the error.
func TestDesiredStateFileSizeIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	good := "experiments:\n  experiment/process: {active: top20}\n"
	reg := newRegistry(zap.NewNop())
	exp := newFakeExperiment()
	reg.RegisterExperiment(exp)
	d := newDesiredState(path, "node-1", reg, zap.NewNop())
	reg.desired = d
	now := time.Unix(1_800_000_000, 0)
	require.NoError(t, os.WriteFile(path, []byte(good), 0o600))
	d.poll(now)
	require.Equal(t, "top20", exp.Snapshot().Active)
	require.Empty(t, d.snapshot().LastError)

	padded := func(size int) []byte { // a valid file of exactly size bytes
		b := []byte("experiments:\n  experiment/process: {active: full}\n#")
		return append(b, bytes.Repeat([]byte("x"), size-len(b))...)
	}
	require.NoError(t, os.WriteFile(path, padded(maxDesiredSize+1), 0o600))
	d.poll(now.Add(time.Minute))
	assert.Equal(t, "top20", exp.Snapshot().Active, "the last good state is kept")
	assert.Contains(t, d.snapshot().LastError, "larger than 1048576 bytes")
	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-1"}, 1024, testProcessors()).handler())
	defer srv.Close()
	run(t, srv, []step{{"status", "GET", "/api/v1/desired-state", "", "", 200, []string{`larger than 1048576 bytes`}}})

	require.NoError(t, os.WriteFile(path, []byte(good), 0o600))
	d.poll(now.Add(2 * time.Minute))
	assert.Empty(t, d.snapshot().LastError, "the good file back clears the error")
	assert.Equal(t, "top20", exp.Snapshot().Active)

	require.NoError(t, os.WriteFile(path, padded(maxDesiredSize), 0o600))
	d.poll(now.Add(3 * time.Minute))
	assert.Empty(t, d.snapshot().LastError, "1 MiB exactly is read")
	assert.Equal(t, "full", exp.Snapshot().Active)
}

// TestRolloutPercentIsRequired: an absent or null percent (an unset template value) would put the whole
// fleet on the baseline silently; a second YAML document would be ignored silently. Both are errors.
func TestRolloutPercentIsRequired(t *testing.T) {
	for _, doc := range []string{
		"experiments: {e: {rollout: {variant: top20}}}\n",
		"experiments: {e: {rollout: {variant: top20, percent: null}}}\n",
		"experiments: {e: {rollout: {variant: top20, percent: ~}}}\n",
		"experiments: {e: {rollout: {variant: top20, percent: }}}\n",
	} {
		_, err := parseDesired([]byte(doc))
		assert.ErrorContains(t, err, "rollout.percent is required", doc)
	}
	_, err := parseDesired([]byte("experiments: {e: {active: top20}}\n---\nexperiments: {e: {active: full}}\n"))
	assert.ErrorContains(t, err, "more than one YAML document")
	f, err := parseDesired([]byte("experiments: {e: {rollout: {variant: top20, percent: 0}}}\n"))
	require.NoError(t, err, "0 is a percent")
	assert.Zero(t, *f.Experiments["e"].Rollout.Percent)
}

// TestDesiredStateFIFORefused: a FIFO in place of the file would block the poller (and the start) for good.
func TestDesiredStateFIFORefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() { _, err := readDesired(path); done <- err }()
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "not a regular file")
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
}
