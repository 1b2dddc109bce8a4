// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
	"github.com/phoenix-platform/otelcol-phoenix/internal/sse"
)

// api serves the fleet API over the agents table.
type api struct {
	agents   *agents
	rollouts *rollouts
	// silence is how long an agent may say nothing before it counts as dropped off.
	silence time.Duration
	maxBody int64
	// storageConfigured: the controller was given a storage extension.
	storageConfigured bool
}

func newAPI(t *agents, r *rollouts, silence time.Duration, maxBody int64) *api {
	return &api{agents: t, rollouts: r, silence: silence, maxBody: maxBody}
}

var (
	errNotFound = errors.New("not found")
)

// route is one path and its handlers by method.
type route struct {
	pattern string
	methods map[string]http.HandlerFunc
}

func (a *api) routes() []route {
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(&collector{agents: a.agents, rollouts: a.rollouts})
	rs := []route{
		{"/api/v1/fleet/info", map[string]http.HandlerFunc{http.MethodGet: a.info}},
		{"/api/v1/fleet/agents", map[string]http.HandlerFunc{http.MethodGet: a.listAgents}},
		{"/api/v1/fleet/agents/{id}", map[string]http.HandlerFunc{http.MethodGet: a.getAgent}},
		{"/api/v1/fleet/experiments/{name}", map[string]http.HandlerFunc{http.MethodGet: a.experimentTotals}},
		{"/api/v1/fleet/rollouts", map[string]http.HandlerFunc{http.MethodGet: a.listRollouts, http.MethodPost: a.startRollout}},
		{"/api/v1/fleet/rollouts/{id}", map[string]http.HandlerFunc{http.MethodGet: a.getRollout}},
		{"/api/v1/fleet/events", map[string]http.HandlerFunc{http.MethodGet: a.streamEvents}},
		{"/api/v1/fleet/openapi.yaml", map[string]http.HandlerFunc{http.MethodGet: serveOpenAPI}},
		{"/metrics", map[string]http.HandlerFunc{http.MethodGet: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}).ServeHTTP}},
	}
	for _, action := range []string{"pause", "resume", "cancel", "rollback"} {
		rs = append(rs, route{"/api/v1/fleet/rollouts/{id}/" + action, map[string]http.HandlerFunc{
			http.MethodPost: func(w http.ResponseWriter, r *http.Request) { a.act(w, r, action) }}})
	}
	return rs
}

// handler routes requests; wrong methods and unknown paths get JSON errors too.
func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		methods := rt.methods
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			h, ok := methods[r.Method]
			if !ok && r.Method == http.MethodHead && rt.pattern != "/api/v1/fleet/events" {
				h, ok = methods[http.MethodGet]
			}
			if !ok {
				allowed := slices.Sorted(maps.Keys(methods))
				w.Header().Set("Allow", strings.Join(allowed, ", "))
				httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed here; use %s", r.Method, strings.Join(allowed, ", ")))
				return
			}
			h(w, r)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s (see /api/v1/fleet/openapi.yaml)", r.URL.Path))
	})
	return mux
}

//go:embed openapi.yaml
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
}

// info says how the controller is: its agents and its state's persistence.
func (a *api) info(w http.ResponseWriter, _ *http.Request) {
	a.rollouts.mu.Lock()
	storage := a.rollouts.storage(a.storageConfigured)
	a.rollouts.mu.Unlock()
	total, connected := 0, 0
	for _, fa := range a.rollouts.view(time.Now()) {
		total++
		if fa.Connected {
			connected++
		}
	}
	identity := "none"
	if a.agents.certIdentity {
		identity = nodeIdentityCertificate
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"agents": total, "connected": connected, "storage": storage,
		"node_identity": identity, "identity_refused": a.agents.refusedIdentity.Load()})
}

func (a *api) listAgents(w http.ResponseWriter, _ *http.Request) {
	list := a.agents.list()
	out := make([]agentView, 0, len(list))
	for _, ag := range list {
		out = append(out, ag.view(time.Now(), a.silence))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"agents": out})
}

func (a *api) getAgent(w http.ResponseWriter, r *http.Request) {
	a.agents.mu.RLock()
	ag := a.agents.byUID[r.PathValue("id")]
	a.agents.mu.RUnlock()
	if ag == nil {
		httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no agent %q", r.PathValue("id")))
		return
	}
	httpjson.Write(w, http.StatusOK, ag.view(time.Now(), a.silence))
}

// experimentTotals sums an experiment's figures over the fleet, per variant (worst node for fidelity).
func (a *api) experimentTotals(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	totals := fleet.Aggregate(connected(a.rollouts.view(time.Now())), name)
	if len(totals) == 0 {
		httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no agent reports experiment %q", name))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"experiment": name, "variants": totals})
}

func (a *api) listRollouts(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{"rollouts": a.rollouts.snapshot()})
}

func (a *api) getRollout(w http.ResponseWriter, r *http.Request) {
	for _, ro := range a.rollouts.snapshot() {
		if ro.ID == r.PathValue("id") {
			httpjson.Write(w, http.StatusOK, ro)
			return
		}
	}
	httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no rollout %q", r.PathValue("id")))
}

func (a *api) startRollout(w http.ResponseWriter, r *http.Request) {
	var spec fleet.RolloutSpec
	if !httpjson.Decode(w, r, a.maxBody, &spec) {
		return
	}
	ro, err := a.rollouts.start(spec)
	switch {
	case errors.Is(err, fleet.ErrInvalid):
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
	case errors.Is(err, errBusy):
		httpjson.Error(w, http.StatusConflict, "conflict", err.Error())
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "internal", err.Error())
	default:
		httpjson.Write(w, http.StatusCreated, ro)
	}
}

func (a *api) act(w http.ResponseWriter, r *http.Request, action string) {
	ro, err := a.rollouts.act(r.PathValue("id"), action)
	switch {
	case errors.Is(err, errNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, fleet.ErrEnded), errors.Is(err, fleet.ErrNotPaused):
		httpjson.Error(w, http.StatusConflict, "conflict", err.Error())
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "internal", err.Error())
	default:
		httpjson.Write(w, http.StatusOK, ro)
	}
}

// streamEvents serves /api/v1/fleet/events: a "rollout" event whenever a rollout changes.
func (a *api) streamEvents(w http.ResponseWriter, r *http.Request) {
	if err := sse.Serve(w, r, a.rollouts.events, 15*time.Second, 10*time.Second); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

// connected are the agents whose figures count in the fleet's totals now: a disconnected agent's last
// report is no longer the fleet's.
func connected(view []fleet.Agent) []fleet.Agent {
	out := view[:0:0]
	for _, a := range view {
		if a.Connected {
			out = append(out, a)
		}
	}
	return out
}
