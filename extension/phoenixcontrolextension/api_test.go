// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

// fakeExperiment is a control.Experiment with three configured variants; runtime ones are added with
// their definitions (a step of type "bad" is invalid).
type fakeExperiment struct {
	name     string
	mu       sync.Mutex
	active   string
	variants []string
	runtime  map[string]fakeRuntime
}

type fakeRuntime struct {
	def    control.VariantDefinition
	source string
}

func (f *fakeExperiment) check(def control.VariantDefinition) error {
	var problems []control.StepProblem
	for i, s := range def.Processors {
		if _, bad := s["bad"]; bad {
			problems = append(problems, control.StepProblem{Step: i + 1, ID: "bad", Message: "bad step"})
		}
	}
	if len(def.Processors) == 0 {
		problems = append(problems, control.StepProblem{Message: "processors: at least one is required"})
	}
	if len(problems) > 0 {
		return &control.InvalidChainError{Variant: def.Name, Problems: problems}
	}
	return nil
}

func (f *fakeExperiment) CheckVariant(_ context.Context, def control.VariantDefinition) error {
	return f.check(def)
}

func (f *fakeExperiment) AddVariant(_ context.Context, def control.VariantDefinition, source string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Contains(f.variants, def.Name) {
		return fmt.Errorf("%w: %q", control.ErrVariantExists, def.Name)
	}
	if len(f.variants) >= 8 {
		return fmt.Errorf("%w: 8", control.ErrVariantLimit)
	}
	if err := f.check(def); err != nil {
		return err
	}
	if f.runtime == nil {
		f.runtime = map[string]fakeRuntime{}
	}
	f.variants = append(f.variants, def.Name)
	f.runtime[def.Name] = fakeRuntime{def: def, source: source}
	return nil
}

func (f *fakeExperiment) RemoveVariant(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, runtime := f.runtime[name]
	switch {
	case !slices.Contains(f.variants, name):
		return fmt.Errorf("%w %q", control.ErrUnknownVariant, name)
	case !runtime || name == f.active:
		return fmt.Errorf("%w: %q", control.ErrVariantProtected, name)
	}
	delete(f.runtime, name)
	f.variants = slices.DeleteFunc(f.variants, func(v string) bool { return v == name })
	return nil
}

func (f *fakeExperiment) Name() string { return f.name }

func (f *fakeExperiment) SetActive(v string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.variants, v) {
		return fmt.Errorf("%w %q", control.ErrUnknownVariant, v)
	}
	f.active = v
	return nil
}

func (f *fakeExperiment) VariantSteps(v string) ([]control.ProcessorStep, error) {
	f.mu.Lock()
	rt, ok := f.runtime[v]
	f.mu.Unlock()
	if ok {
		var steps []control.ProcessorStep
		for _, s := range rt.def.Processors {
			for id, cfg := range s {
				steps = append(steps, control.ProcessorStep{ID: id, Config: cfg})
			}
		}
		return steps, nil
	}
	switch v {
	case "full":
		return nil, nil
	case "top20":
		return []control.ProcessorStep{{ID: "topk", Config: map[string]any{"k": 20, "keep": map[string]any{"patterns": []any{"^kubelet$"}}}}}, nil
	case "by_executable":
		return []control.ProcessorStep{{ID: "topk", Config: map[string]any{"k": 0, "group_by": []any{"process.executable.name"}}},
			{ID: "transform/tag", Config: map[string]any{"metric_statements": []any{"set(resource.attributes[\"reduced\"], true)"}}}}, nil
	}
	return nil, fmt.Errorf("%w %q", control.ErrUnknownVariant, v)
}

func (f *fakeExperiment) Snapshot() control.ExperimentSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := control.ExperimentSnapshot{Name: f.name, Mode: "shadow", Baseline: f.variants[0], Active: f.active}
	for i, v := range f.variants {
		one := 1.0
		source := control.SourceConfig
		if rt, ok := f.runtime[v]; ok {
			source = rt.source
		}
		s.Variants = append(s.Variants, control.VariantStats{Name: v, Active: v == f.active, Baseline: i == 0, Series: uint64(1000 / (i + 1)), Fidelity: &one, Source: source})
	}
	return s
}

func newFakeExperiment() *fakeExperiment {
	return &fakeExperiment{name: "experiment/process", active: "full", variants: []string{"full", "top20", "by_executable"}}
}

func newSimulator(t *testing.T) *procsim.Simulator {
	s, err := procsim.New(procsim.Options{Profile: procsim.ProfileRealistic, Processes: 100, Hosts: 1, Seed: 1, Cores: 4,
		MemoryBytes: 8 << 30, Interval: 10 * time.Second, Start: time.Unix(1_800_000_000, 0)})
	require.NoError(t, err)
	return s
}

type step struct {
	name        string
	method      string
	path        string
	body        string
	contentType string // default application/json when body is set
	wantStatus  int
	want        []string // substrings of the body
}

func run(t *testing.T, srv *httptest.Server, steps []step) {
	for _, s := range steps {
		var body io.Reader
		if s.body != "" {
			body = strings.NewReader(s.body)
		}
		req, err := http.NewRequest(s.method, srv.URL+s.path, body)
		require.NoError(t, err)
		if s.body != "" {
			ct := s.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err, s.name)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, s.wantStatus, resp.StatusCode, "%s: %s", s.name, b)
		for _, w := range s.want {
			require.Contains(t, string(b), w, s.name)
		}
		if resp.StatusCode >= 400 {
			require.Contains(t, string(b), `"error": {`, "%s: errors are JSON", s.name)
		}
	}
}

// TestAPISteps drives every route as a sequence: do X, then GET returns Y with status Z; a failed request
// changes nothing.
func TestAPISteps(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(newFakeExperiment())
	reg.RegisterSimulator("simulated_process", newSimulator(t))
	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-a"}, 1024, testProcessors()).handler())
	defer srv.Close()
	exp := "/api/v1/experiments/experiment%2Fprocess"
	sim := "/api/v1/simulators/simulated_process"
	run(t, srv, []step{
		{"list", "GET", "/api/v1/experiments", "", "", 200, []string{`"name": "experiment/process"`}},
		{"get", "GET", exp, "", "", 200, []string{`"active": "full"`, `"name": "top20"`}},
		{"switch", "PUT", exp + "/active", `{"variant":"top20"}`, "", 200, []string{`"active": "top20"`}},
		{"then get", "GET", exp, "", "", 200, []string{`"active": "top20"`}},
		{"unknown variant", "PUT", exp + "/active", `{"variant":"nope"}`, "", 422, []string{`"code": "invalid"`, "nope"}},
		{"unknown field", "PUT", exp + "/active", `{"variant":"full","force":true}`, "", 400, []string{"unknown field"}},
		{"wrong type", "PUT", exp + "/active", `{"variant":7}`, "", 400, []string{"bad_json"}},
		{"malformed", "PUT", exp + "/active", `{"variant":`, "", 400, []string{"bad_json"}},
		{"two objects", "PUT", exp + "/active", `{"variant":"full"}{}`, "", 400, []string{"one JSON object"}},
		{"missing variant", "PUT", exp + "/active", `{}`, "", 400, []string{"variant"}},
		{"content type", "PUT", exp + "/active", `{"variant":"full"}`, "text/plain", 415, nil},
		{"oversized", "PUT", exp + "/active", `{"variant":"` + strings.Repeat("x", 2000) + `"}`, "", 413, nil},
		{"still top20", "GET", exp, "", "", 200, []string{`"active": "top20"`}},
		{"wrong method", "DELETE", exp + "/active", "", "", 405, []string{"method_not_allowed", "PUT"}},
		{"unknown route", "GET", "/api/v1/nope", "", "", 404, []string{"not_found"}},
		{"unknown experiment", "GET", "/api/v1/experiments/nope", "", "", 404, []string{"not_found"}},
		{"unknown experiment switch", "PUT", "/api/v1/experiments/nope/active", `{"variant":"full"}`, "", 404, nil},

		{"simulators", "GET", "/api/v1/simulators", "", "", 200, []string{`"simulated_process"`, `"processes": 100`}},
		{"resize", "PATCH", sim, `{"processes":50}`, "", 200, []string{`"processes": 50`, `"live": 50`}},
		{"bad profile", "PATCH", sim, `{"profile":"bogus","processes":10}`, "", 422, []string{"bogus"}},
		{"nothing changed", "GET", sim, "", "", 200, []string{`"processes": 50`, `"profile": "realistic"`}},
		{"profile", "PATCH", sim, `{"profile":"chaos"}`, "", 200, []string{`"profile": "chaos"`}},
		{"empty patch", "PATCH", sim, `{}`, "", 400, nil},
		{"too many", "PATCH", sim, `{"processes":0}`, "", 422, nil},
		{"chaos", "POST", sim + "/chaos", `{"kind":"kill","target":{"executable":"kubelet"}}`, "", 200, []string{`"affected": 1`}},
		{"bad chaos", "POST", sim + "/chaos", `{"kind":"melt","target":{}}`, "", 422, []string{"melt"}},
		{"no match", "POST", sim + "/chaos", `{"kind":"kill","target":{"executable":"nothing"}}`, "", 422, []string{"no_match"}},
		{"unknown simulator", "GET", "/api/v1/simulators/nope", "", "", 404, nil},

		{"metrics", "GET", "/metrics", "", "", 200, []string{`phoenix_experiment_series{experiment="experiment/process",variant="top20"} 500`,
			`phoenix_experiment_active{experiment="experiment/process",variant="top20"} 1`,
			`phoenix_experiment_baseline{experiment="experiment/process",variant="full"} 1`,
			`phoenix_experiment_baseline{experiment="experiment/process",variant="top20"} 0`}},
		{"openapi", "GET", "/api/v1/openapi.yaml", "", "", 200, []string{"openapi: 3"}},
		{"export", "GET", exp + "/variants/top20/export", "", "", 200, []string{"processors:\n  topk/top20:\n    k: 20", "processors:\n        - topk/top20"}},
		{"export chain", "GET", exp + "/variants/by_executable/export", "", "", 200, []string{"topk/by_executable:", "transform/by_executable:", "- topk/by_executable\n        - transform/by_executable"}},
		{"export pass-through", "GET", exp + "/variants/full/export", "", "", 200, []string{"pass-through", "processors: {}"}},
		{"export unknown variant", "GET", exp + "/variants/nope/export", "", "", 404, nil},
	})
}

// TestOpenAPIMatchesRoutes: every route is documented, every documented route exists, with the same methods.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(openAPI, &doc))
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for m := range ops {
			documented[path] = append(documented[path], strings.ToUpper(m))
		}
		slices.Sort(documented[path])
	}
	served := map[string][]string{}
	for _, r := range newAPI(newRegistry(zap.NewNop()), apiInfo{Node: "node-a"}, 1, testProcessors()).routes {
		for m := range r.methods {
			served[r.pattern] = append(served[r.pattern], m)
		}
		slices.Sort(served[r.pattern])
	}
	assert.Equal(t, served, documented)
}

func TestRegistryUnregister(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	e := newFakeExperiment()
	unregister := reg.RegisterExperiment(e)
	assert.Equal(t, []string{"experiment/process"}, reg.experimentNames())
	unregister()
	assert.Empty(t, reg.experimentNames())
	_, err := reg.setActive(context.Background(), "experiment/process", "full")
	assert.ErrorIs(t, err, errNotFound)
}
