// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package differential

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// services stand in for instrumented applications sending OTLP to the node's collector: resources with
// service.* attributes and no process attributes.
var services = []string{"checkout", "cart", "frontend"}

// startAppSender sends application metrics to an OTLP/gRPC endpoint every interval until the test ends, as
// an SDK would: a cumulative request counter, a gauge, a non-monotonic sum and a histogram per service.
// Values are a function of the tick, so every run sends the same. No delta sums: prometheus_remote_write
// drops them (Prometheus has no delta type), so the backend would have none to compare.
func startAppSender(t *testing.T, endpoint string, interval time.Duration) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("OTLP client: %v", err)
	}
	client := pmetricotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = conn.Close()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := pcommon.NewTimestampFromTime(time.Now())
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		failures := 0
		for tick := 1; ; tick++ {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			now := pcommon.NewTimestampFromTime(time.Now())
			sendCtx, sendCancel := context.WithTimeout(ctx, interval)
			_, err := client.Export(sendCtx, pmetricotlp.NewExportRequestFromMetrics(appMetrics(tick, start, now)))
			sendCancel()
			if err != nil && ctx.Err() == nil {
				failures++
				if failures <= 3 {
					t.Logf("OTLP send %d: %v", tick, err)
				}
			}
		}
	}()
}

// appMetrics is tick's batch: one resource per service.
func appMetrics(tick int, start, now pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i, name := range services {
		rm := md.ResourceMetrics().AppendEmpty()
		attrs := rm.Resource().Attributes()
		attrs.PutStr("service.name", name)
		attrs.PutStr("service.instance.id", name+"-0")
		attrs.PutStr("service.version", "1.4.2")
		attrs.PutStr("deployment.environment.name", "test")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("github.com/phoenix-platform/otelcol-phoenix/tests/differential")
		sm.Scope().SetVersion("1.0.0")
		f := float64(i + 1)

		requests := sm.Metrics().AppendEmpty()
		requests.SetName("http.server.request.count")
		requests.SetUnit("{request}")
		sum := requests.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for j, route := range []struct{ method, status string }{{"GET", "200"}, {"POST", "200"}, {"GET", "500"}} {
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			dp.SetIntValue(int64(tick * (i + 1) * (17 - 5*j)))
			dp.Attributes().PutStr("http.request.method", route.method)
			dp.Attributes().PutStr("http.response.status_code", route.status)
		}

		queue := sm.Metrics().AppendEmpty()
		queue.SetName("app.queue.depth")
		queue.SetUnit("{item}")
		gdp := queue.SetEmptyGauge().DataPoints().AppendEmpty()
		gdp.SetTimestamp(now)
		gdp.SetDoubleValue(10*f + 5*math.Sin(float64(tick)/3+f))

		conns := sm.Metrics().AppendEmpty()
		conns.SetName("app.connections.active")
		conns.SetUnit("{connection}")
		updown := conns.SetEmptySum()
		updown.SetIsMonotonic(false)
		updown.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		udp := updown.DataPoints().AppendEmpty()
		udp.SetStartTimestamp(start)
		udp.SetTimestamp(now)
		udp.SetIntValue(int64(20 + (tick*7+i)%11))

		duration := sm.Metrics().AppendEmpty()
		duration.SetName("http.server.request.duration")
		duration.SetUnit("s")
		hist := duration.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		hdp := hist.DataPoints().AppendEmpty()
		hdp.SetStartTimestamp(start)
		hdp.SetTimestamp(now)
		hdp.Attributes().PutStr("http.request.method", "GET")
		bounds := []float64{0.005, 0.01, 0.05, 0.1, 0.5, 1}
		hdp.ExplicitBounds().FromRaw(bounds)
		counts := make([]uint64, len(bounds)+1)
		var total uint64
		for b := range counts {
			counts[b] = uint64(tick * (len(counts) - b) * (i + 1))
			total += counts[b]
		}
		hdp.BucketCounts().FromRaw(counts)
		hdp.SetCount(total)
		hdp.SetSum(float64(total) * 0.042)
	}
	return md
}
