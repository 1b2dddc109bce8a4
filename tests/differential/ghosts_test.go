// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package differential

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // exporters compress by default
)

// ghostLag is how far behind its host's latest point a process series' last point must be for the
// series to count as gone: more than one missed collection.
const ghostLag = processInterval * 3 / 2

// endsSink is an OTLP/gRPC endpoint the tee collector also exports to: it keeps each process series'
// latest point per variant (by timestamp, so out-of-order batches do not matter) and whether that point
// is an end (flagged NoRecordedValue). Prometheus cannot tell an ended series from one that just stopped
// (both leave instant queries after the lookback), and the prometheus exporter drops only the first
// point of a metric carrying the flag (its accumulator returns there), so the ends are checked on the
// OTLP the collector sends.
type endsSink struct {
	pmetricotlp.UnimplementedGRPCServer
	addr string

	mu     sync.Mutex
	series map[string]*seriesState // variant + identity → state
	latest map[string]time.Time    // variant + host → newest point
}

type seriesState struct {
	variant string
	attrs   map[string]string // metric name (__name__), resource and point attributes, the variant excluded
	t       time.Time
	ended   bool
}

func newEndsSink(t *testing.T) *endsSink {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	s := &endsSink{addr: lis.Addr().String(), series: map[string]*seriesState{}, latest: map[string]time.Time{}}
	pmetricotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

// Export takes one batch.
func (s *endsSink) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rms := req.Metrics().ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := map[string]string{}
		rm.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			res[k] = v.AsString()
			return true
		})
		variant := res["phoenix.variant"]
		delete(res, "phoenix.variant")
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if !strings.HasPrefix(m.Name(), "process.") {
					continue
				}
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				for p := 0; p < dps.Len(); p++ {
					s.add(variant, m.Name(), res, dps.At(p))
				}
			}
		}
	}
	return pmetricotlp.NewExportResponse(), nil
}

func (s *endsSink) add(variant, name string, res map[string]string, dp pmetric.NumberDataPoint) {
	attrs := make(map[string]string, len(res)+dp.Attributes().Len()+1)
	for k, v := range res {
		attrs[k] = v
	}
	dp.Attributes().Range(func(k string, v pcommon.Value) bool {
		attrs[k] = v.AsString()
		return true
	})
	attrs["__name__"] = name
	key := variant + "\x00" + identity(attrs)
	ts := dp.Timestamp().AsTime()
	st, ok := s.series[key]
	if !ok {
		st = &seriesState{variant: variant, attrs: attrs}
		s.series[key] = st
	} else if ts.Before(st.t) {
		return // an older batch arriving late
	}
	st.t, st.ended = ts, dp.Flags().NoRecordedValue()
	hk := variant + "\x00" + attrs["host.name"]
	if ts.After(s.latest[hk]) {
		s.latest[hk] = ts
	}
}

func identity(attrs map[string]string) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q,", k, attrs[k])
	}
	return b.String()
}

// ghostCount accumulates, per variant, the series that stopped getting points without an end.
type ghostCount struct {
	reads    int
	ghosts   map[string]int    // variant → series gone without an end, summed over reads
	unended  map[string]int    // variant → of which what they stand for is live in the baseline
	examples map[string]string // variant → the first such series
}

// readGhosts looks at the sink's state now. A series that leaves a variant's output must end with a
// NoRecordedValue point; one that is only no longer sent is a ghost — served frozen by a scraped exporter
// until metric_expiration, kept by a remote-write backend for its lookback (5m by default) — counted next
// to `other`, which already carries it. Exited processes stop without an end in the baseline too (nothing
// ends them), and may in a variant; a variant's ghost is a breach when the baseline still has a live series
// it stands for: one with the same attributes (a process kept on its own), or with a superset of them (its
// group, for group_by).
func (o *oracle) readGhosts(s *endsSink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &o.ghosts
	if g.ghosts == nil {
		g.ghosts, g.unended, g.examples = map[string]int{}, map[string]int{}, map[string]string{}
	}
	g.reads++
	// gone in the last read period: each series counts about once
	gone := func(st *seriesState) bool {
		lag := s.latest[st.variant+"\x00"+st.attrs["host.name"]].Sub(st.t)
		return lag > ghostLag && lag <= ghostLag+ghostRead
	}
	live := map[string][]map[string]string{} // baseline, by metric, host and executable
	for _, st := range s.series {
		if st.variant == baselineVariant && !st.ended && !gone(st) {
			k := ghostIndex(st.attrs)
			live[k] = append(live[k], st.attrs)
		}
	}
	for _, st := range s.series {
		if st.ended || !gone(st) {
			continue
		}
		g.ghosts[st.variant]++
		if st.variant == baselineVariant {
			continue
		}
		for _, b := range live[ghostIndex(st.attrs)] {
			if covers(b, st.attrs) {
				g.unended[st.variant]++
				if g.examples[st.variant] == "" {
					g.examples[st.variant] = fmt.Sprintf("%s: last point %s, its host's latest %s, no end point, while the baseline's %s is live",
						identity(st.attrs), st.t.Format("15:04:05.000"),
						s.latest[st.variant+"\x00"+st.attrs["host.name"]].Format("15:04:05.000"), identity(b))
				}
				break
			}
		}
	}
}

func ghostIndex(attrs map[string]string) string {
	return attrs["__name__"] + "\x00" + attrs["host.name"] + "\x00" + attrs["process.executable.name"]
}

// covers reports whether base has every attribute of s with the same value.
func covers(base, s map[string]string) bool {
	for k, v := range s {
		if base[k] != v {
			return false
		}
	}
	return true
}

// reportGhosts adds the ghost figures and breaches.
func (o *oracle) reportGhosts() {
	g := &o.ghosts
	if g.reads == 0 {
		o.breach("ends: the sink was never read")
		return
	}
	for _, v := range o.others() {
		ok := g.unended[v] == 0
		o.row(fmt.Sprintf("process series gone without an end point (OTLP, %d reads)", g.reads), v,
			fmt.Sprintf("%d gone", g.ghosts[baselineVariant]), fmt.Sprintf("%d gone", g.ghosts[v]),
			fmt.Sprintf("%d while live in the baseline", g.unended[v]), "", "0", verdict(ok))
		if !ok {
			o.breach("%s: %d series stopped getting points without an end point (NoRecordedValue) while what they stand for is live in the baseline, e.g. %s",
				v, g.unended[v], g.examples[v])
		}
	}
}
