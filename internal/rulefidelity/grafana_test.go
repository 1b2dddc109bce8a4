// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeDashboard writes a dashboard of the given variables and panels (id, title, gridPos, one target
// each) and returns its path.
func writeDashboard(t *testing.T, title string, vars []map[string]any, panels []map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"title": title, "templating": map[string]any{"list": vars}, "panels": panels})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "dashboard.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func exprPanel(id int, title, expr string) map[string]any {
	return map[string]any{"id": id, "title": title, "targets": []map[string]any{{"refId": "A", "expr": expr}}}
}

func dashboardExprs(t *testing.T, opts Options) map[string]string {
	t.Helper()
	rs := mustLoad(t, opts)
	got := map[string]string{}
	for _, r := range rs.Rules() {
		got[r.Name] = r.Expr
	}
	return got
}

// A variable's own current value is used when dashboard_variables gives none, before the wildcard.
func TestDashboardVariablesCurrentValues(t *testing.T) {
	t.Parallel()
	vars := []map[string]any{
		{"name": "exe", "type": "custom", "query": "nginx,postgres", "current": map[string]any{"value": "nginx", "text": "nginx"}},
		{"name": "multi", "type": "custom", "multi": true, "current": map[string]any{"value": []string{"nginx", "post.gres"}}},
		{"name": "all", "type": "query", "includeAll": true, "current": map[string]any{"value": []string{"$__all"}, "text": []string{"All"}}},
		{"name": "allText", "type": "query", "current": map[string]any{"text": "All"}},
		{"name": "allValue", "type": "custom", "includeAll": true, "allValue": ".+", "current": map[string]any{"value": "$__all"}},
		{"name": "textOnly", "type": "query", "current": map[string]any{"text": "node-2"}},
		{"name": "box", "type": "textbox", "query": "default-box", "current": map[string]any{"value": "typed"}},
		{"name": "boxDefault", "type": "textbox", "query": "default-box"},
		{"name": "konst", "type": "constant", "query": "node-3"},
		{"name": "iv", "type": "interval", "query": "1m,5m", "current": map[string]any{"value": "5m"}},
		{"name": "metric", "type": "query", "current": map[string]any{"value": "process_memory_usage_bytes"}},
		{"name": "by", "type": "custom", "current": map[string]any{"value": "process_executable_name"}},
		{"name": "unset", "type": "query"},
		{"name": "configured", "type": "query", "current": map[string]any{"value": "from-dashboard"}},
	}
	panels := []map[string]any{
		exprPanel(1, "single", `up{a="$exe", b=~"$exe"}`),
		exprPanel(2, "multi", "up{a=~\"$multi\", b=\"${multi}\", c!=\"[[multi]]\", d=~`$multi`}"),
		exprPanel(3, "all", `up{a="$all", b="$allText", c="$allValue", d!="$all"}`),
		exprPanel(4, "text", `up{a="$textOnly", b="$box", c="$boxDefault", d="$konst"}`),
		exprPanel(5, "positions", `sum by ($by) (max_over_time($metric[$iv]))`),
		exprPanel(6, "unset", `up{a="$unset", b="$configured"}`),
	}
	got := dashboardExprs(t, Options{
		Dashboards:         []string{writeDashboard(t, "D", vars, panels)},
		DashboardVariables: map[string]string{"configured": "from-config"},
	})
	assert.Equal(t, map[string]string{
		// Unchanged but for the values: as written.
		"D / single / A": `up{a="nginx", b=~"nginx"}`,
		// Several values: Grafana's regex of the escaped values, = / != turned into =~ / !~; a raw string
		// takes the regex escape as it is.
		"D / multi / A": `up{a=~"(nginx|post\\.gres)",b=~"(nginx|post\\.gres)",c!~"(nginx|post\\.gres)",d=~"(nginx|post\\.gres)"}`,
		// All: the variable's allValue, else .*.
		"D / all / A":       `up{a=~".*",b=~".*",c=~".+",d!~".*"}`,
		"D / text / A":      `up{a="node-2", b="typed", c="default-box", d="node-3"}`,
		"D / positions / A": `sum by (process_executable_name) (max_over_time(process_memory_usage_bytes[5m]))`,
		"D / unset / A":     `up{a=~".*",b="from-config"}`,
	}, got)
}

// A variable standing for a regex (no value, All, several values) where a regex cannot go is a load error
// naming it and saying how to give it a value.
func TestDashboardVariableWithoutUsableValue(t *testing.T) {
	t.Parallel()
	vars := []map[string]any{
		{"name": "metric", "type": "query"},
		{"name": "by", "type": "custom", "includeAll": true, "current": map[string]any{"value": "$__all"}},
		{"name": "k", "type": "custom", "multi": true, "current": map[string]any{"value": []string{"5", "10"}}},
		{"name": "ok", "type": "query"},
	}
	panels := []map[string]any{
		exprPanel(1, "metric", `sum($metric)`),
		exprPanel(2, "by", `sum by ($by) (up)`),
		exprPanel(3, "k", `topk($k, up)`),
		exprPanel(4, "unknown", `sum($nope)`),
		// In a string or a comment, a regex is fine.
		exprPanel(5, "fine", "up{job=~\"$ok\"} # by $metric"),
	}
	path := writeDashboard(t, "D", vars, panels)
	_, err := Load(Options{Dashboards: []string{path}})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`panel "metric", refId A: query "sum($metric)": variable $metric has no value in the dashboard and is used outside a string`,
		`panel "by", refId A: query "sum by ($by) (up)": variable $by is All and is used outside a string`,
		`panel "k", refId A: query "topk($k, up)": variable $k has several values (5, 10) and is used outside a string`,
		`panel "unknown", refId A: query "sum($nope)" (as resolved: "sum($nope)")`,
		`the dashboard does not define $nope: set it in dashboard_variables`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.Len(t, splitLines(msg), 4, msg)
	assert.Contains(t, msg, "set it in dashboard_variables")
	assert.NotContains(t, msg, `panel "fine"`)

	// Given a value, the same dashboard loads.
	got := dashboardExprs(t, Options{
		Dashboards:         []string{path},
		DashboardVariables: map[string]string{"metric": "up", "by": "job", "k": "3", "nope": "up"},
	})
	assert.Equal(t, `sum(up)`, got["D / metric / A"])
	assert.Equal(t, `sum by (job) (up)`, got["D / by / A"])
	assert.Equal(t, `topk(3, up)`, got["D / k / A"])
	assert.Equal(t, `up{job=~".*"} # by up`, got["D / fine / A"])
}

// Panels sharing a title are told apart by their id, else their place, not by their order: moving or
// removing a panel does not rename the others.
func TestDashboardDuplicateNamesAreStable(t *testing.T) {
	t.Parallel()
	at := func(p map[string]any, x, y int) map[string]any {
		p["gridPos"] = map[string]any{"x": x, "y": y, "w": 12, "h": 8}
		return p
	}
	panels := []map[string]any{
		at(exprPanel(3, "CPU", `sum(up)`), 0, 0),
		at(exprPanel(7, "CPU", `max(up)`), 12, 0),
		// Same id (a copied panel): its place.
		at(exprPanel(9, "Memory", `sum(process_memory_usage_bytes)`), 0, 8),
		at(exprPanel(9, "Memory", `max(process_memory_usage_bytes)`), 12, 8),
		exprPanel(11, "Unique", `count(up)`),
	}
	want := map[string]string{
		"D / CPU (panel 3) / A":    `sum(up)`,
		"D / CPU (panel 7) / A":    `max(up)`,
		"D / Memory (at 0,8) / A":  `sum(process_memory_usage_bytes)`,
		"D / Memory (at 12,8) / A": `max(process_memory_usage_bytes)`,
		"D / Unique / A":           `count(up)`,
	}
	assert.Equal(t, want, dashboardExprs(t, Options{Dashboards: []string{writeDashboard(t, "D", nil, panels)}}))
	reversed := make([]map[string]any, len(panels))
	for i, p := range panels {
		reversed[len(panels)-1-i] = p
	}
	assert.Equal(t, want, dashboardExprs(t, Options{Dashboards: []string{writeDashboard(t, "D", nil, reversed)}}),
		"the same names whatever the panels' order")

	// Neither id nor place tells them apart: Load's qualification (file, then #n).
	same := []map[string]any{exprPanel(0, "X", `sum(up)`), exprPanel(0, "X", `max(up)`)}
	got := dashboardExprs(t, Options{Dashboards: []string{writeDashboard(t, "D", nil, same)}})
	assert.Len(t, got, 2)
	assert.Equal(t, `sum(up)`, got["D / X / A (dashboard.json) #1"], "%v", got)
}

func TestQuoteContexts(t *testing.T) {
	t.Parallel()
	q := "a{b=\"x\\\"$v\", c='$w', d=`\\$u`} # \"$z\n$y"
	ctx := quoteContexts(q)
	in := func(sub string) byte {
		i := indexOf(q, sub)
		require.GreaterOrEqual(t, i, 0, sub)
		return ctx[i]
	}
	assert.Equal(t, byte('"'), in("$v"))
	assert.Equal(t, byte('\''), in("$w"))
	assert.Equal(t, byte('`'), in("$u"))
	assert.Equal(t, byte('#'), in("$z"))
	assert.Equal(t, byte(0), in("$y"))
	assert.Equal(t, byte(0), in("a{"))
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
