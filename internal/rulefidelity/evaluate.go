// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Defaults of EvaluatorOptions.
const (
	DefaultTolerance  = 0.01
	DefaultTimeout    = 10 * time.Second
	DefaultMaxSamples = 5_000_000
)

// EvaluatorOptions configure an Evaluator.
type EvaluatorOptions struct {
	// Tolerance is the relative difference within which two values are the same (default 0.01).
	Tolerance float64
	// Timeout and MaxSamples bound every query, as a Prometheus server's --query.timeout and
	// --query.max-samples (defaults 10s and 5,000,000).
	Timeout    time.Duration
	MaxSamples int
}

// Result is one variant's rule fidelity. Err is set (wrapping ErrStoreFull) when its rules were not
// evaluated; Stats.Fidelity is nil then.
type Result struct {
	Stats control.RuleStats
	Err   error
}

// Evaluator evaluates a RuleSet on the baseline's and the variants' stores and compares them. It keeps
// every store's rule-group state (pending alerts and their for: timers, recorded series' staleness)
// across calls, as Prometheus' rule manager does across evaluation cycles. Not meant for concurrent
// Evaluate calls (they are serialised).
type Evaluator struct {
	rs      *RuleSet
	opts    EvaluatorOptions
	engine  *promql.Engine
	metrics *rules.Metrics

	mu     sync.Mutex
	states map[string]*storeState
}

// baselineKey keys the baseline's state; variant names cannot start with a NUL.
const baselineKey = "\x00baseline"

// NewEvaluator returns an evaluator of rs.
func NewEvaluator(rs *RuleSet, opts EvaluatorOptions) *Evaluator {
	if opts.Tolerance <= 0 {
		opts.Tolerance = DefaultTolerance
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	interval := rs.interval
	return &Evaluator{
		rs:   rs,
		opts: opts,
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:        discardLogger,
			MaxSamples:    opts.MaxSamples,
			Timeout:       opts.Timeout,
			LookbackDelta: LookbackDelta,
			// A subquery without a step uses the evaluation interval, as a server's global one.
			NoStepSubqueryIntervalFn: func(int64) int64 { return interval.Milliseconds() },
			// Prometheus 3 defaults.
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
			Parser:               promqlParser,
		}),
		metrics: rules.NewGroupMetrics(nil),
		states:  map[string]*storeState{},
	}
}

// Close releases the engine.
func (e *Evaluator) Close() error { return e.engine.Close() }

// storeState is one store's rule groups and this evaluation's outcomes.
type storeState struct {
	store    *Store
	groups   []*rules.Group
	alerting map[int]*rules.AlertingRule // by rule index
	grouped  map[int]rules.Rule          // every rule of a group, by rule index
	keys     map[string][]int            // capture key → rule indices
	outcomes []outcome
}

type outcome struct {
	vec             promql.Vector
	err             error
	firing, pending []string // alert label sets
}

// Evaluate evaluates every rule at `at` on the baseline and on each variant and compares each variant with
// the baseline. Rules run as Prometheus runs them: groups in file order, rules in order within a group,
// with prometheus/rules' own groups, so recording rules' results are written into that store at `at` and
// later rules (and later evaluations) read them, alerts carry their pending/firing state and for: timers
// from one call to the next, and vanished recorded series get staleness markers. Dashboard and inline
// queries are instant queries at `at`. A variant given the baseline's own store compares equal. States of
// names absent from variants are dropped (a variant that comes back starts afresh).
func (e *Evaluator) Evaluate(ctx context.Context, at time.Time, baseline *Store, variants map[string]*Store) map[string]Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]Result, len(variants))
	names := make([]string, 0, len(variants))
	for name := range variants {
		names = append(names, name)
	}
	sort.Strings(names)
	keep := map[string]bool{baselineKey: true}
	for _, n := range names {
		keep[n] = true
	}
	for k := range e.states {
		if !keep[k] {
			delete(e.states, k)
		}
	}
	if baseline.Full() {
		err := fmt.Errorf("baseline: %w (%s): rules not evaluated", ErrStoreFull, baseline.Stats())
		for _, n := range names {
			out[n] = Result{Stats: control.RuleStats{EvaluatedAt: at}, Err: err}
		}
		return out
	}
	base := e.run(ctx, baselineKey, baseline, at)
	for _, n := range names {
		st := variants[n]
		switch {
		case st == baseline:
			out[n] = Result{Stats: e.compare(ctx, at, base, base, baseline, baseline)}
		case st.Full():
			out[n] = Result{
				Stats: control.RuleStats{EvaluatedAt: at},
				Err:   fmt.Errorf("%w (%s): rules not evaluated", ErrStoreFull, st.Stats()),
			}
		default:
			vs := e.run(ctx, n, st, at)
			out[n] = Result{Stats: e.compare(ctx, at, base, vs, baseline, st)}
		}
	}
	return out
}

// run evaluates every rule on one store.
func (e *Evaluator) run(ctx context.Context, key string, store *Store, at time.Time) *storeState {
	st := e.states[key]
	if st == nil || st.store != store {
		st = e.newState(store)
		e.states[key] = st
	}
	for i := range st.outcomes {
		st.outcomes[i] = outcome{}
	}
	for _, g := range st.groups {
		g.Eval(ctx, at)
	}
	// The rule's own health is its outcome, as a server reports it: Group.Eval records there what fails
	// after the query (a group limit exceeded, "vector contains metrics with the same labelset after
	// applying rule labels", duplicate alert label sets, samples the store refused) as well as the query's
	// own error. An alerting rule over its group's limit has no alerts left (the rule manager drops them).
	for i, rule := range st.grouped {
		if err := rule.LastError(); err != nil {
			st.outcomes[i].err = err
		}
	}
	for i, ar := range st.alerting {
		o := &st.outcomes[i]
		for _, a := range ar.ActiveAlerts() {
			switch a.State {
			case rules.StateFiring:
				o.firing = append(o.firing, a.Labels.String())
			case rules.StatePending:
				o.pending = append(o.pending, a.Labels.String())
			}
		}
		sort.Strings(o.firing)
		sort.Strings(o.pending)
	}
	for i := range e.rs.rules {
		r := &e.rs.rules[i]
		if r.group < 0 {
			st.outcomes[i].vec, st.outcomes[i].err = e.instant(ctx, store, r.Expr, at)
		}
	}
	return st
}

// newState builds prometheus/rules groups of the set's rules over one store.
func (e *Evaluator) newState(store *Store) *storeState {
	st := &storeState{
		store:    store,
		alerting: map[int]*rules.AlertingRule{},
		grouped:  map[int]rules.Rule{},
		keys:     map[string][]int{},
		outcomes: make([]outcome, len(e.rs.rules)),
	}
	inner := rules.EngineQueryFunc(e.engine, store)
	query := func(ctx context.Context, q string, t time.Time) (promql.Vector, error) {
		v, err := inner(ctx, q, t)
		// Alert templates query too; only the rule's own expression is its result.
		if d := rules.FromOriginContext(ctx); d.Query == q {
			for _, i := range st.keys[captureKey(d.Kind, d.Name, d.Query, d.Labels)] {
				st.outcomes[i] = outcome{vec: v, err: err}
			}
		}
		return v, err
	}
	mopts := &rules.ManagerOptions{
		QueryFunc:  query,
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Context:    context.Background(),
		Appendable: store,
		Queryable:  store,
		Logger:     discardLogger,
		Metrics:    e.metrics,
		Parser:     promqlParser,
	}
	for _, g := range e.rs.groups {
		rs := make([]rules.Rule, 0, len(g.rules))
		for _, i := range g.rules {
			r := &e.rs.rules[i]
			// A fresh AST per store: rules must not share mutable nodes.
			expr, _ := promqlParser.ParseExpr(r.expr.String())
			lset := labels.FromMap(r.Labels)
			var rule rules.Rule
			if r.Kind == KindAlert {
				ar := rules.NewAlertingRule(r.ruleName, expr, r.For, r.KeepFiringFor, lset,
					labels.EmptyLabels(), labels.EmptyLabels(), "", true, discardLogger)
				st.alerting[i] = ar
				rule = ar
			} else {
				rule = rules.NewRecordingRule(r.ruleName, expr, lset)
			}
			st.grouped[i] = rule
			d := rules.NewRuleDetail(rule)
			k := captureKey(d.Kind, d.Name, d.Query, d.Labels)
			st.keys[k] = append(st.keys[k], i)
			rs = append(rs, rule)
		}
		interval := g.interval
		if interval <= 0 {
			interval = e.rs.interval
		}
		st.groups = append(st.groups, rules.NewGroup(rules.GroupOptions{
			Name:        g.name,
			File:        g.file,
			Interval:    interval,
			Limit:       g.limit,
			Rules:       rs,
			QueryOffset: g.queryOffset,
			Opts:        mopts,
		}))
	}
	return st
}

func captureKey(kind, name, query string, l labels.Labels) string {
	return kind + "\x00" + name + "\x00" + query + "\x00" + l.String()
}

// instant runs an instant query; a scalar is one sample without labels, a matrix one sample per point, a
// string one sample labelled with it.
func (e *Evaluator) instant(ctx context.Context, q storage.Queryable, expr string, at time.Time) (promql.Vector, error) {
	qry, err := e.engine.NewInstantQuery(ctx, q, nil, expr, at)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	case promql.Matrix:
		var out promql.Vector
		for _, s := range v {
			for _, p := range s.Floats {
				out = append(out, promql.Sample{T: p.T, F: p.F, Metric: s.Metric})
			}
			for _, p := range s.Histograms {
				out = append(out, promql.Sample{T: p.T, H: p.H, Metric: s.Metric})
			}
		}
		return out, nil
	case promql.String:
		return promql.Vector{{T: v.T, Metric: labels.FromStrings("value", v.V)}}, nil
	}
	return nil, fmt.Errorf("unexpected result type %s", res.Value.Type())
}

// compare turns two stores' outcomes into the variant's RuleStats.
func (e *Evaluator) compare(ctx context.Context, at time.Time, base, vari *storeState, baseStore, variStore *Store) control.RuleStats {
	stats := control.RuleStats{EvaluatedAt: at, Rules: make([]control.RuleResult, 0, len(e.rs.rules))}
	for i := range e.rs.rules {
		r := &e.rs.rules[i]
		res := e.compareRule(r, base.outcomes[i], vari.outcomes[i], func() string {
			return e.lostSelectors(ctx, r.expr, at, baseStore, variStore)
		})
		switch res.Verdict {
		case control.RuleSame:
			stats.Same++
		case control.RuleChanged:
			stats.Changed++
		default:
			stats.Broken++
		}
		stats.Rules = append(stats.Rules, res)
	}
	if n := len(stats.Rules); n > 0 {
		f := float64(stats.Same) / float64(n)
		stats.Fidelity = &f
	}
	return stats
}

// lostSelectors names the selectors of expr that have series on the baseline and none on the variant, or
// failing that the labels a selector's series lost.
func (e *Evaluator) lostSelectors(ctx context.Context, expr parser.Expr, at time.Time, baseStore, variStore *Store) string {
	var sels []string
	seen := map[string]bool{}
	parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
		var s string
		switch n := n.(type) {
		case *parser.MatrixSelector:
			s = n.String()
		case *parser.VectorSelector:
			if len(path) > 0 {
				if _, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
					return nil
				}
			}
			s = n.String()
		default:
			return nil
		}
		if !seen[s] {
			seen[s] = true
			sels = append(sels, s)
		}
		return nil
	})
	var empty, lost []string
	for _, s := range sels {
		bv, berr := e.instant(ctx, baseStore, s, at)
		vv, verr := e.instant(ctx, variStore, s, at)
		if berr != nil || verr != nil {
			continue
		}
		bs, vs := seriesOf(bv), seriesOf(vv)
		switch {
		case len(bs) > 0 && len(vs) == 0:
			empty = append(empty, fmt.Sprintf("selector %s has no series (baseline: %d)", s, len(bs)))
		case len(bs) > 0:
			if names := lostLabelNames(bs, vs); len(names) > 0 {
				lost = append(lost, fmt.Sprintf("label %s no longer exists on %s", strings.Join(names, ", "), s))
			}
		}
	}
	if len(empty) > 0 {
		return strings.Join(empty, "; ")
	}
	return strings.Join(lost, "; ")
}

// seriesOf returns the distinct label sets of a (possibly flattened matrix) result.
func seriesOf(v promql.Vector) []labels.Labels {
	seen := map[uint64]bool{}
	var out []labels.Labels
	for _, s := range v {
		if h := s.Metric.Hash(); !seen[h] {
			seen[h] = true
			out = append(out, s.Metric)
		}
	}
	return out
}
