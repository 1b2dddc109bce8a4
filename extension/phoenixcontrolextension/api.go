// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/service/hostcapabilities"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

//go:embed openapi.yaml
var openAPI []byte

// route is one path and its handlers by method.
type route struct {
	pattern string
	methods map[string]http.HandlerFunc
}

// api serves the control API over a registry.
type api struct {
	reg     *registry
	info    apiInfo
	maxBody int64
	routes  []route
	// keepalive is how often an idle event stream sends a comment, so proxies and clients see it alive.
	keepalive time.Duration
	// streams counts open event streams against maxStreams.
	streams, maxStreams atomic.Int64
	// factories are the collector's processors, for the catalogue and for chains validated without an
	// experiment (checkSettings names their telemetry).
	factories     map[component.Type]processor.Factory
	catalogue     func() []catalogueEntry // made when first asked for
	checkSettings processor.Settings
}

// apiInfo says which collector answers: the dashboard shows it, fleets need it.
type apiInfo struct {
	Node    string `json:"node"`
	Version string `json:"version"`
}

// newAPI serves reg; factories are the collector's processors (hostProcessors).
func newAPI(reg *registry, info apiInfo, maxBody int64, factories map[component.Type]processor.Factory) *api {
	a := &api{reg: reg, info: info, maxBody: maxBody, keepalive: 15 * time.Second, factories: factories,
		catalogue: sync.OnceValue(func() []catalogueEntry { return catalogue(factories) }),
		checkSettings: processor.Settings{ID: component.MustNewIDWithName("experiment", "validate"),
			TelemetrySettings: component.TelemetrySettings{Logger: zap.NewNop(), MeterProvider: noopmetric.NewMeterProvider(),
				TracerProvider: nooptrace.NewTracerProvider()}}}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(&collector{reg: reg})
	a.routes = []route{
		{"/api/v1/info", map[string]http.HandlerFunc{http.MethodGet: a.getInfo}},
		{"/api/v1/experiments", map[string]http.HandlerFunc{http.MethodGet: a.listExperiments}},
		{"/api/v1/experiments/{name}", map[string]http.HandlerFunc{http.MethodGet: a.getExperiment}},
		{"/api/v1/experiments/{name}/active", map[string]http.HandlerFunc{http.MethodPut: a.setActive}},
		{"/api/v1/experiments/{name}/variants", map[string]http.HandlerFunc{http.MethodPost: a.addVariant}},
		{"/api/v1/experiments/{name}/variants/{variant}", map[string]http.HandlerFunc{http.MethodDelete: a.removeVariant}},
		{"/api/v1/experiments/{name}/variants/{variant}/export", map[string]http.HandlerFunc{http.MethodGet: a.exportVariant}},
		{"/api/v1/experiments/{name}/variants/{variant}/rules", map[string]http.HandlerFunc{http.MethodGet: a.variantRules}},
		{"/api/v1/experiments/{name}/runs", map[string]http.HandlerFunc{http.MethodGet: a.listRuns, http.MethodPost: a.startRun}},
		{"/api/v1/experiments/{name}/runs/{id}", map[string]http.HandlerFunc{http.MethodGet: a.getRun}},
		{"/api/v1/experiments/{name}/runs/{id}/cancel", map[string]http.HandlerFunc{http.MethodPost: a.cancelRun}},
		{"/api/v1/processors", map[string]http.HandlerFunc{http.MethodGet: a.listProcessors}},
		{"/api/v1/templates", map[string]http.HandlerFunc{http.MethodGet: a.listTemplates}},
		{"/api/v1/templates/{name}", map[string]http.HandlerFunc{http.MethodGet: a.renderTemplate}},
		{"/api/v1/validate", map[string]http.HandlerFunc{http.MethodPost: a.validateChain}},
		{"/api/v1/import", map[string]http.HandlerFunc{http.MethodPost: a.importChain}},
		{"/api/v1/simulators", map[string]http.HandlerFunc{http.MethodGet: a.listSimulators}},
		{"/api/v1/simulators/{name}", map[string]http.HandlerFunc{http.MethodGet: a.getSimulator, http.MethodPatch: a.patchSimulator}},
		{"/api/v1/simulators/{name}/chaos", map[string]http.HandlerFunc{http.MethodPost: a.injectChaos}},
		{"/api/v1/events", map[string]http.HandlerFunc{http.MethodGet: a.streamEvents}},
		{"/api/v1/desired-state", map[string]http.HandlerFunc{http.MethodGet: a.desiredState}},
		{"/api/v1/openapi.yaml", map[string]http.HandlerFunc{http.MethodGet: serveOpenAPI}},
		{"/metrics", map[string]http.HandlerFunc{http.MethodGet: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}).ServeHTTP}},
	}
	return a
}

// hostProcessors are the processor factories of the collector the extension runs in, as its host lists
// them: the catalogue and validation then answer for this build, whichever components it was built with.
// A host without the capabilities (tests, other hosts) gives none, and every type is unknown.
func hostProcessors(host component.Host) map[component.Type]processor.Factory {
	modules, ok := host.(hostcapabilities.ModuleInfo)
	factories, ok2 := host.(hostcapabilities.ComponentFactory)
	if !ok || !ok2 {
		return nil
	}
	out := map[component.Type]processor.Factory{}
	for t := range modules.GetModuleInfos().Processor {
		if f, ok := factories.GetFactory(component.KindProcessor, t).(processor.Factory); ok {
			out[t] = f
		}
	}
	return out
}

// handler routes requests; wrong methods and unknown paths get JSON errors too.
func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.routes {
		methods := rt.methods
		if get, ok := methods[http.MethodGet]; ok && rt.pattern != "/api/v1/events" {
			methods[http.MethodHead] = get // the server drops the body of a HEAD
		}
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			h, ok := methods[r.Method]
			if !ok {
				allowed := make([]string, 0, len(methods))
				for m := range methods {
					allowed = append(allowed, m)
				}
				slices.Sort(allowed)
				w.Header().Set("Allow", strings.Join(allowed, ", "))
				httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed here; use %s", r.Method, strings.Join(allowed, ", ")))
				return
			}
			h(w, r)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s (see /api/v1/openapi.yaml)", r.URL.Path))
	})
	return mux
}

// writeFailure maps domain errors to statuses.
func writeFailure(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, errInvalid):
		b := httpjson.ErrorBody{Error: httpjson.ErrorDetail{Code: "invalid", Message: err.Error()}}
		if invalid := (*control.InvalidChainError)(nil); errors.As(err, &invalid) {
			b.Error.Problems = invalid.Problems
		}
		httpjson.Write(w, http.StatusUnprocessableEntity, b)
	case errors.Is(err, errConflict):
		httpjson.Error(w, http.StatusConflict, "conflict", err.Error())
	default:
		httpjson.Error(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func (a *api) getInfo(w http.ResponseWriter, _ *http.Request) {
	st, _ := a.reg.storageHealth()
	httpjson.Write(w, http.StatusOK, struct {
		apiInfo
		Storage storageStatus `json:"storage"`
	}{a.info, st})
}

func (a *api) listExperiments(w http.ResponseWriter, _ *http.Request) {
	out := []control.ExperimentSnapshot{}
	for _, n := range a.reg.experimentNames() {
		if e, err := a.reg.experiment(n); err == nil {
			out = append(out, a.reg.snapshot(e))
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"experiments": out})
}

func (a *api) getExperiment(w http.ResponseWriter, r *http.Request) {
	e, err := a.reg.experiment(r.PathValue("name"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, a.reg.snapshot(e))
}

type activeRequest struct {
	Variant string `json:"variant"`
}

func (a *api) setActive(w http.ResponseWriter, r *http.Request) {
	var req activeRequest
	if !httpjson.Decode(w, r, a.maxBody, &req) {
		return
	}
	if req.Variant == "" {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", `"variant" is required`)
		return
	}
	snap, err := a.reg.setActive(r.Context(), r.PathValue("name"), req.Variant)
	if errors.Is(err, errNotPersisted) {
		// The variant runs: say so, and that a restart will not remember it (GET /api/v1/info tells why).
		w.Header().Set("Warning", "199 phoenix_control "+strconv.Quote(err.Error()))
		httpjson.Write(w, http.StatusOK, snap)
		return
	}
	if err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, snap)
}

// variantRules answers how the experiment's rules fare on one variant at the last evaluation.
func (a *api) variantRules(w http.ResponseWriter, r *http.Request) {
	e, err := a.reg.experiment(r.PathValue("name"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	snap := e.Snapshot()
	v, ok := snap.Variant(r.PathValue("variant"))
	switch {
	case !ok:
		httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s has no variant %q", snap.Name, r.PathValue("variant")))
	case v.Rules == nil:
		httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s has no rules: block (see the experiment processor's README, \"Rule fidelity\")", snap.Name))
	default:
		httpjson.Write(w, http.StatusOK, v.Rules)
	}
}

func (a *api) exportVariant(w http.ResponseWriter, r *http.Request) {
	e, err := a.reg.experiment(r.PathValue("name"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	steps, err := e.VariantSteps(r.PathValue("variant"))
	if err != nil {
		httpjson.Error(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	opts, err := parseExportOptions(r.URL.Query())
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	v, _ := e.Snapshot().Variant(r.PathValue("variant"))
	var out []byte
	switch opts.Format {
	case formatDesiredState, formatHelm:
		out, err = exportDesired(e.Name(), r.PathValue("variant"), v.Source, steps, opts.Format)
	default:
		out, err = exportYAML(e.Name(), r.PathValue("variant"), steps, opts)
	}
	if err != nil {
		writeFailure(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(out)
}

func (a *api) listSimulators(w http.ResponseWriter, _ *http.Request) {
	out := map[string]control.SimulatorStatus{}
	for _, n := range a.reg.simulatorNames() {
		if s, err := a.reg.simulator(n); err == nil {
			out[n] = s.Status()
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"simulators": out})
}

func (a *api) getSimulator(w http.ResponseWriter, r *http.Request) {
	s, err := a.reg.simulator(r.PathValue("name"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s.Status())
}

type simulatorPatch struct {
	Profile   *string `json:"profile"`
	Processes *int    `json:"processes"`
}

// patchSimulator validates the whole change before applying any of it.
func (a *api) patchSimulator(w http.ResponseWriter, r *http.Request) {
	s, err := a.reg.simulator(r.PathValue("name"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	var req simulatorPatch
	if !httpjson.Decode(w, r, a.maxBody, &req) {
		return
	}
	st := s.Status()
	if req.Profile == nil && req.Processes == nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", `set "profile" and/or "processes"`)
		return
	}
	if req.Profile != nil && !slices.Contains(st.Profiles, *req.Profile) {
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("profile %q: want one of %v", *req.Profile, st.Profiles))
		return
	}
	if req.Processes != nil && (*req.Processes < 1 || *req.Processes > procsim.MaxProcesses) {
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("processes %d: want 1..%d", *req.Processes, procsim.MaxProcesses))
		return
	}
	if req.Profile != nil {
		if err := s.SetProfile(*req.Profile); err != nil {
			httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
			return
		}
	}
	if req.Processes != nil {
		if err := s.SetProcessCount(*req.Processes); err != nil {
			httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
			return
		}
	}
	a.reg.events.Publish(simulatorEvent(r.PathValue("name"), s))
	httpjson.Write(w, http.StatusOK, s.Status())
}

func (a *api) injectChaos(w http.ResponseWriter, r *http.Request) {
	s, err := a.reg.simulator(r.PathValue("name"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	var ev control.ChaosEvent
	if !httpjson.Decode(w, r, a.maxBody, &ev) {
		return
	}
	if err := ev.Validate(); err != nil {
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
		return
	}
	n, err := s.InjectChaos(ev)
	if err != nil {
		httpjson.Error(w, http.StatusUnprocessableEntity, "no_match", err.Error())
		return
	}
	a.reg.events.Publish(event{Type: "chaos", Data: map[string]any{"simulator": r.PathValue("name"), "event": ev, "affected": n}})
	httpjson.Write(w, http.StatusOK, map[string]int{"affected": n})
}

func (a *api) desiredState(w http.ResponseWriter, _ *http.Request) {
	a.reg.mu.Lock()
	d := a.reg.desired
	a.reg.mu.Unlock()
	if d == nil {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no desired_state file is configured")
		return
	}
	httpjson.Write(w, http.StatusOK, d.snapshot())
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
}
