// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/templates"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
)

// TestRuntimeVariantRoutes: add, refuse, remove over HTTP; each change persisted, audited and announced.
func TestRuntimeVariantRoutes(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	reg := newRegistry(zap.New(core))
	store := memStore{}
	reg.store = store
	reg.RegisterExperiment(newFakeExperiment())
	events, unsubscribe := reg.events.Subscribe()
	defer unsubscribe()
	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-a"}, 4096, testProcessors()).handler())
	defer srv.Close()
	exp := "/api/v1/experiments/experiment%2Fprocess"
	run(t, srv, []step{
		{"add", "POST", exp + "/variants", `{"name":"top30","processors":[{"topk":{"k":30}}]}`, "", 201,
			[]string{`"name": "top30"`, `"source": "api"`}},
		{"listed", "GET", exp, "", "", 200, []string{`"name": "top30"`}},
		{"exists", "POST", exp + "/variants", `{"name":"top30","processors":[{"topk":{"k":30}}]}`, "", 409, []string{`"code": "conflict"`, "exists"}},
		{"invalid: every problem at its step", "POST", exp + "/variants", `{"name":"x","processors":[{"bad":{}},{"topk":{}},{"bad":{}}]}`, "", 422,
			[]string{`"problems": [`, `"step": 1`, `"step": 3`}},
		{"unknown field (an exporter)", "POST", exp + "/variants", `{"name":"x","processors":[{"topk":{}}],"exporters":{"debug":{}}}`, "", 400, []string{"unknown field"}},
		{"oversized", "POST", exp + "/variants", `{"name":"x","processors":[{"topk":{"x":"` + strings.Repeat("y", 5000) + `"}}]}`, "", 413, nil},
		{"unknown experiment", "POST", "/api/v1/experiments/nope/variants", `{"name":"x","processors":[{"topk":{}}]}`, "", 404, nil},
		{"export desired_state", "GET", exp + "/variants/top30/export?format=desired_state", "", "", 200,
			[]string{"experiments:\n  experiment/process:\n    active: top30\n    variants:\n      top30:\n        processors:\n          - topk:\n              k: 30"}},
		{"export helm", "GET", exp + "/variants/top30/export?format=helm", "", "", 200, []string{"presets:\n  desiredState:\n    enabled: true\n    experiments:"}},
		{"export config variant for the fleet", "GET", exp + "/variants/top20/export?format=desired_state", "", "", 200, []string{"active: top20\n"}},
		{"export bad format", "GET", exp + "/variants/top30/export?format=xml", "", "", 400, []string{"collector, desired_state or helm"}},
		{"remove config variant", "DELETE", exp + "/variants/top20", "", "", 409, []string{"conflict"}},
		{"remove unknown", "DELETE", exp + "/variants/nope", "", "", 404, nil},
		{"switch to it", "PUT", exp + "/active", `{"variant":"top30"}`, "", 200, nil},
		{"remove active", "DELETE", exp + "/variants/top30", "", "", 409, []string{"conflict"}},
		{"switch back", "PUT", exp + "/active", `{"variant":"full"}`, "", 200, nil},
		{"remove", "DELETE", exp + "/variants/top30", "", "", 200, nil},
		{"gone", "GET", exp, "", "", 200, nil},
	})
	snap, _ := reg.experiment("experiment/process")
	_, ok := snap.Snapshot().Variant("top30")
	assert.False(t, ok)
	assert.JSONEq(t, `[]`, string(store[variantsKey("experiment/process")]), "removed from storage")

	var types []string
	for len(events) > 0 {
		e := <-events
		if strings.HasPrefix(e.Type, "variant_") {
			types = append(types, e.Type+":"+e.Data.(variantEvent).Variant)
		}
	}
	assert.Equal(t, []string{"variant_added:top30", "variant_removed:top30"}, types)
	assert.Equal(t, 1, logs.FilterMessage("audit: variant added").Len())
	removed := logs.FilterMessage("audit: variant removed").All()
	require.Len(t, removed, 1)
	assert.Equal(t, "top30", removed[0].ContextMap()["variant"])
	assert.Contains(t, removed[0].ContextMap()["client"], "127.0.0.1", "who")
}

// TestRuntimeVariantsRebuiltAtStart: what the API added comes back after a restart, before the persisted
// switch to it; one that no longer builds is reported, the others are rebuilt.
func TestRuntimeVariantsRebuiltAtStart(t *testing.T) {
	store := memStore{}
	reg := newRegistry(zap.NewNop())
	reg.store = store
	reg.RegisterExperiment(newFakeExperiment())
	ctx := context.Background()
	_, err := reg.addVariant(ctx, "experiment/process", control.VariantDefinition{Name: "top30",
		Processors: []map[string]map[string]any{{"topk": {"k": 30}}}}, control.SourceAPI, "test")
	require.NoError(t, err)
	_, err = reg.setActive(ctx, "experiment/process", "top30")
	require.NoError(t, err)
	// A definition this build no longer takes, persisted by an older one.
	var defs []control.VariantDefinition
	require.NoError(t, json.Unmarshal(store[variantsKey("experiment/process")], &defs))
	defs = append(defs, control.VariantDefinition{Name: "gone", Processors: []map[string]map[string]any{{"bad": {}}}})
	store[variantsKey("experiment/process")], _ = json.Marshal(defs)

	restarted := newRegistry(zap.NewNop())
	restarted.store = store
	e := newFakeExperiment()
	restarted.RegisterExperiment(e)
	snap := restarted.snapshot(e)
	v, ok := snap.Variant("top30")
	require.True(t, ok, "rebuilt")
	assert.Equal(t, control.SourceAPI, v.Source)
	assert.Equal(t, "top30", snap.Active, "and still active")
	require.Len(t, snap.Rejected, 1)
	assert.Equal(t, "gone", snap.Rejected[0].Name)
	assert.Contains(t, snap.Rejected[0].Error, "bad step")
	_, err = restarted.removeVariant(ctx, "experiment/process", "gone", "test", control.SourceAPI)
	require.NoError(t, err, "a rejected variant can be removed")
	assert.Empty(t, restarted.snapshot(e).Rejected)
	assert.NotContains(t, string(store[variantsKey("experiment/process")]), `"gone"`, "from storage too")

	// A stored API variant whose name the config took since: reported, not silently shadowed.
	store[variantsKey("experiment/process")], _ = json.Marshal(append(defs[:1:1], control.VariantDefinition{Name: "top20",
		Processors: []map[string]map[string]any{{"topk": {"k": 3}}}}))
	again := newRegistry(zap.NewNop())
	again.store = store
	e2 := newFakeExperiment()
	again.RegisterExperiment(e2)
	rejected := again.snapshot(e2).Rejected
	require.Len(t, rejected, 1)
	assert.Equal(t, "top20", rejected[0].Name)
	assert.Contains(t, rejected[0].Error, "now defined by the config")
	steps, err := e.VariantSteps("top30")
	require.NoError(t, err)
	assert.Equal(t, []control.ProcessorStep{{ID: "topk", Config: map[string]any{"k": float64(30)}}}, steps, "as persisted (JSON numbers)")
}

// TestDesiredStateVariants: the file's variants are built on every node; an invalid one is reported while
// the rest applies; a changed definition is rebuilt; gone from the file, gone from the node.
func TestDesiredStateVariants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write := func(s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o600)) }
	reg := newRegistry(zap.NewNop())
	exp := newFakeExperiment()
	reg.RegisterExperiment(exp)
	d := newDesiredState(path, "node-1", reg, zap.NewNop())
	reg.desired = d
	now := time.Unix(1_800_000_000, 0)

	write(`experiments:
  experiment/process:
    active: top30
    variants:
      top30: {processors: [{topk: {k: 30}}]}
      broken: {processors: [{bad: {}}]}
      top20: {processors: [{topk: {k: 20}}]}
`)
	d.poll(now)
	snap := exp.Snapshot()
	assert.Equal(t, "top30", snap.Active, "a variant of the file, made active by it")
	v, ok := snap.Variant("top30")
	require.True(t, ok)
	assert.Equal(t, control.SourceDesiredState, v.Source)
	_, ok = snap.Variant("broken")
	assert.False(t, ok)
	st := d.snapshot()
	assert.Equal(t, []string{"top30"}, st.Variants["experiment/process"])
	assert.Contains(t, st.VariantErrors["experiment/process"]["broken"], "bad step")
	assert.Contains(t, st.VariantErrors["experiment/process"]["top20"], "source config", "a configured variant is not redefined")
	assert.Empty(t, st.LastError, "the rest is applied")

	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-1"}, 1024, testProcessors()).handler())
	defer srv.Close()
	run(t, srv, []step{{"reported per node", "GET", "/api/v1/desired-state", "", "", 200, []string{`"variant_errors": {`, `"broken": "`}}})

	write(`experiments:
  experiment/process:
    active: full
    variants:
      top30: {processors: [{topk: {k: 35}}]}
`)
	d.poll(now.Add(time.Minute))
	steps, err := exp.VariantSteps("top30")
	require.NoError(t, err)
	assert.Equal(t, 35, steps[0].Config["k"], "a changed definition is rebuilt once no longer active")
	assert.Equal(t, "full", exp.Snapshot().Active)
	assert.Empty(t, d.snapshot().VariantErrors)
	run(t, srv, []step{{"the file's, not the API's", "DELETE", "/api/v1/experiments/experiment%2Fprocess/variants/top30", "", "", 409,
		[]string{"desired-state file"}}})

	write(`experiments:
  experiment/process:
    active: top30
    variants:
      top30: {processors: [{topk: {k: 31}}]}
`)
	d.poll(now.Add(90 * time.Second))
	steps, err = exp.VariantSteps("top30")
	require.NoError(t, err)
	assert.Equal(t, 31, steps[0].Config["k"], "redefined and made active in one edit (a re-exported variant): the new definition runs")
	assert.Equal(t, "top30", exp.Snapshot().Active)
	assert.Empty(t, d.snapshot().VariantErrors)

	write("experiments:\n  experiment/process: {active: top20}\n")
	d.poll(now.Add(2 * time.Minute))
	_, ok = exp.Snapshot().Variant("top30")
	assert.False(t, ok, "gone from the file, gone from the node")
	assert.Empty(t, d.snapshot().Variants)

	write("experiments:\n  experiment/process:\n    active: mine\n    variants: {mine: {processors: [{topk: {k: 5}}]}}\n")
	d.poll(now.Add(3 * time.Minute))
	assert.Equal(t, "mine", exp.Snapshot().Active)
	write("experiments:\n  experiment/process: {variants: {}}\n")
	d.poll(now.Add(4 * time.Minute))
	_, ok = exp.Snapshot().Variant("mine")
	assert.True(t, ok, "still active: kept")
	assert.Contains(t, d.snapshot().VariantErrors["experiment/process"]["mine"], "still active")
	_, err = reg.setActive(context.Background(), "experiment/process", "full")
	require.NoError(t, err)
	d.poll(now.Add(5 * time.Minute)) // the same file: what could not be done is tried again
	_, ok = exp.Snapshot().Variant("mine")
	assert.False(t, ok, "switched away from: removed")
	assert.Empty(t, d.snapshot().VariantErrors)
}

// TestCatalogue: the host's processors a variant can run, with their default configuration; not batch,
// not the experiment. The distribution's own list (no Kubernetes or cloud lookups either) is checked on the
// binary: tests/smoke TestProcessorCatalogue.
func TestCatalogue(t *testing.T) {
	a := newAPI(newRegistry(zap.NewNop()), apiInfo{}, 1024, testProcessors())
	types := map[string]catalogueEntry{}
	for _, e := range a.catalogue() {
		types[e.Type] = e
	}
	for _, want := range []string{"topk", "filter", "transform", "attributes", "resource", "metrics_transform", "groupbyattrs", "memory_limiter"} {
		require.Contains(t, types, want)
		assert.NotEmpty(t, types[want].Stability, want)
	}
	// Not asynchronous ones.
	for _, not := range []string{"batch", "interval", "experiment"} {
		assert.NotContains(t, types, not)
	}
	assert.Equal(t, 20, types["topk"].DefaultConfig["k"], "the factory's default configuration")
	assert.Equal(t, "1h0m0s", types["cumulative_to_delta"].DefaultConfig["max_staleness"], "durations as written")
	assert.Equal(t, "5m0s", types["delta_to_cumulative"].DefaultConfig["max_stale"])
	assert.Empty(t, types["filter"].ConfigError)
}

// TestCatalogueDefaultsSendBack: a default configuration, sent back as the builder sends it (through JSON),
// is judged as an empty configuration is and builds the factory's default configuration, field for field —
// it says nothing the factory's default does not.
func TestCatalogueDefaultsSendBack(t *testing.T) {
	factories := testProcessors()
	a := newAPI(newRegistry(zap.NewNop()), apiInfo{}, 1024, factories)
	check := func(typ string, cfg map[string]any) []string {
		var msgs []string
		for _, p := range experimentprocessor.CheckDefinition(context.Background(), a.checkSettings,
			control.VariantDefinition{Name: "v", Processors: []map[string]map[string]any{{typ: cfg}}}, defaultLimits, lookupIn(a)) {
			msgs = append(msgs, p.Message)
		}
		return msgs
	}
	for _, e := range a.catalogue() {
		b, err := json.Marshal(e.DefaultConfig)
		require.NoError(t, err)
		var sent map[string]any
		require.NoError(t, json.Unmarshal(b, &sent))
		assert.Equal(t, check(e.Type, map[string]any{}), check(e.Type, sent), "%s: %s", e.Type, b)

		f := factories[component.MustNewType(e.Type)]
		built := f.CreateDefaultConfig()
		require.NoError(t, confmap.NewFromStringMap(sent).Unmarshal(built), e.Type)
		assert.Equal(t, f.CreateDefaultConfig(), built, "%s: %s", e.Type, b)
	}
}

// TestTemplatesBuild: every template, with its defaults and with given values, builds with the build's own
// processors; bad values are refused with why.
func TestTemplatesBuild(t *testing.T) {
	a := newAPI(newRegistry(zap.NewNop()), apiInfo{}, 1024, testProcessors())
	check := func(r templates.Rendered) {
		t.Helper()
		problems := experimentprocessor.CheckDefinition(context.Background(), a.checkSettings,
			control.VariantDefinition{Name: r.Name, Processors: r.Processors}, defaultLimits, lookupIn(a))
		assert.Empty(t, problems, r.Name)
	}
	all := templates.All()
	require.Len(t, all, 5)
	for _, r := range all {
		check(r)
	}
	for name, given := range map[string]map[string]string{
		"top_k":            {"k": "30", "keep": "kubelet, containerd"},
		"by_executable":    {"attribute": "host.name"},
		"drop_attributes":  {"attributes": "process.pid,process.parent_pid"},
		"keep_metrics":     {"metrics": "process.cpu.time"},
		"aggregate_states": {"metrics": "process.cpu.time", "keep": "state"},
	} {
		r, err := templates.Render(name, given)
		require.NoError(t, err, name)
		check(r)
	}
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	run(t, srv, []step{
		{"list", "GET", "/api/v1/templates", "", "", 200, []string{`"name": "top_k"`, `"parameters": [`}},
		{"render", "GET", "/api/v1/templates/top_k?k=30&keep=kubelet", "", "", 200, []string{`"k": 30`, `"^kubelet$"`}},
		{"bad value", "GET", "/api/v1/templates/top_k?k=lots&bogus=1", "", "", 422, []string{"k: ", "no parameter"}},
		{"below the least", "GET", "/api/v1/templates/top_k?k=0", "", "", 422, []string{"1..10000"}},
		{"an empty list", "GET", "/api/v1/templates/keep_metrics?metrics=", "", "", 422, []string{"at least 1"}},
		{"a control character", "GET", "/api/v1/templates/by_executable?attribute=%00", "", "", 422, []string{"printable"}},
		{"unknown", "GET", "/api/v1/templates/nope", "", "", 404, []string{"top_k"}},
		{"processors", "GET", "/api/v1/processors", "", "", 200, []string{`"type": "topk"`, `"default_config": {`}},
	})
}

func lookupIn(a *api) experimentprocessor.FactoryLookup {
	return a.lookup
}

// TestValidateAndImport: a chain is checked step by step with the build's processors and shown as YAML; a
// pasted config or the experiment's own export reads back as a chain.
func TestValidateAndImport(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(newFakeExperiment())
	srv := httptest.NewServer(newAPI(reg, apiInfo{}, 1<<16, testProcessors()).handler())
	defer srv.Close()
	post := func(path, body string) (int, map[string]any) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	status, out := post("/api/v1/validate", `{"processors":[{"topk":{"k":30}},{"filter":{"metrics":{"metric":["name == \"process.disk.io\""]}}}]}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, out["valid"], out)
	assert.Contains(t, out["yaml"], "topk/candidate:")

	status, out = post("/api/v1/validate", `{"name":"9x","processors":[{"topk":{"k":-1}},{"nosuch":{}},{"batch":{}},{"filter":{"metrics":{"metric":["((("]}}},{"topk":{"kk":1}}]}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, out["valid"])
	byStep := map[float64]string{}
	for _, p := range out["problems"].([]any) {
		pr := p.(map[string]any)
		byStep[pr["step"].(float64)] += pr["message"].(string)
	}
	assert.Contains(t, byStep[0], `name "9x"`)
	assert.Contains(t, byStep[1], "k -1")
	assert.Contains(t, byStep[2], "nosuch")
	assert.Contains(t, byStep[3], "asynchronous")
	assert.Contains(t, byStep[4], "OTTL")
	assert.Contains(t, byStep[5], "kk")
	assert.NotContains(t, byStep[5], "\n", "one line")
	assert.Contains(t, out["yaml"], "topk/candidate", "an invalid name is not put in component IDs")

	status, out = post("/api/v1/validate", `{"experiment":"experiment/process","name":"top20","processors":[{"bad":{}}]}`)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, out["problems"].([]any)[0].(map[string]any)["message"], "already has a variant")
	assert.Len(t, out["problems"], 2, "the name and the step")

	pasted := `processors:
  memory_limiter: {check_interval: 1s, limit_percentage: 80}
  batch: {}
  topk/mine: {k: 30}
  filter/mine: {metrics: {metric: ['name == "process.disk.io"']}}
service:
  pipelines:
    metrics: {receivers: [otlp], processors: [memory_limiter, filter/mine, topk/mine, batch], exporters: [debug]}
`
	body, _ := json.Marshal(map[string]string{"yaml": pasted})
	status, out = post("/api/v1/import", string(body))
	require.Equal(t, http.StatusOK, status, out)
	var ids []string
	for _, s := range out["processors"].([]any) {
		for id := range s.(map[string]any) {
			ids = append(ids, id)
		}
	}
	assert.Equal(t, []string{"memory_limiter", "filter/mine", "topk/mine"}, ids, "in the pipeline's order, batch left around the experiment")
	assert.Equal(t, []any{"batch"}, out["skipped"])

	for name, yamlText := range map[string]string{
		"a list":                 "- topk: {k: 5}\n- transform: {}\n",
		"a definition":           "name: top5\nprocessors:\n  - topk: {k: 5}\n",
		"an export":              "processors:\n  topk/top5: {k: 5}\nservice:\n  pipelines:\n    metrics:\n      processors: [topk/top5]\n",
		"processors, no service": "processors:\n  topk/a: {k: 5}\n  transform/b:\n",
	} {
		body, _ := json.Marshal(map[string]string{"yaml": yamlText})
		status, out := post("/api/v1/import", string(body))
		require.Equal(t, http.StatusOK, status, "%s: %v", name, out)
		assert.NotEmpty(t, out["processors"], name)
	}
	for name, yamlText := range map[string]string{
		"not yaml":          "{{{",
		"nothing":           "",
		"listed, not given": "processors: {topk: {}}\nservice: {pipelines: {metrics: {processors: [topk, filter]}}}\n",
		"two pipelines":     "processors: {topk: {}}\nservice: {pipelines: {metrics/a: {processors: [topk]}, metrics/b: {processors: [topk]}}}\n",
		"a scalar":          "hello",
		"a step of three":   "- topk: {k: 3}\n  filter: {}\n  transform: {}\n",
		"not finite":        "- topk: {k: .nan}\n",
		"two documents":     "- topk: {}\n---\n- filter: {}\n",
		"an empty step":     "- topk: {}\n- {}\n- ~\n",
		"listed twice":      "processors: {topk: {}}\nservice: {pipelines: {metrics: {processors: [topk, topk]}}}\n",
	} {
		body, _ := json.Marshal(map[string]string{"yaml": yamlText})
		status, out := post("/api/v1/import", string(body))
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%s: %v", name, out)
	}
}

// TestVariantUnderRunNotRemoved: a run's candidate stays until the run ends.
func TestVariantUnderRunNotRemoved(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(newFakeExperiment())
	ctx := context.Background()
	_, err := reg.addVariant(ctx, "experiment/process", control.VariantDefinition{Name: "top30",
		Processors: []map[string]map[string]any{{"topk": {"k": 30}}}}, control.SourceAPI, "test")
	require.NoError(t, err)
	spec := testSpec()
	spec.Candidate = "top30"
	run, err := reg.runs.start("experiment/process", spec)
	require.NoError(t, err)
	_, err = reg.removeVariant(ctx, "experiment/process", "top30", "test", control.SourceAPI)
	require.ErrorIs(t, err, errConflict)
	assert.Contains(t, err.Error(), run.ID)
	_, err = reg.runs.cancel("experiment/process", run.ID)
	require.NoError(t, err)
	_, err = reg.removeVariant(ctx, "experiment/process", "top30", "test", control.SourceAPI)
	require.NoError(t, err, "once the run ended")
}

// TestDesiredStateFromTheExportingNode: the node a variant was added on applies its own desired-state export
// (the same definition is there already); another definition of that name is refused.
func TestDesiredStateFromTheExportingNode(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	exp := newFakeExperiment()
	reg.RegisterExperiment(exp)
	_, err := reg.addVariant(context.Background(), "experiment/process", control.VariantDefinition{Name: "top30",
		Processors: []map[string]map[string]any{{"topk": {"k": 30}}}}, control.SourceAPI, "test")
	require.NoError(t, err)
	out, err := exportDesired("experiment/process", "top30", control.SourceAPI, []control.ProcessorStep{{ID: "topk", Config: map[string]any{"k": 30}}}, formatDesiredState)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "desired.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	d := newDesiredState(path, "node-1", reg, zap.NewNop())
	reg.desired = d
	d.poll(time.Unix(1_800_000_000, 0))
	assert.Equal(t, "top30", exp.Snapshot().Active)
	assert.Empty(t, d.snapshot().VariantErrors)
	assert.Empty(t, d.snapshot().LastError)

	require.NoError(t, os.WriteFile(path, []byte("experiments:\n  experiment/process:\n    variants: {top30: {processors: [{topk: {k: 31}}]}}\n"), 0o600))
	d.poll(time.Unix(1_800_000_060, 0))
	assert.Contains(t, d.snapshot().VariantErrors["experiment/process"]["top30"], "defined otherwise")
}

// TestPersistedSwitchToAFileVariant: an API switch to a variant the file declares survives a restart (the
// file's variants are built before the persisted switch is restored).
func TestPersistedSwitchToAFileVariant(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	require.NoError(t, os.WriteFile(path, []byte("experiments:\n  experiment/process:\n    variants: {top30: {processors: [{topk: {k: 30}}]}}\n"), 0o600))
	store := memStore{}
	now := time.Unix(1_800_000_000, 0)
	start := func(switchTo string) *fakeExperiment {
		reg := newRegistry(zap.NewNop())
		reg.store = store
		d := newDesiredState(path, "node-1", reg, zap.NewNop())
		reg.desired = d
		d.poll(now) // at the extension's start, before pipelines
		exp := newFakeExperiment()
		reg.RegisterExperiment(exp)
		if switchTo != "" {
			_, err := reg.setActive(context.Background(), "experiment/process", switchTo)
			require.NoError(t, err)
		}
		return exp
	}
	start("top30")
	exp := start("") // the restart
	assert.Equal(t, "top30", exp.Snapshot().Active, "restored after the file built it")
}
