// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package smoke

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const experimentURL = "/api/v1/experiments/experiment%2Fprocess"

// TestRuntimeVariants runs examples/control.yaml and drives a runtime variant through its life over HTTP: a
// definition with three bad steps is refused with every problem at once; top30 is added (audited, announced
// on the event stream), measured beside the configured variants, switched to; after a restart it is
// rebuilt from file_storage and still active; its export, merged with a base config, validates and places
// it between the base's processors; switched away from, it is removed, and stays removed after a restart.
// Its desired-state export, the file of another node, has that node build and run it.
func TestRuntimeVariants(t *testing.T) {
	bin := harness.Binary(t)
	example := harness.NewControlExample(t)
	api := example.API
	exporter := "http://127.0.0.1:" + strconv.Itoa(example.Ports[8889]) + "/metrics"

	c := example.Start(t)
	exp := getExperiment(t, api)
	for _, name := range []string{"full", "top20", "by_executable"} {
		v, ok := exp.variant(name)
		require.True(t, ok, name)
		assert.Equal(t, "config", v.Source, name)
	}
	events := subscribe(t, api+"/api/v1/events")

	// Every problem of a bad definition, each at its step, and nothing added.
	status, body := call(t, "POST", api+experimentURL+"/variants",
		`{"name":"bad","processors":[{"topk":{"k":-1}},{"nosuch":{}},{"batch":{}}]}`)
	require.Equal(t, 422, status, body)
	var refused struct {
		Error struct {
			Code     string `json:"code"`
			Problems []struct {
				Step    int    `json:"step"`
				ID      string `json:"id"`
				Message string `json:"message"`
			} `json:"problems"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &refused), body)
	assert.Equal(t, "invalid", refused.Error.Code, body)
	require.Len(t, refused.Error.Problems, 3, body)
	for i, want := range []struct{ id, message string }{
		{"topk", "k -1: must be >= 0"},
		{"nosuch", `no processor of type "nosuch"`},
		{"batch", "asynchronous"},
	} {
		p := refused.Error.Problems[i]
		assert.Equal(t, i+1, p.Step, body)
		assert.Equal(t, want.id, p.ID, body)
		assert.Contains(t, p.Message, want.message, body)
	}
	_, found := getExperiment(t, api).variant("bad")
	require.False(t, found, "a refused definition adds nothing")

	// Added once data flows: in the answer at once, pending until a whole window of its own, then measured.
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		if !getExperiment(t, api).Complete {
			return fmt.Errorf("first window still running")
		}
		return nil
	}))
	top30 := `{"name":"top30","processors":[{"topk":{"k":30}}]}`
	status, body = call(t, "POST", api+experimentURL+"/variants", top30)
	require.Equal(t, 201, status, body)
	var added experimentView
	require.NoError(t, json.Unmarshal([]byte(body), &added), body)
	v, ok := added.variant("top30")
	require.True(t, ok, body)
	assert.Equal(t, "api", v.Source)
	assert.True(t, v.Pending, "no whole window yet: %s", body)
	assert.False(t, v.Active)
	require.NoError(t, waitEvent(events, "variant_added", "top30", 10*time.Second), "the event stream announces it")
	require.NoError(t, c.WaitFor(10*time.Second, logged(c, auditLine("variant added", "top30", "127.0.0.1"))), "the audit line names the client")
	status, body = call(t, "POST", api+experimentURL+"/variants", top30)
	require.Equal(t, 409, status, "the name is taken: %s", body)
	require.NoError(t, c.WaitFor(30*time.Second, measured(t, api, "top30")))
	exp = getExperiment(t, api)
	full, _ := exp.variant("full")
	v, _ = exp.variant("top30")
	assert.Less(t, v.Series, full.Series, "top30 of 200 processes keeps fewer series than the baseline")

	status, body = call(t, "PUT", api+experimentURL+"/active", `{"variant":"top30"}`)
	require.Equal(t, 200, status, body)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(exporter, `process_executable_name="other"`)
	}), "top30's output, with its other resource, flows downstream")
	status, body = call(t, "DELETE", api+experimentURL+"/variants/top30", "")
	require.Equal(t, 409, status, "the active variant cannot go: %s", body)
	status, body = call(t, "DELETE", api+experimentURL+"/variants/top20", "")
	require.Equal(t, 409, status, "a configured variant cannot go: %s", body)
	require.NoError(t, c.Stop(30*time.Second))

	// Rebuilt from storage before the persisted switch is restored.
	c = example.Start(t)
	exp = getExperiment(t, api)
	v, ok = exp.variant("top30")
	require.True(t, ok, "top30 rebuilt after the restart: %+v", exp)
	assert.Equal(t, "api", v.Source)
	assert.Equal(t, "top30", exp.Active, "and still active")
	assert.Empty(t, exp.Rejected)
	require.NoError(t, c.WaitFor(30*time.Second, measured(t, api, "top30")))
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(exporter, `process_executable_name="other"`)
	}), "the rebuilt top30 flows downstream")

	status, exported := call(t, "GET", api+experimentURL+"/variants/top30/export?processors=memory_limiter,batch", "")
	require.Equal(t, 200, status, exported)
	validateMerged(t, bin, exported, []string{"memory_limiter", "topk/top30", "batch"})
	status, forFleet := call(t, "GET", api+experimentURL+"/variants/top30/export?format=desired_state", "")
	require.Equal(t, 200, status, forFleet)

	// Switched away from, it can go: removed, audited, announced, and gone from storage too.
	events = subscribe(t, api+"/api/v1/events")
	status, body = call(t, "PUT", api+experimentURL+"/active", `{"variant":"full"}`)
	require.Equal(t, 200, status, body)
	status, body = call(t, "DELETE", api+experimentURL+"/variants/top30", "")
	require.Equal(t, 200, status, body)
	require.NoError(t, waitEvent(events, "variant_removed", "top30", 10*time.Second))
	require.NoError(t, c.WaitFor(10*time.Second, logged(c, auditLine("variant removed", "top30", "127.0.0.1"))))
	status, body = call(t, "DELETE", api+experimentURL+"/variants/top30", "")
	require.Equal(t, 404, status, body)
	require.NoError(t, c.Stop(30*time.Second))

	c = example.Start(t)
	exp = getExperiment(t, api)
	_, found = exp.variant("top30")
	assert.False(t, found, "a removed variant is not rebuilt: %+v", exp)
	assert.Equal(t, "full", exp.Active)
	require.NoError(t, c.Stop(30*time.Second))

	// The desired-state export, as the file of another node: it builds top30 and runs it.
	other := harness.NewControlExample(t)
	file := filepath.Join(t.TempDir(), "desired-state.yaml")
	writeDesired(t, file, forFleet)
	c = other.Start(t, "--set=extensions::phoenix_control::desired_state::path="+file)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		exp := getExperiment(t, other.API)
		if v, ok := exp.variant("top30"); !ok || v.Source != "desired_state" || exp.Active != "top30" {
			return fmt.Errorf("not built and active from the file:\n%s\n%+v", forFleet, exp)
		}
		return nil
	}))
	require.NoError(t, c.Stop(30*time.Second))
}

// TestRuntimeVariantsFromDesiredState: a desired-state file that defines variants has every node build
// them (source desired_state, measured); an invalid definition in the same file is reported, the rest (a
// switch) is applied; a variant the file defines can be made active by the same file; rewritten without
// it, the file removes it.
func TestRuntimeVariantsFromDesiredState(t *testing.T) {
	harness.Binary(t)
	example := harness.NewControlExample(t)
	api := example.API
	file := filepath.Join(t.TempDir(), "desired-state.yaml")
	writeDesired(t, file, `
experiments:
  experiment/process:
    active: top20
    variants:
      top30:
        processors:
          - topk: {k: 30}
      broken:
        processors:
          - topk: {k: -1}
          - batch: {}
`)
	c := example.Start(t, "--set=extensions::phoenix_control::desired_state::path="+file,
		"--set=extensions::phoenix_control::desired_state::poll_interval=1s")

	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		st := getDesired(t, api)
		switch {
		case st.LastError != "":
			return fmt.Errorf("last_error: %s", st.LastError)
		case fmt.Sprint(st.Variants["experiment/process"]) != "[top30]":
			return fmt.Errorf("variants: %v", st.Variants)
		case st.VariantErrors["experiment/process"]["broken"] == "":
			return fmt.Errorf("variant_errors: %v", st.VariantErrors)
		case st.Applied["experiment/process"] != "top20":
			return fmt.Errorf("applied: %v", st.Applied)
		}
		return nil
	}), "top30 built, broken reported, the rest applied")
	st := getDesired(t, api)
	assert.Len(t, st.VariantErrors["experiment/process"], 1, "%v", st.VariantErrors)
	broken := st.VariantErrors["experiment/process"]["broken"]
	assert.Contains(t, broken, "k -1", "every problem of the definition")
	assert.Contains(t, broken, "asynchronous", "every problem of the definition")
	exp := getExperiment(t, api)
	v, ok := exp.variant("top30")
	require.True(t, ok, "%+v", exp)
	assert.Equal(t, "desired_state", v.Source)
	_, found := exp.variant("broken")
	assert.False(t, found)
	assert.Equal(t, "top20", exp.Active, "the rest of the file is applied")
	require.NoError(t, c.WaitFor(30*time.Second, measured(t, api, "top30")))
	require.NoError(t, c.WaitFor(10*time.Second, logged(c, auditLine("variant added", "top30", "desired_state file"))))

	// The same file makes it active.
	writeDesired(t, file, `
experiments:
  experiment/process:
    active: top30
    variants:
      top30:
        processors:
          - topk: {k: 30}
`)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		st := getDesired(t, api)
		if st.Applied["experiment/process"] != "top30" || len(st.VariantErrors) > 0 {
			return fmt.Errorf("applied %v, variant_errors %v", st.Applied, st.VariantErrors)
		}
		return nil
	}))
	assert.Equal(t, "top30", getExperiment(t, api).Active)

	// Rewritten without it (and back to the baseline): removed.
	writeDesired(t, file, `
experiments:
  experiment/process:
    active: full
`)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		if _, ok := getExperiment(t, api).variant("top30"); ok {
			return fmt.Errorf("top30 still there")
		}
		if st := getDesired(t, api); len(st.Variants) > 0 || len(st.VariantErrors) > 0 || st.LastError != "" {
			return fmt.Errorf("desired state %+v", st)
		}
		return nil
	}), "a variant gone from the file is removed")
	assert.Equal(t, "full", getExperiment(t, api).Active)
	require.NoError(t, c.WaitFor(10*time.Second, logged(c, auditLine("variant removed", "top30", "desired_state file"))))
	require.NoError(t, c.Stop(30*time.Second))
}

// validateMerged merges an exported variant with a base config whose pipeline has memory_limiter and batch,
// validates the two with the binary and checks the merged pipeline's processors.
func validateMerged(t *testing.T, bin, exported string, want []string) {
	t.Helper()
	dir := t.TempDir()
	base := `
receivers:
  simulated_process:
    collection_interval: 1s
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  batch: {timeout: 1s}
exporters:
  debug: {}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics:
      receivers: [simulated_process]
      processors: [memory_limiter, batch]
      exporters: [debug]
`
	basePath, variantPath := filepath.Join(dir, "base.yaml"), filepath.Join(dir, "variant.yaml")
	require.NoError(t, os.WriteFile(basePath, []byte(base), 0o600))
	require.NoError(t, os.WriteFile(variantPath, []byte(exported), 0o600))
	out, err := harness.Validate(t, bin, basePath, "--config", variantPath)
	require.NoError(t, err, "the exported variant validates merged with the base: %s\n%s", out, exported)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	merged, err := exec.CommandContext(ctx, bin, "print-config", "--config", basePath, "--config", variantPath).Output()
	require.NoError(t, err)
	var cfg struct {
		Processors map[string]struct {
			K *int `yaml:"k"`
		} `yaml:"processors"`
		Service struct {
			Pipelines map[string]struct {
				Processors []string `yaml:"processors"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal(merged, &cfg), "%s", merged)
	assert.Equal(t, want, cfg.Service.Pipelines["metrics"].Processors, "the variant in place in the base's pipeline:\n%s", exported)
	top30 := cfg.Processors["topk/top30"].K
	if assert.NotNil(t, top30, "topk/top30 in the merged config:\n%s", merged) {
		assert.Equal(t, 30, *top30, "its definition, as added")
	}
}

type variantView struct {
	Name    string `json:"name"`
	Source  string `json:"source"`
	Active  bool   `json:"active"`
	Pending bool   `json:"pending"`
	Series  uint64 `json:"series"`
}

type experimentView struct {
	Active   string        `json:"active"`
	Complete bool          `json:"complete"`
	Variants []variantView `json:"variants"`
	Rejected []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	} `json:"rejected_variants"`
}

func (e experimentView) variant(name string) (variantView, bool) {
	for _, v := range e.Variants {
		if v.Name == name {
			return v, true
		}
	}
	return variantView{}, false
}

func getExperiment(t *testing.T, api string) experimentView {
	t.Helper()
	status, body := call(t, "GET", api+experimentURL, "")
	require.Equal(t, 200, status, body)
	var e experimentView
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	return e
}

// measured is a WaitFor condition: the variant has a whole window of its own, with series in it.
func measured(t *testing.T, api, name string) func() error {
	return func() error {
		v, ok := getExperiment(t, api).variant(name)
		switch {
		case !ok:
			return fmt.Errorf("no variant %s", name)
		case v.Pending:
			return fmt.Errorf("%s still pending", name)
		case v.Series == 0:
			return fmt.Errorf("%s measured no series", name)
		}
		return nil
	}
}

type desiredView struct {
	LastError     string                       `json:"last_error"`
	Applied       map[string]string            `json:"applied"`
	Variants      map[string][]string          `json:"variants"`
	VariantErrors map[string]map[string]string `json:"variant_errors"`
}

func getDesired(t *testing.T, api string) desiredView {
	t.Helper()
	status, body := call(t, "GET", api+"/api/v1/desired-state", "")
	require.Equal(t, 200, status, body)
	var d desiredView
	require.NoError(t, json.Unmarshal([]byte(body), &d), body)
	return d
}

// writeDesired replaces the desired-state file whole (a rename, as kubelet swaps a ConfigMap's files), so
// the poller never reads half of it.
func writeDesired(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// logged is a WaitFor condition: the collector's output has a line matching re (its output arrives
// through a pipe, after the API's answer may have).
func logged(c *harness.Collector, re *regexp.Regexp) func() error {
	return func() error {
		if !re.MatchString(c.Logs()) {
			return fmt.Errorf("no log line matches %s", re)
		}
		return nil
	}
}

// auditLine matches the control extension's audit log line for a variant change by a client.
func auditLine(what, variant, client string) *regexp.Regexp {
	return regexp.MustCompile(`audit: ` + what + `.*"variant": "` + regexp.QuoteMeta(variant) + `".*"client": "[^"]*` + regexp.QuoteMeta(client))
}

type sseEvent struct{ typ, data string }

// subscribe opens the control API's event stream and passes on its variant_* events (the periodic
// snapshots are dropped, so they never fill the channel); it is closed at test cleanup (or when the
// collector stops).
func subscribe(t *testing.T, url string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			if s, ok := strings.CutPrefix(line, "event: "); ok {
				typ = s
			} else if s, ok := strings.CutPrefix(line, "data: "); ok && strings.HasPrefix(typ, "variant_") {
				select {
				case ch <- sseEvent{typ, s}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}

// waitEvent waits up to timeout for an event of a type about a variant of experiment/process.
func waitEvent(events <-chan sseEvent, typ, variant string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return fmt.Errorf("event stream closed before %s %s", typ, variant)
			}
			var d struct{ Experiment, Variant string }
			if e.typ == typ && json.Unmarshal([]byte(e.data), &d) == nil && d.Experiment == "experiment/process" && d.Variant == variant {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no %s event for %s within %s", typ, variant, timeout)
		}
	}
}
