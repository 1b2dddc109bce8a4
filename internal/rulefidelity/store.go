// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// Defaults of StoreOptions and Options.
const (
	DefaultMaxRange  = time.Hour
	DefaultMaxSeries = 200_000
)

// samplesPerChunk is where a series' open chunk is closed, as Prometheus' head does (120 samples: 20 minutes
// at 10 s).
const samplesPerChunk = 120

// ErrStoreFull is why a store's rules are not evaluated: it refused new series (max_series) within the time
// it holds, so part of the data would be taken for the whole.
var ErrStoreFull = errors.New("store full")

// StoreOptions configure a Store. The translation options mirror the prometheus_remote_write exporter's, at
// its defaults when zero (metric suffixes on, target_info on, scope labels on).
type StoreOptions struct {
	// MaxRange is how far back from the newest sample samples are kept (RuleSet.MaxRange; default 1h).
	MaxRange time.Duration
	// MaxSeries caps the series held (default 200,000); beyond it new series are refused and counted.
	MaxSeries int
	// ResourceToTelemetry turns resource attributes into labels, as the exporter's
	// resource_to_telemetry_conversion.enabled; ExcludeServiceAttributes as its exclude_service_attributes.
	ResourceToTelemetry      bool
	ExcludeServiceAttributes bool
	// DisableTargetInfo and DisableScopeInfo as the exporter's target_info.enabled: false and
	// disable_scope_info.
	DisableTargetInfo bool
	DisableScopeInfo  bool
}

// StoreStats describe what a Store holds and what it refused.
type StoreStats struct {
	Series  int
	Samples int
	// Newest is the newest sample's time; samples older than Newest - MaxRange are gone.
	Newest time.Time
	// Full: new series were refused (max_series) within the time held; rules are not evaluated on it.
	Full bool
	// RefusedPoints are points of series refused for max_series.
	RefusedPoints uint64
	// OutOfOrder, Duplicate and TooOld are samples rejected as Prometheus rejects them: older than the
	// series' last sample, same time with another value, or older than Newest - MaxRange.
	OutOfOrder, Duplicate, TooOld uint64
	// Untranslated are points the exporter's translation drops (delta sums, invalid names) and native
	// histogram samples (exponential histograms), which this store does not hold.
	Untranslated uint64
}

// Store holds one variant's output as Prometheus series for the time the rules need. Append and the
// storage interfaces (Queryable for the engine, Appendable for rule results) are safe for concurrent use.
type Store struct {
	opts     StoreOptions
	settings prometheusremotewrite.Settings
	r2t      exporter.Metrics // resourcetotelemetry wrapper around a no-op consumer (nil when off)

	mu sync.RWMutex
	// cache maps an OTLP series identity (resource, scope, metric, point attributes) to its series, or to
	// refusedSeries / droppedSeries.
	cache     map[uint64]*memSeries
	resources map[uint64]*resourceEntry
	byHash    map[uint64]*memSeries // labels hash → series (chained on collision)
	byName    map[string][]*memSeries
	nseries   int
	newest    int64 // ms; math.MinInt64 while empty
	minValid  int64 // newest - MaxRange
	lastGC    int64
	refusedAt int64 // newest at the last refusal; math.MinInt64 for none
	stats     StoreStats
	misses    []miss
	builder   labels.ScratchBuilder

	// matchHook, when set (tests), is called by every query between taking the per-name lists under the
	// read lock and matching them without it.
	matchHook func()
}

// memSeries is one Prometheus series: closed chunks (immutable once closed, shared with snapshots) and an
// open head chunk (copied into snapshots).
type memSeries struct {
	lset     labels.Labels
	hash     uint64
	next     *memSeries // next series with the same labels hash
	chunks   []chunkRef
	head     *chunkenc.XORChunk
	app      chunkenc.Appender
	headMint int64
	lastT    int64
	lastV    float64
	dead     bool
}

type chunkRef struct {
	c          chunkenc.Chunk
	mint, maxt int64
}

type resourceEntry struct {
	target   *memSeries // target_info series; nil: none
	lastSeen int64
}

// Sentinels in the identity cache: a series refused for max_series (retried after the next trim) and a point
// the exporter's translation drops.
var (
	refusedSeries = &memSeries{}
	droppedSeries = &memSeries{}
)

type miss struct {
	scope, metric, point int
	key                  uint64
	series               *memSeries
}

// NewStore returns an empty store.
func NewStore(opts StoreOptions) *Store {
	if opts.MaxRange <= 0 {
		opts.MaxRange = DefaultMaxRange
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	s := &Store{
		opts: opts,
		settings: prometheusremotewrite.Settings{
			AddMetricSuffixes: true, // the exporter's default
			DisableTargetInfo: opts.DisableTargetInfo,
			DisableScopeInfo:  opts.DisableScopeInfo,
		},
		cache:     map[uint64]*memSeries{},
		resources: map[uint64]*resourceEntry{},
		byHash:    map[uint64]*memSeries{},
		byName:    map[string][]*memSeries{},
		newest:    math.MinInt64,
		minValid:  math.MinInt64,
		lastGC:    math.MinInt64,
		refusedAt: math.MinInt64,
		builder:   labels.NewScratchBuilder(16),
	}
	if opts.ResourceToTelemetry {
		s.r2t = resourcetotelemetry.WrapMetricsExporter(resourcetotelemetry.Settings{
			Enabled:                  true,
			ExcludeServiceAttributes: opts.ExcludeServiceAttributes,
		}, nopExporter{})
	}
	return s
}

// SetMaxRange changes how far back samples are kept (rules reloaded with a longer range); a longer range
// fills as new samples arrive.
func (s *Store) SetMaxRange(d time.Duration) {
	if d <= 0 {
		d = DefaultMaxRange
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.MaxRange = d
}

// nopExporter receives what the resourcetotelemetry wrapper changed in place.
type nopExporter struct{}

func (nopExporter) Start(context.Context, component.Host) error           { return nil }
func (nopExporter) Shutdown(context.Context) error                        { return nil }
func (nopExporter) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }
func (nopExporter) ConsumeMetrics(context.Context, pmetric.Metrics) error { return nil }

// Append adds a variant's output. md is only read. Points of series seen before cost a hash, a map look-up
// and a chunk append; new series go through the exporter's translation (FromMetrics) once.
func (s *Store) Append(md pmetric.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		s.appendResource(rms.At(i))
	}
	s.maybeGC()
}

func (s *Store) appendResource(rm pmetric.ResourceMetrics) {
	resHash := identity.Attrs(rm.Resource().Attributes())
	var maxTS pcommon.Timestamp
	misses := s.misses[:0]
	var slow []int // indices (scope<<32 | metric) of histograms and summaries
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		sm := sms.At(j)
		scopeKey := resHash
		if !s.opts.DisableScopeInfo {
			sc := sm.Scope()
			scopeKey = identity.Mix(resHash ^ identity.Mix(identity.String(sc.Name())+
				3*identity.String(sc.Version())+identity.Attrs(sc.Attributes())))
		}
		ms := sm.Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			var dps pmetric.NumberDataPointSlice
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				dps = m.Gauge().DataPoints()
			case pmetric.MetricTypeSum:
				dps = m.Sum().DataPoints()
			case pmetric.MetricTypeEmpty:
				continue
			default:
				slow = append(slow, j<<32|k)
				continue
			}
			mk := metricKey(m)
			for p := 0; p < dps.Len(); p++ {
				dp := dps.At(p)
				maxTS = max(maxTS, dp.Timestamp())
				key := identity.SeriesOf(scopeKey, mk, identity.Attrs(dp.Attributes()))
				switch ser := s.cache[key]; ser {
				case nil:
					misses = append(misses, miss{scope: j, metric: k, point: p, key: key})
				case droppedSeries:
					s.stats.Untranslated++
				case refusedSeries:
					s.refused(timestampMs(dp.Timestamp()))
				default:
					s.appendSample(ser, timestampMs(dp.Timestamp()), pointValue(dp))
				}
			}
		}
	}
	entry := s.resources[resHash]
	if len(misses) > 0 || (entry == nil && maxTS != 0) {
		entry = s.translate(rm, resHash, misses, entry)
	}
	clear(misses) // drop series pointers: a trimmed series must not stay reachable from here
	s.misses = misses[:0]
	if len(slow) > 0 {
		s.translateSlow(rm, slow)
	}
	if entry != nil && maxTS != 0 {
		t := timestampMs(maxTS)
		entry.lastSeen = max(entry.lastSeen, t)
		if entry.target != nil {
			s.appendSample(entry.target, t, 1)
		}
	}
}

// translate runs the exporter's translation on a copy of rm holding only its new points, each carrying its
// index as value, so that every output series is matched with the points that make it. The first call for a
// resource also resolves its target_info series.
func (s *Store) translate(rm pmetric.ResourceMetrics, resHash uint64, misses []miss, entry *resourceEntry) *resourceEntry {
	sub := pmetric.NewMetrics()
	srm := sub.ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(srm.Resource())
	srm.SetSchemaUrl(rm.SchemaUrl())
	sms := rm.ScopeMetrics()
	var (
		ssm           pmetric.ScopeMetrics
		dps           pmetric.NumberDataPointSlice
		scope, metric = -1, -1
	)
	for i, ms := range misses {
		if ms.scope != scope {
			scope, metric = ms.scope, -1
			ssm = srm.ScopeMetrics().AppendEmpty()
			sms.At(scope).Scope().CopyTo(ssm.Scope())
			ssm.SetSchemaUrl(sms.At(scope).SchemaUrl())
		}
		m := sms.At(scope).Metrics().At(ms.metric)
		if ms.metric != metric {
			metric = ms.metric
			dps = copyMetricShell(m, ssm.Metrics().AppendEmpty())
		}
		dp := dps.AppendEmpty()
		numberPoints(m).At(ms.point).CopyTo(dp)
		dp.Exemplars().RemoveIf(func(pmetric.Exemplar) bool { return true })
		dp.SetFlags(0)
		dp.SetDoubleValue(float64(i + 2)) // never 1, target_info's value
	}
	if len(misses) == 0 {
		// Only target_info is wanted: one throw-away point gives the resource a timestamp.
		ssm = srm.ScopeMetrics().AppendEmpty()
		g := ssm.Metrics().AppendEmpty()
		g.SetName("rulefidelity_placeholder")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(latestTimestamp(rm))
		dp.SetDoubleValue(0)
	}
	if s.r2t != nil {
		_ = s.r2t.ConsumeMetrics(context.Background(), sub)
	}
	// Errors are per point (dropped points are left without series below), as the exporter sends the rest.
	out, _ := prometheusremotewrite.FromMetrics(sub, s.settings)
	var target []prompb.Label
	for _, ts := range out {
		if len(ts.Samples) == 1 && ts.Samples[0].Value == 1 && isTargetInfo(ts.Labels) {
			target = ts.Labels
			continue
		}
		var ser *memSeries
		resolved := false
		for _, smp := range ts.Samples {
			i := int(smp.Value) - 2
			if i < 0 || i >= len(misses) || float64(i+2) != smp.Value {
				continue
			}
			if !resolved {
				ser, resolved = s.getOrCreate(ts.Labels), true
			}
			misses[i].series = ser
			if ser == nil {
				misses[i].series = refusedSeries
			}
		}
		s.stats.Untranslated += uint64(len(ts.Histograms))
	}
	for _, ms := range misses {
		switch ms.series {
		case nil:
			s.cache[ms.key] = droppedSeries
			s.stats.Untranslated++
		case refusedSeries:
			s.cache[ms.key] = refusedSeries
			s.refused(timestampMs(numberPoints(sms.At(ms.scope).Metrics().At(ms.metric)).At(ms.point).Timestamp()))
		default:
			s.cache[ms.key] = ms.series
			dp := numberPoints(sms.At(ms.scope).Metrics().At(ms.metric)).At(ms.point)
			s.appendSample(ms.series, timestampMs(dp.Timestamp()), pointValue(dp))
		}
	}
	if entry == nil {
		entry = &resourceEntry{lastSeen: math.MinInt64}
		if target != nil {
			entry.target = s.getOrCreate(target)
		}
		s.resources[resHash] = entry
	}
	return entry
}

// translateSlow translates histograms and summaries through the exporter on every batch (their bucket
// series are not cached) and appends the samples by label set.
func (s *Store) translateSlow(rm pmetric.ResourceMetrics, slow []int) {
	sub := pmetric.NewMetrics()
	srm := sub.ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(srm.Resource())
	scope := -1
	var ssm pmetric.ScopeMetrics
	for _, js := range slow {
		j, k := js>>32, js&(1<<32-1)
		if j != scope {
			scope = j
			ssm = srm.ScopeMetrics().AppendEmpty()
			rm.ScopeMetrics().At(j).Scope().CopyTo(ssm.Scope())
		}
		rm.ScopeMetrics().At(j).Metrics().At(k).CopyTo(ssm.Metrics().AppendEmpty())
	}
	if s.r2t != nil {
		_ = s.r2t.ConsumeMetrics(context.Background(), sub)
	}
	settings := s.settings
	settings.DisableTargetInfo = true // the number points' pass resolves it
	out, _ := prometheusremotewrite.FromMetrics(sub, settings)
	for _, ts := range out {
		s.stats.Untranslated += uint64(len(ts.Histograms))
		if len(ts.Samples) == 0 {
			continue
		}
		ser := s.getOrCreate(ts.Labels)
		for _, smp := range ts.Samples {
			if ser == nil {
				s.refused(smp.Timestamp)
				continue
			}
			s.appendSample(ser, smp.Timestamp, smp.Value)
		}
	}
}

func copyMetricShell(from, to pmetric.Metric) pmetric.NumberDataPointSlice {
	to.SetName(from.Name())
	to.SetUnit(from.Unit())
	to.SetDescription(from.Description())
	if from.Type() == pmetric.MetricTypeGauge {
		return to.SetEmptyGauge().DataPoints()
	}
	sum := to.SetEmptySum()
	sum.SetAggregationTemporality(from.Sum().AggregationTemporality())
	sum.SetIsMonotonic(from.Sum().IsMonotonic())
	return sum.DataPoints()
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeGauge {
		return m.Gauge().DataPoints()
	}
	return m.Sum().DataPoints()
}

func latestTimestamp(rm pmetric.ResourceMetrics) pcommon.Timestamp {
	var ts pcommon.Timestamp
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			if t := ms.At(k).Type(); t == pmetric.MetricTypeGauge || t == pmetric.MetricTypeSum {
				dps := numberPoints(ms.At(k))
				for p := 0; p < dps.Len(); p++ {
					ts = max(ts, dps.At(p).Timestamp())
				}
			}
		}
	}
	return ts
}

func isTargetInfo(ls []prompb.Label) bool {
	for _, l := range ls {
		if l.Name == labels.MetricName {
			return l.Value == "target_info" || len(l.Value) > len("_target_info") &&
				l.Value[len(l.Value)-len("_target_info"):] == "_target_info"
		}
	}
	return false
}

// metricKey hashes what the exporter's naming reads of a metric: name, unit, type, monotonicity and
// temporality (delta sums are dropped by the exporter).
func metricKey(m pmetric.Metric) uint64 {
	h := identity.Mix(identity.String(m.Name()) + 0x9e3779b97f4a7c15*uint64(m.Type()+1))
	h = identity.Mix(h ^ identity.String(m.Unit()))
	if m.Type() == pmetric.MetricTypeSum {
		var f uint64 = uint64(m.Sum().AggregationTemporality()) << 1
		if m.Sum().IsMonotonic() {
			f |= 1
		}
		h = identity.Mix(h + f + 1)
	}
	return h
}

// pointValue is the sample value the exporter writes for a number point: NoRecordedValue is Prometheus'
// staleness marker.
func pointValue(dp pmetric.NumberDataPoint) float64 {
	if dp.Flags().NoRecordedValue() {
		return math.Float64frombits(value.StaleNaN)
	}
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func timestampMs(ts pcommon.Timestamp) int64 { return int64(ts) / int64(time.Millisecond) }

// refused counts a point of a refused series at t: the store is incomplete until t falls out of its range.
// The store's time advances with refused points too, so that a full store empties as time goes on.
func (s *Store) refused(t int64) {
	s.stats.RefusedPoints++
	s.refusedAt = max(t, s.refusedAt, math.MinInt64+1)
	s.advance(t)
}

func (s *Store) advance(t int64) {
	if t > s.newest {
		s.newest = t
		s.minValid = t - s.opts.MaxRange.Milliseconds()
	}
}

// getOrCreate returns the series of a label set, nil when it is new and the store holds MaxSeries.
func (s *Store) getOrCreate(pl []prompb.Label) *memSeries {
	s.builder.Reset()
	for _, l := range pl {
		s.builder.Add(l.Name, l.Value)
	}
	s.builder.Sort()
	return s.getOrCreateLabels(s.builder.Labels())
}

func (s *Store) getOrCreateLabels(lset labels.Labels) *memSeries {
	h := lset.Hash()
	for ser := s.byHash[h]; ser != nil; ser = ser.next {
		if labels.Equal(ser.lset, lset) {
			return ser
		}
	}
	if s.nseries >= s.opts.MaxSeries {
		return nil
	}
	ser := &memSeries{lset: lset, hash: h, next: s.byHash[h], lastT: math.MinInt64}
	s.byHash[h] = ser
	name := lset.Get(labels.MetricName)
	s.byName[name] = append(s.byName[name], ser)
	s.nseries++
	return ser
}

var (
	errOutOfOrder = errors.New("out of order")
	errDuplicate  = errors.New("duplicate")
	errTooOld     = errors.New("too old")
)

// appendSample appends (t, v) as Prometheus' head does without out-of-order ingestion: older than the last
// sample is refused, the same time and value is a no-op, the same time with another value is refused.
func (s *Store) appendSample(ser *memSeries, t int64, v float64) error {
	if t < s.minValid {
		s.stats.TooOld++
		return errTooOld
	}
	if ser.head != nil {
		switch {
		case t < ser.lastT:
			s.stats.OutOfOrder++
			return errOutOfOrder
		case t == ser.lastT:
			if math.Float64bits(v) == math.Float64bits(ser.lastV) {
				return nil
			}
			s.stats.Duplicate++
			return errDuplicate
		}
	}
	if ser.head == nil || ser.head.NumSamples() >= samplesPerChunk {
		if ser.head != nil {
			ser.head.Compact()
			ser.chunks = append(ser.chunks, chunkRef{c: ser.head, mint: ser.headMint, maxt: ser.lastT})
		}
		ser.head = chunkenc.NewXORChunk()
		ser.app, _ = ser.head.Appender() // never fails on a new XOR chunk
		ser.headMint = t
	}
	ser.app.Append(0, t, v)
	ser.lastT, ser.lastV = t, v
	s.advance(t)
	return nil
}

// maybeGC drops what fell out of MaxRange, at most every MaxRange/8 of data time: closed chunks wholly
// older, series with no sample left, their cache entries, and the refused/dropped markers (retried).
func (s *Store) maybeGC() {
	every := max(s.opts.MaxRange.Milliseconds()/8, time.Minute.Milliseconds())
	if s.newest == math.MinInt64 || s.lastGC != math.MinInt64 && s.newest-s.lastGC < every {
		return
	}
	if s.lastGC == math.MinInt64 {
		s.lastGC = s.newest
		return
	}
	s.lastGC = s.newest
	s.gc()
}

func (s *Store) gc() {
	minValid := s.minValid
	for name, list := range s.byName {
		kept := list[:0:0]
		for _, ser := range list {
			if ser.lastT < minValid {
				s.unlink(ser)
				continue
			}
			n := 0
			for n < len(ser.chunks) && ser.chunks[n].maxt < minValid {
				n++
			}
			if n > 0 {
				// A new slice: snapshots may still read the old one.
				ser.chunks = append([]chunkRef(nil), ser.chunks[n:]...)
			}
			kept = append(kept, ser)
		}
		if len(kept) == 0 {
			delete(s.byName, name)
		} else {
			s.byName[name] = kept
		}
	}
	for k, ser := range s.cache {
		if ser.dead || ser == refusedSeries || ser == droppedSeries {
			delete(s.cache, k)
		}
	}
	for k, e := range s.resources {
		if e.lastSeen < minValid || e.target != nil && e.target.dead {
			delete(s.resources, k)
		}
	}
}

func (s *Store) unlink(ser *memSeries) {
	ser.dead = true
	s.nseries--
	p := s.byHash[ser.hash]
	if p == ser {
		if ser.next == nil {
			delete(s.byHash, ser.hash)
		} else {
			s.byHash[ser.hash] = ser.next
		}
		return
	}
	for ; p != nil; p = p.next {
		if p.next == ser {
			p.next = ser.next
			return
		}
	}
}

// Full tells whether new series were refused (max_series) within the time the store holds.
func (s *Store) Full() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.full()
}

func (s *Store) full() bool { return s.refusedAt != math.MinInt64 && s.refusedAt >= s.minValid }

// Stats returns the store's figures.
func (s *Store) Stats() StoreStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.stats
	st.Series = s.nseries
	st.Full = s.full()
	if s.newest != math.MinInt64 {
		st.Newest = time.UnixMilli(s.newest).UTC()
	}
	for _, list := range s.byName {
		for _, ser := range list {
			for _, c := range ser.chunks {
				st.Samples += c.c.NumSamples()
			}
			if ser.head != nil {
				st.Samples += ser.head.NumSamples()
			}
		}
	}
	return st
}

// String describes the store for errors.
func (st StoreStats) String() string {
	return fmt.Sprintf("%d series, %d refused points", st.Series, st.RefusedPoints)
}
