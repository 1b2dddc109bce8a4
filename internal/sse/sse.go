// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package sse fans events out to Server-Sent Events streams: the control API's and the fleet API's.
package sse // import "github.com/phoenix-platform/otelcol-phoenix/internal/sse"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Event is one Server-Sent Event: a type and a JSON payload.
type Event struct {
	Type string
	Data any
}

// Broker fans events out to subscribers; a subscriber too slow to keep up loses events rather than slowing
// the collector.
type Broker struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed chan struct{}
}

// NewBroker makes a broker.
func NewBroker() *Broker {
	return &Broker{subs: map[chan Event]struct{}{}, closed: make(chan struct{})}
}

// Subscribe returns a channel of the events from now on, and how to stop.
func (b *Broker) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Publish hands an event to every subscriber that has room for it.
func (b *Broker) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // slow subscriber: drop
		}
	}
}

// Close ends every stream (on shutdown, so that open streams never hold the server).
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
}

// Done is closed by Close.
func (b *Broker) Done() <-chan struct{} { return b.closed }

// ErrNoStreaming: the response writer cannot flush.
var ErrNoStreaming = errors.New("streaming unsupported")

// Serve streams the broker's events to one client as text/event-stream until the client goes, the broker
// closes or a write fails. A stream lives longer than a server's read and write timeouts, which would cut
// it (and the read timeout cancels its context): it lifts them for itself, and instead bounds each write,
// so a client that stops reading is dropped after writeTimeout. A comment every keepalive shows proxies
// and clients it is alive.
func Serve(w http.ResponseWriter, r *http.Request, b *Broker, keepalive, writeTimeout time.Duration) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return ErrNoStreaming
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	ch, cancel := b.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	// The deadline bounds a write and is lifted once it is done: over HTTP/2 a deadline that passes while
	// the stream is idle resets the stream.
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	w.WriteHeader(http.StatusOK)
	if !send(": connected\n\n") {
		return nil
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		ok := true
		select {
		case <-r.Context().Done():
			return nil
		case <-b.closed:
			return nil
		case <-tick.C:
			ok = send(": keepalive\n\n")
		case e := <-ch:
			data, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			ok = send("event: %s\ndata: %s\n\n", e.Type, data)
		}
		if !ok {
			return nil
		}
	}
}
