// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Wildcard is the value of a dashboard variable that is not configured: it matches anything.
const Wildcard = ".*"

// defaultRange is Grafana's default dashboard time range (now-1h), for $__range when the dashboard has none.
const defaultRange = time.Hour

// grafanaVar matches Grafana's variable syntaxes: $var, ${var}, ${var:format}, ${var.field}, [[var]],
// [[var:format]].
var grafanaVar = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.[^:}]+)?(?::[^}]+)?\}`)

type dashboard struct {
	Title      string                 `json:"title"`
	Panels     []panel                `json:"panels"`
	Rows       []row                  `json:"rows"` // schema before 16
	Templating *templating            `json:"templating"`
	Time       *struct{ From string } `json:"time"`
}

type row struct {
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int             `json:"id"`
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []target        `json:"targets"`
	Panels     []panel         `json:"panels"` // a collapsed row's panels
	GridPos    *struct {
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
}

type target struct {
	Expr       string          `json:"expr"`
	RefID      string          `json:"refId"`
	Datasource json.RawMessage `json:"datasource"`
}

type templating struct {
	List []variable `json:"list"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Current    struct {
		Value json.RawMessage `json:"value"`
		Text  json.RawMessage `json:"text"`
	} `json:"current"`
}

// dashQuery is one Prometheus target of a dashboard, in walk order.
type dashQuery struct {
	title, ref, expr string
	p                *panel
}

// loadDashboard reads a Grafana dashboard: every panel target's expr (rows, collapsed rows' panels and
// pre-16 rows included) is a query named "title / panel title / refId". Targets of a datasource whose type
// is not prometheus are skipped.
func (rs *RuleSet) loadDashboard(file string, configured map[string]string) []error {
	content, err := readFile(file)
	if err != nil {
		return []error{fmt.Errorf("dashboard: %w", err)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(content, &top); err != nil {
		return []error{fmt.Errorf("dashboard %s: invalid JSON: %w", file, err)}
	}
	raw := content
	if d, ok := top["dashboard"]; ok { // HTTP API / provisioning export
		raw = d
		top = nil
		if err := json.Unmarshal(d, &top); err != nil {
			return []error{fmt.Errorf("dashboard %s: invalid dashboard field: %w", file, err)}
		}
	}
	if _, ok := top["panels"]; !ok {
		if _, ok := top["rows"]; !ok {
			return []error{fmt.Errorf("dashboard %s: unknown dashboard format: no panels or rows (want a Grafana dashboard JSON)", file)}
		}
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return []error{fmt.Errorf("dashboard %s: unknown dashboard format: %w", file, err)}
	}
	vars := d.variables(configured, rs.interval)
	var queries []dashQuery
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for pi := range ps {
			p := &ps[pi]
			title := p.Title
			if title == "" {
				title = fmt.Sprintf("panel %d", p.ID)
			}
			if len(p.Panels) > 0 {
				walk(p.Panels)
			}
			for i, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" || !isPrometheus(t.Datasource, p.Datasource) {
					continue
				}
				ref := t.RefID
				if ref == "" {
					ref = string(rune('A' + i%26))
				}
				queries = append(queries, dashQuery{title: title, ref: ref, expr: t.Expr, p: p})
			}
		}
	}
	walk(d.Panels)
	for _, r := range d.Rows {
		walk(r.Panels)
	}
	names := d.queryNames(queries)
	var errs []error
	for i, q := range queries {
		expr, resolved, err := resolveQuery(q.expr, vars)
		if err != nil {
			errs = append(errs, fmt.Errorf("dashboard %s: panel %q, refId %s: %w", file, q.title, q.ref, err))
			continue
		}
		rs.add(Rule{Name: names[i], Source: file, Kind: KindDashboard, Expr: resolved, expr: expr, group: -1})
	}
	return errs
}

// queryNames names the queries "dashboard title / panel title / refId". Panels sharing a title (and refId)
// are told apart by what stays with a panel when others are added, moved or removed: its id ("(panel 12)"),
// else its place ("(at 0,8)"); Load's qualification (file, then #n) is left only for what neither tells
// apart.
func (d *dashboard) queryNames(qs []dashQuery) []string {
	base := make([]string, len(qs))
	count := map[string]int{}
	for i, q := range qs {
		base[i] = fmt.Sprintf("%s / %s / %s", d.Title, q.title, q.ref)
		count[base[i]]++
	}
	byID, byPos := map[string]int{}, map[string]int{}
	idKey := func(i int) string { return fmt.Sprintf("%s\x00%d", base[i], qs[i].p.ID) }
	posKey := func(i int) string {
		g := qs[i].p.GridPos
		return fmt.Sprintf("%s\x00%d,%d", base[i], g.X, g.Y)
	}
	for i, q := range qs {
		if count[base[i]] < 2 {
			continue
		}
		if q.p.ID != 0 {
			byID[idKey(i)]++
		}
		if q.p.GridPos != nil {
			byPos[posKey(i)]++
		}
	}
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = base[i]
		if count[base[i]] < 2 {
			continue
		}
		var qual string
		switch {
		case q.p.ID != 0 && byID[idKey(i)] == 1 && q.title != fmt.Sprintf("panel %d", q.p.ID):
			qual = fmt.Sprintf("panel %d", q.p.ID)
		case q.p.GridPos != nil && byPos[posKey(i)] == 1:
			qual = fmt.Sprintf("at %d,%d", q.p.GridPos.X, q.p.GridPos.Y)
		default:
			continue
		}
		names[i] = fmt.Sprintf("%s / %s (%s) / %s", d.Title, q.title, qual, q.ref)
	}
	return names
}

// isPrometheus: a target (or its panel) names a datasource of another type only as {"type": "loki", ...};
// a name, a variable or nothing is taken as Prometheus.
func isPrometheus(dss ...json.RawMessage) bool {
	for _, ds := range dss {
		var obj struct{ Type string }
		if len(ds) > 0 && ds[0] == '{' && json.Unmarshal(ds, &obj) == nil && obj.Type != "" {
			return obj.Type == "prometheus" || strings.HasPrefix(obj.Type, "$")
		}
	}
	return true
}

// varValue is a dashboard variable's value.
type varValue struct {
	text string // substituted as written
	// values: several values, substituted as Grafana does, the regex "(a|b)" of the regex-escaped values.
	values []string
	// regex: the value stands for a set of values (All, several values, or no value: the wildcard), so it
	// can only go where a regex can, in a string (a matcher's value).
	regex bool
	why   string // how a regex value came about, for errors
}

// regexValue is the regex several values stand for: Grafana's "(a|b)" of the regex-escaped values.
func (v varValue) regexValue() string {
	if len(v.values) == 0 {
		return v.text
	}
	esc := make([]string, len(v.values))
	for i, x := range v.values {
		esc[i] = regexp.QuoteMeta(x)
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// variables resolves the dashboard's variables: configured values first; constants their query; interval
// variables their current value, else their first option (a range must stay a duration); custom, textbox
// and query variables their current value (All: the variable's allValue, else the wildcard; several values:
// their regex; a textbox without one: its query); anything else the wildcard. Built-ins: $__interval the
// evaluation interval, $__rate_interval four times it (Grafana's max($__interval + scrape interval, 4 ×
// scrape interval) with the scrape interval taken as $__interval), $__range the dashboard's "now-X" range
// (else 1h), each overridable by configuring the name without $.
func (d *dashboard) variables(configured map[string]string, interval time.Duration) map[string]varValue {
	rng := defaultRange
	if d.Time != nil && strings.HasPrefix(d.Time.From, "now-") {
		if r, err := model.ParseDuration(strings.TrimPrefix(d.Time.From, "now-")); err == nil && r > 0 {
			rng = time.Duration(r)
		}
	}
	vars := map[string]varValue{}
	for k, v := range map[string]string{
		"__interval":      promDuration(interval),
		"__interval_ms":   strconv.FormatInt(interval.Milliseconds(), 10),
		"__rate_interval": promDuration(4 * interval),
		"__range":         promDuration(rng),
		"__range_s":       strconv.FormatInt(int64(rng/time.Second), 10),
		"__range_ms":      strconv.FormatInt(rng.Milliseconds(), 10),
	} {
		vars[k] = varValue{text: v}
	}
	if d.Templating != nil {
		for _, v := range d.Templating.List {
			if v.Name != "" {
				vars[v.Name] = v.value()
			}
		}
	}
	for k, v := range configured {
		vars[k] = varValue{text: v}
	}
	return vars
}

// allValue is Grafana's value of a variable set to All.
const allValue = "$__all"

func (v *variable) value() varValue {
	none := varValue{text: Wildcard, regex: true, why: "has no value in the dashboard"}
	switch v.Type {
	case "constant":
		if s := jsonString(v.Query); s != "" {
			return varValue{text: s}
		}
		return none
	case "interval":
		if s := jsonString(v.Current.Value); s != "" && !strings.HasPrefix(s, "$") {
			return varValue{text: s}
		}
		if opts := strings.Split(jsonString(v.Query), ","); strings.TrimSpace(opts[0]) != "" {
			return varValue{text: strings.TrimSpace(opts[0])}
		}
		return none
	case "custom", "textbox", "query":
	default:
		return none
	}
	vals := jsonStrings(v.Current.Value)
	if len(vals) == 0 {
		vals = jsonStrings(v.Current.Text)
		if len(vals) == 1 && vals[0] == "All" {
			vals = []string{allValue}
		}
	}
	if len(vals) == 0 && v.Type == "textbox" {
		if s := jsonString(v.Query); s != "" {
			vals = []string{s}
		}
	}
	switch {
	case slices.Contains(vals, allValue) || v.IncludeAll && len(vals) == 1 && vals[0] == "All":
		if v.AllValue != "" {
			return varValue{text: v.AllValue, regex: true, why: "is All"}
		}
		return varValue{text: Wildcard, regex: true, why: "is All"}
	case len(vals) == 1:
		return varValue{text: vals[0]}
	case len(vals) > 1:
		return varValue{values: vals, regex: true, why: fmt.Sprintf("has several values (%s)", strings.Join(vals, ", "))}
	}
	return none
}

// jsonString is a JSON string, or the first of a list of strings.
func jsonString(raw json.RawMessage) string {
	if l := jsonStrings(raw); len(l) > 0 {
		return l[0]
	}
	return ""
}

// jsonStrings is a JSON string (one value; none when empty) or list of strings (empty ones left out).
func jsonStrings(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := list[:0]
	for _, x := range list {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func promDuration(d time.Duration) string { return model.Duration(d).String() }

// resolveQuery substitutes known variables (unknown ones, like label_replace's $1, stay as Grafana leaves
// them), parses the query, and turns = / != matchers on a variable's regex (the wildcard of All or of a
// variable without a value, the regex of several values) into =~ / !~, which is what a dashboard means by
// them. A variable standing for a regex used outside a string (a metric name, a label name, a number, a
// duration) is an error: it must be given a value.
func resolveQuery(q string, vars map[string]varValue) (parser.Expr, string, error) {
	ctx := quoteContexts(q)
	regexes := map[string]bool{Wildcard: true}
	var misused []string
	var b strings.Builder
	last := 0
	for _, loc := range grafanaVar.FindAllStringSubmatchIndex(q, -1) {
		name := ""
		for _, g := range []int{1, 2, 4} {
			if loc[2*g] >= 0 {
				name = q[loc[2*g]:loc[2*g+1]]
				break
			}
		}
		v, ok := vars[name]
		if !ok {
			continue
		}
		b.WriteString(q[last:loc[0]])
		last = loc[1]
		quote := ctx[loc[0]]
		if v.regex {
			if quote == 0 {
				msg := fmt.Sprintf("variable $%s %s and is used outside a string (as a metric name, label name, "+
					"number or duration), where a regex cannot go: set it in dashboard_variables", name, v.why)
				if !slices.Contains(misused, msg) {
					misused = append(misused, msg)
				}
			}
			regexes[v.regexValue()] = true
		}
		text := v.text
		if len(v.values) > 0 {
			text = v.regexValue()
			if quote == '"' || quote == '\'' { // a regex escape is a backslash escaped in the string
				text = strings.ReplaceAll(text, `\`, `\\`)
			}
		}
		b.WriteString(text)
	}
	b.WriteString(q[last:])
	resolved := b.String()
	if len(misused) > 0 {
		return nil, "", fmt.Errorf("query %q: %s", q, strings.Join(misused, "; "))
	}
	expr, err := promqlParser.ParseExpr(resolved)
	if err != nil {
		err = fmt.Errorf("query %q (as resolved: %q): %w", q, resolved, err)
		if unknown := unknownVariables(resolved); len(unknown) > 0 {
			err = fmt.Errorf("%w (the dashboard does not define %s: set it in dashboard_variables)", err, strings.Join(unknown, ", "))
		}
		return nil, "", err
	}
	changed := false
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for i, m := range vs.LabelMatchers {
			if !regexes[m.Value] || m.Type != labels.MatchEqual && m.Type != labels.MatchNotEqual {
				continue
			}
			t := labels.MatchRegexp
			if m.Type == labels.MatchNotEqual {
				t = labels.MatchNotRegexp
			}
			nm, err := labels.NewMatcher(t, m.Name, m.Value)
			if err == nil {
				vs.LabelMatchers[i] = nm
				changed = true
			}
		}
		return nil
	})
	if changed {
		resolved = expr.String()
	}
	return expr, resolved, nil
}

// unknownVariables are the $names left outside strings and comments of a resolved query.
func unknownVariables(resolved string) []string {
	ctx := quoteContexts(resolved)
	var out []string
	for _, loc := range grafanaVar.FindAllStringIndex(resolved, -1) {
		if ctx[loc[0]] == 0 && !slices.Contains(out, resolved[loc[0]:loc[1]]) {
			out = append(out, resolved[loc[0]:loc[1]])
		}
	}
	return out
}

// quoteContexts gives, for every byte of a PromQL query, the quote of the string literal it is in (", ' or
// `), '#' in a comment, 0 elsewhere.
func quoteContexts(q string) []byte {
	ctx := make([]byte, len(q))
	var in byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case in == 0 && (c == '"' || c == '\'' || c == '`' || c == '#'):
			in = c
			ctx[i] = c
		case in == 0:
		case in == '#':
			ctx[i] = in
			if c == '\n' {
				in = 0
			}
		case c == '\\' && in != '`' && i+1 < len(q):
			ctx[i], ctx[i+1] = in, in
			i++
		case c == in:
			ctx[i] = in
			in = 0
		default:
			ctx[i] = in
		}
	}
	return ctx
}
