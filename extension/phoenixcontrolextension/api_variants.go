// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/processor"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
	"github.com/phoenix-platform/otelcol-phoenix/internal/templates"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
)

// Runtime variants, the processor catalogue, templates, validation and import: the builder's API.

// defaultLimits check a chain validated without naming an experiment: the experiment processor's defaults.
var defaultLimits = experimentprocessor.Limits{MaxVariants: 8, MaxChainLength: 16}

// lookup finds a processor factory of this collector.
func (a *api) lookup(t component.Type) processor.Factory { return a.factories[t] }

// canRunInVariant is experimentprocessor.CanRunInVariant on a type's name.
func canRunInVariant(t string) bool {
	typ, err := component.NewType(t)
	return err == nil && experimentprocessor.CanRunInVariant(typ)
}

// who names the client of a change for the audit line: the authenticated subject when the authenticator
// gives one, and the address.
func who(r *http.Request) string {
	info := client.FromContext(r.Context())
	addr := r.RemoteAddr
	if info.Addr != nil {
		addr = info.Addr.String()
	}
	if info.Auth != nil {
		for _, attr := range []string{"subject", "username", "sub"} {
			if v, ok := info.Auth.GetAttribute(attr).(string); ok && v != "" {
				return v + "@" + addr
			}
		}
	}
	return addr
}

func (a *api) addVariant(w http.ResponseWriter, r *http.Request) {
	var def control.VariantDefinition
	if !httpjson.Decode(w, r, a.maxBody, &def) {
		return
	}
	snap, err := a.reg.addVariant(r.Context(), r.PathValue("name"), def, control.SourceAPI, who(r))
	a.answerChange(w, http.StatusCreated, snap, err)
}

func (a *api) removeVariant(w http.ResponseWriter, r *http.Request) {
	snap, err := a.reg.removeVariant(r.Context(), r.PathValue("name"), r.PathValue("variant"), who(r), control.SourceAPI)
	a.answerChange(w, http.StatusOK, snap, err)
}

// answerChange answers a variant change: done (with a Warning when not persisted), or why not.
func (a *api) answerChange(w http.ResponseWriter, status int, snap control.ExperimentSnapshot, err error) {
	if errors.Is(err, errNotPersisted) {
		w.Header().Set("Warning", "199 phoenix_control "+strconv.Quote(err.Error()))
		err = nil
	}
	if err != nil {
		writeFailure(w, err)
		return
	}
	httpjson.Write(w, status, snap)
}

// catalogueEntry is a processor a variant can use.
type catalogueEntry struct {
	Type          string         `json:"type"`
	Stability     string         `json:"stability"`
	DefaultConfig map[string]any `json:"default_config"`
	// ConfigError says why the default configuration could not be shown (it still applies).
	ConfigError string `json:"config_error,omitempty"`
}

// catalogue lists the collector's processors that can run in a variant: those with a metrics pipeline, neither
// asynchronous (batch) nor an experiment.
func catalogue(factories map[component.Type]processor.Factory) []catalogueEntry {
	out := []catalogueEntry{}
	seen := map[component.Type]bool{}
	for _, f := range factories {
		t := f.Type()
		if seen[t] || f.MetricsStability() == component.StabilityLevelUndefined || !experimentprocessor.CanRunInVariant(t) {
			continue
		}
		seen[t] = true
		e := catalogueEntry{Type: t.String(), Stability: strings.ToLower(f.MetricsStability().String())}
		conf := confmap.New()
		def := f.CreateDefaultConfig()
		if err := conf.Marshal(def); err != nil {
			e.ConfigError = err.Error()
		} else {
			e.DefaultConfig = conf.ToStringMap()
			durationsAsText(reflect.ValueOf(def), e.DefaultConfig)
			keepSendable(e.DefaultConfig)
		}
		if e.DefaultConfig == nil {
			e.DefaultConfig = map[string]any{}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y catalogueEntry) int { return strings.Compare(x.Type, y.Type) })
	return out
}

// keepSendable leaves out of a default configuration what would not come back as it is when the builder
// posts it: nulls (unset lists, which some processors refuse as null), integers JSON's float64 rounds
// (max_streams: MaxInt64 would come back beyond int64) and secrets, which marshal masked (redaction's unset
// hmac_key would come back as the key "[REDACTED]"). A key left out takes the factory's default anyway.
func keepSendable(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			keepSendable(sub)
			continue
		}
		r := reflect.ValueOf(v)
		null := !r.IsValid() || (r.Kind() == reflect.Slice || r.Kind() == reflect.Map || r.Kind() == reflect.Pointer) && r.IsNil()
		inexact := r.CanInt() && (r.Int() > 1<<53 || r.Int() < -(1<<53)) || r.CanUint() && r.Uint() > 1<<53
		masked := v == any(maskedSecret)
		if null || inexact || masked {
			delete(m, k)
		}
	}
}

// durationsAsText writes the durations of a configuration struct into its marshalled map as a user writes
// them ("1m0s", not 60000000000 nanoseconds), following the mapstructure tags (squashed structs too).
func durationsAsText(v reflect.Value, m map[string]any) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || m == nil {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		field := v.Type().Field(i)
		if !field.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(field.Tag.Get("mapstructure"), ",")
		fv := v.Field(i)
		switch {
		case name == "-":
		case strings.Contains(opts, "squash"):
			durationsAsText(fv, m)
		case field.Type == reflect.TypeFor[time.Duration]():
			if _, ok := m[name]; ok {
				m[name] = time.Duration(fv.Int()).String()
			}
		default:
			sub, _ := m[name].(map[string]any)
			durationsAsText(fv, sub)
		}
	}
}

func (a *api) listProcessors(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{"processors": a.catalogue()})
}

func (a *api) listTemplates(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{"templates": templates.All()})
}

// renderTemplate renders one template with the query's parameters (?k=30&keep=kubelet,containerd).
func (a *api) renderTemplate(w http.ResponseWriter, r *http.Request) {
	given := map[string]string{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%s: give it once (lists are comma-separated)", k))
			return
		}
		given[k] = vs[0]
	}
	out, err := templates.Render(r.PathValue("name"), given)
	switch {
	case errors.Is(err, templates.ErrUnknown):
		httpjson.Error(w, http.StatusNotFound, "not_found", err.Error())
		return
	case err != nil:
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
		return
	}
	// Only chains that build: what a value makes of a processor's configuration is the processor's to say.
	def := control.VariantDefinition{Name: out.Name, Processors: out.Processors}
	if problems := experimentprocessor.CheckDefinition(r.Context(), a.checkSettings, def, defaultLimits, a.lookup); len(problems) > 0 {
		writeFailure(w, fmt.Errorf("%w: %w", errInvalid, &control.InvalidChainError{Variant: out.Name, Problems: problems}))
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

// validateRequest is a chain to check: against an experiment (its limits and names) or the build alone.
type validateRequest struct {
	Experiment string                      `json:"experiment"`
	Name       string                      `json:"name"`
	Processors []map[string]map[string]any `json:"processors"`
}

type validateResponse struct {
	Valid    bool                  `json:"valid"`
	Problems []control.StepProblem `json:"problems"`
	// YAML is the chain as plain collector YAML, as the export renders it ("" when a step is malformed).
	YAML string `json:"yaml"`
}

// placeholderName stands for a chain validated before it has a name.
const placeholderName = "candidate"

// maskedSecret is how a configopaque secret marshals, whatever its value.
const maskedSecret = "[REDACTED]"

func (a *api) validateChain(w http.ResponseWriter, r *http.Request) {
	var req validateRequest
	if !httpjson.Decode(w, r, a.maxBody, &req) {
		return
	}
	def := control.VariantDefinition{Name: req.Name, Processors: req.Processors}
	if def.Name == "" {
		def.Name = placeholderName
	}
	out := validateResponse{Problems: []control.StepProblem{}}
	experiment := "experiment"
	if req.Experiment != "" {
		e, err := a.reg.experiment(req.Experiment)
		if err != nil {
			writeFailure(w, err)
			return
		}
		experiment = e.Name()
		if _, exists := e.Snapshot().Variant(req.Name); exists {
			out.Problems = append(out.Problems, control.StepProblem{Message: fmt.Sprintf("name %q: %s already has a variant of that name", req.Name, e.Name())})
		}
		var invalid *control.InvalidChainError
		if err := e.CheckVariant(r.Context(), def); errors.As(err, &invalid) {
			out.Problems = append(out.Problems, invalid.Problems...)
		} else if err != nil {
			writeFailure(w, err)
			return
		}
	} else {
		out.Problems = append(out.Problems, experimentprocessor.CheckDefinition(r.Context(), a.checkSettings, def, defaultLimits, a.lookup)...)
	}
	out.Valid = len(out.Problems) == 0
	name := def.Name
	if !experimentprocessor.ValidVariantName(name) {
		name = placeholderName // the problem is reported; the YAML still shows the chain
	}
	if steps, ok := definitionSteps(def); ok {
		if y, err := exportYAML(experiment, name, steps, exportOptions{}); err == nil {
			out.YAML = string(y)
		}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// definitionSteps are a definition's processors as exported steps; false when one is not a single entry.
func definitionSteps(def control.VariantDefinition) ([]control.ProcessorStep, bool) {
	steps := make([]control.ProcessorStep, 0, len(def.Processors))
	for _, s := range def.Processors {
		if len(s) != 1 {
			return nil, false
		}
		for id, cfg := range s {
			steps = append(steps, control.ProcessorStep{ID: id, Config: cfg})
		}
	}
	return steps, true
}

type importRequest struct {
	YAML string `json:"yaml"`
	// Pipeline picks the metrics pipeline of a config with several.
	Pipeline string `json:"pipeline"`
}

func (a *api) importChain(w http.ResponseWriter, r *http.Request) {
	var req importRequest
	if !httpjson.Decode(w, r, a.maxBody, &req) {
		return
	}
	def, err := importYAML([]byte(req.YAML), req.Pipeline)
	var choice *pipelineChoiceError
	switch {
	case errors.As(err, &choice): // the pipelines to choose from, as problems: the page offers them
		httpjson.Write(w, http.StatusUnprocessableEntity, httpjson.ErrorBody{Error: httpjson.ErrorDetail{
			Code: "choose_pipeline", Message: err.Error(), Problems: choice.Pipelines}})
		return
	case err != nil:
		httpjson.Error(w, http.StatusUnprocessableEntity, "invalid", err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, def)
}
