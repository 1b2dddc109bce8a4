// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package sse

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamOutlivesWriteTimeoutOverHTTP2: the write timeout bounds each write, not the idle time between
// them. Over HTTP/2 (TLS, as with phoenix_fleet's node_identity) a deadline left set resets the stream once
// it passes.
func TestStreamOutlivesWriteTimeoutOverHTTP2(t *testing.T) {
	b := NewBroker()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = Serve(w, r, b, 300*time.Millisecond, 100*time.Millisecond)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer b.Close()

	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 2, resp.ProtoMajor, "served over HTTP/2")
	lines := make(chan string, 1024) // the reader never blocks once the test is done
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	keepalives, end := 0, time.After(1200*time.Millisecond)
	for keepalives < 3 {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the stream ended after %d keepalives", keepalives)
			if strings.HasPrefix(l, ": keepalive") {
				keepalives++
			}
		case <-end:
			t.Fatalf("%d keepalives in 1.2 s, want 3", keepalives)
		}
	}
	b.Publish(Event{Type: "x", Data: 1})
	timeout := time.After(2 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the stream ended before the event")
			if l == "event: x" {
				return
			}
		case <-timeout:
			assert.Fail(t, "the event after idle time never came")
			return
		}
	}
}
