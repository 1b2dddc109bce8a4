// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/processor"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/experiment"
)

// Runtime variants: added and removed through the control extension (API, desired-state file), built from
// the host's processor factories like the configured ones, and swapped into the running set whole.

// Limits a runtime variant's definition is checked against.
type Limits struct {
	MaxVariants    int // all variants, the configured ones included
	MaxChainLength int // processors in one variant
}

// CheckDefinition reports every problem of a runtime variant definition with its step, building its chain
// from lookup without starting it: its name, its length, each step's shape, type and configuration.
// Whether the name is free and the variant limit are the experiment's to check.
func CheckDefinition(ctx context.Context, set processor.Settings, def control.VariantDefinition, limits Limits, lookup FactoryLookup) []control.StepProblem {
	problems, shaped, shapedAt := checkShape(def, limits)
	var steps []step
	var at []int
	for i, s := range shaped { // a type that may not run at runtime is not built either
		if f := lookup(s.id.Type()); f != nil && !runtimeProcessors[f.Type().String()] {
			problems = append(problems, control.StepProblem{Step: shapedAt[i], ID: s.id.String(), Message: fmt.Sprintf(
				"%s cannot run in a variant added at runtime: it reaches out of the collector (or holds data back); "+
					"define the variant in the collector config, or put the processor before the experiment", f.Type())})
			continue
		}
		steps, at = append(steps, s), append(at, shapedAt[i])
	}
	if len(steps) == 0 {
		slices.SortStableFunc(problems, func(a, b control.StepProblem) int { return a.Step - b.Step })
		return problems
	}
	// Every well-formed step is built, in a chain of its own kind (the malformed ones left out), so that
	// every problem is reported at once, at its own step.
	for _, pr := range checkChain(ctx, set, def.Name, steps, lookup) {
		pr.Step = at[pr.Step-1]
		problems = append(problems, pr)
	}
	slices.SortStableFunc(problems, func(a, b control.StepProblem) int { return a.Step - b.Step })
	return problems
}

// checkShape checks what needs no factory: the name, the length, each step's shape and type. It returns
// the problems and the well-formed steps with their step numbers.
func checkShape(def control.VariantDefinition, limits Limits) (problems []control.StepProblem, steps []step, at []int) {
	add := func(stepNo int, id, format string, args ...any) {
		problems = append(problems, control.StepProblem{Step: stepNo, ID: id, Message: fmt.Sprintf(format, args...)})
	}
	if !ValidVariantName(def.Name) {
		add(0, "", "name %q: must start with a letter and use only letters, digits, '_', '.', '-' (at most 63)", def.Name)
	}
	switch n := len(def.Processors); {
	case n == 0:
		add(0, "", "processors: at least one is required (the pass-through is the baseline's)")
	case n > limits.MaxChainLength:
		add(0, "", "processors: %d steps, more than max_chain_length (%d)", n, limits.MaxChainLength)
	}
	for i, s := range def.Processors {
		if len(s) != 1 {
			keys := make([]string, 0, len(s))
			for k := range s {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			add(i+1, "", "want one {type[/name]: config} entry, got %d (%s)", len(s), strings.Join(keys, ", "))
			continue
		}
		for id, cfg := range s {
			var cid component.ID
			switch err := cid.UnmarshalText([]byte(id)); {
			case err != nil:
				add(i+1, "", "%q: %v", id, err)
			case asyncProcessors[cid.Type().String()]:
				add(i+1, id, "%s is asynchronous: a variant needs each step's output within the call (put it after the experiment)", cid.Type())
			case cid.Type() == experimentType:
				add(i+1, id, "an experiment cannot run inside a variant")
			default:
				if msg := badNumber(cfg); msg != "" {
					add(i+1, id, "%s", msg)
					continue
				}
				steps, at = append(steps, step{id: cid, cfg: cfg}), append(at, i+1)
			}
		}
	}
	return problems, steps, at
}

// badNumber finds a number in a configuration that no processor setting takes as written: not finite (a
// YAML .nan or .inf), or beyond what an integer setting holds (it would wrap around when decoded).
func badNumber(v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("%v: a number must be finite", x)
		}
		if math.Abs(x) >= 1<<63 {
			return fmt.Sprintf("%g: beyond ±9.2e18, what an integer setting holds", x)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if msg := badNumber(x[k]); msg != "" {
				return k + ": " + msg
			}
		}
	case []any:
		for i, e := range x {
			if msg := badNumber(e); msg != "" {
				return fmt.Sprintf("[%d]: %s", i, msg)
			}
		}
	}
	return ""
}

var experimentType = component.MustNewType("experiment")

// variantHost is the host a runtime variant's processors start with: the collector's extensions and
// processor factories, but their status reports stay here. A fatal or permanent error reported during start
// fails the start of the variant (startChain checks after each step); reported later, it is logged.
type variantHost struct {
	component.Host
	factories factoryGetter
	variant   string
	logger    *zap.Logger

	mu     sync.Mutex
	failed error
}

func (h *variantHost) GetFactory(kind component.Kind, t component.Type) component.Factory {
	return h.factories.GetFactory(kind, t)
}

// Report implements componentstatus.Reporter.
func (h *variantHost) Report(ev *componentstatus.Event) {
	if ev.Status() != componentstatus.StatusFatalError && ev.Status() != componentstatus.StatusPermanentError {
		return
	}
	h.mu.Lock()
	if h.failed == nil {
		h.failed = ev.Err()
	}
	h.mu.Unlock()
	h.logger.Warn("a processor of a runtime variant reported an error (the variant's, not the collector's)",
		zap.String("variant", h.variant), zap.String("status", ev.Status().String()), zap.Error(ev.Err()))
}

// startFailure is the error reported since start, if any.
func (h *variantHost) startFailure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}

func (p *experimentProcessor) limits() Limits {
	return Limits{MaxVariants: p.cfg.MaxVariants, MaxChainLength: p.cfg.MaxChainLength}
}

// CheckVariant implements control.Experiment.
func (p *experimentProcessor) CheckVariant(ctx context.Context, def control.VariantDefinition) error {
	p.changeMu.Lock()
	lookup, err := p.lookupLocked()
	p.changeMu.Unlock()
	if err != nil {
		return err
	}
	problems := CheckDefinition(ctx, p.checkSettings(), def, p.limits(), lookup)
	if vs := p.state.Load(); vs.find(def.Name) == nil && len(vs.variants) >= p.cfg.MaxVariants {
		problems = append(problems, control.StepProblem{Message: fmt.Sprintf(
			"%s runs %d variants, max_variants is %d: adding it would be refused (remove one, or raise max_variants)",
			p.Name(), len(vs.variants), p.cfg.MaxVariants)})
	}
	if len(problems) > 0 {
		return &control.InvalidChainError{Variant: def.Name, Problems: problems}
	}
	return nil
}

// checkSettings build chains that are only checked: no telemetry registered, no log, for processors
// created and dropped at every validation request.
func (p *experimentProcessor) checkSettings() processor.Settings {
	set := p.set
	set.TelemetrySettings = component.TelemetrySettings{Logger: zap.NewNop(), MeterProvider: noopmetric.NewMeterProvider(),
		TracerProvider: nooptrace.NewTracerProvider(), Resource: set.Resource}
	return set
}

// lookupLocked is the host's processor factories (under changeMu).
func (p *experimentProcessor) lookupLocked() (FactoryLookup, error) {
	if !p.started {
		return nil, errors.New("the experiment is not running")
	}
	fg, ok := p.host.(factoryGetter)
	if !ok {
		return nil, errNoFactories
	}
	return hostFactories(fg), nil
}

// AddVariant implements control.Experiment: the chain is built and started, then the variant joins the set
// the next batch runs, with a meter that reports from its first whole window.
func (p *experimentProcessor) AddVariant(ctx context.Context, def control.VariantDefinition, source string) error {
	p.changeMu.Lock()
	defer p.changeMu.Unlock()
	lookup, err := p.lookupLocked()
	if err != nil {
		return err
	}
	// What is wrong with the definition first, all of it; then whether it fits.
	if problems := CheckDefinition(ctx, p.checkSettings(), def, p.limits(), lookup); len(problems) > 0 {
		return &control.InvalidChainError{Variant: def.Name, Problems: problems}
	}
	vs := p.state.Load()
	if vs.find(def.Name) != nil {
		return fmt.Errorf("%w: %s already has a variant %q", control.ErrVariantExists, p.Name(), def.Name)
	}
	if len(vs.variants) >= p.cfg.MaxVariants {
		return fmt.Errorf("%w: %s runs %d variants, max_variants is %d (remove one, or raise max_variants)",
			control.ErrVariantLimit, p.Name(), len(vs.variants), p.cfg.MaxVariants)
	}
	steps, _ := parseSteps(def.Processors)
	v := newVariant(def.Name, source, steps)
	var problems []control.StepProblem
	v.first, v.children, problems = buildChain(p.set, def.Name, steps, lookup)
	if len(problems) > 0 { // checked a moment ago; a factory may still refuse a second instance
		for _, c := range v.children {
			_ = c.Shutdown(ctx) // never started
		}
		return &control.InvalidChainError{Variant: def.Name, Problems: problems}
	}
	// Started with the host, not the request (children may keep the context for their lifetime), behind
	// a host that keeps their status reports: a processor reporting a fatal error fails its variant, never
	// the collector, and never waits on the service's status channel.
	host := &variantHost{Host: p.host, factories: p.host.(factoryGetter), variant: v.name, logger: p.set.Logger}
	if err := startChain(context.Background(), host, v); err != nil {
		var stepErr *startError
		if errors.As(err, &stepErr) {
			return &control.InvalidChainError{Variant: def.Name, Problems: []control.StepProblem{
				{Step: stepErr.step, ID: stepErr.id, Message: "start: " + oneLine(stepErr.err.Error())}}}
		}
		return &control.InvalidChainError{Variant: def.Name, Problems: []control.StepProblem{{Message: err.Error()}}}
	}
	if p.rules != nil {
		v.store, v.fillsStore = p.rules.newStore(), true
	}
	variants := slices.Clone(vs.variants)
	at, _ := slices.BinarySearchFunc(variants, v.name, func(a *variant, name string) int { return strings.Compare(a.name, name) })
	variants = slices.Insert(variants, at, v)
	p.mu.Lock() // the meter exists before any batch can reach it
	v.meter = experiment.NewJoiningMeter(&p.opts, p.now(), vs.baseline.meter)
	if !p.metered { // rebuilt at start, before any data: measured from the first window, as the others
		v.meter = experiment.NewMeter(&p.opts, p.now())
	}
	p.state.Store(vs.with(variants, vs.active))
	p.mu.Unlock()
	p.recordActive(context.Background())
	p.set.Logger.Info("variant added", zap.String("variant", v.name), zap.String("source", source), zap.Int("processors", len(steps)))
	return nil
}

// RemoveVariant implements control.Experiment: the variant leaves the set, the batches that may still run
// it finish, then its chain is shut down.
func (p *experimentProcessor) RemoveVariant(ctx context.Context, name string) error {
	p.changeMu.Lock()
	defer p.changeMu.Unlock()
	vs := p.state.Load()
	v := vs.find(name)
	switch {
	case v == nil:
		return fmt.Errorf("%w %q: variants are %v", control.ErrUnknownVariant, name, vs.names())
	case v == vs.baseline:
		return fmt.Errorf("%w: %q is the baseline", control.ErrVariantProtected, name)
	case v == vs.active:
		return fmt.Errorf("%w: %q is active (switch to another variant first)", control.ErrVariantProtected, name)
	case v.source == control.SourceConfig:
		return fmt.Errorf("%w: %q is defined in the collector config (remove it there)", control.ErrVariantProtected, name)
	}
	variants := slices.DeleteFunc(slices.Clone(vs.variants), func(x *variant) bool { return x == v })
	p.state.Store(vs.with(variants, vs.active))
	p.inflight.Lock()   // waits out the batches that loaded the old set
	p.inflight.Unlock() //nolint:staticcheck // an empty critical section is the point: a barrier
	var errs []error
	for _, c := range v.children {
		errs = append(errs, c.Shutdown(ctx))
	}
	p.recordActive(context.Background())
	p.set.Logger.Info("variant removed", zap.String("variant", name))
	return errors.Join(errs...)
}

// CanRunInVariant says whether a processor type (as its factory names it) may be a step of a variant added
// at runtime.
func CanRunInVariant(t component.Type) bool {
	return runtimeProcessors[t.String()]
}

// ValidVariantName says whether a name can name a variant: a letter, then letters, digits, '_', '.', '-',
// at most 63 in all.
func ValidVariantName(name string) bool {
	return variantName.MatchString(name) && len(name) <= maxVariantName
}
