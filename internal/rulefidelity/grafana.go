// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"encoding/json"
	"fmt"
	"regexp"
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
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Query   json.RawMessage `json:"query"`
	Current struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
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
	var errs []error
	var walk func(path string, ps []panel)
	walk = func(path string, ps []panel) {
		for _, p := range ps {
			title := p.Title
			if title == "" {
				title = fmt.Sprintf("panel %d", p.ID)
			}
			if len(p.Panels) > 0 {
				walk(path, p.Panels)
			}
			for i, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" || !isPrometheus(t.Datasource, p.Datasource) {
					continue
				}
				ref := t.RefID
				if ref == "" {
					ref = string(rune('A' + i%26))
				}
				name := fmt.Sprintf("%s / %s / %s", d.Title, title, ref)
				expr, resolved, err := resolveQuery(t.Expr, vars)
				if err != nil {
					errs = append(errs, fmt.Errorf("dashboard %s: panel %q, refId %s: %w", file, title, ref, err))
					continue
				}
				rs.add(Rule{Name: name, Source: file, Kind: KindDashboard, Expr: resolved, expr: expr, group: -1})
			}
		}
	}
	walk(d.Title, d.Panels)
	for _, r := range d.Rows {
		walk(d.Title, r.Panels)
	}
	return errs
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

// variables resolves the dashboard's variables: configured values first; constants their query, interval
// variables their current value (a range must stay a duration), anything else the wildcard. Built-ins:
// $__interval the evaluation interval, $__rate_interval four times it (Grafana's max($__interval + scrape
// interval, 4 × scrape interval) with the scrape interval taken as $__interval), $__range the dashboard's
// "now-X" range (else 1h), each overridable by configuring the name without $.
func (d *dashboard) variables(configured map[string]string, interval time.Duration) map[string]string {
	rng := defaultRange
	if d.Time != nil && strings.HasPrefix(d.Time.From, "now-") {
		if r, err := model.ParseDuration(strings.TrimPrefix(d.Time.From, "now-")); err == nil && r > 0 {
			rng = time.Duration(r)
		}
	}
	vars := map[string]string{
		"__interval":      promDuration(interval),
		"__interval_ms":   strconv.FormatInt(interval.Milliseconds(), 10),
		"__rate_interval": promDuration(4 * interval),
		"__range":         promDuration(rng),
		"__range_s":       strconv.FormatInt(int64(rng/time.Second), 10),
		"__range_ms":      strconv.FormatInt(rng.Milliseconds(), 10),
	}
	if d.Templating != nil {
		for _, v := range d.Templating.List {
			if v.Name == "" {
				continue
			}
			val := Wildcard
			switch v.Type {
			case "constant":
				if s := jsonString(v.Query); s != "" {
					val = s
				}
			case "interval":
				if s := jsonString(v.Current.Value); s != "" && !strings.HasPrefix(s, "$") {
					val = s
				} else if opts := strings.Split(jsonString(v.Query), ","); opts[0] != "" {
					val = strings.TrimSpace(opts[0])
				}
			}
			vars[v.Name] = val
		}
	}
	for k, v := range configured {
		vars[k] = v
	}
	return vars
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

func promDuration(d time.Duration) string { return model.Duration(d).String() }

// resolveQuery substitutes known variables (unknown ones, like label_replace's $1, stay as Grafana leaves
// them), parses the query, and turns = / != matchers on the wildcard into =~ / !~, which is what a
// dashboard whose variable is set to All with allValue .* means.
func resolveQuery(q string, vars map[string]string) (parser.Expr, string, error) {
	resolved := grafanaVar.ReplaceAllStringFunc(q, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		for _, name := range []string{sub[1], sub[2], sub[4]} {
			if name == "" {
				continue
			}
			if v, ok := vars[name]; ok {
				return v
			}
		}
		return m
	})
	expr, err := promqlParser.ParseExpr(resolved)
	if err != nil {
		return nil, "", fmt.Errorf("query %q (as resolved: %q): %w", q, resolved, err)
	}
	changed := false
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for i, m := range vs.LabelMatchers {
			if m.Value != Wildcard || m.Type != labels.MatchEqual && m.Type != labels.MatchNotEqual {
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
