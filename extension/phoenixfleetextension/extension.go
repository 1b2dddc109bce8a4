// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/server"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpguard"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
	"github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"
	"github.com/phoenix-platform/otelcol-phoenix/internal/statefile"
)

// opampPath is where agents connect (opamp-go's default).
const opampPath = "/v1/opamp"

// phoenixFleet is the fleet controller: an OpAMP server and the fleet API on one confighttp server.
type phoenixFleet struct {
	cfg      *Config
	set      extension.Settings
	agents   *agents
	rollouts *rollouts
	stop     chan struct{}

	mu     sync.Mutex
	opamp  interface{ Stop(context.Context) error }
	server *http.Server
	addr   net.Addr
	// apiServer serves the API and page on api.endpoint when it is set (nil: the main server does).
	apiServer *http.Server
	apiAddr   net.Addr
	done      chan struct{}
	client    storage.Client    // nil without storage
	storage   storage.Extension // until NotifyConfig opens it
}

// NotifyConfig implements extensioncapabilities.ConfigWatcher: the service calls it with the effective
// configuration after every extension's Start. The state file is located there and checked before bbolt
// reads it (bbolt panics on a damaged page, out of any recover's reach): a damaged one is moved aside and
// reported, and the controller starts afresh. Its state must never stop the collector: a file that cannot
// be opened (locked, a full disk) is reported and the controller runs without persistence.
func (f *phoenixFleet) NotifyConfig(ctx context.Context, conf *confmap.Conf) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storage == nil || f.client != nil {
		return nil
	}
	damage := ""
	if path, err := statefile.Path(conf, f.cfg.Storage, f.set.ID); err == nil && path != "" {
		if _, err := statefile.Check(path); err != nil {
			aside, removed, rerr := statefile.MoveAside(path, time.Now())
			if rerr != nil {
				f.set.Logger.Error("fleet state damaged and not moved aside: running without persistence", zap.Error(err), zap.NamedError("rename", rerr))
				f.rollouts.storageErr = fmt.Sprintf("damaged (%v), not moved aside (%v)", err, rerr)
				return nil
			}
			damage = fmt.Sprintf("damaged (%v): moved aside to %s; the rollouts started afresh", err, aside)
			f.set.Logger.Error("fleet state damaged: moved aside, rollouts start afresh", zap.Error(err), zap.String("moved_to", aside),
				zap.Strings("older_removed", removed))
		}
	}
	client, err := f.storage.GetClient(ctx, component.KindExtension, f.set.ID, "")
	if err != nil {
		f.set.Logger.Error("fleet state unavailable: rollouts are not persisted until a restart finds it", zap.Error(err))
		f.rollouts.storageErr = err.Error()
		return nil
	}
	f.client = client
	f.rollouts.load(ctx, client)
	if damage != "" {
		f.rollouts.mu.Lock()
		f.rollouts.damage = damage
		f.rollouts.mu.Unlock()
	}
	return nil
}

func newFleet(cfg *Config, set extension.Settings) *phoenixFleet {
	t := newAgents(set.Logger, cfg.MaxAgents)
	t.certIdentity = cfg.NodeIdentity == nodeIdentityCertificate
	return &phoenixFleet{cfg: cfg, set: set, agents: t, rollouts: newRollouts(t, set.Logger, cfg.ReportInterval)}
}

// Start binds the listener before returning (a port conflict fails the collector's start), then serves.
func (f *phoenixFleet) Start(ctx context.Context, host component.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server != nil {
		return errors.New("already started")
	}
	if f.cfg.Storage != (component.ID{}) {
		se, err := statefile.Extension(host, f.cfg.Storage)
		if err != nil {
			return err
		}
		f.storage = se // opened in NotifyConfig, where its file is known and can be checked first
	}
	srvOpAMP := server.New(opamplog.Logger{L: f.set.Logger})
	handler, connContext, err := srvOpAMP.Attach(server.Settings{CustomCapabilities: []string{fleet.Capability},
		Callbacks: callbacks(f.agents)})
	if err != nil {
		return fmt.Errorf("opamp: %w", err)
	}
	ln, err := httpguard.Listen(ctx, &f.cfg.ServerConfig, f.cfg.MaxConnections)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.cfg.NetAddr.Endpoint, err)
	}
	mux := http.NewServeMux()
	mux.Handle(opampPath, withReadBudget(http.HandlerFunc(handler), max(16<<20, 16*f.cfg.MaxRequestBodySize)))
	apiCfg := f.cfg.API.Get()
	maxBody := f.cfg.MaxRequestBodySize
	if apiCfg != nil {
		maxBody = apiCfg.MaxRequestBodySize
	}
	a := newAPI(f.agents, f.rollouts, 3*f.cfg.ReportInterval, maxBody)
	a.storageConfigured = f.cfg.Storage != (component.ID{})
	if apiCfg == nil {
		mux.Handle("/", a.handler())
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			httpjson.Error(w, http.StatusNotFound, "not_found", "this endpoint serves the agents' OpAMP only; the fleet API is on api.endpoint")
		})
	}
	srv, err := f.cfg.ToServer(ctx, host.GetExtensions(), f.set.TelemetrySettings, mux, confighttp.WithErrorHandler(jsonErrors))
	if err != nil {
		_ = ln.Close()
		return err
	}
	if apiCfg == nil {
		srv.Handler = withDashboard(srv.Handler)
	}
	srv.Handler = httpguard.For(&f.cfg.ServerConfig).Wrap(srv.Handler)
	srv.ConnContext = connContext // plain-HTTP agents: the server tells their requests apart by connection
	var apiSrv *http.Server
	var apiLn net.Listener
	if apiCfg != nil {
		if apiLn, err = httpguard.Listen(ctx, apiCfg, f.cfg.MaxConnections); err != nil {
			_ = ln.Close()
			return fmt.Errorf("api: listen on %s: %w", apiCfg.NetAddr.Endpoint, err)
		}
		if apiSrv, err = apiCfg.ToServer(ctx, host.GetExtensions(), f.set.TelemetrySettings, a.handler(), confighttp.WithErrorHandler(jsonErrors)); err != nil {
			_, _ = ln.Close(), apiLn.Close()
			return fmt.Errorf("api: %w", err)
		}
		apiSrv.Handler = httpguard.For(apiCfg).Wrap(withDashboard(apiSrv.Handler))
		f.apiAddr = apiLn.Addr()
	}
	f.server, f.apiServer, f.addr, f.opamp, f.stop = srv, apiSrv, ln.Addr(), srvOpAMP, make(chan struct{})
	f.done = make(chan struct{})
	go f.loop()
	go func() {
		defer close(f.done)
		var wg sync.WaitGroup
		serve := func(s *http.Server, l net.Listener, what string) {
			defer wg.Done()
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				f.set.Logger.Error(what+" stopped", zap.Error(err))
			}
		}
		wg.Add(1)
		go serve(srv, ln, "fleet controller")
		if apiSrv != nil {
			wg.Add(1)
			go serve(apiSrv, apiLn, "fleet API")
		}
		wg.Wait()
	}()
	fields := []zap.Field{zap.String("endpoint", ln.Addr().String()), zap.String("opamp", opampPath)}
	if f.apiAddr != nil {
		fields = append(fields, zap.String("api", f.apiAddr.String()))
	}
	f.set.Logger.Info("fleet controller listening", fields...)
	return nil
}

// jsonErrors answers confighttp's own errors (401s among them) in the API's JSON shape.
func jsonErrors(w http.ResponseWriter, _ *http.Request, msg string, status int) {
	httpjson.Error(w, status, strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), msg)
}

// Shutdown stops the server and drops the agents' connections; safe without Start and when called twice.
func (f *phoenixFleet) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server == nil {
		return nil
	}
	// The agents' WebSocket connections first: the OpAMP server's Stop waits for them, and the HTTP
	// server's Shutdown does not close hijacked connections.
	close(f.stop)
	f.rollouts.events.Close() // open event streams end now, not at the shutdown deadline
	f.agents.closeAll()
	sctx, cancel := context.WithTimeout(ctx, httpguard.ShutdownGrace) // one bound for all: a slow body cannot stretch it
	defer cancel()
	var errs []error
	if err := f.opamp.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		errs = append(errs, err)
	}
	for _, s := range []*http.Server{f.server, f.apiServer} {
		if s != nil && s.Shutdown(sctx) != nil {
			_ = s.Close()
		}
	}
	<-f.done
	f.server, f.apiServer, f.apiAddr = nil, nil, nil
	if f.client != nil {
		errs = append(errs, f.client.Close(ctx))
		f.client = nil
	}
	return errors.Join(errs...)
}

// loop steps the rollouts every second, and soon after an agent reports — at most every 250 ms: a step
// reads every agent, so stepping at each report of a large fleet would cost the fleet's size per report.
func (f *phoenixFleet) loop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		case <-f.agents.changed:
			if wait := 250*time.Millisecond - time.Since(last); wait > 0 {
				select {
				case <-f.stop:
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		f.rollouts.tick(last)
	}
}

// Addr is the address it listens on (nil before Start).
func (f *phoenixFleet) Addr() net.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr
}

// APIAddr is where the API and page are served: api.endpoint's address when set, else Addr.
func (f *phoenixFleet) APIAddr() net.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apiAddr != nil {
		return f.apiAddr
	}
	return f.addr
}
