// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// importYAML reads a chain of processors from what a user pastes: a list of {type[/name]: config} steps, a
// variant definition ({name, processors}), or a collector config fragment — its processors: map, in the
// order of a metrics pipeline's processors when it has service::pipelines (pipeline picks one of several:
// without it, a *pipelineChoiceError lists them), else in the map's own order. The experiment's own export
// reads back as it was exported.
func importYAML(data []byte, pipeline string) (imported, error) {
	def, err := readChain(data, pipeline)
	if err != nil {
		return imported{}, err
	}
	out := imported{Name: def.Name, Processors: []map[string]map[string]any{}, Skipped: []string{}}
	var errs []error
	seen := map[string]bool{}
	for i, s := range def.Processors {
		if len(s) != 1 {
			keys := slices.Sorted(maps.Keys(s))
			errs = append(errs, fmt.Errorf("step %d: want one {type[/name]: config} entry, got %d (%s)", i+1, len(s), strings.Join(keys, ", ")))
			continue
		}
		for id, cfg := range s {
			switch t, _, _ := strings.Cut(id, "/"); {
			case seen[id]:
				errs = append(errs, fmt.Errorf("step %d: %s is listed twice", i+1, id))
			case !canRunInVariant(t):
				out.Skipped = append(out.Skipped, id)
			default:
				if msg := nonFinite(cfg); msg != "" {
					errs = append(errs, fmt.Errorf("step %d (%s): %s", i+1, id, msg))
				}
				out.Processors = append(out.Processors, s)
			}
			seen[id] = true
		}
	}
	return out, errors.Join(errs...)
}

// nonFinite finds a .nan or .inf in a configuration (JSON cannot carry it, and no setting wants it).
func nonFinite(v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("%v: a number must be finite", x)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if msg := nonFinite(x[k]); msg != "" {
				return k + ": " + msg
			}
		}
	case []any:
		for i, e := range x {
			if msg := nonFinite(e); msg != "" {
				return fmt.Sprintf("[%d]: %s", i, msg)
			}
		}
	}
	return ""
}

// pipelineChoiceError is a config whose metrics pipeline must be named: it has several, or not the one
// asked for. Pipelines lets the client offer the choice rather than parse the message.
type pipelineChoiceError struct {
	msg       string
	Pipelines []pipelineChoice
}

func (e *pipelineChoiceError) Error() string { return e.msg }

// pipelineChoice is one metrics pipeline a config offers, with the processors it lists.
type pipelineChoice struct {
	Pipeline   string   `json:"pipeline"`
	Processors []string `json:"processors"`
	Message    string   `json:"message"`
}

// imported is a chain read from YAML, without the steps a variant cannot run (batch, an experiment): those
// stay in the pipeline around the experiment.
type imported struct {
	Name       string                      `json:"name,omitempty"`
	Processors []map[string]map[string]any `json:"processors"`
	Skipped    []string                    `json:"skipped"`
}

func readChain(data []byte, pipeline string) (control.VariantDefinition, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return control.VariantDefinition{}, errors.New("nothing to import: paste a pipeline's processors")
		}
		return control.VariantDefinition{}, fmt.Errorf("parse: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return control.VariantDefinition{}, errors.New("more than one YAML document: paste one")
	}
	if len(root.Content) == 0 {
		return control.VariantDefinition{}, errors.New("nothing to import: paste a pipeline's processors")
	}
	doc := root.Content[0]
	switch doc.Kind {
	case yaml.SequenceNode:
		var steps []map[string]map[string]any
		if err := doc.Decode(&steps); err != nil {
			return control.VariantDefinition{}, fmt.Errorf("a list of steps: each is {type[/name]: config}: %w", err)
		}
		if pipeline != "" {
			return control.VariantDefinition{}, noPipelines(pipeline)
		}
		return control.VariantDefinition{Processors: nonNil(steps)}, emptySteps(steps)
	case yaml.MappingNode:
	default:
		return control.VariantDefinition{}, errors.New("want a list of {type[/name]: config} steps or a collector config with processors:")
	}
	if child(doc, "name") != nil && child(doc, "processors") != nil && child(doc, "processors").Kind == yaml.SequenceNode {
		var def control.VariantDefinition
		if err := doc.Decode(&def); err != nil {
			return control.VariantDefinition{}, fmt.Errorf("a variant definition {name, processors}: %w", err)
		}
		if pipeline != "" {
			return control.VariantDefinition{}, noPipelines(pipeline)
		}
		def.Processors = nonNil(def.Processors)
		return def, emptySteps(def.Processors)
	}
	procs := child(doc, "processors")
	if procs == nil || procs.Kind != yaml.MappingNode {
		return control.VariantDefinition{}, errors.New("no processors: map to import")
	}
	configs := map[string]map[string]any{}
	var order []string
	for i := 0; i+1 < len(procs.Content); i += 2 {
		id := procs.Content[i].Value
		var cfg map[string]any
		if err := procs.Content[i+1].Decode(&cfg); err != nil {
			return control.VariantDefinition{}, fmt.Errorf("processors::%s: %w", id, err)
		}
		configs[id], order = cfg, append(order, id)
	}
	if listed, err := pipelineOrder(doc, pipeline); err != nil {
		return control.VariantDefinition{}, err
	} else if listed != nil {
		order = listed
	}
	def := control.VariantDefinition{Processors: []map[string]map[string]any{}}
	var missing []string
	for i, id := range order {
		if slices.Contains(order[:i], id) {
			return control.VariantDefinition{}, fmt.Errorf("the pipeline lists %s twice", id)
		}
		cfg, ok := configs[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		def.Processors = append(def.Processors, map[string]map[string]any{id: nonNilMap(cfg)})
	}
	if len(missing) > 0 {
		return control.VariantDefinition{}, fmt.Errorf("the pipeline lists %s, not under processors: (paste their configuration too)", strings.Join(missing, ", "))
	}
	return def, nil
}

// pipelineOrder is the processors list of the config's metrics pipeline (nil without service::pipelines).
// A config with pipelines but none for metrics is refused: its processors: map is no metrics chain.
func pipelineOrder(doc *yaml.Node, want string) ([]string, error) {
	pipelines := child(child(doc, "service"), "pipelines")
	if pipelines == nil {
		if want != "" {
			return nil, noPipelines(want)
		}
		return nil, nil
	}
	var all map[string]struct {
		Processors []string `yaml:"processors"`
	}
	if err := pipelines.Decode(&all); err != nil {
		return nil, fmt.Errorf("service::pipelines: %w", err)
	}
	var metrics []string
	for id := range all {
		if id == "metrics" || strings.HasPrefix(id, "metrics/") {
			metrics = append(metrics, id)
		}
	}
	slices.Sort(metrics)
	choice := func(msg string) error {
		e := &pipelineChoiceError{msg: msg}
		for _, id := range metrics {
			procs := nonNilList(all[id].Processors)
			e.Pipelines = append(e.Pipelines, pipelineChoice{Pipeline: id, Processors: procs,
				Message: fmt.Sprintf("%s: %d processors (%s)", id, len(procs), strings.Join(procs, ", "))})
		}
		return e
	}
	switch {
	case len(metrics) == 0:
		others := slices.Sorted(maps.Keys(all))
		if len(others) == 0 {
			return nil, errors.New("service::pipelines is empty: a variant takes the processors of a metrics pipeline")
		}
		return nil, fmt.Errorf("the config has no metrics pipeline (only %s): a variant runs in a metrics pipeline", strings.Join(others, ", "))
	case want != "":
		if !slices.Contains(metrics, want) {
			return nil, choice(fmt.Sprintf("pipeline %q: not a metrics pipeline of this config (it has %s)", want, strings.Join(metrics, ", ")))
		}
		return nonNilList(all[want].Processors), nil
	case len(metrics) > 1:
		return nil, choice(fmt.Sprintf("the config has metrics pipelines %s: say which one (pipeline)", strings.Join(metrics, ", ")))
	}
	return nonNilList(all[metrics[0]].Processors), nil
}

// noPipelines refuses a pipeline asked of YAML that has none to choose from.
func noPipelines(want string) error {
	return fmt.Errorf("pipeline %q: the YAML has no service::pipelines to choose from", want)
}

// emptySteps refuses a step with nothing in it (`- {}`, `- ~`), rather than dropping it.
func emptySteps(steps []map[string]map[string]any) error {
	var errs []error
	for i, s := range steps {
		if len(s) == 0 {
			errs = append(errs, fmt.Errorf("step %d is empty: want {type[/name]: config}", i+1))
		}
	}
	return errors.Join(errs...)
}

// child is a mapping's value under key (nil when absent or not a mapping).
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func nonNil(steps []map[string]map[string]any) []map[string]map[string]any {
	for _, s := range steps {
		for id, cfg := range s {
			s[id] = nonNilMap(cfg)
		}
	}
	if steps == nil {
		return []map[string]map[string]any{}
	}
	return steps
}

// nonNilMap: `topk:` with nothing under it is an empty configuration, not null.
func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
