// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpguard"
	"github.com/phoenix-platform/otelcol-phoenix/internal/statefile"
)

// phoenixControl is the extension: the registry components register with, and the HTTP server over it.
type phoenixControl struct {
	*registry
	cfg *Config
	set extension.Settings

	mu     sync.Mutex
	server *http.Server
	addr   net.Addr
	done   chan struct{}
	stop   chan struct{} // ends the snapshot publisher
	state  *stateStore
	agent  *opampAgent // nil without opamp:
}

var _ control.Registry = (*phoenixControl)(nil)

func newControl(cfg *Config, set extension.Settings) *phoenixControl {
	return &phoenixControl{registry: newRegistry(set.Logger), cfg: cfg, set: set}
}

// Start binds the listener before returning (a port conflict fails the collector's start), then serves.
func (c *phoenixControl) Start(ctx context.Context, host component.Host) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server != nil {
		return errors.New("already started")
	}
	if c.cfg.Storage != (component.ID{}) {
		se, err := statefile.Extension(host, c.cfg.Storage)
		if err != nil {
			return err
		}
		// Opened in NotifyConfig, where its file is known: damage to it must never fail the start.
		c.state = newStateStore(c.set.Logger, se, c.cfg.Storage, c.set.ID)
		c.state.onStoredValues = c.registry.applyStored // a file opened late, or replaced: its values apply
		c.setStore(c.state)
	}
	var desired *desiredState
	if c.cfg.DesiredState.Path != "" || c.cfg.OpAMP != nil { // an OpAMP server sends the same desired state
		desired = newDesiredState(c.cfg.DesiredState.Path, nodeName(c.cfg.NodeName), c.registry, c.set.Logger)
		desired.poll(time.Now()) // applied before components start sending
		c.registry.mu.Lock()
		c.registry.desired = desired
		c.registry.mu.Unlock()
	}
	ln, err := httpguard.Listen(ctx, &c.cfg.ServerConfig, c.cfg.MaxConnections)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.cfg.NetAddr.Endpoint, err)
	}
	info := apiInfo{Node: nodeName(c.cfg.NodeName), Version: c.set.BuildInfo.Version}
	factories := hostProcessors(host)
	if factories == nil {
		c.set.Logger.Warn("the collector's host does not list its processors: the builder's catalogue is empty and validate refuses every type")
	}
	a := newAPI(c.registry, info, c.cfg.MaxRequestBodySize, factories)
	a.maxStreams.Store(int64(c.cfg.MaxEventStreams))
	srv, err := c.cfg.ToServer(ctx, host.GetExtensions(), c.set.TelemetrySettings, a.handler(), serverOptions()...)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv.Handler = withDashboard(srv.Handler)
	srv.Handler = httpguard.For(&c.cfg.ServerConfig).Wrap(srv.Handler)
	c.server, c.addr, c.done, c.stop = srv, ln.Addr(), make(chan struct{}), make(chan struct{})
	go every(c.cfg.EventsInterval, c.stop, c.publishSnapshots)
	go every(time.Second, c.stop, c.registry.runs.tick)
	if c.cfg.DesiredState.Path != "" {
		go every(c.cfg.DesiredState.PollInterval, c.stop, desired.poll)
	}

	go func() {
		defer close(c.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.set.Logger.Error("control API stopped", zap.Error(err))
		}
	}()
	if c.cfg.OpAMP != nil { // a failure leaves the server to Shutdown, which the collector calls
		agent := newOpAMPAgent(c.cfg.OpAMP, c.registry, desired, info, c.set.Logger)
		if err := agent.Start(ctx); err != nil {
			return err
		}
		c.agent = agent
	}
	scheme := "http"
	if c.cfg.TLS.HasValue() {
		scheme = "https"
	}
	c.set.Logger.Info("control API and dashboard listening", zap.String("endpoint", ln.Addr().String()),
		zap.String("dashboard", scheme+"://"+ln.Addr().String()+"/"))
	return nil
}

// Shutdown stops the server and waits for it; safe without Start and when called twice.
func (c *phoenixControl) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.agent != nil {
		errs = append(errs, c.agent.Shutdown(ctx))
		c.agent = nil
	}
	if c.server != nil {
		close(c.stop)
		c.events.Close() // open event streams end now, not at the shutdown deadline
		errs = append(errs, httpguard.Shutdown(ctx, c.server))
		<-c.done
		c.server = nil
	}
	if c.state != nil {
		errs = append(errs, c.state.Close(ctx))
		c.state = nil
	}
	return errors.Join(errs...)
}

// NotifyConfig implements extensioncapabilities.ConfigWatcher. The service calls it with the effective
// configuration after every extension's Start and before any pipeline's: the state file is opened here,
// where file_storage's directory is known, so that it is checked before bbolt opens it and moved aside when
// damaged, and experiments, which register when their pipeline starts, still restore from it before any data
// flows. It never fails: state damage must not stop the collector.
func (c *phoenixControl) NotifyConfig(ctx context.Context, conf *confmap.Conf) error {
	c.mu.Lock()
	state, agent := c.state, c.agent
	c.mu.Unlock()
	if state != nil {
		state.configured(ctx, conf)
	}
	if agent != nil { // after the file, before the experiments register
		agent.restoreRemote(ctx)
	}
	return nil
}

// nodeName is the configured name, else $K8S_NODE_NAME, else the hostname.
func nodeName(configured string) string {
	if configured != "" {
		return configured
	}
	if n := os.Getenv("K8S_NODE_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

// Addr is the address the API listens on (nil before Start).
func (c *phoenixControl) Addr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}
