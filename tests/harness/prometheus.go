// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's `prometheus`) on loopback, scraping targets or taking
// remote writes.
type Prometheus struct {
	*Collector // process handling is the same
	addr       string
}

// PrometheusOptions configure StartPrometheusWith.
type PrometheusOptions struct {
	// Targets are the host:port endpoints scraped, all as job "otelcol-phoenix"; none is allowed.
	Targets []string
	// ScrapeInterval is the scrape and rule evaluation interval; 0 means 1s.
	ScrapeInterval time.Duration
	// RuleFiles are evaluated every ScrapeInterval.
	RuleFiles []string
	// RemoteWrite accepts remote writes at RemoteWriteURL (--web.enable-remote-write-receiver).
	RemoteWrite bool
	// OutOfOrderWindow accepts samples up to this much older than a series' newest
	// (storage.tsdb.out_of_order_time_window); 0 rejects them, Prometheus' default.
	OutOfOrderWindow time.Duration
	// Flags are extra command-line flags (e.g. --query.lookback-delta=2s).
	Flags []string
}

// StartPrometheus starts Prometheus scraping target (host:port) every second as job "otelcol-phoenix",
// evaluating ruleFiles every second. Without the binary the test is skipped, except in CI, where .ci/run
// installs it.
func StartPrometheus(t testing.TB, target string, ruleFiles ...string) *Prometheus {
	t.Helper()
	return StartPrometheusWith(t, PrometheusOptions{Targets: []string{target}, RuleFiles: ruleFiles})
}

// StartPrometheusWith starts Prometheus on a free loopback port with a temporary storage directory, scraping
// opts.Targets, and waits until it is ready. It is stopped at test cleanup.
func StartPrometheusWith(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := NeedTool(t, "prometheus", "prometheus")
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: %s
  evaluation_interval: %s
rule_files: [%s]
`, interval, interval, quoteAll(opts.RuleFiles))
	if len(opts.Targets) > 0 {
		cfg += fmt.Sprintf(`scrape_configs:
  - job_name: otelcol-phoenix
    static_configs:
      - targets: [%s]
`, quoteAll(opts.Targets))
	}
	if opts.OutOfOrderWindow > 0 {
		cfg += fmt.Sprintf("storage:\n  tsdb:\n    out_of_order_time_window: %s\n", opts.OutOfOrderWindow)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cmd := exec.Command(bin, append([]string{
		"--config.file=" + cfgPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}, opts.Flags...)...)
	if opts.RemoteWrite {
		cmd.Args = append(cmd.Args, "--web.enable-remote-write-receiver")
	}
	p := &Prometheus{Collector: StartCmd(t, cmd), addr: addr}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	if _, err := p.WaitHTTP("http://"+addr+"/-/ready", http.StatusOK, 30*time.Second); err != nil {
		t.Fatalf("prometheus not ready: %v\n%s", err, p.Logs())
	}
	return p
}

func quoteAll(paths []string) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	return strings.Join(quoted, ", ")
}

// URL is the server's base URL (http://127.0.0.1:port).
func (p *Prometheus) URL() string { return "http://" + p.addr }

// RemoteWriteURL is where it takes remote writes (with PrometheusOptions.RemoteWrite).
func (p *Prometheus) RemoteWriteURL() string { return p.URL() + "/api/v1/write" }

// WaitQuery polls an instant PromQL query until it returns at least one sample.
func (p *Prometheus) WaitQuery(timeout time.Duration, query string) error {
	return p.WaitFor(timeout, func() error {
		r, err := p.get("/api/v1/query", url.Values{"query": {query}})
		if err != nil {
			return err
		}
		if len(r.Result) == 0 {
			return fmt.Errorf("query %q: no samples yet", query)
		}
		return nil
	})
}

// Sample is one series of an instant query's result: its labels (with __name__ when the query keeps it) and
// its value. A scalar result is one Sample without labels.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Point is one value of a series at a time.
type Point struct {
	T time.Time
	V float64
}

// Series is one series of a range query's result, or of an instant query of a range vector (raw samples).
type Series struct {
	Labels map[string]string
	Points []Point
}

// Query evaluates an instant query at `at` and returns its samples (sorted by labels). It fails on a
// query error and on a result that is a range vector (use QueryMatrix).
func (p *Prometheus) Query(query string, at time.Time) ([]Sample, error) {
	r, err := p.get("/api/v1/query", url.Values{"query": {query}, "time": {promTime(at)}})
	if err != nil {
		return nil, err
	}
	switch r.ResultType {
	case "scalar":
		var v [2]json.RawMessage
		if err := json.Unmarshal(r.ResultRaw, &v); err != nil {
			return nil, fmt.Errorf("query %q: scalar: %w", query, err)
		}
		_, f, err := parsePoint(v)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", query, err)
		}
		return []Sample{{Labels: map[string]string{}, Value: f}}, nil
	case "vector":
		out := make([]Sample, 0, len(r.Result))
		for _, raw := range r.Result {
			var s struct {
				Metric map[string]string  `json:"metric"`
				Value  [2]json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("query %q: %w", query, err)
			}
			_, f, err := parsePoint(s.Value)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", query, err)
			}
			out = append(out, Sample{Labels: s.Metric, Value: f})
		}
		sort.Slice(out, func(i, j int) bool { return LabelsString(out[i].Labels) < LabelsString(out[j].Labels) })
		return out, nil
	default:
		return nil, fmt.Errorf("query %q: result type %q, want a vector or a scalar", query, r.ResultType)
	}
}

// QueryValue evaluates an instant query that yields at most one value (a scalar, or an aggregation without
// `by`) and returns it; ok is false when the result is empty (no data).
func (p *Prometheus) QueryValue(query string, at time.Time) (v float64, ok bool, err error) {
	samples, err := p.Query(query, at)
	if err != nil {
		return 0, false, err
	}
	switch len(samples) {
	case 0:
		return 0, false, nil
	case 1:
		return samples[0].Value, true, nil
	default:
		return 0, false, fmt.Errorf("query %q: %d series, want one", query, len(samples))
	}
}

// QueryMatrix evaluates an instant query whose result is a range vector (e.g. `metric[1m]`) at `at` and
// returns every series with its raw samples.
func (p *Prometheus) QueryMatrix(query string, at time.Time) ([]Series, error) {
	r, err := p.get("/api/v1/query", url.Values{"query": {query}, "time": {promTime(at)}})
	if err != nil {
		return nil, err
	}
	if r.ResultType != "matrix" {
		return nil, fmt.Errorf("query %q: result type %q, want a matrix", query, r.ResultType)
	}
	return parseMatrix(query, r.Result)
}

// QueryRange evaluates a range query from start to end every step and returns each series' values.
func (p *Prometheus) QueryRange(query string, start, end time.Time, step time.Duration) ([]Series, error) {
	r, err := p.get("/api/v1/query_range", url.Values{"query": {query}, "start": {promTime(start)},
		"end": {promTime(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}})
	if err != nil {
		return nil, err
	}
	if r.ResultType != "matrix" {
		return nil, fmt.Errorf("query %q: result type %q, want a matrix", query, r.ResultType)
	}
	return parseMatrix(query, r.Result)
}

// LabelValues returns the values of a label (e.g. __name__) on series matching selector between start and
// end.
func (p *Prometheus) LabelValues(label, selector string, start, end time.Time) ([]string, error) {
	body, err := p.fetch("/api/v1/label/"+url.PathEscape(label)+"/values",
		url.Values{"match[]": {selector}, "start": {promTime(start)}, "end": {promTime(end)}})
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Data   []string `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("label values %s: %w: %s", label, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("label values %s: %s", label, r.Error)
	}
	return r.Data, nil
}

// LabelsString renders labels as {a="1", b="2"}, sorted by name, for messages and as a map key.
func LabelsString(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

type apiResult struct {
	ResultType string
	Result     []json.RawMessage
	ResultRaw  json.RawMessage
}

func (p *Prometheus) get(path string, params url.Values) (apiResult, error) {
	body, err := p.fetch(path, params)
	if err != nil {
		return apiResult{}, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return apiResult{}, fmt.Errorf("query %q: %w: %s", params.Get("query"), err, body)
	}
	if r.Status != "success" {
		return apiResult{}, fmt.Errorf("query %q: %s", params.Get("query"), r.Error)
	}
	out := apiResult{ResultType: r.Data.ResultType, ResultRaw: r.Data.Result}
	if r.Data.ResultType != "scalar" && r.Data.ResultType != "string" {
		if err := json.Unmarshal(r.Data.Result, &out.Result); err != nil {
			return apiResult{}, fmt.Errorf("query %q: %w", params.Get("query"), err)
		}
	}
	return out, nil
}

func (p *Prometheus) fetch(path string, params url.Values) ([]byte, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(p.URL() + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity {
		return nil, fmt.Errorf("%s: status %d: %s", path, resp.StatusCode, body)
	}
	return body, nil
}

func parseMatrix(query string, raws []json.RawMessage) ([]Series, error) {
	out := make([]Series, 0, len(raws))
	for _, raw := range raws {
		var s struct {
			Metric map[string]string    `json:"metric"`
			Values [][2]json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("query %q: %w", query, err)
		}
		series := Series{Labels: s.Metric, Points: make([]Point, 0, len(s.Values))}
		for _, v := range s.Values {
			ts, f, err := parsePoint(v)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", query, err)
			}
			series.Points = append(series.Points, Point{T: ts, V: f})
		}
		out = append(out, series)
	}
	sort.Slice(out, func(i, j int) bool { return LabelsString(out[i].Labels) < LabelsString(out[j].Labels) })
	return out, nil
}

// parsePoint decodes Prometheus' [unix seconds, "value"] pair; values are strings so that NaN and ±Inf
// survive JSON.
func parsePoint(v [2]json.RawMessage) (time.Time, float64, error) {
	var secs float64
	if err := json.Unmarshal(v[0], &secs); err != nil {
		return time.Time{}, 0, fmt.Errorf("timestamp %s: %w", v[0], err)
	}
	var s string
	if err := json.Unmarshal(v[1], &s); err != nil {
		return time.Time{}, 0, fmt.Errorf("value %s: %w", v[1], err)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("value %q: %w", s, err)
	}
	// Prometheus' timestamps are whole milliseconds: round the float's error away (it is ~0.2 µs here).
	return time.UnixMilli(int64(math.Round(secs * 1e3))), f, nil
}

// promTime renders t for the HTTP API exactly: RFC 3339 with nanoseconds, which Prometheus parses without
// float rounding and truncates to the millisecond as its engine (and the PromQL library) do with any time.
// Float seconds with three decimals would round to the nearest millisecond instead, one off now and then.
func promTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
