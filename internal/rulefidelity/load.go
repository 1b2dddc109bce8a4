// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Rule kinds (control.RuleResult.Kind).
const (
	KindAlert     = "alert"
	KindRecord    = "record"
	KindDashboard = "dashboard"
	KindInline    = "inline"
)

// LookbackDelta is the engine's lookback (Prometheus' default): an instant selector sees a sample up to 5m
// old, so every rule needs at least that much data.
const LookbackDelta = 5 * time.Minute

// DefaultInterval is the evaluation interval when Options.Interval is zero.
const DefaultInterval = time.Minute

// promqlParser parses as a Prometheus server does by default (no experimental functions or syntax).
var promqlParser = parser.NewParser(parser.Options{})

var discardLogger = slog.New(slog.DiscardHandler)

// Options say what Load reads.
type Options struct {
	// Files are Prometheus rule files or Kubernetes PrometheusRule objects (several YAML documents and
	// kind: List allowed); globs allowed (a pattern may match nothing, a literal path must exist, and the
	// set must hold at least one rule).
	Files []string
	// Dashboards are Grafana dashboard JSON files (a dashboard, or an object with a "dashboard" field as
	// the HTTP API and provisioning exports have it); globs allowed.
	Dashboards []string
	// DashboardVariables give dashboard variables (and built-ins such as __rate_interval) a value.
	DashboardVariables map[string]string
	// Inline are queries by name.
	Inline map[string]string
	// MaxRange caps RuleSet.MaxRange (default 1h).
	MaxRange time.Duration
	// Interval is how often rules are evaluated (the experiment's window, default 1m): Grafana's
	// $__interval and the step of subqueries without one, as a Prometheus server's evaluation_interval.
	Interval time.Duration
}

// Rule is one loaded rule or query.
type Rule struct {
	Name   string // unique in the set: alert/record name, "dashboard / panel / refId", inline name
	Source string // file (and group or panel path), or "inline"
	Kind   string // alert | record | dashboard | inline
	Expr   string // as evaluated (dashboard variables resolved)
	// For, KeepFiringFor, Labels and Annotations of alerting rules, Labels of recording rules (group labels
	// merged in).
	For, KeepFiringFor time.Duration
	Labels             map[string]string
	// Range is the data the expression needs before the evaluation time (ranges, subqueries, offsets,
	// lookback; for alerts at least For).
	Range time.Duration

	expr     parser.Expr
	group    int    // index into RuleSet.groups; -1 for dashboard and inline queries
	ruleName string // the alert or record name as written (Name may be qualified)
}

type ruleGroup struct {
	name, file  string
	interval    time.Duration
	queryOffset *time.Duration
	limit       int
	rules       []int
}

// RuleSet is what Load read. It is immutable and shared by evaluators.
type RuleSet struct {
	rules    []Rule
	groups   []ruleGroup
	interval time.Duration
	maxRange time.Duration
	needed   time.Duration
}

// Rules returns the loaded rules in evaluation order: rule groups in file order, then dashboard queries,
// then inline queries by name.
func (rs *RuleSet) Rules() []Rule { return slices.Clone(rs.rules) }

// Len is the number of rules and queries.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// NeededRange is the longest range any rule needs, uncapped.
func (rs *RuleSet) NeededRange() time.Duration { return rs.needed }

// MaxRange is how much data the stores must keep: NeededRange capped by Options.MaxRange. A rule needing more
// sees the same truncated data on every variant.
func (rs *RuleSet) MaxRange() time.Duration { return min(rs.needed, rs.maxRange) }

// Interval is the evaluation interval.
func (rs *RuleSet) Interval() time.Duration { return rs.interval }

// Load reads every rule file, dashboard and inline query. The error lists every problem at once (file,
// group, rule or panel); the RuleSet is nil then.
func Load(opts Options) (*RuleSet, error) {
	rs := &RuleSet{interval: opts.Interval, maxRange: opts.MaxRange}
	if rs.interval <= 0 {
		rs.interval = DefaultInterval
	}
	if rs.maxRange <= 0 {
		rs.maxRange = DefaultMaxRange
	}
	var errs []error
	files, err := expand("files", opts.Files)
	errs = append(errs, err...)
	for _, f := range files {
		errs = append(errs, rs.loadRuleFile(f)...)
	}
	dashboards, err := expand("dashboards", opts.Dashboards)
	errs = append(errs, err...)
	for _, f := range dashboards {
		errs = append(errs, rs.loadDashboard(f, opts.DashboardVariables)...)
	}
	names := make([]string, 0, len(opts.Inline))
	for name := range opts.Inline {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		expr, err := promqlParser.ParseExpr(opts.Inline[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("inline %q: %w", name, err))
			continue
		}
		rs.add(Rule{Name: name, Source: "inline", Kind: KindInline, Expr: opts.Inline[name], expr: expr, group: -1})
	}
	if len(rs.rules) > MaxRules {
		errs = append(errs, fmt.Errorf("%d rules and queries: at most %d (each is a query per variant every window)", len(rs.rules), MaxRules))
	}
	if len(errs) == 0 && len(rs.rules) == 0 {
		errs = append(errs, fmt.Errorf("no rules: files %q and dashboards %q hold no rule or query, and there is no inline query", opts.Files, opts.Dashboards))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rs.qualifyNames()
	rs.needed = LookbackDelta
	for _, r := range rs.rules {
		rs.needed = max(rs.needed, r.Range)
	}
	return rs, nil
}

// expand resolves globs; a literal path that does not exist is an error.
func expand(field string, patterns []string) ([]string, []error) {
	var out []string
	var errs []error
	seen := map[string]bool{}
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: pattern %q: %w", field, p, err))
			continue
		}
		if len(matches) == 0 {
			// A literal path must exist; a pattern may match nothing (a mounted ConfigMap holding only rule
			// files, or only dashboards), as long as the set has rules (Load checks).
			if _, err := os.Stat(p); err != nil && !strings.ContainsAny(p, `*?[\`) {
				errs = append(errs, fmt.Errorf("%s: %w", field, err))
			}
			continue
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out, errs
}

func (rs *RuleSet) add(r Rule) {
	r.Range = neededRange(r.expr)
	r.ruleName = r.Name
	if r.Kind == KindAlert {
		r.Range = max(r.Range, r.For)
	}
	rs.rules = append(rs.rules, r)
	if r.group >= 0 {
		g := &rs.groups[r.group]
		g.rules = append(g.rules, len(rs.rules)-1)
	}
}

// loadRuleFile reads a rule file: one or more YAML documents, each a Prometheus rule file (groups:), a
// PrometheusRule object (spec.groups) or a List of those.
func (rs *RuleSet) loadRuleFile(file string) []error {
	content, err := readFile(file)
	if err != nil {
		return []error{fmt.Errorf("rule file: %w", err)}
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(content))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return []error{fmt.Errorf("rule file %s: invalid YAML: %w", file, err)}
		}
		docs = append(docs, &doc)
	}
	var errs []error
	for i, doc := range docs {
		where := file
		if len(docs) > 1 {
			where = fmt.Sprintf("%s (document %d)", file, i+1)
		}
		var raw []byte
		if len(docs) == 1 {
			raw = content // rulefmt's line numbers then match the file
		}
		errs = append(errs, rs.loadRuleDoc(file, where, doc, raw)...)
	}
	return errs
}

func (rs *RuleSet) loadRuleDoc(file, where string, doc *yaml.Node, raw []byte) []error {
	node := doc
	if node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return nil
		}
		node = node.Content[0]
	}
	if node.Kind != yaml.MappingNode {
		return []error{fmt.Errorf("rule file %s: not a rule file (want groups:) nor a PrometheusRule object", where)}
	}
	switch kind := mapValue(node, "kind"); {
	case kind != nil && (kind.Value == "List" || kind.Value == "PrometheusRuleList"):
		items := mapValue(node, "items")
		if items == nil || items.Kind != yaml.SequenceNode {
			return []error{fmt.Errorf("rule file %s: %s without items", where, kind.Value)}
		}
		var errs []error
		for i, item := range items.Content {
			errs = append(errs, rs.loadRuleDoc(file, fmt.Sprintf("%s item %d", where, i+1), item, nil)...)
		}
		return errs
	case kind != nil && kind.Value == "PrometheusRule":
		name := "PrometheusRule"
		if md := mapValue(node, "metadata"); md != nil {
			n, ns := mapValue(md, "name"), mapValue(md, "namespace")
			switch {
			case n != nil && ns != nil:
				name += " " + ns.Value + "/" + n.Value
			case n != nil:
				name += " " + n.Value
			}
		}
		spec := mapValue(node, "spec")
		if spec == nil || mapValue(spec, "groups") == nil {
			return []error{fmt.Errorf("rule file %s: %s has no spec.groups", where, name)}
		}
		b, err := yaml.Marshal(spec)
		if err != nil {
			return []error{fmt.Errorf("rule file %s: %s: %w", where, name, err)}
		}
		// The operator's CRD allows fields a Prometheus rule file does not (partial_response_strategy).
		return rs.parseGroups(file, where+": "+name, b, true, spec)
	case kind != nil:
		return []error{fmt.Errorf("rule file %s: kind %q is not a PrometheusRule", where, kind.Value)}
	case mapValue(node, "groups") == nil:
		return []error{fmt.Errorf("rule file %s: not a rule file (want groups:) nor a PrometheusRule object", where)}
	}
	if raw == nil {
		b, err := yaml.Marshal(node)
		if err != nil {
			return []error{fmt.Errorf("rule file %s: %w", where, err)}
		}
		return rs.parseGroups(file, where, b, false, node)
	}
	return rs.parseGroups(file, where, raw, false, nil)
}

// ruleLine is the line of rule n (1-based) of group in a node holding groups:, or the group's line.
func ruleLine(node *yaml.Node, group string, n int) int {
	groups := mapValue(node, "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return node.Line
	}
	for _, g := range groups.Content {
		if name := mapValue(g, "name"); name == nil || name.Value != group {
			continue
		}
		if rules := mapValue(g, "rules"); rules != nil && rules.Kind == yaml.SequenceNode && n >= 1 && n <= len(rules.Content) {
			return rules.Content[n-1].Line
		}
		return g.Line
	}
	return node.Line
}

func mapValue(node *yaml.Node, key string) *yaml.Node {
	if node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}

// parseGroups validates groups with Prometheus' own rule file parser (names, durations, PromQL, templates).
// orig is the YAML node content was re-encoded from (nil: content is the file itself): rulefmt's positions
// are then replaced by the rule's line in the file.
func (rs *RuleSet) parseGroups(file, where string, content []byte, ignoreUnknown bool, orig *yaml.Node) []error {
	groups, perrs := rulefmt.Parse(content, ignoreUnknown, model.UTF8Validation, promqlParser, discardLogger)
	if len(perrs) > 0 {
		errs := make([]error, len(perrs))
		for i, e := range perrs {
			var re *rulefmt.Error
			if orig != nil && errors.As(e, &re) {
				e = fmt.Errorf("line %d: group %q, rule %d, %q: %w", ruleLine(orig, re.Group, re.Rule), re.Group, re.Rule, re.RuleName, errors.Unwrap(&re.Err))
			}
			if msg, ok := strings.CutPrefix(e.Error(), "0:0: "); ok { // rulefmt's file-level errors have no position
				e = errors.New(msg)
			}
			errs[i] = fmt.Errorf("rule file %s: %w", where, e)
		}
		return errs
	}
	var errs []error
	for _, g := range groups.Groups {
		gi := len(rs.groups)
		rg := ruleGroup{name: g.Name, file: file, interval: time.Duration(g.Interval), limit: g.Limit}
		if g.QueryOffset != nil {
			d := time.Duration(*g.QueryOffset)
			rg.queryOffset = &d
		}
		rs.groups = append(rs.groups, rg)
		source := fmt.Sprintf("%s (group %s)", where, g.Name)
		for i, r := range g.Rules {
			expr, err := promqlParser.ParseExpr(r.Expr)
			if err != nil { // rulefmt checked it; kept for safety
				errs = append(errs, fmt.Errorf("rule file %s: group %q, rule %d: %w", where, g.Name, i+1, err))
				continue
			}
			lbls := map[string]string{}
			for k, v := range g.Labels {
				lbls[k] = v
			}
			for k, v := range r.Labels {
				lbls[k] = v
			}
			rule := Rule{Source: source, Expr: r.Expr, Labels: lbls, expr: expr, group: gi}
			if r.Alert != "" {
				rule.Name, rule.Kind = r.Alert, KindAlert
				rule.For, rule.KeepFiringFor = time.Duration(r.For), time.Duration(r.KeepFiringFor)
			} else {
				rule.Name, rule.Kind = r.Record, KindRecord
			}
			rs.add(rule)
		}
	}
	return errs
}

// qualifyNames makes names unique: a name used more than once gets its file and group (or dashboard
// file), then a #n if still not unique.
func (rs *RuleSet) qualifyNames() {
	count := map[string]int{}
	for _, r := range rs.rules {
		count[r.Name]++
	}
	for i := range rs.rules {
		r := &rs.rules[i]
		if count[r.Name] < 2 {
			continue
		}
		switch {
		case r.group >= 0:
			r.Name = fmt.Sprintf("%s (%s/%s)", r.Name, filepath.Base(rs.groups[r.group].file), rs.groups[r.group].name)
		case r.Kind == KindInline:
			r.Name += " (inline)"
		default:
			r.Name = fmt.Sprintf("%s (%s)", r.Name, filepath.Base(r.Source))
		}
	}
	count = map[string]int{}
	for _, r := range rs.rules {
		count[r.Name]++
	}
	seen := map[string]int{}
	for i := range rs.rules {
		r := &rs.rules[i]
		if count[r.Name] > 1 {
			seen[r.Name]++
			r.Name = fmt.Sprintf("%s #%d", r.Name, seen[r.Name])
		}
	}
}

// neededRange is how far before the evaluation time the expression reads: for every selector its offset,
// its range and the ranges and offsets of the subqueries around it, plus the lookback. Selectors pinned
// with @ are not bounded and not counted.
func neededRange(e parser.Expr) time.Duration {
	var longest time.Duration
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || vs.Timestamp != nil || vs.StartOrEnd != 0 {
			return nil
		}
		d := max(vs.OriginalOffset, 0)
		for i := len(path) - 1; i >= 0; i-- {
			switch p := path[i].(type) {
			case *parser.MatrixSelector:
				d += p.Range
			case *parser.SubqueryExpr:
				d += p.Range + max(p.OriginalOffset, 0)
			}
		}
		longest = max(longest, d)
		return nil
	})
	return longest + LookbackDelta
}

// ruleResult starts a control.RuleResult for r.
func (r *Rule) ruleResult() control.RuleResult {
	return control.RuleResult{Name: r.Name, Source: r.Source, Kind: r.Kind, Expr: r.Expr}
}

// Fingerprint identifies the content of every file opts name (as their globs expand now), so a caller can
// tell when to load again: a ConfigMap updated in place, a file added to a glob.
func Fingerprint(opts Options) uint64 {
	h := fnv.New64a()
	for _, field := range [][]string{opts.Files, opts.Dashboards} {
		files, _ := expand("", field)
		for _, f := range files {
			_, _ = io.WriteString(h, f)
			if b, err := readFile(f); err == nil {
				_, _ = h.Write(b)
			} else {
				_, _ = io.WriteString(h, err.Error())
			}
			_, _ = h.Write([]byte{0})
		}
	}
	return h.Sum64()
}

// MaxFileBytes caps a rule file or dashboard (a ConfigMap holds at most 1 MiB; dashboards exported with
// their data can be larger), and MaxRules the rules and queries of a set: evaluated every window, each costs
// the engine a query per variant.
const (
	MaxFileBytes = 16 << 20
	MaxRules     = 5000
)

// readFile reads a regular file of at most MaxFileBytes. Anything else (a FIFO, a device such as
// /dev/zero, a directory) is refused before it is opened, so a read never blocks or grows without end.
func readFile(path string) ([]byte, error) {
	info, err := os.Stat(path) // follows symlinks, as kubelet's ..data links need
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, info.Mode().Type())
	}
	if info.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes, over the %d MiB limit", path, info.Size(), MaxFileBytes>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1)) // the file may grow between Stat and read
	if err == nil && len(b) > MaxFileBytes {
		err = fmt.Errorf("%s: over the %d MiB limit", path, MaxFileBytes>>20)
	}
	return b, err
}
