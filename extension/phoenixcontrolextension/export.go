// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// exportYAML renders a variant as plain collector YAML: its processors, named after the variant, and the
// metrics pipeline order to list them in. It pastes into any collector that has those processors
// (otelcol-contrib included), and merges with a base config (--config base.yaml --config variant.yaml).
func exportYAML(experiment, variant string, steps []control.ProcessorStep) ([]byte, error) {
	count := map[string]int{}
	for _, s := range steps {
		count[typeOf(s.ID)]++
	}
	seen := map[string]int{}
	processors := map[string]any{}
	order := make([]string, 0, len(steps))
	for _, s := range steps {
		typ := typeOf(s.ID)
		id := typ + "/" + variant
		if count[typ] > 1 {
			seen[typ]++
			id = fmt.Sprintf("%s_%d", id, seen[typ])
		}
		cfg := s.Config
		if cfg == nil {
			cfg = map[string]any{}
		}
		processors[id] = cfg
		order = append(order, id)
	}
	doc := map[string]any{
		"processors": processors,
		"service":    map[string]any{"pipelines": map[string]any{"metrics": map[string]any{"processors": order}}},
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Variant %q of %s, exported by otelcol-phoenix.\n", variant, experiment)
	if len(steps) == 0 {
		buf.WriteString("# A pass-through: the data as it comes, no processors.\n")
	} else {
		buf.WriteString("# Add these processors to your config and list them in your metrics pipeline in this order\n")
		buf.WriteString("# (before batch). To try it: otelcol-phoenix validate --config your.yaml --config this.yaml\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func typeOf(id string) string {
	typ, _, _ := strings.Cut(id, "/")
	return typ
}
