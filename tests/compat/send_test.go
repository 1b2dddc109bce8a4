// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package compat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// What the run cases send, as a client of each protocol would: OTLP/HTTP JSON, and Fluent Bit's forward
// protocol (msgpack).

// postOTLP sends one OTLP/HTTP JSON request (signal: traces, metrics, logs) to the collector's port.
func postOTLP(t *testing.T, port int, signal, body string) {
	t.Helper()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/v1/" + signal
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST %s: %s", url, b)
}

// span is one span of a trace, in OTLP JSON.
type span struct {
	traceID, spanID, name string
	duration              time.Duration
	errored               bool
	attrs                 map[string]string
}

// traces renders spans of one service as an OTLP JSON traces request, ending now.
func traces(service string, spans ...span) string {
	end := time.Now()
	var out []string
	for _, s := range spans {
		status := `{"code":1}`
		if s.errored {
			status = `{"code":2,"message":"card declined"}`
		}
		var attrs []string
		for k, v := range s.attrs {
			attrs = append(attrs, fmt.Sprintf(`{"key":%q,"value":{"stringValue":%q}}`, k, v))
		}
		out = append(out, fmt.Sprintf(`{"traceId":%q,"spanId":%q,"name":%q,"kind":2,`+
			`"startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":%s,"attributes":[%s]}`,
			s.traceID, s.spanID, s.name, end.Add(-s.duration).UnixNano(), end.UnixNano(), status, strings.Join(attrs, ",")))
	}
	return fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]},`+
		`"scopeSpans":[{"scope":{"name":"compat"},"spans":[%s]}]}]}`, service, strings.Join(out, ","))
}

// deltaSum renders one point of a monotonic delta counter covering [start, end) and a gauge, as OTLP JSON.
func deltaSumAndGauge(counter string, value int, start, end time.Time, gauge string, gaugeValue float64) string {
	return fmt.Sprintf(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"worker"}}]},`+
		`"scopeMetrics":[{"scope":{"name":"compat"},"metrics":[`+
		`{"name":%q,"unit":"{request}","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[`+
		`{"startTimeUnixNano":"%d","timeUnixNano":"%d","asInt":"%d","attributes":[{"key":"queue","value":{"stringValue":"orders"}}]}]}},`+
		`{"name":%q,"unit":"ms","gauge":{"dataPoints":[{"timeUnixNano":"%d","asDouble":%g}]}}]}]}]}`,
		counter, start.UnixNano(), end.UnixNano(), value, gauge, end.UnixNano(), gaugeValue)
}

// forward sends one Fluent forward-protocol message ([tag, time, record], msgpack) over TCP, as Fluent Bit's
// `forward` output does.
func forward(t *testing.T, port int, tag string, record map[string]string) {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte(0x93) // array of 3
	msgpackString(&b, tag)
	b.WriteByte(0xce) // uint32 seconds
	_ = binary.Write(&b, binary.BigEndian, uint32(time.Now().Unix()))
	require.Less(t, len(record), 16)
	b.WriteByte(0x80 | byte(len(record))) // map
	for k, v := range record {
		msgpackString(&b, k)
		msgpackString(&b, v)
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	require.NoError(t, err)
	_, err = conn.Write(b.Bytes())
	require.NoError(t, err)
	require.NoError(t, conn.Close())
}

func msgpackString(b *bytes.Buffer, s string) {
	if len(s) < 32 {
		b.WriteByte(0xa0 | byte(len(s)))
	} else {
		b.WriteByte(0xd9)
		b.WriteByte(byte(len(s)))
	}
	b.WriteString(s)
}

// tailSampling: the error trace and the slow trace reach the file through load_balancing and the second tier;
// a fast, successful trace sent in the same request is dropped (its decision is made with the others').
func tailSampling(t *testing.T, c *harness.Collector, tmp string, ports map[int]int) {
	out := filepath.Join(tmp, "sampled.json")
	postOTLP(t, ports[4318], "traces", traces("checkout",
		span{traceID: "5b8efff798038103d269b633813fc60c", spanID: "eee19b7ec3c1b174", name: "charge-card", duration: 20 * time.Millisecond, errored: true},
		span{traceID: "5b8efff798038103d269b633813fc60d", spanID: "eee19b7ec3c1b175", name: "health", duration: time.Millisecond},
	))
	require.NoError(t, c.WaitFor(30*time.Second, func() error { return harness.ExpectFileContains(out, "charge-card") }))
	// A later trace's decision comes after the first request's: once it is written, "health" was decided.
	postOTLP(t, ports[4318], "traces", traces("checkout",
		span{traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "b7ad6b7169203331", name: "slow-report", duration: 1500 * time.Millisecond}))
	require.NoError(t, c.WaitFor(30*time.Second, func() error { return harness.ExpectFileContains(out, "slow-report") }))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"health"`, "a fast OK trace outside the 10% must be dropped by tail_sampling")
}

// spanMetrics: a span becomes a call count and a latency histogram in Prometheus, and the stored span has its
// card number masked.
func spanMetrics(t *testing.T, c *harness.Collector, tmp string, ports map[int]int) {
	postOTLP(t, ports[4318], "traces", traces("checkout", span{
		traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", name: "POST /pay", duration: 42 * time.Millisecond,
		attrs: map[string]string{"http.request.method": "POST", "payment.card": "4111111111111111"},
	}))
	url := "http://127.0.0.1:" + strconv.Itoa(ports[8889]) + "/metrics"
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(url, "traces_span_metrics_calls_total{", `span_name="POST /pay"`,
			`http_request_method="POST"`, "traces_span_metrics_duration_milliseconds_bucket{")
	}))
	out := filepath.Join(tmp, "traces.json")
	require.NoError(t, c.WaitFor(30*time.Second, func() error { return harness.ExpectFileContains(out, "POST /pay", "****") }))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "4111111111111111", "redaction must mask the card number")
}

// deltaToCumulative: two delta points of 5 become a cumulative series at 10 (in the archive, and in Prometheus),
// and the generated gauge is the millisecond gauge in seconds.
func deltaToCumulative(t *testing.T, c *harness.Collector, tmp string, ports map[int]int) {
	t0 := time.Now().Add(-2 * time.Second)
	postOTLP(t, ports[4318], "metrics", deltaSumAndGauge("app.requests", 5, t0, t0.Add(time.Second), "queue.wait", 250))
	postOTLP(t, ports[4318], "metrics", deltaSumAndGauge("app.requests", 5, t0.Add(time.Second), t0.Add(2*time.Second), "queue.wait", 250))
	url := "http://127.0.0.1:" + strconv.Itoa(ports[8889]) + "/metrics"
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(url, `app_requests_total{`, `queue="orders"`, `} 10`, "queue_wait_seconds{", `} 0.25`)
	}))
	out := filepath.Join(tmp, "metrics.json")
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectFileContains(out, `"name":"app.requests"`, `"asInt":"10"`, `"aggregationTemporality":2`)
	}))
}

// fluentForward: a Fluent Bit record lands in the file with its password masked; OTLP traces are accepted.
func fluentForward(t *testing.T, c *harness.Collector, tmp string, ports map[int]int) {
	forward(t, ports[8006], "app.payments", map[string]string{
		"log": "payment failed for order 42", "level": "error", "password": "hunter2"})
	out := filepath.Join(tmp, "logs.json")
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectFileContains(out, "payment failed for order 42", `"fluent.tag"`, "app.payments", "****")
	}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter2", "redaction must mask the password")
	postOTLP(t, ports[4318], "traces", traces("checkout",
		span{traceID: "5b8efff798038103d269b633813fc60e", spanID: "eee19b7ec3c1b176", name: "dropped", duration: time.Millisecond}))
}
