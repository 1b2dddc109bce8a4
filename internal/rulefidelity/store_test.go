// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"

	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	scopeLabels = `otel_scope_name="` + scopeName + `", otel_scope_version="` + scopeVersion + `"`
)

// The expected names and labels are written out as the prometheus_remote_write exporter documents them:
// dots become underscores, the unit "s" becomes _seconds and "By" _bytes, monotonic sums get _total,
// resource attributes become labels with resource_to_telemetry_conversion, scope name/version become
// otel_scope_* labels.
func TestStoreNamesSeriesAsTheExporter(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true})
	s.Append(processMetrics(t0, proc{pid: 42, exe: "nginx", cmd: "nginx -g daemon off;", host: "node-1", cpuUser: 1.5, cpuSys: 0.5, memory: 1 << 20}))
	s.Append(processMetrics(t0.Add(10*time.Second), proc{pid: 42, exe: "nginx", cmd: "nginx -g daemon off;", host: "node-1", cpuUser: 2.5, cpuSys: 0.75, memory: 2 << 20}))

	res := `host_name="node-1", ` + scopeLabels + `, process_command_line="nginx -g daemon off;", process_executable_name="nginx", process_pid="42"`
	ms := t0.UnixMilli()
	want := map[string][]sample{
		`{__name__="process_cpu_time_seconds_total", ` + res + `, state="user"}`:   {{ms, 1.5}, {ms + 10000, 2.5}},
		`{__name__="process_cpu_time_seconds_total", ` + res + `, state="system"}`: {{ms, 0.5}, {ms + 10000, 0.75}},
		`{__name__="process_memory_usage_bytes", ` + res + `}`:                     {{ms, 1 << 20}, {ms + 10000, 2 << 20}},
	}
	assert.Equal(t, want, dump(t, s))
	st := s.Stats()
	assert.Equal(t, 3, st.Series)
	assert.Equal(t, 6, st.Samples)
	assert.False(t, st.Full)
}

func TestStoreWithoutResourceToTelemetry(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: false})
	md := processMetrics(t0, proc{pid: 1, exe: "kubelet", host: "node-1", cpuUser: 3})
	a := md.ResourceMetrics().At(0).Resource().Attributes()
	a.PutStr("service.name", "hostmetrics")
	a.PutStr("service.instance.id", "node-1")
	s.Append(md)
	ms := t0.UnixMilli()
	// service.name / service.instance.id are job / instance; the other resource attributes only reach
	// target_info, as the exporter sends it; an empty attribute (the command line) is no label.
	want := map[string][]sample{
		`{__name__="process_cpu_time_seconds_total", instance="node-1", job="hostmetrics", ` + scopeLabels + `, state="user"}`:                   {{ms, 3}},
		`{__name__="process_cpu_time_seconds_total", instance="node-1", job="hostmetrics", ` + scopeLabels + `, state="system"}`:                 {{ms, 0}},
		`{__name__="process_memory_usage_bytes", instance="node-1", job="hostmetrics", ` + scopeLabels + `}`:                                     {{ms, 0}},
		`{__name__="target_info", host_name="node-1", instance="node-1", job="hostmetrics", process_executable_name="kubelet", process_pid="1"}`: {{ms, 1}},
	}
	got := dump(t, s)
	assert.Equal(t, keys(want), keys(got))
	assert.Equal(t, want, got)
}

// Every batch of a realistic simulation gives the series and samples the exporter's own FromMetrics gives
// for it (with the resourcetotelemetry wrapper applied to a copy), whether the store translated a series
// on this batch or took it from its cache.
func TestStoreMatchesExporterOnSimulation(t *testing.T) {
	t.Parallel()
	src := newSim(t, 60, procsim.ProfileHighChurn)
	s := NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: 24 * time.Hour})
	want := map[string][]sample{}
	var marshaler pmetric.ProtoMarshaler
	for range 12 {
		md := src.next()
		before, err := marshaler.MarshalMetrics(md)
		require.NoError(t, err)
		s.Append(md)
		after, err := marshaler.MarshalMetrics(md)
		require.NoError(t, err)
		require.Equal(t, before, after, "Append only reads its input")
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		rms := cp.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			rm := rms.At(i)
			forEachNumberPoint(rm, func(dp pmetric.NumberDataPoint) {
				rm.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
					v.CopyTo(dp.Attributes().PutEmpty(k))
					return true
				})
			})
		}
		out, err := prometheusremotewrite.FromMetrics(cp, prometheusremotewrite.Settings{AddMetricSuffixes: true})
		require.NoError(t, err)
		var b labels.ScratchBuilder
		for _, ts := range out {
			b.Reset()
			for _, l := range ts.Labels {
				b.Add(l.Name, l.Value)
			}
			b.Sort()
			k := b.Labels().String()
			for _, smp := range ts.Samples {
				want[k] = append(want[k], sample{smp.Timestamp, smp.Value})
			}
		}
	}
	got := dump(t, s)
	require.Equal(t, len(want), len(got))
	for k, w := range want {
		require.Equal(t, w, got[k], k)
	}
}

func forEachNumberPoint(rm pmetric.ResourceMetrics, f func(pmetric.NumberDataPoint)) {
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			if m := ms.At(k); m.Type() == pmetric.MetricTypeSum || m.Type() == pmetric.MetricTypeGauge {
				dps := numberPoints(m)
				for p := 0; p < dps.Len(); p++ {
					f(dps.At(p))
				}
			}
		}
	}
}

// A NoRecordedValue point is Prometheus' staleness marker: the series is gone from instant queries at once,
// not after the 5m lookback.
func TestStoreStalenessEndsSeries(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true})
	p := proc{pid: 7, exe: "job", host: "node-1", cpuUser: 1}
	s.Append(processMetrics(t0, p))
	p.stale = true
	s.Append(processMetrics(t0.Add(10*time.Second), p))

	got := dump(t, s)
	for k, samples := range got {
		require.Len(t, samples, 2, k)
		assert.True(t, value.IsStaleNaN(samples[1].v), k)
	}
	rs := mustLoad(t, Options{Inline: map[string]string{"cpu": `process_cpu_time_seconds_total{state="user"}`}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	before, err := e.instant(context.Background(), s, rs.rules[0].Expr, t0.Add(5*time.Second))
	require.NoError(t, err)
	assert.Len(t, before, 1)
	after, err := e.instant(context.Background(), s, rs.rules[0].Expr, t0.Add(11*time.Second))
	require.NoError(t, err)
	assert.Empty(t, after, "a stale series must not be looked back to")
}

func TestStoreRejectsAsPrometheus(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true})
	p := proc{pid: 7, exe: "a", host: "h", cpuUser: 1, memory: 10}
	s.Append(processMetrics(t0.Add(time.Minute), p))
	s.Append(processMetrics(t0, p)) // older: out of order, 3 series
	p.memory = 11
	s.Append(processMetrics(t0.Add(time.Minute), p)) // same time: same value is a no-op, another is refused
	st := s.Stats()
	assert.Equal(t, uint64(3), st.OutOfOrder)
	assert.Equal(t, uint64(1), st.Duplicate)
	assert.Equal(t, 3, st.Samples)
}

func TestStoreMaxSeries(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true, MaxSeries: 4, MaxRange: 10 * time.Minute})
	s.Append(processMetrics(t0, proc{pid: 1, exe: "a", host: "h"}, proc{pid: 2, exe: "b", host: "h"}))
	st := s.Stats()
	assert.Equal(t, 4, st.Series)
	assert.Equal(t, uint64(2), st.RefusedPoints)
	assert.True(t, st.Full)
	assert.True(t, s.Full())

	// Evaluation says so rather than comparing part of the data.
	rs := mustLoad(t, Options{Inline: map[string]string{"n": `count(process_cpu_time_seconds_total)`}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	base := NewStore(StoreOptions{ResourceToTelemetry: true})
	base.Append(processMetrics(t0, proc{pid: 1, exe: "a", host: "h"}, proc{pid: 2, exe: "b", host: "h"}))
	res := e.Evaluate(context.Background(), t0, base, map[string]*Store{"small": s})["small"]
	require.ErrorIs(t, res.Err, ErrStoreFull)
	assert.Nil(t, res.Stats.Fidelity)

	// Once the refusal is older than the range held, the store is whole again and takes new series.
	s.Append(processMetrics(t0.Add(11*time.Minute), proc{pid: 3, exe: "c", host: "h"}))
	s.Append(processMetrics(t0.Add(22*time.Minute), proc{pid: 3, exe: "c", host: "h"}))
	assert.False(t, s.Full())
	assert.Equal(t, 3, s.Stats().Series, "%v", keys(dump(t, s)))
}

// Samples older than MaxRange before the newest are gone from queries at once, and whole chunks and series
// are freed by the periodic trim.
func TestStoreMaxRange(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: 10 * time.Minute})
	for i := range 180 { // 30 minutes at 10 s
		procs := []proc{{pid: 1, exe: "long", host: "h", cpuUser: float64(i)}}
		if i < 60 {
			procs = append(procs, proc{pid: 2, exe: "short", host: "h", cpuUser: float64(i)})
		}
		s.Append(processMetrics(t0.Add(time.Duration(i)*10*time.Second), procs...))
	}
	newest := t0.Add(179 * 10 * time.Second).UnixMilli()
	got := dump(t, s)
	require.Len(t, got, 3, "the short process' series are gone: %v", keys(got))
	for k, samples := range got {
		assert.GreaterOrEqual(t, samples[0].t, newest-10*time.Minute.Milliseconds(), k)
		assert.Len(t, samples, 61, k) // (newest-10m, newest] at 10 s, both ends included
	}
	st := s.Stats()
	assert.Equal(t, 3, st.Series)
	assert.LessOrEqual(t, st.Samples, 3*(61+samplesPerChunk), "whole chunks older than the range are freed")
	assert.Equal(t, uint64(0), st.TooOld)
	s.Append(processMetrics(t0, proc{pid: 1, exe: "long", host: "h"}))
	assert.Equal(t, uint64(3), s.Stats().TooOld)
}

func TestStoreDropsWhatTheExporterDrops(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true})
	md := processMetrics(t0, proc{pid: 1, exe: "a", host: "h"})
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	m.SetName("delta.counter")
	d := m.SetEmptySum()
	d.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	d.SetIsMonotonic(true)
	d.DataPoints().AppendEmpty().SetTimestamp(pcommon.NewTimestampFromTime(t0))
	s.Append(md)
	s.Append(md)
	assert.Equal(t, uint64(2), s.Stats().Untranslated)
	assert.Equal(t, 3, s.Stats().Series)
}

func TestStoreHistogram(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true})
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "h")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	dp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	dp.BucketCounts().FromRaw([]uint64{1, 2, 3})
	dp.SetCount(6)
	dp.SetSum(9)
	s.Append(md)
	ms := t0.UnixMilli()
	assert.Equal(t, map[string][]sample{
		`{__name__="http_server_duration_seconds_bucket", host_name="h", le="+Inf"}`: {{ms, 6}},
		`{__name__="http_server_duration_seconds_bucket", host_name="h", le="0.1"}`:  {{ms, 1}},
		`{__name__="http_server_duration_seconds_bucket", host_name="h", le="1"}`:    {{ms, 3}},
		`{__name__="http_server_duration_seconds_count", host_name="h"}`:             {{ms, 6}},
		`{__name__="http_server_duration_seconds_sum", host_name="h"}`:               {{ms, 9}},
	}, dump(t, s))
}

func mustLoad(t testing.TB, opts Options) *RuleSet {
	t.Helper()
	rs, err := Load(opts)
	require.NoError(t, err)
	return rs
}

// Append runs on the pipeline's goroutine while the evaluator reads the same store (run with -race).
func TestStoreConcurrentAppendAndEvaluate(t *testing.T) {
	t.Parallel()
	rs := mustLoad(t, Options{Files: []string{"testdata/rules/process.rules.yaml"}})
	e := NewEvaluator(rs, EvaluatorOptions{})
	defer e.Close()
	base := NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: rs.MaxRange()})
	vari := NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: rs.MaxRange()})
	src := newSim(t, 50, procsim.ProfileHighChurn)
	batches := make([]pmetric.Metrics, 60)
	for i := range batches {
		batches[i] = src.next()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, md := range batches {
			base.Append(md)
			vari.Append(md)
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			res := e.Evaluate(context.Background(), t0.Add(10*time.Minute), base, map[string]*Store{"v": vari})
			require.NoError(t, res["v"].Err)
			assert.Equal(t, 1.0, *res["v"].Stats.Fidelity, "%+v", res["v"].Stats.Rules)
			return
		default:
			e.Evaluate(context.Background(), t0.Add(time.Duration(i)*10*time.Second), base, map[string]*Store{"v": vari})
		}
	}
}

// A query within the store's range sees exactly PromQL's samples although the store still holds older ones
// (whole chunks are freed only periodically); one reaching further back than MaxRange sees the range only.
// The expected counts are PromQL's: a range (t-r, t] at a 10 s interval holds r/10s samples.
func TestStoreQueriesSeeTheirRangeOnly(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true, MaxRange: 10 * time.Minute})
	for i := range 180 { // 30 minutes at 10 s: the oldest chunk straddles the range's start
		s.Append(processMetrics(t0.Add(time.Duration(i)*10*time.Second), proc{pid: 1, exe: "a", host: "h", cpuUser: float64(i)}))
	}
	at := t0.Add(179 * 10 * time.Second)
	e := NewEvaluator(mustLoad(t, Options{Inline: map[string]string{"q": "up"}}), EvaluatorOptions{})
	defer e.Close()
	sel := `process_cpu_time_seconds_total{state="user"}`
	for query, want := range map[string]float64{
		`count_over_time(` + sel + `[5m])`:           30,
		`count_over_time(` + sel + `[9m] offset 1m)`: 54,
		`max_over_time(` + sel + `[4m:1m])`:          174, // steps at whole minutes: the last at 29m
		sel + ` offset 9m`:                           179 - 54,
		`count_over_time(` + sel + `[20m])`:          61, // [newest-10m, newest]: the range held, both ends
		`min_over_time(` + sel + `[30m])`:            179 - 60,
	} {
		v, err := e.instant(context.Background(), s, query, at)
		require.NoError(t, err, query)
		require.Len(t, v, 1, query)
		assert.Equal(t, want, v[0].F, query)
	}
}
