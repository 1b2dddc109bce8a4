// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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
	opts      rulefidelity.Options
	evalOpts  rulefidelity.EvaluatorOptions
	storeOpts rulefidelity.StoreOptions
	logger    *zap.Logger

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

func newRuleEvaluation(cfg *Config, logger *zap.Logger) (*ruleEvaluation, error) {
	opts := cfg.Rules.loadOptions(cfg.Window)
	fp := rulefidelity.Fingerprint(opts)
	rs, err := rulefidelity.Load(opts)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	r := &ruleEvaluation{opts: opts, evalOpts: rulefidelity.EvaluatorOptions{Tolerance: cfg.Rules.Tolerance}, logger: logger,
		storeOpts: rulefidelity.StoreOptions{MaxRange: rs.MaxRange(), MaxSeries: cfg.Rules.MaxSeries,
			ResourceToTelemetry: cfg.Rules.ResourceToTelemetryConversion},
		rules: rs, fingerprint: fp}
	r.eval = rulefidelity.NewEvaluator(rs, r.evalOpts)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// newStore is a store for one variant's output, keeping the range the current rules need.
func (r *ruleEvaluation) newStore() *rulefidelity.Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	opts := r.storeOpts
	opts.MaxRange = r.rules.MaxRange()
	return rulefidelity.NewStore(opts)
}

// windowEnded starts the evaluation at `at` of every variant's store (by name) in the background, unless
// the previous one is still running (then this window keeps the previous results, and the skip is counted).
func (r *ruleEvaluation) windowEnded(at time.Time, baseline *rulefidelity.Store, stores map[string]*rulefidelity.Store) {
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
		r.reloadIfChanged(stores)
		r.mu.Lock()
		eval := r.eval
		r.mu.Unlock()
		res := eval.Evaluate(r.ctx, at, baseline, stores)
		r.mu.Lock()
		r.results = res
		r.mu.Unlock()
	}()
}

// reloadIfChanged loads the rule files again when their content changed; on failure the last good set
// stays (its alert state too) and the error is reported with every variant's figures.
func (r *ruleEvaluation) reloadIfChanged(stores map[string]*rulefidelity.Store) {
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
	for _, s := range stores {
		s.SetMaxRange(rs.MaxRange()) // a store shared by pass-through variants gets it more than once
	}
	r.logger.Info("experiment rules: reloaded (alert state starts afresh)", zap.Int("rules", rs.Len()))
}

// stats is variant i's figures for the snapshot: before the first evaluation, every rule and no
// fidelity (guardrails on rules fail closed until there is one).
func (r *ruleEvaluation) stats(variant string) *control.RuleStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.results[variant]
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
