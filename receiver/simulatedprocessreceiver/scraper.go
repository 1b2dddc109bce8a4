// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver // import "github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

// simScraper steps the simulation once per collection interval and emits its processes as metrics, one
// ResourceMetrics per process, exactly as the host_metrics process scraper does on Linux.
type simScraper struct {
	cfg      *Config
	settings receiver.Settings
	now      func() time.Time

	mu         sync.Mutex // guards sim and em (set at start)
	sim        *procsim.Simulator
	em         *emitter
	unregister func()
}

func newSimScraper(cfg *Config, set receiver.Settings) *simScraper {
	return &simScraper{cfg: cfg, settings: set, now: time.Now}
}

func (s *simScraper) start(_ context.Context, host component.Host) error {
	if err := s.init(s.now()); err != nil {
		return err
	}
	if s.cfg.Control == (component.ID{}) {
		return nil
	}
	reg, err := control.FindRegistry(host.GetExtensions(), s.cfg.Control)
	if err != nil {
		return err
	}
	s.unregister = reg.RegisterSimulator(s.settings.ID.String(), s.simulator())
	return nil
}

func (s *simScraper) shutdown(context.Context) error {
	if s.unregister != nil {
		s.unregister()
		s.unregister = nil
	}
	return nil
}

// init builds the simulation; the simulated clock starts at start.
func (s *simScraper) init(start time.Time) error {
	sim, err := procsim.New(s.cfg.options(start))
	if err != nil {
		return err
	}
	mbc := s.cfg.MetricsBuilderConfig
	if s.cfg.Hosts > 1 {
		mbc.ResourceAttributes.HostName.Enabled = true // emulated hosts must be told apart
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sim = sim
	s.em = newEmitter(mbc, s.settings)
	return nil
}

// simulator returns the running simulation for the control extension (nil before start).
func (s *simScraper) simulator() control.Simulator {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sim == nil {
		return nil
	}
	return s.sim
}

func (s *simScraper) scrape(context.Context) (pmetric.Metrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md := pmetric.NewMetrics()
	now := pcommon.NewTimestampFromTime(s.now())
	s.sim.Tick(func(h *procsim.Host) { s.em.emitHost(md.ResourceMetrics(), h, now) })
	return md, nil
}
