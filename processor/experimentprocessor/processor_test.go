// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadatatest"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

// testHost offers processor factories and extensions, as the collector's host does.
type testHost struct {
	component.Host
	factories map[component.Type]processor.Factory
	exts      map[component.ID]component.Component
}

func newHost() *testHost {
	h := &testHost{Host: componenttest.NewNopHost(), factories: map[component.Type]processor.Factory{}, exts: map[component.ID]component.Component{}}
	for _, f := range []processor.Factory{topkprocessor.NewFactory(), filterprocessor.NewFactory(), transformprocessor.NewFactory(), failingFactory()} {
		h.factories[f.Type()] = f
	}
	return h
}

func (h *testHost) GetFactory(kind component.Kind, t component.Type) component.Factory {
	if kind != component.KindProcessor {
		return nil
	}
	if f, ok := h.factories[t]; ok {
		return f
	}
	return nil
}

func (h *testHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// failingFactory makes a processor that fails on every batch, for error semantics.
var errFailing = errors.New("failing on purpose")

func failingFactory() processor.Factory {
	return processor.NewFactory(component.MustNewType("failing"), func() component.Config { return &struct{}{} },
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			return processorhelper.NewMetrics(ctx, set, cfg, next, func(context.Context, pmetric.Metrics) (pmetric.Metrics, error) {
				return pmetric.Metrics{}, errFailing
			})
		}, component.StabilityLevelDevelopment))
}

var (
	loadOnce sync.Once
	load     []pmetric.Metrics
)

// batches returns simulated_process output: 6 consecutive scrapes of a 300-process node under chaos.
func batches(t testing.TB) []pmetric.Metrics {
	loadOnce.Do(func() {
		load = receivercapture.Capture(t, simulatedprocessreceiver.NewFactory(),
			map[string]any{"processes": 300, "seed": 9, "profile": "chaos", "collection_interval": "50ms"}, 6)
		receivercapture.Regular(load, 50*time.Millisecond) // gauge figures follow the gaps between samples
	})
	out := make([]pmetric.Metrics, len(load))
	for i, md := range load {
		out[i] = pmetric.NewMetrics()
		md.CopyTo(out[i])
	}
	return out
}

func config(t testing.TB, conf map[string]any) *Config {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	return cfg
}

type started struct {
	processor.Metrics
	exp *experimentProcessor
}

func start(t testing.TB, cfg *Config, next consumer.Metrics, host *testHost) started {
	set := processortest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("experiment", "process")
	return startWith(t, cfg, next, host, set)
}

func startWith(t testing.TB, cfg *Config, next consumer.Metrics, host *testHost, set processor.Settings) started {
	var exp *experimentProcessor
	p, err := createMetricsProcessor(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	reg := host.exts[component.MustNewID("phoenix_control")]
	if r, ok := reg.(*fakeRegistry); ok && len(r.experiments) > 0 {
		exp = r.experiments[len(r.experiments)-1].(*experimentProcessor)
	}
	return started{Metrics: p, exp: exp}
}

var chains = map[string][]any{
	"filter": {map[string]any{"filter": map[string]any{"error_mode": "ignore",
		"metrics": map[string]any{"datapoint": []any{`metric.name == "process.disk.io"`}}}}},
	"transform": {map[string]any{"transform": map[string]any{"error_mode": "ignore",
		"metric_statements": []any{map[string]any{"context": "resource", "statements": []any{`delete_key(attributes, "process.command_line")`}}}}}},
	"topk":  {map[string]any{"topk": map[string]any{"k": 20}}},
	"chain": {map[string]any{"topk": map[string]any{"k": 20}}, map[string]any{"transform": map[string]any{"error_mode": "ignore", "metric_statements": []any{map[string]any{"context": "resource", "statements": []any{`set(attributes["reduced"], true)`}}}}}},
}

// TestShadowEqualsPlainPipeline: in shadow mode, what flows downstream is exactly what the active chain
// produces as an ordinary pipeline on the same input — for filter, transform, topk and a two-step chain.
func TestShadowEqualsPlainPipeline(t *testing.T) {
	for name, steps := range chains {
		t.Run(name, func(t *testing.T) {
			variants := map[string]any{"full": map[string]any{}, "candidate": map[string]any{"processors": steps}}
			for other, s := range chains { // every other chain runs alongside, in shadow
				if other != name {
					variants["shadow_"+other] = map[string]any{"processors": s}
				}
			}
			cfg := config(t, map[string]any{"baseline": "full", "active": "candidate", "variants": variants})
			got := new(consumertest.MetricsSink)
			exp := start(t, cfg, got, newHost())

			want := new(consumertest.MetricsSink)
			plain := plainPipeline(t, steps, want)
			for _, md := range batches(t) {
				ref := pmetric.NewMetrics()
				md.CopyTo(ref)
				require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
				require.NoError(t, plain.ConsumeMetrics(context.Background(), ref))
			}
			require.Len(t, got.AllMetrics(), len(want.AllMetrics()))
			for i := range want.AllMetrics() {
				require.NoError(t, pmetrictest.CompareMetrics(want.AllMetrics()[i], got.AllMetrics()[i]), "batch %d", i)
			}
		})
	}
}

// plainPipeline builds the chain as ordinary processors in front of next.
func plainPipeline(t testing.TB, steps []any, next consumer.Metrics) consumer.Metrics {
	h := newHost()
	for i := len(steps) - 1; i >= 0; i-- {
		for id, c := range steps[i].(map[string]any) {
			f := h.factories[component.MustNewType(id)]
			cfg := f.CreateDefaultConfig()
			require.NoError(t, confmap.NewFromStringMap(c.(map[string]any)).Unmarshal(cfg))
			p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), h))
			t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
			next = p
		}
	}
	return next
}

// TestInputNeverMutated: variants work on copies; the pass-through variant gets none, and its output is
// the input itself.
func TestInputNeverMutated(t *testing.T) {
	variants := map[string]any{"full": map[string]any{}}
	for name, s := range chains {
		variants[name] = map[string]any{"processors": s}
	}
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": variants})
	got := new(consumertest.MetricsSink)
	exp := start(t, cfg, got, newHost())
	for _, md := range batches(t) {
		before := pmetric.NewMetrics()
		md.CopyTo(before)
		require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
		require.NoError(t, pmetrictest.CompareMetrics(before, md), "the input changed")
		require.Equal(t, md, got.AllMetrics()[len(got.AllMetrics())-1], "pass-through output is the input, not a copy")
	}
}

func TestErrorsShadowCountedActiveReturned(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.ID = component.MustNewIDWithName("experiment", "process")
	variants := map[string]any{"full": map[string]any{}, "broken": map[string]any{"processors": []any{map[string]any{"failing": nil}}}}

	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": variants})
	sink := new(consumertest.MetricsSink)
	shadow := startWith(t, cfg, sink, newHost(), set)
	for _, md := range batches(t)[:3] {
		require.NoError(t, shadow.ConsumeMetrics(context.Background(), md), "a shadow variant's error is not returned")
	}
	assert.Len(t, sink.AllMetrics(), 3, "the active output still flows")
	metadatatest.AssertEqualProcessorExperimentErrors(t, tt, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attrVariant("broken")}}, metricdatatest.IgnoreTimestamp())

	cfg = config(t, map[string]any{"baseline": "full", "active": "broken", "variants": variants})
	active := start(t, cfg, new(consumertest.MetricsSink), newHost())
	err := active.ConsumeMetrics(context.Background(), batches(t)[0])
	require.ErrorIs(t, err, errFailing, "the active variant's error goes upstream (retries, backpressure)")
}

func TestStartReportsEveryChildProblem(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full":  map[string]any{},
		"typo":  map[string]any{"processors": []any{map[string]any{"topkk": map[string]any{"k": 3}}}},
		"badk":  map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": -1}}}},
		"field": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"kay": 3}}}},
	}})
	p, err := createMetricsProcessor(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = p.Start(context.Background(), newHost())
	require.Error(t, err)
	for _, want := range []string{`variant "typo" processor 1 (topkk): no processor of type "topkk"`, `variant "badk" processor 1 (topk): k -1`, `variant "field" processor 1 (topk)`, "kay"} {
		assert.ErrorContains(t, err, want)
	}
	require.NoError(t, p.Shutdown(context.Background()))
}

// TestMeasurement: series, savings and fidelity of a pass-through baseline, a totals-preserving topk and a
// filter that drops a counter.
func TestMeasurement(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "1h",
		"critical": map[string]any{"attribute": "process.executable.name", "patterns": []any{"^kubelet$", "^containerd$"}},
		"variants": map[string]any{
			"full": map[string]any{},
			"top20": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 20,
				"keep": map[string]any{"patterns": []any{"^kubelet$", "^containerd$"}}}}}},
			"nodisk": map[string]any{"processors": chains["filter"]},
			"top1":   map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 1, "keep": map[string]any{"patterns": []any{}}}}}},
		}})
	reg := &fakeRegistry{}
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = reg
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, consumertest.NewNop(), host)
	in := batches(t)
	var want uint64
	seen := map[string]bool{}
	for _, md := range in {
		forEachSeries(md, func(id string) {
			if !seen[id] {
				seen[id] = true
				want++
			}
		})
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}
	snap := p.exp.Snapshot()
	assert.False(t, snap.Complete, "the first window is still running")
	full, _ := snap.Variant("full")
	top, _ := snap.Variant("top20")
	nodisk, _ := snap.Variant("nodisk")
	top1, _ := snap.Variant("top1")

	assert.Equal(t, want, full.Series, "exact distinct series")
	assert.True(t, full.SeriesExact)
	require.NotNil(t, full.Fidelity)
	assert.Equal(t, 1.0, *full.Fidelity)
	assert.Zero(t, full.SeriesSavings)
	assert.True(t, full.Active && full.Baseline && full.PassThrough)

	assert.Greater(t, top.SeriesSavings, 0.5, "top 20 of 300 saves most series")
	assert.Greater(t, top.DatapointSavings, 0.5)
	assert.Greater(t, top.ByteSavings, 0.5)
	// Sums exactly; gauges within 0.1%: a series' first sample is counted for the usual gap between
	// samples, which the meter learns as it goes.
	require.NotNil(t, top.Fidelity)
	assert.InDelta(t, 1, top.MetricFidelity["process.cpu.time"], 1e-9, "topk preserves totals: %v", top.MetricFidelity)
	assert.InDelta(t, 1, top.MetricFidelity["process.disk.io"], 1e-9)
	assert.InDelta(t, 1, *top.Fidelity, 1e-3, "topk preserves totals: %v", top.MetricFidelity)
	assert.Equal(t, 1.0, top.CriticalVisible, "kubelet and containerd kept")

	assert.Less(t, nodisk.MetricFidelity["process.disk.io"], 0.01, "a dropped counter has no fidelity")
	assert.InDelta(t, 1, nodisk.MetricFidelity["process.cpu.time"], 1e-9)
	require.NotNil(t, nodisk.Fidelity)
	assert.Equal(t, *nodisk.Fidelity, nodisk.MetricFidelity["process.disk.io"], "overall fidelity is the lowest")

	assert.Less(t, top1.CriticalVisible, 1.0, "without a keep list critical processes fall into other")
}

// TestMeasurementIndependentOfActive: which variant flows on, and so which one takes the input itself
// instead of a copy, changes nothing in what is measured, for any variant.
func TestMeasurementIndependentOfActive(t *testing.T) {
	snapshot := func(mode, active string) []control.VariantStats {
		cfg := config(t, map[string]any{"baseline": "full", "active": active, "mode": mode, "window": "1h",
			"variants": map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]},
				"nodisk": map[string]any{"processors": chains["filter"]}, "chain": map[string]any{"processors": chains["chain"]}}})
		reg := &fakeRegistry{}
		host := newHost()
		host.exts[component.MustNewID("phoenix_control")] = reg
		cfg.Control = component.MustNewID("phoenix_control")
		p := start(t, cfg, consumertest.NewNop(), host)
		for _, md := range batches(t) {
			require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		}
		stats := p.exp.Snapshot().Variants
		for i := range stats {
			stats[i].Active = false
			stats[i].DatapointsPerSecond, stats[i].BytesPerSecond = 0, 0 // depend on the wall clock
		}
		return stats
	}
	want := snapshot("shadow", "full") // the input flows on: every processing variant gets a copy
	for _, run := range [][2]string{{"shadow", "top20"}, {"shadow", "nodisk"}, {"shadow", "chain"}} {
		got := snapshot(run[0], run[1])
		for i := range want {
			for m, f := range want[i].MetricFidelity { // rates over a window measured on the wall clock
				assert.InDelta(t, f, got[i].MetricFidelity[m], 1e-3, "%s active %s: %s %s", run[0], run[1], want[i].Name, m)
			}
			got[i].MetricFidelity, got[i].Fidelity = want[i].MetricFidelity, want[i].Fidelity
			assert.Equal(t, want[i], got[i], "%s active %s", run[0], run[1])
		}
	}
}

func forEachSeries(md pmetric.Metrics, f func(id string)) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			dps := ms.At(j).Sum().DataPoints()
			if ms.At(j).Type() == pmetric.MetricTypeGauge {
				dps = ms.At(j).Gauge().DataPoints()
			}
			for k := 0; k < dps.Len(); k++ {
				f(fmt.Sprint(rm.Resource().Attributes().AsRaw(), ms.At(j).Name(), dps.At(k).Attributes().AsRaw()))
			}
		}
	}
}

func TestWindowsRotateOnTheClock(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "10s",
		"variants": map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}})
	reg := &fakeRegistry{}
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = reg
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, consumertest.NewNop(), host)
	now := time.Unix(1_800_000_000, 0)
	p.exp.now = func() time.Time { return now }
	p.exp.mu.Lock()
	p.exp.resetMeters(now)
	p.exp.mu.Unlock()
	in := batches(t)
	want := 0
	for _, md := range in[:4] { // at 0s, 3s, 6s, 9s: one window
		want += md.DataPointCount()
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		now = now.Add(3 * time.Second)
		assert.False(t, p.exp.Snapshot().Complete)
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), in[4])) // at 12s: the first window closes
	snap := p.exp.Snapshot()
	require.True(t, snap.Complete)
	assert.Equal(t, 12*time.Second, snap.WindowEnd.Sub(snap.WindowStart))
	full, _ := snap.Variant("full")
	assert.Equal(t, uint64(want), full.Datapoints, "the closed window holds exactly its batches")
	assert.InDelta(t, float64(want)/12, full.DatapointsPerSecond, 1e-9)
}

func TestTeeTagsEveryVariant(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "mode": "tee", "variants": map[string]any{
		"full": map[string]any{}, "also_full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}})
	sink := new(consumertest.MetricsSink)
	p := start(t, cfg, sink, newHost())
	md := batches(t)[0]
	n := md.ResourceMetrics().Len()
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	count := map[string]int{}
	out := sink.AllMetrics()[0]
	for i := 0; i < out.ResourceMetrics().Len(); i++ {
		v, ok := out.ResourceMetrics().At(i).Resource().Attributes().Get("phoenix.variant")
		require.True(t, ok, "every resource is tagged")
		count[v.Str()]++
	}
	assert.Equal(t, n, count["full"])
	assert.Equal(t, n, count["also_full"], "two pass-through variants do not share one copy")
	assert.Positive(t, count["top20"])
	assert.Less(t, count["top20"], n)
}

// TestTeeWithoutPassThroughEqualsPlainPipelines: when no variant passes the input through, one variant
// takes the input itself; each variant's tagged output is still exactly its chain's as a plain pipeline.
func TestTeeWithoutPassThroughEqualsPlainPipelines(t *testing.T) {
	names := []string{"filter", "topk", "transform"}
	variants := map[string]any{}
	for _, n := range names {
		variants[n] = map[string]any{"processors": chains[n]}
	}
	cfg := config(t, map[string]any{"baseline": "filter", "active": "topk", "mode": "tee", "variants": variants})
	got := new(consumertest.MetricsSink)
	p := start(t, cfg, got, newHost())
	want := map[string]*consumertest.MetricsSink{}
	plain := map[string]consumer.Metrics{}
	for _, n := range names {
		want[n] = new(consumertest.MetricsSink)
		plain[n] = plainPipeline(t, chains[n], want[n])
	}
	for _, md := range batches(t) {
		for _, n := range names {
			ref := pmetric.NewMetrics()
			md.CopyTo(ref)
			require.NoError(t, plain[n].ConsumeMetrics(context.Background(), ref))
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}
	for b, out := range got.AllMetrics() {
		split := map[string]pmetric.Metrics{}
		for _, n := range names {
			split[n] = pmetric.NewMetrics()
		}
		out.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			v, _ := rm.Resource().Attributes().Get("phoenix.variant")
			rm.Resource().Attributes().Remove("phoenix.variant")
			rm.CopyTo(split[v.Str()].ResourceMetrics().AppendEmpty())
			return true
		})
		for _, n := range names {
			require.NoError(t, pmetrictest.CompareMetrics(want[n].AllMetrics()[b], split[n]), "batch %d variant %s", b, n)
		}
	}
}

type fakeRegistry struct {
	component.StartFunc
	component.ShutdownFunc
	mu          sync.Mutex
	experiments []control.Experiment
}

func (r *fakeRegistry) RegisterExperiment(e control.Experiment) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.experiments = append(r.experiments, e)
	return func() {}
}

func (r *fakeRegistry) RegisterSimulator(string, control.Simulator) func() { return func() {} }

func TestControlRegistration(t *testing.T) {
	variants := map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}
	host := newHost()
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "control": "phoenix_control", "variants": variants})
	p, err := createMetricsProcessor(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, p.Start(context.Background(), host), "extension phoenix_control is not configured")
	require.NoError(t, p.Shutdown(context.Background()))

	host.exts[component.MustNewID("phoenix_control")] = nopExtension{} // not a registry
	p, err = createMetricsProcessor(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, p.Start(context.Background(), host), "is not a phoenix_control extension")
	require.NoError(t, p.Shutdown(context.Background()))

	reg := &fakeRegistry{}
	host.exts[component.MustNewID("phoenix_control")] = reg
	s := start(t, cfg, consumertest.NewNop(), host)
	require.Len(t, reg.experiments, 1)
	e := reg.experiments[0]
	assert.Equal(t, "experiment/process", e.Name())
	assert.Equal(t, "full", e.Snapshot().Active)
	require.NoError(t, e.SetActive("top20"))
	assert.Equal(t, "top20", e.Snapshot().Active)
	require.ErrorIs(t, e.SetActive("nope"), control.ErrUnknownVariant)
	assert.Equal(t, "top20", e.Snapshot().Active, "a rejected switch changes nothing")
	_ = s
}

type nopExtension struct {
	component.StartFunc
	component.ShutdownFunc
}

// TestAtomicSwitchUnderLoad: batches flow from several goroutines while the active variant flips; every
// batch arrives exactly once, whole, from exactly one variant.
func TestAtomicSwitchUnderLoad(t *testing.T) {
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full":   map[string]any{},
		"tagged": map[string]any{"processors": []any{map[string]any{"transform": map[string]any{"metric_statements": []any{map[string]any{"context": "resource", "statements": []any{`set(attributes["tagged"], true)`}}}}}}},
	}})
	sink := new(consumertest.MetricsSink)
	reg := &fakeRegistry{}
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = reg
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, sink, host)
	base := batches(t)[0]

	const senders, perSender = 4, 50
	var stop atomic.Bool
	switches := make(chan struct{})
	go func() {
		defer close(switches)
		for i := 0; !stop.Load(); i++ {
			_ = p.exp.SetActive([]string{"full", "tagged"}[i%2])
		}
	}()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range perSender {
				md := pmetric.NewMetrics()
				base.CopyTo(md)
				id := fmt.Sprintf("%d-%d", s, b)
				for i := 0; i < md.ResourceMetrics().Len(); i++ {
					md.ResourceMetrics().At(i).Resource().Attributes().PutStr("batch", id)
				}
				assert.NoError(t, p.ConsumeMetrics(context.Background(), md))
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-switches

	seen := map[string]int{}
	byVariant := map[bool]int{}
	for _, md := range sink.AllMetrics() {
		md = withoutHandover(md) // a switch ends the series only the previous variant sent (tagged or not)
		require.Equal(t, base.DataPointCount(), md.DataPointCount(), "a batch arrives whole")
		rms := md.ResourceMetrics()
		id, _ := rms.At(0).Resource().Attributes().Get("batch")
		_, tagged := rms.At(0).Resource().Attributes().Get("tagged")
		for i := 0; i < rms.Len(); i++ {
			a := rms.At(i).Resource().Attributes()
			b, _ := a.Get("batch")
			require.Equal(t, id.Str(), b.Str(), "one batch per delivery")
			_, tg := a.Get("tagged")
			require.Equal(t, tagged, tg, "a batch is never split across variants")
		}
		seen[id.Str()]++
		byVariant[tagged]++
	}
	require.Len(t, seen, senders*perSender, "none lost")
	for id, n := range seen {
		require.Equal(t, 1, n, "batch %s duplicated", id)
	}
	assert.Positive(t, byVariant[true], "some batches went through the tagged variant")
	assert.Positive(t, byVariant[false], "some through pass-through")
}

func TestTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.ID = component.MustNewIDWithName("experiment", "process")
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full": map[string]any{}, "nodisk": map[string]any{"processors": chains["filter"]}}})
	p := startWith(t, cfg, consumertest.NewNop(), newHost(), set)
	md := batches(t)[0]
	n := int64(md.DataPointCount())
	disk := int64(0)
	forEachSeries(md, func(id string) {})
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() == "process.disk.io" {
				disk += int64(ms.At(j).Sum().DataPoints().Len())
			}
		}
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	metadatatest.AssertEqualProcessorExperimentDatapointsIn(t, tt, []metricdata.DataPoint[int64]{
		{Value: n, Attributes: attrVariant("full")}, {Value: n, Attributes: attrVariant("nodisk")}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorExperimentDatapointsOut(t, tt, []metricdata.DataPoint[int64]{
		{Value: n, Attributes: attrVariant("full")}, {Value: n - disk, Attributes: attrVariant("nodisk")}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorExperimentActive(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attrVariant("full")}, {Value: 0, Attributes: attrVariant("nodisk")}}, metricdatatest.IgnoreTimestamp())
}

func attrVariant(name string) attribute.Set {
	return attribute.NewSet(attribute.String("variant", name))
}

// TestChildTelemetryIsTheChilds: two topk variants report their own telemetry, told apart by their own
// IDs, not merged into one series.
func TestChildTelemetryIsTheChilds(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.ID = component.MustNewIDWithName("experiment", "process")
	top := func(k int) map[string]any {
		return map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": k}}}}
	}
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full": map[string]any{}, "top5": top(5), "top10": top(10)}})
	p := startWith(t, cfg, consumertest.NewNop(), newHost(), set)
	require.NoError(t, p.ConsumeMetrics(context.Background(), batches(t)[0]))

	m, err := tt.GetMetric("otelcol_processor_topk_resources_kept")
	require.NoError(t, err)
	kept := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		id, _ := dp.Attributes.Value(childAttribute)
		kept[id.AsString()] += dp.Value
	}
	assert.Equal(t, map[string]int64{"topk/process.top10.0": 10, "topk/process.top5.0": 5}, kept)
}
