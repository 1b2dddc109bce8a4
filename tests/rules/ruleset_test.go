// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// promParser parses as a Prometheus server does by default. Only the rewriting of selectors uses the
// library: every query is then answered by the 2.42 server.
var promParser = parser.NewParser(parser.Options{})

// rule is one of the experiment's rules as the test reads it from the same files, on its own: a
// recording or alerting rule of a rule file, a dashboard panel target or an inline query.
type rule struct {
	Name   string // as the API names it
	Kind   string // alert | record | dashboard | inline
	Expr   string // as evaluated (dashboard variables resolved)
	Group  string // rule files: the group's name
	For    time.Duration
	Labels map[string]string // rule labels (alerts: added to every alert)
	expr   parser.Expr
}

// ruleGroup is a rule file's group, its rules by index into the rule list.
type ruleGroup struct {
	Name  string
	Rules []int
}

type ruleSet struct {
	rules  []rule
	groups []ruleGroup
}

// loadRules reads the rules: block of the experiment — its files with Prometheus' rulefmt, its dashboards
// and inline queries — as the README of internal/rulefidelity says the experiment reads them.
func loadRules(t *testing.T, root string, exp map[string]any) *ruleSet {
	block := exp["rules"].(map[string]any)
	rs := &ruleSet{}
	for _, f := range stringList(block["files"]) {
		groups, errs := rulefmt.ParseFile(filepath.Join(root, f), false, model.LegacyValidation, promParser,
			slog.New(slog.DiscardHandler))
		require.Empty(t, errs, "rule file %s", f)
		for _, g := range groups.Groups {
			// A 2.42 server refuses both; the test cannot give it the same groups then.
			require.Empty(t, g.Labels, "%s: group %s: labels: are not supported by Prometheus 2.42", f, g.Name)
			require.Nil(t, g.QueryOffset, "%s: group %s: query_offset: is not supported by Prometheus 2.42", f, g.Name)
			require.Zero(t, g.Interval, "%s: group %s: the experiment evaluates at its window, the test too", f, g.Name)
			grp := ruleGroup{Name: g.Name}
			for _, r := range g.Rules {
				require.Zero(t, r.KeepFiringFor, "%s: %s%s: keep_firing_for is not followed by the oracle", f, r.Alert, r.Record)
				x := rule{Name: r.Record, Kind: "record", Expr: r.Expr, Group: g.Name, Labels: r.Labels}
				if r.Alert != "" {
					x.Name, x.Kind, x.For = r.Alert, "alert", time.Duration(r.For)
				}
				grp.Rules = append(grp.Rules, len(rs.rules))
				rs.add(t, x)
			}
			rs.groups = append(rs.groups, grp)
		}
	}
	vars := map[string]string{}
	for k, v := range anyMap(block["dashboard_variables"]) {
		vars[k] = v.(string)
	}
	for _, f := range stringList(block["dashboards"]) {
		for _, q := range dashboardQueries(t, filepath.Join(root, f), vars) {
			rs.add(t, q)
		}
	}
	inline := anyMap(block["inline"])
	for _, name := range sortedKeys(inline) {
		rs.add(t, rule{Name: name, Kind: "inline", Expr: inline[name].(string)})
	}
	require.NotEmpty(t, rs.rules)
	return rs
}

func (rs *ruleSet) add(t *testing.T, r rule) {
	var err error
	r.expr, err = promParser.ParseExpr(r.Expr)
	require.NoError(t, err, "rule %s: %s", r.Name, r.Expr)
	parser.Inspect(r.expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.SubqueryExpr:
			t.Fatalf("rule %s: subqueries are not checked for the range boundary (left-open in 3.x): %s", r.Name, n)
		case *parser.VectorSelector:
			require.Nil(t, n.Timestamp, "rule %s: @ is not handled by the oracle", r.Name)
		}
		return nil
	})
	for _, x := range rs.rules {
		require.NotEqual(t, x.Name, r.Name, "two rules named %s: the API would qualify the names", r.Name)
	}
	rs.rules = append(rs.rules, r)
}

// dashboardQueries reads a Grafana dashboard's panel targets (rows' panels too) and resolves its
// variables as a panel at the window's resolution asks Grafana to: $__interval = the window,
// $__rate_interval = 4 × it (max($__interval + scrape interval, 4 × scrape interval), the scrape interval
// being the window), configured variables by value, every other templating variable All (.*).
func dashboardQueries(t *testing.T, path string, configured map[string]string) []rule {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	type panel struct {
		Title   string            `json:"title"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Title      string            `json:"title"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &d))
	vars := map[string]string{"__interval": "10s", "__rate_interval": "40s"}
	require.Equal(t, 10*time.Second, window, "resolved intervals above assume the window")
	for _, v := range d.Templating.List {
		vars[v.Name] = ".*"
	}
	for k, v := range configured {
		vars[k] = v
	}
	ref := regexp.MustCompile(`\$\{(\w+)(?:[:.][^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)
	resolve := func(q string) string {
		return ref.ReplaceAllStringFunc(q, func(m string) string {
			s := ref.FindStringSubmatch(m)
			name := s[1] + s[2] + s[3]
			if v, ok := vars[name]; ok {
				return v
			}
			return m
		})
	}
	var out []rule
	var walk func(raws []json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, raw := range raws {
			var p panel
			require.NoError(t, json.Unmarshal(raw, &p))
			walk(p.Panels)
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					continue
				}
				out = append(out, rule{Name: d.Title + " / " + p.Title + " / " + tg.RefID, Kind: "dashboard",
					Expr: resolve(tg.Expr)})
			}
		}
	}
	walk(d.Panels)
	return out
}

// forVariant narrows every vector selector of expr to one variant's series (phoenix_variant="v"): the
// server holds every variant's output, tagged.
func forVariant(expr parser.Expr, variant string) string {
	e, err := promParser.ParseExpr(expr.String()) // a fresh AST: rewriting must not touch the rule's
	if err != nil {
		panic(err)
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = append(vs.LabelMatchers, labels.MustNewMatcher(labels.MatchEqual, variantLabel, variant))
		}
		return nil
	})
	return e.String()
}

// rangeSel is a range selector of a rule narrowed to a variant: how far before the evaluation time its
// range starts (offset + range), and whether rate() or increase() reads it (a counter's extrapolation).
type rangeSel struct {
	expr        string
	start       time.Duration
	counterRate bool
}

// rangeSelectors are the range selectors of expr narrowed to a variant.
func rangeSelectors(expr parser.Expr, variant string) []rangeSel {
	e, _ := promParser.ParseExpr(forVariant(expr, variant))
	var out []rangeSel
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		m, ok := n.(*parser.MatrixSelector)
		if !ok {
			return nil
		}
		vs := m.VectorSelector.(*parser.VectorSelector)
		sel := rangeSel{expr: m.String(), start: vs.OriginalOffset + m.Range}
		if len(path) > 0 {
			if c, ok := path[len(path)-1].(*parser.Call); ok {
				sel.counterRate = c.Func.Name == "rate" || c.Func.Name == "increase"
			}
		}
		out = append(out, sel)
		return nil
	})
	return out
}

// markerRecord is a recording rule added first to every group the server evaluates: its samples' times
// are the group's evaluation times (the server's, not the experiment's).
const markerRecord = "phoenix_rules_test:evaluation"

// serverRuleFile is the rule file the server evaluates for one variant: every group of the experiment's
// files (named group/variant), its rules with every selector narrowed to the variant and the variant as a
// rule label (so the series of per-node aggregations and alerts of different variants stay apart), at the
// window as interval, the marker first.
func serverRuleFile(t *testing.T, rs *ruleSet, variant string) map[string]any {
	var groups []any
	for _, g := range rs.groups {
		rules := []any{map[string]any{"record": markerRecord, "expr": "vector(1)",
			"labels": map[string]string{variantLabel: variant, "rule_group": g.Name}}}
		for _, i := range g.Rules {
			r := rs.rules[i]
			lbls := map[string]string{variantLabel: variant}
			for k, v := range r.Labels {
				lbls[k] = v
			}
			x := map[string]any{"expr": forVariant(r.expr, variant), "labels": lbls}
			if r.Kind == "alert" {
				x["alert"] = r.Name
				if r.For > 0 {
					x["for"] = model.Duration(r.For).String()
				}
			} else {
				x["record"] = r.Name
			}
			rules = append(rules, x)
		}
		groups = append(groups, map[string]any{"name": g.Name + "/" + variant, "interval": window.String(), "rules": rules})
	}
	require.NotEmpty(t, groups)
	return map[string]any{"groups": groups}
}

func stringList(v any) []string {
	var out []string
	for _, x := range anySlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func anyMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
