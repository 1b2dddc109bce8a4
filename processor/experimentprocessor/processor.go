// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	"github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"
	"github.com/phoenix-platform/otelcol-phoenix/internal/seriesend"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadata"
)

// variant is one pipeline of the experiment: a chain of child processors ending in a capture, or nothing
// (pass-through).
type variant struct {
	name     string
	source   string                   // control.SourceConfig, SourceAPI or SourceDesiredState
	attr     metric.MeasurementOption // variant=<name>, for telemetry
	first    consumer.Metrics         // nil: pass-through
	children []component.Component    // in pipeline order
	steps    []step
	lastLog  atomic.Int64 // unix nanos of the last error logged

	meter *experiment.Meter // under experimentProcessor.mu
	// store holds the variant's output for the rules (nil without rules); the pass-through variants share
	// the input's, which the first of them fills.
	store      *rulefidelity.Store
	fillsStore bool
}

type step struct {
	id  component.ID
	cfg map[string]any
}

// variantSet is what one batch runs: the variants, the baseline and the active one, swapped whole (one
// atomic pointer) by a switch or a variant added or removed, so a batch never sees half a change.
type variantSet struct {
	variants    []*variant // sorted by name
	baseline    *variant
	active      *variant
	passThrough bool // some variant has no processors
}

// with is a copy of the set with the variants and active changed (baseline stays).
func (vs *variantSet) with(variants []*variant, active *variant) *variantSet {
	n := &variantSet{variants: variants, baseline: vs.baseline, active: active}
	for _, v := range variants {
		n.passThrough = n.passThrough || v.first == nil
	}
	return n
}

func (vs *variantSet) find(name string) *variant {
	for _, v := range vs.variants {
		if v.name == name {
			return v
		}
	}
	return nil
}

func (vs *variantSet) names() []string {
	names := make([]string, len(vs.variants))
	for i, v := range vs.variants {
		names[i] = v.name
	}
	return names
}

type experimentProcessor struct {
	id        component.ID
	cfg       *Config
	set       processor.Settings
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time

	state atomic.Pointer[variantSet]
	// handover ends, for a window after a switch in shadow mode, the series the variant that flowed sent
	// and the one that flows now does not (nil when none).
	handover atomic.Pointer[handover]
	// flowed is the variant whose output flowed last (shadow mode): a switch hands over from it, not from
	// an active variant no batch went through.
	flowed atomic.Pointer[variant]
	// continuity keeps the counters two variants both send with different values (other) continuous in
	// what flows, across switches.
	continuity *seriesend.Continuity
	// inflight is held for reading by every batch: a removed variant's chain is shut down once the
	// batches that may still run it are done.
	inflight sync.RWMutex
	// changeMu orders switches and variants added or removed.
	changeMu sync.Mutex
	host     component.Host // from Start: runtime variants are built from its factories
	started  bool

	mu      sync.Mutex // guards the meters and window
	opts    experiment.Options
	winEnds time.Time
	metered bool // a batch was measured: a variant added from now on joins mid-window

	// Scans kept between batches (not a sync.Pool, which every GC empties): their arrays and name caches
	// stay grown to the batch size, so reading a batch allocates nothing.
	scansMu sync.Mutex
	scans   []*experiment.Scan

	rules *ruleEvaluation // nil without a rules: block

	unregister func()
	shutDown   bool
}

var _ control.Experiment = (*experimentProcessor)(nil)

// handover is a switch being handed over: from the variants that flowed (the latest first: a switch made
// while one is handed over carries it on) to the one that flows.
type handover struct {
	from   []*variant
	latest bool // from[0] flowed last: what only it sends is handed over; of the others, what is pending
	to     *variant
	until  time.Time
	ends   *seriesend.Handover
}

func (h *handover) fromNames() []string {
	names := make([]string, len(h.from))
	for i, v := range h.from {
		names[i] = v.name
	}
	return names
}

// readsInput: a variant handed over from is pass-through, so its output is the input.
func (h *handover) readsInput() bool {
	return slices.ContainsFunc(h.from, func(v *variant) bool { return v.first == nil })
}

func newExperimentProcessor(cfg *Config, set processor.Settings) (*experimentProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	patterns, err := cfg.criticalPatterns()
	if err != nil {
		return nil, err
	}
	p := &experimentProcessor{id: set.ID, cfg: cfg, set: set, telemetry: tb, now: time.Now, continuity: seriesend.NewContinuity(),
		opts: experiment.Options{SeriesCap: cfg.SeriesCap, Counters: cfg.Fidelity.Counters, Gauges: cfg.Fidelity.Gauges,
			CriticalAttr: cfg.Critical.Attribute, CriticalPatterns: patterns, VolatileAttrs: cfg.Fidelity.VolatileAttributes,
			Cost: cfg.costOptions()}}
	vs := &variantSet{}
	for _, name := range cfg.variantNames() {
		steps, ok := parseSteps(cfg.Variants[name].Processors)
		if !ok {
			return nil, fmt.Errorf("variant %q: malformed processors", name) // Validate has reported it
		}
		v := newVariant(name, control.SourceConfig, steps)
		vs.variants = append(vs.variants, v)
		vs.passThrough = vs.passThrough || len(v.steps) == 0
		if name == cfg.Baseline {
			vs.baseline = v
		}
		if name == cfg.Active {
			vs.active = v
		}
	}
	if cfg.Rules.enabled() {
		if p.rules, err = newRuleEvaluation(cfg, set.Logger); err != nil {
			return nil, err
		}
		var input *rulefidelity.Store
		for _, v := range vs.variants {
			switch {
			case len(v.steps) > 0:
				v.store, v.fillsStore = p.rules.newStore(), true
			case input == nil:
				input = p.rules.newStore()
				v.store, v.fillsStore = input, true
			default:
				v.store = input
			}
		}
	}
	p.state.Store(vs)
	p.resetMeters(p.now())
	return p, nil
}

func newVariant(name, source string, steps []step) *variant {
	return &variant{name: name, source: source, steps: steps,
		attr: metric.WithAttributeSet(attribute.NewSet(attribute.String("variant", name)))}
}

func (p *experimentProcessor) resetMeters(now time.Time) {
	for _, v := range p.state.Load().variants {
		v.meter = experiment.NewMeter(&p.opts, now)
	}
	p.winEnds = now.Add(p.cfg.Window)
}

type factoryGetter interface {
	GetFactory(kind component.Kind, componentType component.Type) component.Factory
}

// start builds every variant's chain from the host's processor factories, reporting every problem at once,
// starts the children, and registers with the control extension (which adds the runtime variants).
func (p *experimentProcessor) start(ctx context.Context, host component.Host) error {
	if err := p.buildChains(host); err != nil {
		return err
	}
	for _, v := range p.state.Load().variants {
		if err := startChain(ctx, host, v); err != nil {
			_ = p.shutdown(ctx)
			return err
		}
	}
	p.changeMu.Lock()
	p.host, p.started = host, true
	p.changeMu.Unlock()
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

// startChain starts a variant's children, downstream first; on a failure the started ones are shut down.
// A host that keeps status reports (variantHost) fails the start on a fatal error reported during it.
func startChain(ctx context.Context, host component.Host, v *variant) error {
	failure := func() error { return nil }
	if vh, ok := host.(*variantHost); ok {
		failure = vh.startFailure
	}
	for i := len(v.children) - 1; i >= 0; i-- {
		err := v.children[i].Start(ctx, host)
		if err == nil {
			err = failure()
		}
		if err != nil {
			for _, c := range v.children[i:] {
				_ = c.Shutdown(ctx)
			}
			return &startError{variant: v.name, step: i + 1, id: v.steps[i].id.String(), err: err}
		}
	}
	return nil
}

// startError is a step that failed to start.
type startError struct {
	variant, id string
	step        int
	err         error
}

func (e *startError) Error() string {
	return fmt.Sprintf("variant %q: start %s: %v", e.variant, e.id, e.err)
}

func (e *startError) Unwrap() error { return e.err }

func (p *experimentProcessor) buildChains(host component.Host) error {
	fg, _ := host.(factoryGetter)
	var errs []error
	for _, v := range p.state.Load().variants {
		if len(v.steps) == 0 {
			continue
		}
		if fg == nil {
			return errNoFactories
		}
		first, children, problems := buildChain(p.set, v.name, v.steps, hostFactories(fg))
		errs = append(errs, chainErrors(v.name, problems)...)
		v.first, v.children = first, children
	}
	return errors.Join(errs...)
}

var errNoFactories = errors.New("the collector host does not expose processor factories: variants with processors cannot be built")

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
		steps, ok := parseSteps(cfg.Variants[name].Processors)
		if !ok || len(steps) == 0 {
			continue // Validate reports a malformed step
		}
		errs = append(errs, chainErrors(name, checkChain(ctx, set, name, steps, lookup))...)
	}
	return errors.Join(errs...)
}

// checkChain builds a chain and shuts it down unstarted, returning its problems.
func checkChain(ctx context.Context, set processor.Settings, name string, steps []step, lookup FactoryLookup) []control.StepProblem {
	_, children, problems := buildChain(set, name, steps, lookup)
	for _, c := range children {
		_ = c.Shutdown(ctx) // never started: some processors report that, nothing to clean up
	}
	return problems
}

// chainErrors are a chain's problems as config errors.
func chainErrors(variant string, problems []control.StepProblem) []error {
	errs := make([]error, 0, len(problems))
	for _, pr := range problems {
		errs = append(errs, fmt.Errorf("variant %q %s", variant, pr))
	}
	return errs
}

// parseSteps reads a variant's steps; false when one is not a single {type[/name]: config} entry.
func parseSteps(processors []map[string]map[string]any) ([]step, bool) {
	steps := make([]step, 0, len(processors))
	for _, s := range processors {
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
func buildChain(parent processor.Settings, variant string, steps []step, lookup FactoryLookup) (consumer.Metrics, []component.Component, []control.StepProblem) {
	problems := make([]*control.StepProblem, len(steps)) // in step order
	chain := make([]processor.Metrics, len(steps))
	var next consumer.Metrics = capture{}
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		fail := func(err error) {
			problems[i] = &control.StepProblem{Step: i + 1, ID: s.id.String(), Message: oneLine(err.Error())}
		}
		f := lookup(s.id.Type())
		if f == nil {
			problems[i] = &control.StepProblem{Step: i + 1, ID: s.id.String(), Message: fmt.Sprintf("no processor of type %q in this build", s.id.Type())}
			continue
		}
		cfg := f.CreateDefaultConfig()
		if err := confmap.NewFromStringMap(s.cfg).Unmarshal(cfg); err != nil {
			fail(err)
			continue
		}
		if err := confmap.Validate(cfg); err != nil {
			fail(err)
			continue
		}
		set := parent
		set.ID = childID(parent.ID, variant, i, s.id)
		set.TelemetrySettings = childTelemetry(parent.TelemetrySettings, set.ID)
		set.Logger = parent.Logger.With(zap.String("experiment.variant", variant), zap.String("child", set.ID.String()))
		pr, err := f.CreateMetrics(context.Background(), set, cfg, next)
		if err != nil {
			fail(err)
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
	var out []control.StepProblem
	for _, pr := range problems {
		if pr != nil {
			out = append(out, *pr)
		}
	}
	return next, children, out
}

// oneLine joins a multi-line error (confmap's "decoding failed due to the following error(s):\n\n…") into
// one line, for a log line or a problem shown next to its step.
func oneLine(msg string) string {
	lines := strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), " ")
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
	p.changeMu.Lock() // no variant is added or removed from here on
	p.started = false
	p.changeMu.Unlock()
	var errs []error
	for _, v := range p.state.Load().variants {
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
	p.inflight.RLock()
	defer p.inflight.RUnlock()
	vs := p.state.Load() // one set of variants runs the whole batch, whatever changes meanwhile
	active := vs.active
	owner := p.inputOwner(vs, md)
	in := int64(md.DataPointCount()) // before any chain: the owner reduces the input in place
	outs := make([]pmetric.Metrics, len(vs.variants))
	scans := make([]*experiment.Scan, len(vs.variants))
	var inScan *experiment.Scan
	if vs.passThrough {
		inScan = p.getScan()
	}
	scanned := inScan == nil
	var activeErr error
	run := func(i int, v *variant, input pmetric.Metrics) {
		out := pmetric.NewMetrics() // stays empty if the chain drops everything
		err := v.first.ConsumeMetrics(context.WithValue(ctx, captureKey{}, &out), input)
		if err != nil && !errors.Is(err, processorhelper.ErrSkipProcessingData) {
			p.variantError(ctx, v, err)
			if v == active {
				activeErr = err
			}
			return
		}
		outs[i], scans[i] = out, p.scan(out)
		if v.fillsStore {
			v.store.Append(out)
		}
	}
	ownerAt := -1
	for i, v := range vs.variants {
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
	for _, v := range vs.variants { // the input, before the owner's chain changes it
		if v.first == nil && v.fillsStore {
			v.store.Append(md)
		}
	}
	if ownerAt >= 0 { // last: nothing reads the input after it
		run(ownerAt, owner, md)
	}

	p.mu.Lock()
	now := p.now()
	p.metered = true
	if !now.Before(p.winEnds) {
		p.rotate(ctx, now)
	}
	for i, sc := range scans {
		if sc != nil {
			vs.variants[i].meter.Add(sc, now) // a variant removed meanwhile: its meter is no longer read
		}
	}
	p.mu.Unlock()

	for i, v := range vs.variants {
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
		return p.tee(vs, outs), nil
	}
	for i, v := range vs.variants {
		if v == active {
			p.handOver(vs, outs, i, now)
			p.continuity.Apply(outs[i], now)
			p.flowed.Store(v)
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
func (p *experimentProcessor) inputOwner(vs *variantSet, md pmetric.Metrics) *variant {
	switch {
	case md.IsReadOnly():
		return nil
	case p.cfg.Mode == modeTee:
		if vs.passThrough {
			return nil
		}
		return vs.variants[len(vs.variants)-1]
	case vs.active.first == nil:
		return nil
	}
	if h := p.handingOver(vs); h != nil && h.readsInput() {
		return nil // the input is the previous variant's output, which the handover reads
	}
	return vs.active
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
func (p *experimentProcessor) tee(vs *variantSet, outs []pmetric.Metrics) pmetric.Metrics {
	merged := pmetric.NewMetrics()
	passThrough := 0
	for _, v := range vs.variants {
		if v.first == nil {
			passThrough++
		}
	}
	for i, v := range vs.variants {
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
	vs := p.state.Load()
	for _, v := range vs.variants {
		v.meter.Rotate(now)
	}
	for i, st := range p.stats(vs, now) {
		v := vs.variants[i]
		if !st.Pending {
			p.telemetry.ProcessorExperimentSeries.Record(ctx, int64(st.Series), v.attr)
		}
		p.telemetry.ProcessorExperimentStateSeries.Record(ctx, int64(v.meter.StateSeries()), v.attr)
	}
	p.winEnds = now.Add(p.cfg.Window)
	if p.rules != nil {
		stores := make(map[string]*rulefidelity.Store, len(vs.variants))
		for _, v := range vs.variants {
			stores[v.name] = v.store
		}
		p.rules.windowEnded(now, vs.baseline.store, stores)
	}
}

// stats are the variants' figures (under p.mu), in the set's order.
func (p *experimentProcessor) stats(vs *variantSet, now time.Time) []control.VariantStats {
	meters := make([]*experiment.Meter, len(vs.variants))
	baseline := 0
	for i, v := range vs.variants {
		meters[i] = v.meter
		if v == vs.baseline {
			baseline = i
		}
	}
	return experiment.Stats(vs.names(), meters, baseline, now)
}

func (p *experimentProcessor) variantError(ctx context.Context, v *variant, err error) {
	p.telemetry.ProcessorExperimentErrors.Add(ctx, 1, v.attr)
	p.mu.Lock()
	v.meter.Error()
	p.mu.Unlock()
	now := p.now().UnixNano()
	if last := v.lastLog.Load(); now-last >= int64(10*time.Second) && v.lastLog.CompareAndSwap(last, now) {
		p.set.Logger.Warn("variant failed on a batch (logged at most every 10s; see otelcol_processor_experiment_errors)",
			zap.String("variant", v.name), zap.Error(err))
	}
}

func (p *experimentProcessor) recordActive(ctx context.Context) {
	vs := p.state.Load()
	for _, v := range vs.variants {
		var on int64
		if v == vs.active {
			on = 1
		}
		p.telemetry.ProcessorExperimentActive.Record(ctx, on, v.attr)
	}
}

// handingOver is the handover of the switch to vs's active variant, if one is under way.
func (p *experimentProcessor) handingOver(vs *variantSet) *handover {
	if h := p.handover.Load(); h != nil && h.to == vs.active {
		return h
	}
	return nil
}

// handOver ends in the active variant's output (outs[active]) the series the previous variant's output of
// the same batch has and it has not; a window after the switch it stops.
func (p *experimentProcessor) handOver(vs *variantSet, outs []pmetric.Metrics, active int, now time.Time) {
	h := p.handingOver(vs)
	if h == nil {
		return
	}
	if !now.Before(h.until) {
		if p.handover.CompareAndSwap(h, nil) {
			if prevs := p.handedOverFrom(h, vs, outs); prevs != nil {
				h.ends.EndPending(prevs, outs[active], now) // the counters that flowed once more end
			}
			h.ends.Finish(now)
			p.set.Logger.Info("Switch handed over: the series only the previous variant sent were ended",
				zap.Strings("from", h.fromNames()), zap.String("to", h.to.name), zap.Int("series_ended", h.ends.Ended()),
				zap.Int("counters_carried", p.continuity.Series()))
		}
		return
	}
	prevs := p.handedOverFrom(h, vs, outs)
	switch {
	case prevs == nil:
	case h.latest:
		h.ends.End(prevs, outs[active], now)
	default:
		h.ends.EndPending(prevs, outs[active], now)
	}
}

// handedOverFrom is the outputs of this batch of the variants h hands over from, the latest first; nil
// when the latest one's chain failed on it (its series are read at the next batch).
func (p *experimentProcessor) handedOverFrom(h *handover, vs *variantSet, outs []pmetric.Metrics) []pmetric.Metrics {
	prevs := make([]pmetric.Metrics, 0, len(h.from))
	for _, f := range h.from {
		for i, v := range vs.variants {
			if v == f && outs[i] != (pmetric.Metrics{}) { // zero: its chain failed on this batch
				prevs = append(prevs, outs[i])
			}
		}
		if len(prevs) == 0 {
			return nil
		}
	}
	return prevs
}

// nextHandover is the handover of a switch from one variant to another, nil when there is nothing to hand
// over. It hands over from the variant that flowed last, which is not the active one when no batch went
// through it (switched away from before the next batch). A switch made while one is handed over carries
// it on: the series it has not ended yet, the counters still showing a variant's last value, are ended or
// rebased in the same way.
func (p *experimentProcessor) nextHandover(to *variant) *handover {
	now := p.now()
	h := &handover{to: to, until: now.Add(p.cfg.Window)}
	if flowed := p.flowed.Load(); flowed != nil && flowed != to {
		h.from, h.latest = []*variant{flowed}, true
	}
	prev := p.handover.Load()
	if prev != nil && now.Before(prev.until) {
		prev.ends.Switch()
		h.ends = prev.ends
		for _, f := range prev.from {
			if !slices.Contains(h.from, f) && f != to {
				h.from = append(h.from, f)
			}
		}
		return h
	}
	if prev != nil {
		prev.ends.Finish(now)
	}
	if !h.latest {
		return nil
	}
	h.ends = seriesend.NewHandover(p.continuity)
	return h
}

// Name implements control.Experiment.
func (p *experimentProcessor) Name() string { return p.id.String() }

// SetActive implements control.Experiment: one atomic pointer swap.
func (p *experimentProcessor) SetActive(name string) error {
	p.changeMu.Lock()
	defer p.changeMu.Unlock()
	vs := p.state.Load()
	v := vs.find(name)
	if v == nil {
		return fmt.Errorf("%w %q: variants are %v", control.ErrUnknownVariant, name, vs.names())
	}
	if v != vs.active && p.cfg.Mode == modeShadow {
		p.handover.Store(p.nextHandover(v))
	}
	p.state.Store(vs.with(vs.variants, v))
	p.recordActive(context.Background())
	return nil
}

// VariantSteps implements control.Experiment.
func (p *experimentProcessor) VariantSteps(name string) ([]control.ProcessorStep, error) {
	vs := p.state.Load()
	v := vs.find(name)
	if v == nil {
		return nil, fmt.Errorf("%w %q: variants are %v", control.ErrUnknownVariant, name, vs.names())
	}
	steps := make([]control.ProcessorStep, 0, len(v.steps))
	for _, s := range v.steps {
		steps = append(steps, control.ProcessorStep{ID: s.id.String(), Config: s.cfg})
	}
	return steps, nil
}

// Snapshot implements control.Experiment.
func (p *experimentProcessor) Snapshot() control.ExperimentSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	vs := p.state.Load()
	stats := p.stats(vs, now)
	for i, v := range vs.variants {
		stats[i].Active = v == vs.active
		stats[i].PassThrough = len(v.steps) == 0
		stats[i].Source = v.source
		if p.rules != nil && !stats[i].Pending {
			stats[i].Rules = p.rules.stats(v.name)
		}
	}
	start, end, complete := vs.baseline.meter.Window(now)
	return control.ExperimentSnapshot{
		Name: p.Name(), Mode: p.cfg.Mode, Baseline: vs.baseline.name, Active: vs.active.name,
		Window: p.cfg.Window, WindowStart: start, WindowEnd: end, Complete: complete, Variants: stats,
	}
}
