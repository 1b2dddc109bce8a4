// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// event is one Server-Sent Event: a type and a JSON payload.
type event struct {
	Type string
	Data any
}

// broker fans events out to subscribers; a subscriber too slow to keep up loses events rather than slowing
// the collector.
type broker struct {
	mu     sync.Mutex
	subs   map[chan event]struct{}
	closed chan struct{}
}

func newBroker() *broker {
	return &broker{subs: map[chan event]struct{}{}, closed: make(chan struct{})}
}

func (b *broker) subscribe() (<-chan event, func()) {
	ch := make(chan event, 64)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *broker) publish(e event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // slow subscriber: drop
		}
	}
}

// close ends every stream (on shutdown, so that open streams never hold the server).
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
}

// publishSnapshots publishes every experiment's snapshot and every simulator's status.
func (r *registry) publishSnapshots(time.Time) {
	for _, n := range r.experimentNames() {
		if e, err := r.experiment(n); err == nil {
			r.events.publish(event{Type: "snapshot", Data: e.Snapshot()})
		}
	}
	for _, n := range r.simulatorNames() {
		if s, err := r.simulator(n); err == nil {
			r.events.publish(simulatorEvent(n, s))
		}
	}
}

func simulatorEvent(name string, s control.Simulator) event {
	return event{Type: "simulator", Data: map[string]any{"simulator": name, "status": s.Status()}}
}

// every calls f each interval until stop is closed.
func every(interval time.Duration, stop <-chan struct{}, f func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			f(now)
		}
	}
}

// streamEvents serves /api/v1/events as text/event-stream: switch, simulator and snapshot events.
func (a *api) streamEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return
	}
	// A stream lives longer than the server's read and write timeouts, which would cut it (and the read
	// timeout cancels its context): it lifts them for itself, and instead bounds each write, so a client
	// that stops reading is dropped after streamWriteTimeout.
	if n := a.streams.Add(1); a.maxStreams.Load() > 0 && n > a.maxStreams.Load() {
		a.streams.Add(-1)
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, "too_many_streams",
			fmt.Sprintf("%d event streams are open (max_event_streams): retry later", n-1))
		return
	}
	defer a.streams.Add(-1)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	ch, cancel := a.reg.events.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	w.WriteHeader(http.StatusOK)
	if !send(": connected\n\n") {
		return
	}
	keepalive := time.NewTicker(a.keepalive)
	defer keepalive.Stop()
	for {
		ok := true
		select {
		case <-r.Context().Done():
			return
		case <-a.reg.events.closed:
			return
		case <-keepalive.C:
			ok = send(": keepalive\n\n")
		case e := <-ch:
			data, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			ok = send("event: %s\ndata: %s\n\n", e.Type, data)
		}
		if !ok {
			return
		}
	}
}

// streamWriteTimeout bounds one write of an event stream.
const streamWriteTimeout = 10 * time.Second
