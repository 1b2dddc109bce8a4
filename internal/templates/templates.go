// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package templates holds parameterised chains of processors for the common reductions of process metrics,
// rendered to variant definitions ({type[/name]: config} steps) that the experiment builds like any other.
package templates // import "github.com/phoenix-platform/otelcol-phoenix/internal/templates"

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Parameter types.
const (
	Int    = "int"
	String = "string"
	List   = "list" // of strings; comma-separated in a query
)

// Parameter is one value a template takes.
type Parameter struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Default     any    `json:"default"`
	Description string `json:"description"`
	// Min is the least value of an int, or the fewest items of a list.
	Min int `json:"min"`
}

// Template is a parameterised chain.
type Template struct {
	Name        string      `json:"name"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Parameters  []Parameter `json:"parameters"`
	render      func(v values) []map[string]map[string]any
}

// Rendered is a template's chain for some parameter values.
type Rendered struct {
	Template
	Values     map[string]any              `json:"values"`
	Processors []map[string]map[string]any `json:"processors"`
}

type values map[string]any

func (v values) int(name string) int       { return v[name].(int) }
func (v values) str(name string) string    { return v[name].(string) }
func (v values) list(name string) []string { return v[name].([]string) }
func step(id string, cfg map[string]any) map[string]map[string]any {
	return map[string]map[string]any{id: cfg}
}

// anchored turns names into whole-name patterns.
func anchored(names []string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, "^"+regexp.QuoteMeta(n)+"$")
	}
	return out
}

func strs(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// ottlString quotes a string for OTTL.
func ottlString(s string) string { return strconv.Quote(s) }

var all = []Template{
	{
		Name:  "top_k",
		Title: "Top K processes + keep list",
		Description: "Keeps the K processes that use the most CPU on each host, and the critical ones by executable name " +
			"whatever their rank; the rest are summed into one \"other\" process per host.",
		Parameters: []Parameter{
			{Name: "k", Type: Int, Default: 20, Min: 1, Description: "processes kept per host (1..10000)"},
			{Name: "keep", Type: List, Default: []string{"kubelet", "containerd", "systemd"}, Description: "executable names always kept"},
		},
		render: func(v values) []map[string]map[string]any {
			cfg := map[string]any{"k": v.int("k")}
			if keep := v.list("keep"); len(keep) > 0 {
				cfg["keep"] = map[string]any{"patterns": anchored(keep)}
			}
			return []map[string]map[string]any{step("topk", cfg)}
		},
	},
	{
		Name:  "by_executable",
		Title: "One series per executable",
		Description: "Sums every process into one per value of an attribute (the executable name by default), per host: " +
			"totals stay exact, per-process detail goes.",
		Parameters: []Parameter{
			{Name: "attribute", Type: String, Default: "process.executable.name", Description: "resource attribute to group by"},
		},
		render: func(v values) []map[string]map[string]any {
			return []map[string]map[string]any{step("topk", map[string]any{"k": 0, "group_by": []any{v.str("attribute")}})}
		},
	},
	{
		Name:  "drop_attributes",
		Title: "Drop high-cardinality attributes",
		Description: "Deletes resource attributes that make series without identifying the process (command lines change " +
			"with arguments). Dropping process.pid too merges the processes of one executable into one series: group " +
			"them first (by_executable), or a backend sees several values for one series.",
		Parameters: []Parameter{
			{Name: "attributes", Type: List, Default: []string{"process.command_line", "process.command", "process.command_args"},
				Min: 1, Description: "resource attributes to delete"},
		},
		render: func(v values) []map[string]map[string]any {
			stmts := make([]any, 0, len(v.list("attributes")))
			for _, a := range v.list("attributes") {
				stmts = append(stmts, "delete_key(attributes, "+ottlString(a)+")")
			}
			return []map[string]map[string]any{step("transform/drop_attributes", map[string]any{
				"error_mode":        "ignore",
				"metric_statements": []any{map[string]any{"context": "resource", "statements": stmts}},
			})}
		},
	},
	{
		Name:        "keep_metrics",
		Title:       "Keep only some metrics",
		Description: "Drops every metric but those named (the others are never sent).",
		Parameters: []Parameter{
			{Name: "metrics", Type: List, Default: []string{"process.cpu.time", "process.memory.usage"}, Min: 1, Description: "metric names kept"},
		},
		render: func(v values) []map[string]map[string]any {
			conds := make([]string, 0, len(v.list("metrics")))
			for _, m := range v.list("metrics") {
				conds = append(conds, "name == "+ottlString(m))
			}
			return []map[string]map[string]any{step("filter/keep_metrics", map[string]any{
				"error_mode": "ignore",
				"metrics":    map[string]any{"metric": []any{"not (" + strings.Join(conds, " or ") + ")"}},
			})}
		},
	},
	{
		Name:  "aggregate_states",
		Title: "Sum over point attributes",
		Description: "Sums the points of each metric over its point attributes but those kept (process.cpu.time's " +
			"state, process.disk.io's direction), with metrics_transform: one series per process instead of several.",
		Parameters: []Parameter{
			{Name: "metrics", Type: List, Default: []string{"process.cpu.time", "process.disk.io"}, Min: 1, Description: "metrics to aggregate"},
			{Name: "keep", Type: List, Default: []string{}, Description: "point attributes kept"},
		},
		render: func(v values) []map[string]map[string]any {
			transforms := make([]any, 0, len(v.list("metrics")))
			for _, m := range v.list("metrics") {
				transforms = append(transforms, map[string]any{"include": m, "action": "update", "operations": []any{
					map[string]any{"action": "aggregate_labels", "label_set": strs(v.list("keep")), "aggregation_type": "sum"}}})
			}
			return []map[string]map[string]any{step("metrics_transform/aggregate", map[string]any{"transforms": transforms})}
		},
	},
}

// All are the templates, each rendered with its defaults.
func All() []Rendered {
	out := make([]Rendered, 0, len(all))
	for _, t := range all {
		r, _ := Render(t.Name, nil) // the defaults are valid: a test says so
		out = append(out, r)
	}
	return out
}

// ErrUnknown is returned for a template name that is not one.
var ErrUnknown = errors.New("no such template")

// Render renders a template with the given parameter values (strings, as in a query: lists
// comma-separated); absent ones take their default. Every bad value is reported.
func Render(name string, given map[string]string) (Rendered, error) {
	i := slices.IndexFunc(all, func(t Template) bool { return t.Name == name })
	if i < 0 {
		names := make([]string, 0, len(all))
		for _, t := range all {
			names = append(names, t.Name)
		}
		return Rendered{}, fmt.Errorf("%w %q: templates are %s", ErrUnknown, name, strings.Join(names, ", "))
	}
	t := all[i]
	v := values{}
	var errs []error
	for k := range given {
		if !slices.ContainsFunc(t.Parameters, func(p Parameter) bool { return p.Name == k }) {
			errs = append(errs, fmt.Errorf("%s has no parameter %q", t.Name, k))
		}
	}
	for _, p := range t.Parameters {
		raw, ok := given[p.Name]
		if !ok {
			v[p.Name] = p.Default
			continue
		}
		val, err := parse(p, raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		v[p.Name] = val
	}
	if err := errors.Join(errs...); err != nil {
		return Rendered{}, err
	}
	return Rendered{Template: t, Values: v, Processors: t.render(v)}, nil
}

// maxItems bounds a list parameter.
const maxItems = 256

func parse(p Parameter, raw string) (any, error) {
	switch p.Type {
	case Int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || n < p.Min || n > 10000 {
			return nil, fmt.Errorf("%q: want a whole number in %d..10000", raw, p.Min)
		}
		return n, nil
	case String:
		s := strings.TrimSpace(raw)
		if err := checkName(s); err != nil {
			return nil, err
		}
		return s, nil
	}
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(out, item) {
			if err := checkName(item); err != nil {
				return nil, err
			}
			out = append(out, item)
		}
	}
	switch {
	case len(out) > maxItems:
		return nil, fmt.Errorf("%d items: at most %d", len(out), maxItems)
	case len(out) < p.Min:
		return nil, fmt.Errorf("at least %d item(s), comma-separated", p.Min)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// checkName accepts what names a metric, an attribute or an executable: printable, no spaces, at most 255.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 255:
		return fmt.Errorf("%.20q…: at most 255 characters", s)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
		return fmt.Errorf("%q: printable characters only, no spaces", s)
	}
	return nil
}
