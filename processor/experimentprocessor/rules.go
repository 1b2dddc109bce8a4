// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"
)

// loadOptions are what the rules: block names, for rulefidelity.Load.
func (r *RulesConfig) loadOptions(window time.Duration) rulefidelity.Options {
	return rulefidelity.Options{Files: r.Files, Dashboards: r.Dashboards, DashboardVariables: r.DashboardVariables,
		Inline: r.Inline, MaxRange: r.MaxRange, Interval: window}
}

// ruleEvaluation evaluates the experiment's rules on every variant's output at each window's end, off the
// pipeline's goroutine, and keeps the last results for the snapshot. Rule files changed in place (a
// ConfigMap update) are loaded again; a set that no longer loads is reported and the last good one kept.
type ruleEvaluation struct {
	opts     rulefidelity.Options
	evalOpts rulefidelity.EvaluatorOptions
	logger   *zap.Logger
	names    []string              // the variants, as p.variants
	baseline int                   // index of the baseline
	stores   []*rulefidelity.Store // per variant: the pass-through variants share one, the input's
	appends  []bool                // per variant: it fills its store (the first of those sharing one)

	mu          sync.Mutex // guards what follows
	rules       *rulefidelity.RuleSet
	eval        *rulefidelity.Evaluator
	fingerprint uint64
	loadErr     string
	results     map[string]rulefidelity.Result
	skipped     uint64 // window ends that found the previous evaluation still running

	busy   atomic.Bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func newRuleEvaluation(cfg *Config, variants []*variant, baseline int, logger *zap.Logger) (*ruleEvaluation, error) {
	opts := cfg.Rules.loadOptions(cfg.Window)
	fp := rulefidelity.Fingerprint(opts)
	rs, err := rulefidelity.Load(opts)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	storeOpts := rulefidelity.StoreOptions{MaxRange: rs.MaxRange(), MaxSeries: cfg.Rules.MaxSeries,
		ResourceToTelemetry: cfg.Rules.ResourceToTelemetryConversion}
	r := &ruleEvaluation{opts: opts, evalOpts: rulefidelity.EvaluatorOptions{Tolerance: cfg.Rules.Tolerance}, logger: logger,
		baseline: baseline, rules: rs, fingerprint: fp}
	r.eval = rulefidelity.NewEvaluator(rs, r.evalOpts)
	var input *rulefidelity.Store
	for _, v := range variants {
		r.names = append(r.names, v.name)
		switch {
		case len(v.steps) > 0:
			r.stores, r.appends = append(r.stores, rulefidelity.NewStore(storeOpts)), append(r.appends, true)
		case input == nil:
			input = rulefidelity.NewStore(storeOpts)
			r.stores, r.appends = append(r.stores, input), append(r.appends, true)
		default:
			r.stores, r.appends = append(r.stores, input), append(r.appends, false)
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// appendOutput stores a variant's output. Pass-through variants share the input's store: only the first
// of them appends.
func (r *ruleEvaluation) appendOutput(i int, md pmetric.Metrics) {
	if r.appends[i] {
		r.stores[i].Append(md)
	}
}

// windowEnded starts the evaluation at `at` in the background, unless the previous one is still running
// (then this window keeps the previous results, and the skip is counted).
func (r *ruleEvaluation) windowEnded(at time.Time) {
	if !r.busy.CompareAndSwap(false, true) {
		r.mu.Lock()
		r.skipped++
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.busy.Store(false)
		r.reloadIfChanged()
		r.mu.Lock()
		eval := r.eval
		r.mu.Unlock()
		variants := make(map[string]*rulefidelity.Store, len(r.names))
		for i, n := range r.names {
			variants[n] = r.stores[i]
		}
		res := eval.Evaluate(r.ctx, at, r.stores[r.baseline], variants)
		r.mu.Lock()
		r.results = res
		r.mu.Unlock()
	}()
}

// reloadIfChanged loads the rule files again when their content changed; on failure the last good set
// stays (its alert state too) and the error is reported with every variant's figures.
func (r *ruleEvaluation) reloadIfChanged() {
	fp := rulefidelity.Fingerprint(r.opts)
	r.mu.Lock()
	same := fp == r.fingerprint
	r.mu.Unlock()
	if same {
		return
	}
	rs, err := rulefidelity.Load(r.opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fingerprint = fp
	if err != nil {
		r.loadErr = "rule files changed and no longer load; still evaluating the last good set: " + err.Error()
		r.logger.Warn("experiment rules: reload failed, keeping the last good set", zap.Error(err))
		return
	}
	old := r.eval
	r.rules, r.eval, r.loadErr = rs, rulefidelity.NewEvaluator(rs, r.evalOpts), ""
	_ = old.Close()
	for i, s := range r.stores {
		if r.appends[i] {
			s.SetMaxRange(rs.MaxRange())
		}
	}
	r.logger.Info("experiment rules: reloaded (alert state starts afresh)", zap.Int("rules", rs.Len()))
}

// stats is variant i's figures for the snapshot: before the first evaluation, every rule and no
// fidelity (guardrails on rules fail closed until there is one).
func (r *ruleEvaluation) stats(i int) *control.RuleStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.results[r.names[i]]
	out := res.Stats
	if !ok {
		out = control.RuleStats{}
		for _, rule := range r.rules.Rules() {
			out.Rules = append(out.Rules, control.RuleResult{Name: rule.Name, Source: rule.Source, Kind: rule.Kind, Expr: rule.Expr})
		}
	}
	out.SkippedEvaluations = r.skipped
	switch {
	case res.Err != nil:
		out.Error = res.Err.Error()
	case r.loadErr != "":
		out.Error = r.loadErr
	}
	return &out
}

func (r *ruleEvaluation) shutdown() {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.eval.Close()
}
