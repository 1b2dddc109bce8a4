// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package receivercapture runs a receiver until it has emitted a number of batches, for tests and
// benchmarks that need real receiver output (host_metrics, simulated_process).
package receivercapture // import "github.com/phoenix-platform/otelcol-phoenix/internal/receivercapture"

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// Capture runs the receiver with conf (collection_interval defaults to 200ms) until it has emitted n
// batches, and returns them.
func Capture(tb testing.TB, f receiver.Factory, conf map[string]any, n int) []pmetric.Metrics {
	tb.Helper()
	cfg := f.CreateDefaultConfig()
	all := map[string]any{"collection_interval": "200ms"}
	for k, v := range conf {
		all[k] = v
	}
	require.NoError(tb, confmap.NewFromStringMap(all).Unmarshal(cfg))
	sink := new(consumertest.MetricsSink)
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(tb, err)
	require.NoError(tb, r.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(tb, r.Shutdown(context.Background())) }()
	require.Eventually(tb, func() bool { return len(sink.AllMetrics()) >= n }, 60*time.Second, 10*time.Millisecond)
	return sink.AllMetrics()[:n]
}

// NextInterval is a copy of md with every number point's timestamp moved by d: the same processes one
// interval later, for benchmarks that replay a captured batch.
func NextInterval(md pmetric.Metrics, d time.Duration) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	setTimestamps(out, func(ts pcommon.Timestamp) pcommon.Timestamp { return ts + pcommon.Timestamp(d) })
	return out
}

// Regular stamps batch i's number points at the first batch's time plus i intervals, in place: the
// receiver's clock as the simulation keeps it, so that a test's figures do not depend on how late the
// scheduler ran each scrape.
func Regular(batches []pmetric.Metrics, interval time.Duration) {
	if len(batches) == 0 {
		return
	}
	var first pcommon.Timestamp
	setTimestamps(batches[0], func(ts pcommon.Timestamp) pcommon.Timestamp {
		if first == 0 {
			first = ts
		}
		return first
	})
	for i := 1; i < len(batches); i++ {
		at := first + pcommon.Timestamp(time.Duration(i)*interval)
		setTimestamps(batches[i], func(pcommon.Timestamp) pcommon.Timestamp { return at })
	}
}

func setTimestamps(md pmetric.Metrics, f func(pcommon.Timestamp) pcommon.Timestamp) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			ms := sms.At(s).Metrics()
			for j := 0; j < ms.Len(); j++ {
				var dps pmetric.NumberDataPointSlice
				switch m := ms.At(j); m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				for k := 0; k < dps.Len(); k++ {
					dps.At(k).SetTimestamp(f(dps.At(k).Timestamp()))
				}
			}
		}
	}
}
