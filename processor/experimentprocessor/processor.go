// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/experiment"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadata"
)

// variant is one pipeline of the experiment: a chain of child processors ending in a capture, or nothing
// (pass-through).
type variant struct {
	name     string
	attr     metric.MeasurementOption // variant=<name>, for telemetry
	first    consumer.Metrics         // nil: pass-through
	children []component.Component    // in pipeline order
	steps    []step
	lastLog  atomic.Int64 // unix nanos of the last error logged
}

type step struct {
	id  component.ID
	cfg map[string]any
}

type experimentProcessor struct {
	id        component.ID
	cfg       *Config
	set       processor.Settings
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time

	variants    []*variant // sorted by name
	passThrough bool       // some variant has no processors
	baseline    int
	active      atomic.Pointer[variant]

	mu      sync.Mutex // guards the meters and window
	meters  []*experiment.Meter
	opts    experiment.Options
	winEnds time.Time

	// Scans kept between batches (not a sync.Pool, which every GC empties): their arrays and name caches
	// stay grown to the batch size, so reading a batch allocates nothing.
	scansMu sync.Mutex
	scans   []*experiment.Scan

	rules *ruleEvaluation // nil without a rules: block

	unregister func()
	shutDown   bool
}

var _ control.Experiment = (*experimentProcessor)(nil)

func newExperimentProcessor(cfg *Config, set processor.Settings) (*experimentProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	patterns, err := cfg.criticalPatterns()
	if err != nil {
		return nil, err
	}
	p := &experimentProcessor{id: set.ID, cfg: cfg, set: set, telemetry: tb, now: time.Now,
		opts: experiment.Options{SeriesCap: cfg.SeriesCap, Counters: cfg.Fidelity.Counters, Gauges: cfg.Fidelity.Gauges,
			CriticalAttr: cfg.Critical.Attribute, CriticalPatterns: patterns, VolatileAttrs: cfg.Fidelity.VolatileAttributes,
			Cost: cfg.costOptions()}}
	for i, name := range cfg.variantNames() {
		v := &variant{name: name, attr: metric.WithAttributeSet(attribute.NewSet(attribute.String("variant", name)))}
		steps, ok := parseSteps(cfg.Variants[name])
		if !ok {
			return nil, fmt.Errorf("variant %q: malformed processors", name) // Validate has reported it
		}
		v.steps = steps
		p.variants = append(p.variants, v)
		p.passThrough = p.passThrough || len(v.steps) == 0
		if name == cfg.Baseline {
			p.baseline = i
		}
		if name == cfg.Active {
			p.active.Store(v)
		}
	}
	if cfg.Rules.enabled() {
		if p.rules, err = newRuleEvaluation(cfg, p.variants, p.baseline, set.Logger); err != nil {
			return nil, err
		}
	}
	p.resetMeters(p.now())
	return p, nil
}

func (p *experimentProcessor) resetMeters(now time.Time) {
	p.meters = make([]*experiment.Meter, len(p.variants))
	for i := range p.variants {
		p.meters[i] = experiment.NewMeter(&p.opts, now)
	}
	p.winEnds = now.Add(p.cfg.Window)
}

type factoryGetter interface {
	GetFactory(kind component.Kind, componentType component.Type) component.Factory
}

// start builds every variant's chain from the host's processor factories, reporting every problem at once,
// starts the children, and registers with the control extension.
func (p *experimentProcessor) start(ctx context.Context, host component.Host) error {
	if err := p.buildChains(host); err != nil {
		return err
	}
	for _, v := range p.variants {
		for i := len(v.children) - 1; i >= 0; i-- { // downstream first
			if err := v.children[i].Start(ctx, host); err != nil {
				_ = p.shutdown(ctx)
				return fmt.Errorf("variant %q: start %s: %w", v.name, v.steps[i].id, err)
			}
		}
	}
	p.recordActive(ctx)
	if p.cfg.Control == (component.ID{}) {
		return nil
	}
	reg, err := control.FindRegistry(host.GetExtensions(), p.cfg.Control)
	if err != nil {
		_ = p.shutdown(ctx)
		return err
	}
	p.unregister = reg.RegisterExperiment(p)
	return nil
}

func (p *experimentProcessor) buildChains(host component.Host) error {
	fg, _ := host.(factoryGetter)
	var errs []error
	for _, v := range p.variants {
		if len(v.steps) == 0 {
			continue
		}
		if fg == nil {
			return errors.New("the collector host does not expose processor factories: variants with processors cannot be built")
		}
		first, children, err := buildChain(p.set, v.name, v.steps, hostFactories(fg))
		errs = append(errs, err)
		v.first, v.children = first, children
	}
	return errors.Join(errs...)
}

// FactoryLookup finds the processor factory of a type, nil when the collector has none: the host's
// GetFactory at Start, a table of the build's factories in `validate`.
type FactoryLookup func(component.Type) processor.Factory

func hostFactories(fg factoryGetter) FactoryLookup {
	return func(t component.Type) processor.Factory {
		f, _ := fg.GetFactory(component.KindProcessor, t).(processor.Factory)
		return f
	}
}

// CheckVariants builds the chains of every variant of cfg from lookup as Start builds them, and reports every
// error Start would report, with the variant and the step named. The chains are created, never started, and
// shut down. Steps that are not a single {type: config} entry are left to Validate.
func CheckVariants(ctx context.Context, set processor.Settings, cfg *Config, lookup FactoryLookup) error {
	var errs []error
	for _, name := range cfg.variantNames() {
		steps, ok := parseSteps(cfg.Variants[name])
		if !ok || len(steps) == 0 {
			continue // Validate reports a malformed step
		}
		_, children, err := buildChain(set, name, steps, lookup)
		errs = append(errs, err)
		for _, c := range children {
			_ = c.Shutdown(ctx) // never started: some processors report that, nothing to clean up
		}
	}
	return errors.Join(errs...)
}

// parseSteps reads a variant's steps; false when one is not a single {type[/name]: config} entry.
func parseSteps(v VariantConfig) ([]step, bool) {
	steps := make([]step, 0, len(v.Processors))
	for _, s := range v.Processors {
		if len(s) != 1 {
			return nil, false
		}
		for id, c := range s {
			var cid component.ID
			if err := cid.UnmarshalText([]byte(id)); err != nil {
				return nil, false
			}
			steps = append(steps, step{id: cid, cfg: c})
		}
	}
	return steps, true
}

// buildChain creates a variant's processors from the last to the first, each feeding the next and the last
// feeding capture, and returns the first consumer and the processors in pipeline order. It reports every step
// that cannot be built, in step order.
func buildChain(parent processor.Settings, variant string, steps []step, lookup FactoryLookup) (consumer.Metrics, []component.Component, error) {
	errs := make([]error, len(steps)) // in step order
	chain := make([]processor.Metrics, len(steps))
	var next consumer.Metrics = capture{}
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		f := lookup(s.id.Type())
		if f == nil {
			errs[i] = fmt.Errorf("variant %q processor %d: no processor of type %q in this build", variant, i+1, s.id.Type())
			continue
		}
		cfg := f.CreateDefaultConfig()
		if err := confmap.NewFromStringMap(s.cfg).Unmarshal(cfg); err != nil {
			errs[i] = fmt.Errorf("variant %q processor %d (%s): %w", variant, i+1, s.id, err)
			continue
		}
		if err := confmap.Validate(cfg); err != nil {
			errs[i] = fmt.Errorf("variant %q processor %d (%s): %w", variant, i+1, s.id, err)
			continue
		}
		set := parent
		set.ID = childID(parent.ID, variant, i, s.id)
		set.TelemetrySettings = childTelemetry(parent.TelemetrySettings, set.ID)
		set.Logger = parent.Logger.With(zap.String("experiment.variant", variant), zap.String("child", set.ID.String()))
		pr, err := f.CreateMetrics(context.Background(), set, cfg, next)
		if err != nil {
			errs[i] = fmt.Errorf("variant %q processor %d (%s): %w", variant, i+1, s.id, err)
			continue
		}
		chain[i], next = pr, pr
	}
	var children []component.Component
	for _, c := range chain {
		if c != nil {
			children = append(children, c)
		}
	}
	return next, children, errors.Join(errs...)
}

// childID names a child after the experiment, the variant and its position: topk/process.top20.0.
func childID(parent component.ID, variant string, i int, id component.ID) component.ID {
	name := parent.Name()
	if name == "" {
		name = parent.Type().String()
	}
	name = fmt.Sprintf("%s.%s.%d", name, variant, i)
	if id.Name() != "" {
		name += "." + id.Name()
	}
	return component.NewIDWithName(id.Type(), name)
}

func (p *experimentProcessor) shutdown(ctx context.Context) error {
	if p.shutDown { // after a failed start, the collector shuts it down again
		return nil
	}
	p.shutDown = true
	if p.unregister != nil {
		p.unregister()
		p.unregister = nil
	}
	var errs []error
	for _, v := range p.variants {
		for _, c := range v.children {
			errs = append(errs, c.Shutdown(ctx))
		}
	}
	if p.rules != nil {
		p.rules.shutdown()
	}
	p.telemetry.Shutdown()
	return errors.Join(errs...)
}

// capture ends every chain: it hands the chain's output back to processMetrics through the context, so that
// concurrent batches never mix.
type capture struct{}

type captureKey struct{}

func (capture) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (capture) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if out, ok := ctx.Value(captureKey{}).(*pmetric.Metrics); ok {
		*out = md
	}
	return nil
}

// processMetrics runs every variant on the batch and measures their outputs, then returns what flows on: the
// active variant's (shadow) or all, tagged (tee). Each variant that processes gets its own copy, made just
// before its chain runs so the chain finds it in cache, except inputOwner's, which gets the input itself;
// the pass-through variants get none and are scanned while the first copy is made.
func (p *experimentProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	active := p.active.Load() // one variant routes the whole batch, whatever switches meanwhile
	owner := p.inputOwner(md, active)
	in := int64(md.DataPointCount()) // before any chain: the owner reduces the input in place
	outs := make([]pmetric.Metrics, len(p.variants))
	scans := make([]*experiment.Scan, len(p.variants))
	var inScan *experiment.Scan
	if p.passThrough {
		inScan = p.getScan()
	}
	scanned := inScan == nil
	var activeErr error
	run := func(i int, v *variant, input pmetric.Metrics) {
		out := pmetric.NewMetrics() // stays empty if the chain drops everything
		err := v.first.ConsumeMetrics(context.WithValue(ctx, captureKey{}, &out), input)
		if err != nil && !errors.Is(err, processorhelper.ErrSkipProcessingData) {
			p.variantError(ctx, i, v, err)
			if v == active {
				activeErr = err
			}
			return
		}
		outs[i], scans[i] = out, p.scan(out)
		if p.rules != nil {
			p.rules.appendOutput(i, out)
		}
	}
	ownerAt := -1
	for i, v := range p.variants {
		switch {
		case v.first == nil:
			outs[i], scans[i] = md, inScan
		case v == owner:
			ownerAt = i
		default:
			cp := pmetric.NewMetrics()
			if scanned {
				md.CopyTo(cp)
			} else {
				copyScanning(md, cp, inScan)
				scanned = true
			}
			run(i, v, cp)
		}
	}
	if !scanned {
		inScan.Metrics(md)
	}
	if p.rules != nil { // the input, before the owner's chain changes it
		for i, v := range p.variants {
			if v.first == nil {
				p.rules.appendOutput(i, md)
			}
		}
	}
	if ownerAt >= 0 { // last: nothing reads the input after it
		run(ownerAt, owner, md)
	}

	p.mu.Lock()
	now := p.now()
	if !now.Before(p.winEnds) {
		p.rotate(ctx, now)
	}
	for i, sc := range scans {
		if sc != nil {
			p.meters[i].Add(sc, now)
		}
	}
	p.mu.Unlock()

	for i, v := range p.variants {
		p.telemetry.ProcessorExperimentDatapointsIn.Add(ctx, in, v.attr)
		if sc := scans[i]; sc != nil {
			p.telemetry.ProcessorExperimentDatapointsOut.Add(ctx, int64(sc.Datapoints()), v.attr)
		}
	}
	p.putScans(scans)
	if activeErr != nil {
		return md, activeErr // retries and backpressure upstream keep working
	}
	if p.cfg.Mode == modeTee {
		return p.tee(outs), nil
	}
	for i, v := range p.variants {
		if v == active {
			if outs[i].ResourceMetrics().Len() == 0 {
				return outs[i], processorhelper.ErrSkipProcessingData
			}
			return outs[i], nil
		}
	}
	return md, nil
}

const scanBlock = 32 // resources: small enough to stay in cache from the copy to the scan

// copyScanning copies md into dst and scans it on the way, a block of resources at a time, so the input is
// read from memory once for both.
func copyScanning(md, dst pmetric.Metrics, scan *experiment.Scan) {
	rms, d := md.ResourceMetrics(), dst.ResourceMetrics()
	d.EnsureCapacity(rms.Len())
	for start := 0; start < rms.Len(); start += scanBlock {
		end := min(start+scanBlock, rms.Len())
		for r := start; r < end; r++ {
			rms.At(r).CopyTo(d.AppendEmpty())
		}
		for r := start; r < end; r++ {
			scan.Resource(rms.At(r))
		}
	}
}

// inputOwner is the processing variant that may take the input itself rather than a copy, as a fan-out's
// last mutating consumer does: the one whose output flows on in shadow mode, or any in tee mode, provided no
// pass-through variant's output (the input) flows on. The pass-through variants are scanned before any chain
// runs, and the processor declares MutatesData, so the input is its own.
func (p *experimentProcessor) inputOwner(md pmetric.Metrics, active *variant) *variant {
	switch {
	case md.IsReadOnly():
		return nil
	case p.cfg.Mode == modeTee:
		if p.passThrough {
			return nil
		}
		return p.variants[len(p.variants)-1]
	case active.first == nil:
		return nil
	}
	return active
}

// scan reads a chain's output for measuring.
func (p *experimentProcessor) scan(md pmetric.Metrics) *experiment.Scan {
	sc := p.getScan()
	sc.Metrics(md)
	return sc
}

func (p *experimentProcessor) getScan() *experiment.Scan {
	p.scansMu.Lock()
	defer p.scansMu.Unlock()
	if n := len(p.scans); n > 0 {
		sc := p.scans[n-1]
		p.scans = p.scans[:n-1]
		sc.Reset()
		return sc
	}
	return experiment.NewScan(&p.opts)
}

func (p *experimentProcessor) putScans(scans []*experiment.Scan) {
	p.scansMu.Lock()
	defer p.scansMu.Unlock()
	for _, sc := range scans {
		if sc != nil && !slices.Contains(p.scans, sc) { // pass-through variants share the input's scan
			p.scans = append(p.scans, sc)
		}
	}
}

// tee merges every variant's output, each resource tagged with its variant; pass-through outputs share the
// input, so all but the last such use get a copy.
func (p *experimentProcessor) tee(outs []pmetric.Metrics) pmetric.Metrics {
	merged := pmetric.NewMetrics()
	passThrough := 0
	for _, v := range p.variants {
		if v.first == nil {
			passThrough++
		}
	}
	for i, v := range p.variants {
		out := outs[i]
		if out == (pmetric.Metrics{}) {
			continue
		}
		if v.first == nil {
			if passThrough--; passThrough > 0 {
				cp := pmetric.NewMetrics()
				out.CopyTo(cp)
				out = cp
			}
		}
		rms := out.ResourceMetrics()
		for j := 0; j < rms.Len(); j++ {
			rms.At(j).Resource().Attributes().PutStr(p.cfg.VariantAttribute, v.name)
		}
		rms.MoveAndAppendTo(merged.ResourceMetrics())
	}
	return merged
}

// rotate closes the window for every variant (under p.mu).
func (p *experimentProcessor) rotate(ctx context.Context, now time.Time) {
	for _, m := range p.meters {
		m.Rotate(now)
	}
	for i, st := range experiment.Stats(p.names(), p.meters, p.baseline, now) {
		p.telemetry.ProcessorExperimentSeries.Record(ctx, int64(st.Series), p.variants[i].attr)
		p.telemetry.ProcessorExperimentStateSeries.Record(ctx, int64(p.meters[i].StateSeries()), p.variants[i].attr)
	}
	p.winEnds = now.Add(p.cfg.Window)
	if p.rules != nil {
		p.rules.windowEnded(now)
	}
}

func (p *experimentProcessor) variantError(ctx context.Context, i int, v *variant, err error) {
	p.telemetry.ProcessorExperimentErrors.Add(ctx, 1, v.attr)
	p.mu.Lock()
	p.meters[i].Error()
	p.mu.Unlock()
	now := p.now().UnixNano()
	if last := v.lastLog.Load(); now-last >= int64(10*time.Second) && v.lastLog.CompareAndSwap(last, now) {
		p.set.Logger.Warn("variant failed on a batch (logged at most every 10s; see otelcol_processor_experiment_errors)",
			zap.String("variant", v.name), zap.Error(err))
	}
}

func (p *experimentProcessor) recordActive(ctx context.Context) {
	active := p.active.Load()
	for _, v := range p.variants {
		var on int64
		if v == active {
			on = 1
		}
		p.telemetry.ProcessorExperimentActive.Record(ctx, on, v.attr)
	}
}

// Name implements control.Experiment.
func (p *experimentProcessor) Name() string { return p.id.String() }

// SetActive implements control.Experiment: one atomic pointer swap.
func (p *experimentProcessor) SetActive(name string) error {
	for _, v := range p.variants {
		if v.name == name {
			p.active.Store(v)
			p.recordActive(context.Background())
			return nil
		}
	}
	return fmt.Errorf("%w %q: variants are %v", control.ErrUnknownVariant, name, p.cfg.variantNames())
}

// VariantSteps implements control.Experiment.
func (p *experimentProcessor) VariantSteps(name string) ([]control.ProcessorStep, error) {
	for _, v := range p.variants {
		if v.name != name {
			continue
		}
		steps := make([]control.ProcessorStep, 0, len(v.steps))
		for _, s := range v.steps {
			steps = append(steps, control.ProcessorStep{ID: s.id.String(), Config: s.cfg})
		}
		return steps, nil
	}
	return nil, fmt.Errorf("%w %q: variants are %v", control.ErrUnknownVariant, name, p.cfg.variantNames())
}

// Snapshot implements control.Experiment.
func (p *experimentProcessor) Snapshot() control.ExperimentSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	stats := experiment.Stats(p.names(), p.meters, p.baseline, now)
	active := p.active.Load()
	for i, v := range p.variants {
		stats[i].Active = v == active
		stats[i].PassThrough = len(v.steps) == 0
		if p.rules != nil {
			stats[i].Rules = p.rules.stats(i)
		}
	}
	start, end, complete := p.meters[p.baseline].Window(now)
	return control.ExperimentSnapshot{
		Name: p.Name(), Mode: p.cfg.Mode, Baseline: p.variants[p.baseline].name, Active: active.name,
		Window: p.cfg.Window, WindowStart: start, WindowEnd: end, Complete: complete, Variants: stats,
	}
}

func (p *experimentProcessor) names() []string {
	names := make([]string, len(p.variants))
	for i, v := range p.variants {
		names[i] = v.name
	}
	return names
}
