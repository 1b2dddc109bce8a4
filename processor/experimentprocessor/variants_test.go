// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor/internal/metadata"
)

func definition(name string, steps ...any) control.VariantDefinition {
	def := control.VariantDefinition{Name: name}
	for _, s := range steps {
		m := map[string]map[string]any{}
		for id, cfg := range s.(map[string]any) {
			m[id] = cfg.(map[string]any)
		}
		def.Processors = append(def.Processors, m)
	}
	return def
}

func tagStep(attr string) map[string]any {
	return map[string]any{"transform/" + attr: map[string]any{"metric_statements": []any{map[string]any{"context": "resource",
		"statements": []any{fmt.Sprintf(`set(attributes[%q], true)`, attr)}}}}}
}

// startControlled starts an experiment registered with a fake control extension, on a clock the test moves.
func startControlled(t *testing.T, conf map[string]any, next consumer.Metrics, host *testHost) (started, *time.Time) {
	cfg := config(t, conf)
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg.Control = component.MustNewID("phoenix_control")
	p := start(t, cfg, next, host)
	now := time.Unix(1_800_000_000, 0)
	p.exp.now = func() time.Time { return now }
	p.exp.mu.Lock()
	p.exp.resetMeters(now)
	p.exp.mu.Unlock()
	return p, &now
}

// TestRuntimeVariantMeasuredFromNextWindow: a variant added mid-window is pending until the first whole
// window after it completes; then its figures are those of the same chain defined in the config.
func TestRuntimeVariantMeasuredFromNextWindow(t *testing.T) {
	p, now := startControlled(t, map[string]any{"baseline": "full", "active": "full", "window": "15s",
		"variants": map[string]any{"full": map[string]any{}, "tagged": map[string]any{"processors": []any{tagStep("tagged")}}}},
		consumertest.NewNop(), newHost())
	in := batches(t)
	feed := func(md pmetric.Metrics) {
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		*now = now.Add(5 * time.Second)
	}
	feed(in[0])
	feed(in[1])
	require.NoError(t, p.exp.AddVariant(context.Background(), definition("tagged2", tagStep("tagged")), control.SourceAPI))
	pending := func() bool {
		v, ok := p.exp.Snapshot().Variant("tagged2")
		require.True(t, ok)
		assert.Equal(t, control.SourceAPI, v.Source)
		return v.Pending
	}
	assert.True(t, pending())
	feed(in[2]) // at 10s, in the window it joined
	assert.True(t, pending())
	feed(in[3]) // at 15s: that window closes, not reported for it
	assert.True(t, pending(), "the partial window is not its first")
	feed(in[4])
	feed(in[5])
	assert.True(t, pending())
	feed(batches(t)[0]) // at 30s: its first whole window closes
	snap := p.exp.Snapshot()
	got, _ := snap.Variant("tagged2")
	want, _ := snap.Variant("tagged")
	require.False(t, got.Pending)
	assert.Positive(t, got.Series)
	assert.Equal(t, want.Series, got.Series, "the same chain, the same figures")
	assert.Equal(t, want.Datapoints, got.Datapoints)
	assert.Equal(t, want.Bytes, got.Bytes)
	require.NotNil(t, got.Fidelity)
	// Its series continue from the window it joined in: counters grow from their samples there, gauges
	// were counted ahead with the baseline's usual gap (the smoothed gap drifts by a few parts in 10^8).
	assert.InDelta(t, *want.Fidelity, *got.Fidelity, 1e-6)
	for name, f := range want.MetricFidelity {
		assert.InDelta(t, f, got.MetricFidelity[name], 1e-6, name)
	}
	assert.Equal(t, want.MetricFidelity["process.cpu.time"], got.MetricFidelity["process.cpu.time"])
	assert.Equal(t, control.SourceConfig, want.Source)
}

// TestRuntimeVariantErrors: every refusal says why, and changes nothing.
func TestRuntimeVariantErrors(t *testing.T) {
	p, _ := startControlled(t, map[string]any{"baseline": "full", "active": "top20", "max_variants": 3, "max_chain_length": 2,
		"variants": map[string]any{"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}},
		consumertest.NewNop(), newHost())
	ctx := context.Background()
	err := p.exp.AddVariant(ctx, control.VariantDefinition{Name: "9bad", Processors: []map[string]map[string]any{
		{"topk": {"k": -1}}, {"nosuch": {}}, {"batch": {}}}}, control.SourceAPI)
	var invalid *control.InvalidChainError
	require.ErrorAs(t, err, &invalid)
	steps := map[int]string{}
	for _, pr := range invalid.Problems {
		steps[pr.Step] += pr.Message
	}
	assert.Contains(t, steps[0], `name "9bad"`)
	assert.Contains(t, steps[0], "max_chain_length (2)")
	assert.Contains(t, steps[1], "k -1")
	assert.Contains(t, steps[2], `no processor of type "nosuch"`)
	assert.Contains(t, steps[3], "asynchronous")

	err = p.exp.AddVariant(ctx, definition("nested", map[string]any{"experiment/x": map[string]any{}}), control.SourceAPI)
	require.ErrorAs(t, err, &invalid)
	assert.Contains(t, invalid.Error(), "an experiment cannot run inside a variant")
	assert.ErrorIs(t, p.exp.AddVariant(ctx, definition("top20", chains["topk"][0]), control.SourceAPI), control.ErrVariantExists)
	require.NoError(t, p.exp.AddVariant(ctx, definition("top30", map[string]any{"topk": map[string]any{"k": 30}}), control.SourceAPI))
	assert.ErrorIs(t, p.exp.AddVariant(ctx, definition("top40", map[string]any{"topk": map[string]any{"k": 40}}), control.SourceAPI), control.ErrVariantLimit)
	err = p.exp.CheckVariant(ctx, definition("top40", map[string]any{"topk": map[string]any{"k": 40}}))
	require.ErrorAs(t, err, &invalid, "validation says what adding it would: the limit too")
	assert.Contains(t, invalid.Error(), "max_variants is 3")

	assert.ErrorIs(t, p.exp.RemoveVariant(ctx, "full"), control.ErrVariantProtected, "the baseline")
	assert.ErrorIs(t, p.exp.RemoveVariant(ctx, "top20"), control.ErrVariantProtected, "active, and from the config")
	require.NoError(t, p.exp.SetActive("top30"))
	assert.ErrorIs(t, p.exp.RemoveVariant(ctx, "top30"), control.ErrVariantProtected, "active")
	require.NoError(t, p.exp.SetActive("full"))
	assert.ErrorIs(t, p.exp.RemoveVariant(ctx, "top20"), control.ErrVariantProtected, "from the config")
	assert.ErrorIs(t, p.exp.RemoveVariant(ctx, "nope"), control.ErrUnknownVariant)
	require.NoError(t, p.exp.RemoveVariant(ctx, "top30"))
	assert.Len(t, p.exp.Snapshot().Variants, 2)
	assert.ErrorIs(t, p.exp.SetActive("top30"), control.ErrUnknownVariant, "gone")
	require.NoError(t, p.exp.CheckVariant(ctx, definition("top30", map[string]any{"topk": map[string]any{"k": 30}})))
}

// lifecycleFactory makes pass-through processors that count their starts and the shutdowns of started ones,
// and panic on a batch after their shutdown, to prove no batch runs a removed chain.
func lifecycleFactory(started, stopped *atomic.Int64) processor.Factory {
	return processor.NewFactory(component.MustNewType("lifecycle"), func() component.Config { return &struct{}{} },
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			var up, down atomic.Bool
			return processorhelper.NewMetrics(ctx, set, cfg, next,
				func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
					if down.Load() {
						panic("a batch ran through a chain that was shut down")
					}
					return md, nil
				},
				processorhelper.WithStart(func(context.Context, component.Host) error { up.Store(true); started.Add(1); return nil }),
				processorhelper.WithShutdown(func(context.Context) error {
					if up.Load() {
						down.Store(true)
						stopped.Add(1)
					}
					return nil
				}))
		}, component.StabilityLevelDevelopment))
}

// TestVariantChangesUnderLoad: batches flow from several goroutines while a variant is added, made active,
// switched away from and removed, again and again: every batch arrives exactly once, whole, from exactly
// one variant, and no batch runs through a chain after its shutdown.
func TestVariantChangesUnderLoad(t *testing.T) {
	var starts, stops atomic.Int64
	host := newHost()
	f := lifecycleFactory(&starts, &stops)
	host.factories[f.Type()] = f
	allowAtRuntime(t, "lifecycle")
	sink := new(consumertest.MetricsSink)
	p, _ := startControlled(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full": map[string]any{}, "tagged": map[string]any{"processors": []any{tagStep("tagged")}}}}, sink, host)
	p.exp.now = time.Now
	base := batches(t)[0]

	const senders, perSender = 4, 60
	var stop atomic.Bool
	changes := make(chan int)
	go func() {
		n := 0
		defer func() { changes <- n }()
		extra := definition("extra", map[string]any{"lifecycle": map[string]any{}}, tagStep("extra"))
		for i := 0; !stop.Load(); i++ {
			ctx := context.Background()
			assert.NoError(t, p.exp.AddVariant(ctx, extra, control.SourceAPI))
			assert.NoError(t, p.exp.SetActive([]string{"extra", "tagged", "full"}[i%3]))
			if i%3 == 0 { // active long enough to carry batches of its own, not only for an instant
				delivered := len(sink.AllMetrics())
				for deadline := time.Now().Add(200 * time.Millisecond); len(sink.AllMetrics()) == delivered &&
					time.Now().Before(deadline) && !stop.Load(); {
					runtime.Gosched()
				}
			}
			assert.NoError(t, p.exp.SetActive([]string{"full", "tagged"}[i%2]))
			assert.NoError(t, p.exp.RemoveVariant(ctx, "extra"))
			n++
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
	rounds := <-changes
	require.Positive(t, rounds)
	assert.Equal(t, int64(rounds), starts.Load(), "each added chain started once")
	assert.Equal(t, int64(rounds), stops.Load(), "each removed chain shut down once")

	seen := map[string]int{}
	byVariant := map[string]int{}
	for _, md := range sink.AllMetrics() {
		md = withoutHandover(md) // a switch ends the series only the previous variant sent (tagged or not)
		require.Equal(t, base.DataPointCount(), md.DataPointCount(), "a batch arrives whole")
		rms := md.ResourceMetrics()
		id, _ := rms.At(0).Resource().Attributes().Get("batch")
		variantOf := func(i int) string {
			a := rms.At(i).Resource().Attributes()
			for _, tag := range []string{"tagged", "extra"} {
				if _, ok := a.Get(tag); ok {
					return tag
				}
			}
			return "full"
		}
		first := variantOf(0)
		for i := 0; i < rms.Len(); i++ {
			b, _ := rms.At(i).Resource().Attributes().Get("batch")
			require.Equal(t, id.Str(), b.Str(), "one batch per delivery")
			require.Equal(t, first, variantOf(i), "a batch is never split across variants")
		}
		seen[id.Str()]++
		byVariant[first]++
	}
	require.Len(t, seen, senders*perSender, "none lost")
	for id, n := range seen {
		require.Equal(t, 1, n, "batch %s duplicated", id)
	}
	t.Logf("%d add/switch/remove rounds; batches by variant: %v", rounds, byVariant)
	require.Positive(t, byVariant["extra"], "the runtime variant carried batches, whole and once")
}

// TestRuntimeVariantInTee: in tee mode a batch carries the new variant's output whole or not at all.
func TestRuntimeVariantInTee(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	p, _ := startControlled(t, map[string]any{"baseline": "full", "active": "full", "mode": "tee", "variants": map[string]any{
		"full": map[string]any{}}}, sink, newHost())
	in := batches(t)
	require.NoError(t, p.ConsumeMetrics(context.Background(), in[0]))
	require.NoError(t, p.exp.AddVariant(context.Background(), definition("tagged", tagStep("tagged")), control.SourceAPI))
	require.NoError(t, p.ConsumeMetrics(context.Background(), in[1]))
	out := sink.AllMetrics()
	require.Len(t, out, 2)
	count := func(md pmetric.Metrics) map[string]int {
		n := map[string]int{}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			v, _ := md.ResourceMetrics().At(i).Resource().Attributes().Get("phoenix.variant")
			n[v.Str()] += md.ResourceMetrics().At(i).ScopeMetrics().Len()
		}
		return n
	}
	assert.NotContains(t, count(out[0]), "tagged")
	assert.Equal(t, count(out[1])["full"], count(out[1])["tagged"], "the new variant's whole output")
}

// TestRuntimeVariantRules: a runtime variant gets a rule store of its own and rule figures once measured.
func TestRuntimeVariantRules(t *testing.T) {
	p, now := startControlled(t, map[string]any{"baseline": "full", "active": "full", "window": "10s",
		"rules":    map[string]any{"inline": map[string]any{"memory": "sum(process_memory_usage_bytes)"}},
		"variants": map[string]any{"full": map[string]any{}}}, consumertest.NewNop(), newHost())
	in := batches(t)
	require.NoError(t, p.ConsumeMetrics(context.Background(), in[0]))
	require.NoError(t, p.exp.AddVariant(context.Background(), definition("tagged", tagStep("tagged")), control.SourceAPI))
	for _, md := range in[1:] {
		*now = now.Add(7 * time.Second)
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		p.exp.rules.wg.Wait()
	}
	v, _ := p.exp.Snapshot().Variant("tagged")
	require.False(t, v.Pending)
	require.NotNil(t, v.Rules)
	require.NotNil(t, v.Rules.Fidelity, "evaluated on its own store: %+v", v.Rules)
	assert.Equal(t, 1.0, *v.Rules.Fidelity, "a tag changes no rule result")
}

// allowAtRuntime lets a test processor type run in runtime variants for the test.
func allowAtRuntime(t *testing.T, typ string) {
	runtimeProcessors[typ] = true
	t.Cleanup(func() { delete(runtimeProcessors, typ) })
}

// fatalHost is the collector's host as far as status goes: it records what reaches it.
type fatalHost struct {
	*testHost
	mu      sync.Mutex
	reports []*componentstatus.Event
}

func (h *fatalHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, ev)
}

// TestRuntimeVariantIsolated: a runtime variant's processor reporting a fatal error at start (as
// k8s_attributes does without a cluster) fails that variant, at its step, and never reaches the collector,
// which would exit; processors that reach out of the collector, and asynchronous ones, are refused at their
// step; numbers a setting cannot hold are refused.
func TestRuntimeVariantIsolated(t *testing.T) {
	fatal := processor.NewFactory(component.MustNewType("fatal"), func() component.Config { return &struct{}{} },
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			return processorhelper.NewMetrics(ctx, set, cfg, next,
				func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) { return md, nil },
				processorhelper.WithStart(func(_ context.Context, host component.Host) error {
					componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(errors.New("unable to load k8s config")))
					return nil
				}))
		}, component.StabilityLevelDevelopment))
	reachOut := processor.NewFactory(component.MustNewType("reach_out"), func() component.Config { return &struct{}{} },
		processor.WithMetrics(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
			return processorhelper.NewMetrics(ctx, set, cfg, next, func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) { return md, nil })
		}, component.StabilityLevelDevelopment))
	th := newHost()
	th.factories[fatal.Type()], th.factories[reachOut.Type()] = fatal, reachOut
	allowAtRuntime(t, "fatal")
	host := &fatalHost{testHost: th}
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{"full": map[string]any{}}})
	th.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg.Control = component.MustNewID("phoenix_control")
	set := processortest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("experiment", "process")
	p, err := createMetricsProcessor(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	exp := th.exts[component.MustNewID("phoenix_control")].(*fakeRegistry).experiments[0].(*experimentProcessor)
	ctx := context.Background()

	err = exp.AddVariant(ctx, definition("k8", tagStep("tag"), map[string]any{"fatal": map[string]any{}}), control.SourceAPI)
	var invalid *control.InvalidChainError
	require.ErrorAs(t, err, &invalid)
	require.Len(t, invalid.Problems, 1)
	assert.Equal(t, 2, invalid.Problems[0].Step, "at the step that failed")
	assert.Contains(t, invalid.Problems[0].Message, "unable to load k8s config")
	host.mu.Lock()
	assert.Empty(t, host.reports, "nothing reached the collector")
	host.mu.Unlock()
	_, ok := exp.Snapshot().Variant("k8")
	assert.False(t, ok)

	err = exp.AddVariant(ctx, control.VariantDefinition{Name: "out", Processors: []map[string]map[string]any{
		{"reach_out": {}}, {"interval": {}}, {"topk": {"k": 1e20}}, {"topk": {"k": 5}}}}, control.SourceAPI)
	require.ErrorAs(t, err, &invalid)
	byStep := map[int]string{}
	for _, pr := range invalid.Problems {
		byStep[pr.Step] = pr.Message
	}
	assert.Contains(t, byStep[1], "cannot run in a variant added at runtime")
	assert.Contains(t, byStep[2], "asynchronous")
	assert.Contains(t, byStep[3], "beyond")
	assert.NotContains(t, byStep, 4)

	// The same processor is fine in the config, by whoever deploys it.
	assert.NoError(t, CheckVariants(ctx, set, config(t, map[string]any{"baseline": "full", "active": "full", "variants": map[string]any{
		"full": map[string]any{}, "out": map[string]any{"processors": []any{map[string]any{"reach_out": map[string]any{}}}}}}),
		hostFactories(th)))
}
