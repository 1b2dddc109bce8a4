// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"context"
	"errors"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

var (
	_ storage.Queryable  = (*Store)(nil)
	_ storage.Appendable = (*Store)(nil)
)

// Querier returns a querier over [mint, maxt] (ms). Each Select copies what it reads under the store's lock
// (closed chunks are shared, the open one is copied), so evaluation never blocks Append for longer than that.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Store
	mint, maxt int64
}

func (q *querier) Close() error { return nil }

// Select returns the series matching every matcher that have samples in the querier's range.
func (q *querier) Select(_ context.Context, sortSeries bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	s := q.s
	s.mu.RLock()
	mint := max(q.mint, s.minValid)
	var out []storage.Series
	s.forMatching(mint, q.maxt, ms, func(ser *memSeries) {
		out = append(out, snapshot(ser, mint, q.maxt, s.minValid))
	})
	s.mu.RUnlock()
	if sortSeries {
		slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	}
	return &seriesSet{series: out, i: -1}
}

// forMatching calls f for every live series matching ms with samples in [mint, maxt]. Caller holds s.mu.
func (s *Store) forMatching(mint, maxt int64, ms []*labels.Matcher, f func(*memSeries)) {
	visit := func(ser *memSeries) {
		if ser.dead || ser.head == nil || ser.lastT < mint || firstT(ser) > maxt {
			return
		}
		for _, m := range ms {
			if !m.Matches(ser.lset.Get(m.Name)) {
				return
			}
		}
		f(ser)
	}
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			for _, ser := range s.byName[m.Value] {
				visit(ser)
			}
			return
		}
	}
	for _, list := range s.byName {
		for _, ser := range list {
			visit(ser)
		}
	}
}

func firstT(ser *memSeries) int64 {
	if len(ser.chunks) > 0 {
		return ser.chunks[0].mint
	}
	return ser.headMint
}

func (q *querier) LabelValues(_ context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	q.s.mu.RLock()
	q.s.forMatching(max(q.mint, q.s.minValid), q.maxt, ms, func(ser *memSeries) {
		if v := ser.lset.Get(name); v != "" {
			seen[v] = struct{}{}
		}
	})
	q.s.mu.RUnlock()
	return sortedLimit(seen, hints), nil, nil
}

func (q *querier) LabelNames(_ context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	q.s.mu.RLock()
	q.s.forMatching(max(q.mint, q.s.minValid), q.maxt, ms, func(ser *memSeries) {
		ser.lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
	})
	q.s.mu.RUnlock()
	return sortedLimit(seen, hints), nil, nil
}

func sortedLimit(set map[string]struct{}, hints *storage.LabelHints) []string {
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

// snapshot is an immutable view of ser's chunks overlapping [mint, maxt], without samples older than
// minValid. Caller holds s.mu.
func snapshot(ser *memSeries, mint, maxt, minValid int64) *snapSeries {
	n := 0
	for n < len(ser.chunks) && ser.chunks[n].maxt < mint {
		n++
	}
	m := len(ser.chunks)
	for m > n && ser.chunks[m-1].mint > maxt {
		m--
	}
	cs := make([]chunkRef, m-n, m-n+1)
	copy(cs, ser.chunks[n:m])
	if ser.head != nil && ser.headMint <= maxt && ser.lastT >= mint {
		c, _ := chunkenc.FromData(chunkenc.EncXOR, slices.Clone(ser.head.Bytes()))
		cs = append(cs, chunkRef{c: c, mint: ser.headMint, maxt: ser.lastT})
	}
	if len(cs) > 0 && cs[0].mint < minValid {
		cs[0] = trimChunk(cs[0], minValid)
	}
	return &snapSeries{lset: ser.lset, chunks: cs}
}

type snapSeries struct {
	lset   labels.Labels
	chunks []chunkRef
}

func (s *snapSeries) Labels() labels.Labels { return s.lset }

// Iterator chains the chunks' own XOR iterators (Prometheus' chain iterator when there are several).
func (s *snapSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.chunks) == 1 {
		return s.chunks[0].c.Iterator(it)
	}
	its := make([]chunkenc.Iterator, len(s.chunks))
	for i, c := range s.chunks {
		its[i] = c.c.Iterator(nil)
	}
	return storage.ChainSampleIteratorFromIterators(it, its)
}

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// trimChunk re-encodes c without its samples before mint: what fell out of MaxRange is gone, exactly.
func trimChunk(c chunkRef, mint int64) chunkRef {
	out := chunkenc.NewXORChunk()
	app, _ := out.Appender()
	it := c.c.Iterator(nil)
	first := int64(math.MinInt64)
	for it.Next() != chunkenc.ValNone {
		t, v := it.At()
		if t < mint {
			continue
		}
		if first == math.MinInt64 {
			first = t
		}
		app.Append(0, t, v)
	}
	return chunkRef{c: out, mint: first, maxt: c.maxt}
}

// Appender takes rule results (recording rules, ALERTS) into the store, as Prometheus' rule groups write
// them to the TSDB. Samples are applied at once; Commit and Rollback do nothing.
func (s *Store) Appender(context.Context) storage.Appender { return ruleAppender{s: s} }

type ruleAppender struct{ s *Store }

var errNoHistograms = errors.New("rule fidelity store: native histograms are not held")

func (a ruleAppender) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ser := s.getOrCreateLabels(l)
	if ser == nil {
		s.refused(t)
		return 0, ErrStoreFull
	}
	switch err := s.appendSample(ser, t, v); err {
	case errOutOfOrder:
		return 0, storage.ErrOutOfOrderSample
	case errDuplicate:
		return 0, storage.ErrDuplicateSampleForTimestamp
	case errTooOld:
		return 0, storage.ErrOutOfBounds
	}
	return storage.SeriesRef(ser.hash), nil
}

func (ruleAppender) SetOptions(*storage.AppendOptions) {}
func (ruleAppender) Commit() error                     { return nil }
func (ruleAppender) Rollback() error                   { return nil }
func (ruleAppender) AppendExemplar(ref storage.SeriesRef, _ labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	return ref, nil
}

func (ruleAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, errNoHistograms
}

func (ruleAppender) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, errNoHistograms
}

func (ruleAppender) UpdateMetadata(ref storage.SeriesRef, _ labels.Labels, _ metadata.Metadata) (storage.SeriesRef, error) {
	return ref, nil
}

func (ruleAppender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}
