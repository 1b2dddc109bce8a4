// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// exportOptions place the variant in the user's own pipeline, so that merging the export with their config
// keeps that pipeline's other processors (a merge replaces a list whole).
type exportOptions struct {
	// Pipeline is the metrics pipeline to list the processors in; default metrics.
	Pipeline string
	// Processors are that pipeline's processors. The variant's go in place of the experiment if it is listed,
	// else before the first batch, else last.
	Processors []string
	// Format: collector (plain collector YAML, the default), desired_state (an entry of the fleet's
	// desired-state file) or helm (the chart's presets.desiredState values).
	Format string
}

// Export formats.
const (
	formatCollector    = "collector"
	formatDesiredState = "desired_state"
	formatHelm         = "helm"
)

// parseExportOptions reads ?pipeline=metrics/host&processors=memory_limiter,batch&format=collector.
func parseExportOptions(q url.Values) (exportOptions, error) {
	opts := exportOptions{Pipeline: "metrics", Format: formatCollector}
	var errs []error
	switch f := q["format"]; {
	case len(f) > 1:
		errs = append(errs, errors.New("format: give it once"))
	case len(f) == 1 && !slices.Contains([]string{formatCollector, formatDesiredState, formatHelm}, f[0]):
		errs = append(errs, fmt.Errorf("format %q: want collector, desired_state or helm", f[0]))
	case len(f) == 1:
		opts.Format = f[0]
	}
	if opts.Format != formatCollector && (q.Has("pipeline") || q.Has("processors")) {
		errs = append(errs, fmt.Errorf("pipeline, processors: only for format=collector (a %s export names no pipeline)", opts.Format))
	}
	if p := q["pipeline"]; len(p) > 1 {
		errs = append(errs, errors.New("pipeline: give it once"))
	} else if len(p) == 1 {
		opts.Pipeline = p[0]
		signal, name, named := strings.Cut(p[0], "/")
		switch {
		case signal != "metrics":
			errs = append(errs, fmt.Errorf("pipeline %q: want a metrics pipeline (metrics or metrics/<name>)", p[0]))
		case named && (name == "" || strings.Contains(name, "/")):
			errs = append(errs, fmt.Errorf("pipeline %q: want metrics or metrics/<name>", p[0]))
		}
	}
	if p := q["processors"]; len(p) > 1 {
		errs = append(errs, errors.New("processors: give it once, comma-separated"))
	} else if len(p) == 1 {
		for _, id := range strings.Split(p[0], ",") {
			id = strings.TrimSpace(id)
			var cid component.ID
			switch {
			case id == "":
				continue
			case cid.UnmarshalText([]byte(id)) != nil:
				errs = append(errs, fmt.Errorf("processors: %q is not a component ID", id))
			case slices.Contains(opts.Processors, id):
				errs = append(errs, fmt.Errorf("processors: %s is listed twice", id))
			default:
				opts.Processors = append(opts.Processors, id)
			}
		}
	}
	return opts, errors.Join(errs...)
}

// exportYAML renders a variant as plain collector YAML: its processors, named after the variant, and the
// metrics pipeline order to list them in — within the pipeline's own processors when opts name them. It
// pastes into any collector that has those processors (otelcol-contrib included), and merges with a base
// config (--config base.yaml --config variant.yaml).
func exportYAML(experiment, variant string, steps []control.ProcessorStep, opts exportOptions) ([]byte, error) {
	count := map[string]int{}
	for _, s := range steps {
		count[typeOf(s.ID)]++
	}
	seen := map[string]int{}
	processors := map[string]any{}
	ids := make([]string, 0, len(steps))
	for _, s := range steps {
		typ := typeOf(s.ID)
		id := typ + "/" + variant
		if count[typ] > 1 {
			seen[typ]++
			id = fmt.Sprintf("%s_%d", id, seen[typ])
		}
		if slices.Contains(opts.Processors, id) {
			return nil, fmt.Errorf("%w: processors: %s is already in the pipeline; the variant's processor has that name", errInvalid, id)
		}
		cfg := s.Config
		if cfg == nil {
			cfg = map[string]any{}
		}
		processors[id] = cfg
		ids = append(ids, id)
	}
	pipeline := opts.Pipeline
	if pipeline == "" {
		pipeline = "metrics"
	}
	doc := map[string]any{
		"processors": processors,
		"service": map[string]any{"pipelines": map[string]any{pipeline: map[string]any{
			"processors": placeInPipeline(opts.Processors, experiment, ids)}}},
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Variant %q of %s, exported by otelcol-phoenix.\n", variant, experiment)
	if len(steps) == 0 {
		buf.WriteString("# A pass-through: the data as it comes, no processors.\n")
	} else {
		buf.WriteString("# Add these processors to your config and list them in your metrics pipeline in this order\n")
		buf.WriteString("# (before batch).\n")
	}
	if opts.Processors == nil {
		buf.WriteString("# Merged with your config, its processors list replaces your pipeline's: export with\n")
		buf.WriteString("# ?processors=<your pipeline's processors, comma-separated> (e.g. memory_limiter,batch) to keep them.\n")
	} else {
		fmt.Fprintf(&buf, "# Its %s pipeline is yours with the variant in place. To try it:\n", pipeline)
		buf.WriteString("#   otelcol-phoenix validate --config your.yaml --config this.yaml\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// placeInPipeline lists the variant's processors within the pipeline's own: in place of the experiment, else
// before the first batch, else last.
func placeInPipeline(pipeline []string, experiment string, variant []string) []string {
	at := slices.Index(pipeline, experiment)
	rest := pipeline
	if at >= 0 {
		rest = slices.Delete(slices.Clone(pipeline), at, at+1)
	} else if at = slices.IndexFunc(pipeline, func(id string) bool { return typeOf(id) == "batch" }); at < 0 {
		at = len(pipeline)
	}
	return slices.Concat(rest[:at], variant, rest[at:])
}

func typeOf(id string) string {
	typ, _, _ := strings.Cut(id, "/")
	return typ
}

// exportDesired renders a variant for the fleet: as an entry of the desired-state file (format
// desired_state) or as the chart's presets.desiredState values (helm) that render that file. A runtime
// variant carries its definition, so every node builds it; a configured one is only made active.
func exportDesired(experiment, variant, source string, steps []control.ProcessorStep, format string) ([]byte, error) {
	entry := map[string]any{"active": variant}
	if source != control.SourceConfig && source != "" {
		processors := make([]map[string]any, 0, len(steps))
		for _, s := range steps {
			cfg := s.Config
			if cfg == nil {
				cfg = map[string]any{}
			}
			processors = append(processors, map[string]any{s.ID: cfg})
		}
		entry["variants"] = map[string]any{variant: map[string]any{"processors": processors}}
	}
	doc := map[string]any{"experiments": map[string]any{experiment: entry}}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Variant %q of %s, exported by otelcol-phoenix", variant, experiment)
	if format == formatHelm {
		// --reuse-values keeps a rollout set before for this experiment: null unsets it (the chart drops it).
		entry["rollout"] = nil
		buf.WriteString(" as Helm values: every node of the release runs it.\n")
		buf.WriteString("#   helm upgrade <release> <chart> --reuse-values -f this.yaml\n")
		doc = map[string]any{"presets": map[string]any{"desiredState": map[string]any{"enabled": true,
			"experiments": doc["experiments"]}}}
	} else {
		buf.WriteString(" as a desired-state entry: every node reading the file runs it.\n")
		buf.WriteString("# Merge it into the file under experiments: (the ConfigMap the desired_state path mounts).\n")
	}
	if format == formatHelm {
		buf.WriteString("# To stage it instead: active: null, rollout: {variant: " + variant + ", percent: 10}.\n")
	} else {
		buf.WriteString("# To stage it instead, replace active with rollout: {variant: " + variant + ", percent: 10}.\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
