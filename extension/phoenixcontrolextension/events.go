// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"fmt"
	"net/http"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
	"github.com/phoenix-platform/otelcol-phoenix/internal/sse"
)

// event and broker are the control API's Server-Sent Events.
type (
	event  = sse.Event
	broker = sse.Broker
)

func newBroker() *broker { return sse.NewBroker() }

// publishSnapshots publishes every experiment's snapshot and every simulator's status.
func (r *registry) publishSnapshots(time.Time) {
	for _, n := range r.experimentNames() {
		if e, err := r.experiment(n); err == nil {
			r.events.Publish(event{Type: "snapshot", Data: e.Snapshot()})
		}
	}
	for _, n := range r.simulatorNames() {
		if s, err := r.simulator(n); err == nil {
			r.events.Publish(simulatorEvent(n, s))
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
	if n := a.streams.Add(1); a.maxStreams.Load() > 0 && n > a.maxStreams.Load() {
		a.streams.Add(-1)
		w.Header().Set("Retry-After", "10")
		httpjson.Error(w, http.StatusTooManyRequests, "too_many_streams",
			fmt.Sprintf("%d event streams are open (max_event_streams): retry later", n-1))
		return
	}
	defer a.streams.Add(-1)
	if err := sse.Serve(w, r, a.reg.events, a.keepalive, streamWriteTimeout); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

// streamWriteTimeout bounds one write of an event stream.
const streamWriteTimeout = 10 * time.Second
