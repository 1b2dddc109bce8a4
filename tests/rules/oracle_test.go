// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// The oracle: every rule's verdict computed from a real Prometheus' answers, with the backend's semantics
// written out here (not the experiment's code):
//   - a query's result is the server's instant query of the rule's expression at the evaluation time, every
//     selector narrowed to the variant (phoenix_variant="v"), the phoenix_variant label then dropped —
//     except where 2.42's engine is known to compute otherwise than Prometheus 3 on the same samples
//     (affected): there Prometheus 3's engine answers, on the server's samples read through its
//     remote-read API;
//   - series are matched by their label set; broken: a series on one side only (the baseline has results
//     the variant lacks, or the label sets differ), an error on one side or different errors, for
//     alerts another set of firing or pending alerts; changed: the same series, a value beyond the
//     tolerance, relative |a−b| / max(|a|,|b|) (both within 1e-9 of zero, both NaN: equal); same otherwise;
//   - an alert is a result series without __name__, with the rule's labels and alertname; it is pending
//     from the first evaluation at which it is active, firing once it has been active at every evaluation
//     for at least the rule's for: (at once without for:), and gone at the first evaluation without it —
//     Prometheus' rule manager's own state machine, followed through the experiment's evaluation times.

// tiny is where two values are both zero, whatever their ratio.
const tiny = 1e-9

// lagBound: a server evaluation is taken as having every point of the last collection when it comes at
// least this long after that collection (remote write: batch timeout 200 ms, then one request). With
// 3 s collections and a 10 s evaluation interval the server's evaluations take three phases 1 s apart,
// so one in three comes at least 2 s after a collection.
const lagBound = 2 * time.Second

type oracle struct {
	t         *testing.T
	prom      *harness.Prometheus
	rules     *ruleSet
	variants  []string
	tolerance float64
	evals     []evaluation
	// serverFrom: the server's own evaluations are compared from then on (the collector's start and
	// warm-up: its first remote writes take longer than lagBound).
	serverFrom time.Time

	engine *promql.Engine // Prometheus 3's, over remote
	remote *remoteRead

	cache    map[string]outcome
	affects  map[string]string // affected's answers
	checked  int               // server answers also computed by Prometheus 3 on remote read: equal
	rows     []row
	failures []string
	// via: per rule and variant, the evaluations Prometheus 3 answered for the server and the first reason;
	// alone242: the cells whose verdict the 2.42 server's own answer would have got wrong.
	via      map[string]*viaNote
	alone242 []string
	server   []string // the server's own rule evaluations compared with the oracle
}

// source says who answers a query: the oracle (the server, or Prometheus 3 on its samples where 2.42
// differs), or the 2.42 server alone (to compare with its own rule evaluations).
type source int

const (
	oracleAnswer source = iota
	serverAnswer
)

// outcome is one rule's result on one variant at one time.
type outcome struct {
	series          map[string]float64           // label set (labels.Labels.String()) → value
	labels          map[string]map[string]string // label set → its labels
	err             string
	firing, pending []string // alert label sets, sorted
	via             string   // why Prometheus 3 answered ("": the server)
}

type viaNote struct {
	at  map[time.Time]bool
	why string
}

// row is one rule on one variant over the compared evaluations.
type row struct {
	rule, variant, kind string
	exp, srv            []string // verdicts per compared evaluation (server's: * = Prometheus 3 on its samples)
	expSeries, srvSer   string   // last evaluation: series/baseline series
	expRel, srvRel      float64  // last evaluation's max relative difference
	expReason           string
	expFiring, expPend  int
}

func newOutcome() outcome {
	return outcome{series: map[string]float64{}, labels: map[string]map[string]string{}}
}

func (out *outcome) add(o *oracle, where string, ls map[string]string, v float64) {
	delete(ls, variantLabel)
	key := labels.FromMap(ls).String()
	if _, dup := out.series[key]; dup {
		o.failf("%s: %s twice once %s is dropped", where, key, variantLabel)
	}
	out.series[key], out.labels[key] = v, ls
}

// query answers expr narrowed to variant at `at`.
func (o *oracle) query(r *rule, variant string, at time.Time, src source) outcome {
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%d", r.Name, variant, at.Format(time.RFC3339Nano), src)
	if out, ok := o.cache[key]; ok {
		return out
	}
	if o.cache == nil {
		o.cache = map[string]outcome{}
	}
	q := forVariant(r.expr, variant)
	where := fmt.Sprintf("%s on %s at %s", r.Name, variant, stamp(at))
	why := ""
	if src == oracleAnswer {
		why = o.affected(r, variant, at)
	}
	server := newOutcome()
	if why == "" {
		samples, err := o.prom.Query(q, at)
		if err != nil {
			server.err = err.Error()
		}
		for _, s := range samples {
			server.add(o, where, s.Labels, s.Value)
		}
	}
	three := newOutcome()
	if src == oracleAnswer {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ls, vs, err := query3(ctx, o.engine, o.remote, q, at)
		cancel()
		if err != nil {
			three.err = err.Error()
		}
		for i := range ls {
			three.add(o, where, ls[i], vs[i])
		}
		three.via = why
	}
	out := server
	switch {
	case why != "":
		out = three
	case src == oracleAnswer:
		// Not affected: both engines must give the same answer (Prometheus 3 sums with Kahan's method,
		// 2.42 without: the last bits may differ).
		o.checked++
		if (server.err == "") != (three.err == "") {
			o.failf("oracle: %s: the server answers %q, Prometheus 3 on its samples %q", where, server.err, three.err)
		}
		if server.err == "" && three.err == "" {
			o.sameSeries("oracle: "+where+" (server vs Prometheus 3 on its samples)", server, three, 1e-12)
		}
	}
	o.cache[key] = out
	return out
}

// affected says why the 2.42 server's answer for r on a variant at `at` may differ from what Prometheus 3
// computes on the same samples, or "" when it cannot:
//   - a range selector has a sample exactly at its range's start: 3.x selects (t−r, t], 2.42 [t−r, t];
//   - rate() or increase() of a counter that starts within the range (its first sample more than 1.1
//     average intervals after the range's start) and whose zero point, extrapolated back from its first
//     sample, lies between ½ and 1.1 average intervals before it: 2.42 limits the extrapolation to the
//     zero point before deciding whether the series starts within the range, and so extrapolates to the
//     zero point; 3.x (and 2.51 on, prometheus/prometheus#13725) decides first and extrapolates half an
//     interval. A process that starts during the range from (nearly) zero is such a counter: the
//     realistic profile's short jobs (curl health checks, cron) start every few collections.
//
// An instant selector's lookback (5m) also differs at its boundary; the run is shorter than that.
func (o *oracle) affected(r *rule, variant string, at time.Time) string {
	key := r.Name + "\x00" + variant + "\x00" + at.Format(time.RFC3339Nano)
	if why, ok := o.affects[key]; ok {
		return why
	}
	why := ""
	for _, sel := range rangeSelectors(r.expr, variant) {
		start := at.Truncate(time.Millisecond).Add(-sel.start) // the engine's time is whole ms
		series, err := o.prom.QueryMatrix(sel.expr, at)
		if err != nil {
			o.failf("%s: %v", sel.expr, err)
			continue
		}
		for _, s := range series {
			if len(s.Points) > 0 && s.Points[0].T.Equal(start) {
				why = fmt.Sprintf("a sample of %s lies at its range's start", sel.expr)
				break
			}
			if sel.counterRate && zeroPointDiffers(s.Points, start) {
				why = fmt.Sprintf("rate extrapolation of %s (prometheus#13725): %s starts in the range near zero",
					sel.expr, shortLabels(s.Labels))
				break
			}
		}
		if why != "" {
			break
		}
	}
	if o.affects == nil {
		o.affects = map[string]string{}
	}
	o.affects[key] = why
	return why
}

// zeroPointDiffers: 2.42's and 3.x's extrapolatedRate take another start for this counter (see
// affected); points are the range's samples, start the range's start.
func zeroPointDiffers(points []harness.Point, start time.Time) bool {
	if len(points) < 2 {
		return false
	}
	first, last := points[0], points[len(points)-1]
	result := last.V - first.V
	for i := 1; i < len(points); i++ {
		if points[i].V < points[i-1].V {
			result += points[i-1].V // a reset
		}
	}
	sampled := last.T.Sub(first.T).Seconds()
	avg := sampled / float64(len(points)-1)
	threshold := 1.1 * avg
	toStart := first.T.Sub(start).Seconds()
	if !(result > 0 && first.V >= 0) || toStart < threshold {
		return false
	}
	toZero := sampled * first.V / result
	return toZero > avg/2 && toZero < threshold
}

// shortLabels names a process series by its host, executable and pid (or whatever it has of them).
func shortLabels(ls map[string]string) string {
	m := map[string]string{}
	for _, k := range []string{"host_name", "process_executable_name", "process_pid", "state", "direction"} {
		if v, ok := ls[k]; ok {
			m[k] = v
		}
	}
	return harness.LabelsString(m)
}

// alerts are the alert label sets of an alerting rule's result.
func (o *oracle) alerts(r *rule, res outcome) []string {
	var out []string
	for _, m := range res.labels {
		b := labels.NewBuilder(labels.FromMap(m))
		b.Del(labels.MetricName)
		for k, v := range r.Labels {
			b.Set(k, v)
		}
		b.Set(labels.AlertName, r.Name)
		out = append(out, b.Labels().String())
	}
	sort.Strings(out)
	return out
}

// alertStates follows an alerting rule on a variant through evaluation times (in order) and returns the
// firing and pending alerts after each.
func (o *oracle) alertStates(r *rule, variant string, times []time.Time, src source) (firing, pending [][]string) {
	activeAt := map[string]time.Time{}
	for _, at := range times {
		active := o.alerts(r, o.query(r, variant, at, src))
		for k := range activeAt {
			if !slices.Contains(active, k) {
				delete(activeAt, k) // resolved: inactive, no longer pending or firing
			}
		}
		var f, p []string
		for _, k := range active {
			if _, ok := activeAt[k]; !ok {
				activeAt[k] = at
			}
			if at.Sub(activeAt[k]) >= r.For {
				f = append(f, k)
			} else {
				p = append(p, k)
			}
		}
		firing, pending = append(firing, f), append(pending, p)
	}
	return firing, pending
}

// verdict compares a variant's outcome with the baseline's, by the rules above.
func verdict(kind string, base, vari outcome, tolerance float64) (string, float64) {
	if base.err != "" || vari.err != "" {
		if base.err == vari.err {
			return "same", 0
		}
		return "broken", 0
	}
	broken := false
	maxRel := 0.0
	for ls, b := range base.series {
		v, ok := vari.series[ls]
		if !ok {
			broken = true
			continue
		}
		maxRel = math.Max(maxRel, relDiff(b, v))
	}
	for ls := range vari.series {
		if _, ok := base.series[ls]; !ok {
			broken = true
		}
	}
	if kind == "alert" {
		broken = broken || !slices.Equal(base.firing, vari.firing) || !slices.Equal(base.pending, vari.pending)
	}
	switch {
	case broken:
		return "broken", maxRel
	case maxRel > tolerance:
		return "changed", maxRel
	}
	return "same", maxRel
}

func relDiff(a, b float64) float64 {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an || bn:
		return 2
	case a == b:
		return 0
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return 2
	case math.Abs(a) < tiny && math.Abs(b) < tiny:
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

// checkRuleList: the experiment evaluates exactly the rules the test read, with the same expressions.
func (o *oracle) checkRuleList() {
	got := o.evals[len(o.evals)-1].Stats[baseline].Rules
	byName := map[string]ruleResult{}
	for _, r := range got {
		byName[r.Name] = r
	}
	for _, r := range o.rules.rules {
		x, ok := byName[r.Name]
		if !ok {
			o.failf("rule %s (%s) not in the experiment's list", r.Name, r.Kind)
			continue
		}
		delete(byName, r.Name)
		if x.Kind != r.Kind {
			o.failf("rule %s: kind %s, the test reads %s", r.Name, x.Kind, r.Kind)
		}
		e, err := promParser.ParseExpr(x.Expr)
		if err != nil || e.String() != r.expr.String() {
			o.failf("rule %s: the experiment evaluates %q, the test %q (%v)", r.Name, x.Expr, r.Expr, err)
		}
	}
	for n := range byName {
		o.failf("the experiment has a rule %s the test did not read", n)
	}
}

// compareEvaluation compares every rule on every variant at one experiment evaluation.
func (o *oracle) compareEvaluation(e *evaluation) {
	var times []time.Time // the experiment's evaluation times up to this one: for the alerts' for: state
	for _, x := range o.evals {
		if !x.At.After(e.At) {
			times = append(times, x.At)
		}
	}
	for i := range o.rules.rules {
		r := &o.rules.rules[i]
		outs := map[string]outcome{}
		for _, v := range o.variants {
			out := o.query(r, v, e.At, oracleAnswer)
			if r.Kind == "alert" {
				f, p := o.alertStates(r, v, times, oracleAnswer)
				out.firing, out.pending = f[len(f)-1], p[len(p)-1]
			}
			outs[v] = out
		}
		for _, v := range o.variants {
			got := findRule(e.Stats[v].Rules, r.Name)
			rw := o.row(r.Name, v)
			rw.kind = r.Kind
			if got == nil {
				o.failf("%s: %s: rule %s missing from the API", stamp(e.At), v, r.Name)
				continue
			}
			want, rel := verdict(r.Kind, outs[baseline], outs[v], o.tolerance)
			mark := ""
			for _, x := range []string{baseline, v} {
				if why := outs[x].via; why != "" {
					mark = "*"
					if o.via == nil {
						o.via = map[string]*viaNote{}
					}
					k := r.Name + " on " + x
					if o.via[k] == nil {
						o.via[k] = &viaNote{why: why, at: map[time.Time]bool{}}
					}
					o.via[k].at[e.At] = true
				}
			}
			if mark != "" { // what the server's own answer would have said: the difference's weight
				b2, v2 := o.query(r, baseline, e.At, serverAnswer), o.query(r, v, e.At, serverAnswer)
				if r.Kind == "alert" { // at this instant only: active alerts as firing, for: aside
					b2.firing, v2.firing = o.alerts(r, b2), o.alerts(r, v2)
				}
				if alone, rel2 := verdict(r.Kind, b2, v2, o.tolerance); alone != want {
					o.alone242 = append(o.alone242, fmt.Sprintf("%s: %s on %s: %s by 2.42's own answers (max rel diff %.4g), "+
						"%s by Prometheus 3's on the same samples", stamp(e.At), r.Name, v, alone, rel2, want))
				}
			}
			rw.exp, rw.srv = append(rw.exp, got.Verdict), append(rw.srv, want+mark)
			rw.expSeries = fmt.Sprintf("%d/%d", got.Series, got.BaselineSeries)
			rw.srvSer = fmt.Sprintf("%d/%d", len(outs[v].series), len(outs[baseline].series))
			rw.expRel, rw.srvRel, rw.expReason = got.MaxRelDiff, rel, got.Reason
			rw.expFiring, rw.expPend = len(got.Firing), len(got.Pending)
			at := stamp(e.At) + ": " + r.Name + " on " + v
			if got.Verdict != want {
				o.failf("%s: experiment %s, server %s (max rel diff %.4g vs %.4g; experiment's reason: %s)",
					at, got.Verdict, want, got.MaxRelDiff, rel, got.Reason)
			}
			if got.Series != len(outs[v].series) || got.BaselineSeries != len(outs[baseline].series) {
				o.failf("%s: experiment %s series (variant/baseline), server %s", at, rw.expSeries, rw.srvSer)
			}
			if math.Abs(got.MaxRelDiff-rel) > 1e-9 {
				o.failf("%s: max relative difference %.6g, server %.6g", at, got.MaxRelDiff, rel)
			}
			if r.Kind == "alert" {
				if f := sorted(got.Firing); !slices.Equal(f, outs[v].firing) {
					o.failf("%s: firing %v, server %v", at, f, outs[v].firing)
				}
				if p := sorted(got.Pending); !slices.Equal(p, outs[v].pending) {
					o.failf("%s: pending %v, server %v", at, p, outs[v].pending)
				}
			}
		}
	}
}

// serverRules compares the server's own evaluation of the per-variant rule files with the oracle's model
// of rule evaluation at the server's evaluation times (the marker rule's samples): recording rules'
// recorded series with the expression queried at that time, ALERTS (firing, pending) with the alert
// states the oracle follows through the server's evaluation times. It proves the oracle's model on a real
// rule manager. An evaluation is compared only when it is determinate: the server may have evaluated
// before the last collection's remote write arrived (see determinate); an alert with for: only when
// every evaluation its state at that time depends on is.
func (o *oracle) serverRules() {
	now := time.Now()
	from := o.serverFrom
	for _, v := range o.variants {
		for _, g := range o.rules.groups {
			marker := fmt.Sprintf(`%s{%s=%q, rule_group=%q}[10m]`, markerRecord, variantLabel, v, g.Name)
			series, err := o.prom.QueryMatrix(marker, now)
			if err != nil || len(series) != 1 {
				o.failf("server: group %s/%s: evaluation times: %v (%d series)", g.Name, v, err, len(series))
				continue
			}
			var times []time.Time
			safe := map[time.Time]bool{}
			last := map[time.Time]time.Time{} // the newest collection before each evaluation
			for _, p := range series[0].Points {
				times = append(times, p.T)
				newest, ok, err := o.prom.QueryValue(fmt.Sprintf(`max(timestamp(process_memory_usage_bytes{%s=%q}))`, variantLabel, v), p.T)
				if err == nil && ok {
					last[p.T] = time.UnixMilli(int64(math.Round(newest * 1e3)))
					safe[p.T] = p.T.Sub(last[p.T]) >= lagBound
				}
			}
			// determinate: the server's evaluation at h saw what the oracle sees, whether or not the last
			// collection had arrived: it came lagBound after it, or the rule reads no range and its result
			// (recording rules: series and values; alerts: the alerts) is the same with and without that
			// collection (without it, the previous one's samples are the newest, as at the collection's
			// time less 1 ms).
			determinate := func(r *rule, h time.Time) bool {
				if safe[h] {
					return true
				}
				if len(rangeSelectors(r.expr, v)) > 0 || last[h].IsZero() {
					return false
				}
				with, without := o.query(r, v, h, serverAnswer), o.query(r, v, last[h].Add(-time.Millisecond), serverAnswer)
				if r.Kind == "record" { // the recorded values
					return with.err == "" && without.err == "" && maps.Equal(with.series, without.series)
				}
				return slices.Equal(o.alerts(r, with), o.alerts(r, without))
			}
			compared, skipped := 0, 0
			for ti, ts := range times {
				if ts.Before(from) || !ts.Before(o.evals[len(o.evals)-1].At) {
					continue
				}
				for _, i := range g.Rules {
					r := &o.rules.rules[i]
					if !determinate(r, ts) {
						skipped++
						continue
					}
					if r.Kind == "record" {
						got := o.serverSeries(fmt.Sprintf(`%s{%s=%q}`, r.Name, variantLabel, v), ts, []string{labels.MetricName})
						want := o.query(r, v, ts, serverAnswer)
						o.sameSeries(fmt.Sprintf("server %s on %s at %s", r.Name, v, stamp(ts)), got, want, 0)
						compared++
						continue
					}
					hist := times[:ti+1]
					if r.For > 0 {
						// Pending or firing at ts depends on the evaluations since ts − for − one interval.
						ok := true
						for _, h := range hist {
							if !h.Before(ts.Add(-r.For - window)) {
								ok = ok && determinate(r, h)
							}
						}
						if !ok {
							skipped++
							continue
						}
					}
					f, p := o.alertStates(r, v, hist, serverAnswer)
					firing := o.serverAlerts(r, v, ts, "firing")
					pending := o.serverAlerts(r, v, ts, "pending")
					where := fmt.Sprintf("server %s on %s at %s", r.Name, v, stamp(ts))
					if !slices.Equal(firing, f[len(f)-1]) {
						o.failf("%s: firing %v, oracle %v", where, firing, f[len(f)-1])
					}
					if !slices.Equal(pending, p[len(p)-1]) {
						o.failf("%s: pending %v, oracle %v", where, pending, p[len(p)-1])
					}
					compared++
				}
			}
			o.server = append(o.server, fmt.Sprintf("server: group %s on %s: %d rule evaluations equal to the oracle's, %d not "+
				"compared (within %s of a collection, which may not have arrived)", g.Name, v, compared, skipped, lagBound))
			// One in three of the server's evaluations comes lagBound after a collection: a group without
			// for: always has some. An alert with for: needs its whole for: span determinate, which a
			// per-process alert on top20 (processes moving in and out of the top K) may never have in a run.
			withoutFor := true
			for _, i := range g.Rules {
				withoutFor = withoutFor && o.rules.rules[i].For == 0
			}
			if compared == 0 && withoutFor {
				o.failf("server: group %s on %s: no evaluation compared", g.Name, v)
			}
		}
	}
}

// serverSeries queries a selector as it is (no rewriting), dropping phoenix_variant and `drop`.
func (o *oracle) serverSeries(q string, at time.Time, drop []string) outcome {
	out := outcome{series: map[string]float64{}}
	samples, err := o.prom.Query(q, at)
	if err != nil {
		out.err = err.Error()
	}
	for _, s := range samples {
		delete(s.Labels, variantLabel)
		for _, d := range drop {
			delete(s.Labels, d)
		}
		out.series[labels.FromMap(s.Labels).String()] = s.Value
	}
	return out
}

// serverAlerts are the server's ALERTS of a rule on a variant in one state at `at`.
func (o *oracle) serverAlerts(r *rule, v string, at time.Time, state string) []string {
	res := o.serverSeries(fmt.Sprintf(`ALERTS{alertname=%q, alertstate=%q, %s=%q}`, r.Name, state, variantLabel, v),
		at, []string{labels.MetricName, "alertstate"})
	return sortedKeys(res.series)
}

// sameSeries requires the same series with values within maxRel.
func (o *oracle) sameSeries(where string, got, want outcome, maxRel float64) {
	if got.err != "" || want.err != "" {
		if got.err != want.err {
			o.failf("%s: errors %q / %q", where, got.err, want.err)
		}
		return
	}
	for ls, w := range want.series {
		g, ok := got.series[ls]
		switch {
		case !ok:
			o.failf("%s: %s missing", where, ls)
		case relDiff(g, w) > maxRel:
			o.failf("%s: %s: %v, expected %v", where, ls, g, w)
		}
	}
	for ls := range got.series {
		if _, ok := want.series[ls]; !ok {
			o.failf("%s: %s unexpected", where, ls)
		}
	}
}

func (o *oracle) row(rule, variant string) *row {
	for i := range o.rows {
		if o.rows[i].rule == rule && o.rows[i].variant == variant {
			return &o.rows[i]
		}
	}
	o.rows = append(o.rows, row{rule: rule, variant: variant})
	return &o.rows[len(o.rows)-1]
}

func (o *oracle) failf(format string, args ...any) {
	o.failures = append(o.failures, fmt.Sprintf(format, args...))
}

// report prints the verdict table (rule × variant: the experiment's verdicts at each compared evaluation
// and the server's) and fails with every disagreement.
func (o *oracle) report() {
	var b strings.Builder
	var at []string
	for _, e := range o.evals {
		if e.compare {
			at = append(at, stamp(e.At))
		}
	}
	fmt.Fprintf(&b, "rule verdicts at %s (experiment | server; series variant/baseline; max relative difference), tolerance %g\n",
		strings.Join(at, ", "), o.tolerance)
	fmt.Fprintf(&b, "%-40s %-14s %-31s %-35s %-13s %-19s %-7s %s\n", "rule", "variant", "experiment", "server",
		"series e|s", "max rel e|s", "fir/pen", "experiment's reason (last)")
	for _, r := range o.rows {
		fp := ""
		if r.kind == "alert" {
			fp = fmt.Sprintf("%d/%d", r.expFiring, r.expPend)
		}
		fmt.Fprintf(&b, "%-40s %-14s %-31s %-35s %-13s %-19s %-7s %s\n", clip(r.rule, 40), r.variant,
			strings.Join(r.exp, " "), strings.Join(r.srv, " "), r.expSeries+"|"+r.srvSer,
			fmt.Sprintf("%.3g|%.3g", r.expRel, r.srvRel), fp, clip(r.expReason, 110))
	}
	fmt.Fprintf(&b, "(series: variant/baseline; fir/pen: the variant's firing/pending alerts, equal to the server's; "+
		"server * : Prometheus 3 on the server's samples)\n")
	for _, s := range o.server {
		fmt.Fprintf(&b, "%s\n", s)
	}
	fmt.Fprintf(&b, "oracle: %d answers of the server checked equal to Prometheus 3's on the server's samples\n", o.checked)
	for _, k := range sortedKeys(o.via) {
		fmt.Fprintf(&b, "*: %s: Prometheus 3 on the server's samples at %d evaluations, e.g. %s\n", k, len(o.via[k].at), o.via[k].why)
	}
	for _, n := range o.alone242 {
		fmt.Fprintf(&b, "2.42 alone: %s\n", n)
	}
	o.t.Log("\n" + b.String())
	for _, f := range o.failures {
		o.t.Error(f)
	}
}

func findRule(rs []ruleResult, name string) *ruleResult {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }
