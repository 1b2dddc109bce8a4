// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package distribution

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestExporterUserAgent: the binary's exporters name it to a backend as otelcol-contrib's name contrib
// ("OpenTelemetry Collector Contrib/0.159.0 (linux/amd64)"): a short name, the version, the platform.
func TestExporterUserAgent(t *testing.T) {
	agents := make(chan string, 16)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case agents <- r.UserAgent():
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()
	config := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, `
receivers:
  simulated_process: {collection_interval: 200ms, processes: 3}
exporters:
  otlp_http: {endpoint: %q, retry_on_failure: {enabled: false}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {metrics: {receivers: [simulated_process], exporters: [otlp_http]}}
`, sink.URL), 0o600))
	c := harness.Start(t, harness.Binary(t), config)
	defer c.Stop(10 * time.Second)
	select {
	case ua := <-agents:
		assert.Equal(t, fmt.Sprintf("OpenTelemetry Collector Phoenix/0.159.0 (%s/%s)", runtime.GOOS, runtime.GOARCH), ua)
	case <-time.After(20 * time.Second):
		t.Fatalf("no export in 20s:\n%s", c.Logs())
	}
}
