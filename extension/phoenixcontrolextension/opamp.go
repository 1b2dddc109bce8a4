// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"
)

// OpAMPConfig connects phoenix_control to an OpAMP server, which then sees this collector as an agent (its
// description, health, effective desired state and experiments' figures) and can send it its desired state
// as remote configuration.
type OpAMPConfig struct {
	// Endpoint is the server's OpAMP URL: ws:// or wss:// for WebSocket, http:// or https:// for plain HTTP
	// (polled every report_interval).
	Endpoint string `mapstructure:"endpoint"`
	// Headers go with every request (e.g. Authorization: Bearer …).
	Headers map[string]configopaque.String `mapstructure:"headers"`
	TLS     configtls.ClientConfig         `mapstructure:"tls"`
	// InstanceUID names the agent to the server (a UUID); default: derived from the node name, so the same
	// node keeps it across restarts.
	InstanceUID string `mapstructure:"instance_uid"`
	// ReportInterval is how often the figures are sent (and the HTTP transport polls).
	ReportInterval time.Duration `mapstructure:"report_interval"`
}

// Unmarshal applies the defaults of an opamp: block (report every 30s) under what it sets.
func (c *OpAMPConfig) Unmarshal(conf *confmap.Conf) error {
	c.ReportInterval = 30 * time.Second
	return conf.Unmarshal(c)
}

func (c *OpAMPConfig) validate() []error {
	if c == nil {
		return nil
	}
	var errs []error
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		errs = append(errs, errors.New("opamp.endpoint: required (ws://, wss://, http:// or https://)"))
	case err != nil:
		errs = append(errs, fmt.Errorf("opamp.endpoint %q: %w", c.Endpoint, err))
	case !slices.Contains([]string{"ws", "wss", "http", "https"}, u.Scheme) || u.Host == "":
		errs = append(errs, fmt.Errorf("opamp.endpoint %q: want ws://, wss://, http:// or https:// and a host", c.Endpoint))
	}
	if c.InstanceUID != "" {
		if _, err := uuid.Parse(c.InstanceUID); err != nil {
			errs = append(errs, fmt.Errorf("opamp.instance_uid %q: want a UUID: %w", c.InstanceUID, err))
		}
	}
	if c.ReportInterval < time.Second || c.ReportInterval > time.Hour {
		errs = append(errs, fmt.Errorf("opamp.report_interval %s: want 1s..1h", c.ReportInterval))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("opamp.tls: %w", err))
	}
	return errs
}

// instanceUID is the configured UID, else one derived from the node name (stable, distinct per node).
func (c *OpAMPConfig) instanceUID(node string) types.InstanceUid {
	if c.InstanceUID != "" {
		return types.InstanceUid(uuid.MustParse(c.InstanceUID))
	}
	return types.InstanceUid(fleet.NodeUID(node))
}

// opampAgent reports to an OpAMP server and applies the desired state it sends, as the desired-state file
// is applied. The server being away changes nothing on the node: the client reconnects with backoff.
type opampAgent struct {
	cfg     *OpAMPConfig
	reg     *registry
	desired *desiredState
	info    apiInfo
	logger  *zap.Logger
	client  client.OpAMPClient
	start   time.Time

	mu          sync.Mutex
	experiments []string // as last described
	stop        chan struct{}
	done        chan struct{} // closed when reporting (or waiting for the TLS files) ends
	started     atomic.Bool   // the client was started
}

func newOpAMPAgent(cfg *OpAMPConfig, reg *registry, desired *desiredState, info apiInfo, logger *zap.Logger) *opampAgent {
	a := &opampAgent{cfg: cfg, reg: reg, desired: desired, info: info, logger: logger.With(zap.String("opamp", cfg.Endpoint)),
		start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	logs := opamplog.Logger{L: a.logger}
	if strings.HasPrefix(cfg.Endpoint, "http") {
		a.client = client.NewHTTP(logs)
	} else {
		a.client = client.NewWebSocket(logs)
	}
	return a
}

const (
	capabilities = protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
)

// Start connects in the background; only settings the client refuses fail it. TLS files that cannot be
// loaded (a node's certificate not there yet, a key it cannot read) are retried: the node keeps running
// its pipelines without the controller meanwhile, as when the server is away.
func (a *opampAgent) Start(ctx context.Context) error {
	if err := a.client.SetAgentDescription(a.description()); err != nil {
		return err
	}
	if err := a.client.SetHealth(a.health()); err != nil { // before the capability that reports it
		return err
	}
	if err := a.client.SetCapabilities(new(capabilities)); err != nil {
		return err
	}
	if err := a.client.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleet.Capability}}); err != nil {
		return err
	}
	tlsCfg, err := a.cfg.TLS.LoadTLSConfig(ctx)
	if err == nil {
		if err := a.connect(tlsCfg); err != nil {
			return err
		}
		go a.report()
		return nil
	}
	a.logger.Error("OpAMP TLS files not loaded: the node runs without its fleet controller until they are (retried every "+
		tlsRetry.String()+")", zap.Error(err))
	go a.awaitTLS(tlsRetry)
	return nil
}

// tlsRetry is how often TLS files that failed to load are tried again.
var tlsRetry = 10 * time.Second

// awaitTLS loads the TLS files every retry until they load, then connects and reports.
func (a *opampAgent) awaitTLS(retry time.Duration) {
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			close(a.done)
			return
		case <-t.C:
		}
		tlsCfg, err := a.cfg.TLS.LoadTLSConfig(context.Background())
		if err != nil {
			a.logger.Debug("OpAMP TLS files still not loaded", zap.Error(err))
			continue
		}
		if err := a.connect(tlsCfg); err != nil {
			a.logger.Error("OpAMP client not started", zap.Error(err))
			close(a.done)
			return
		}
		a.logger.Info("OpAMP TLS files loaded; connecting")
		a.report()
		return
	}
}

// connect starts the client, which then reconnects on its own.
func (a *opampAgent) connect(tlsCfg *tls.Config) error {
	if strings.HasPrefix(a.cfg.Endpoint, "ws://") || strings.HasPrefix(a.cfg.Endpoint, "http://") {
		tlsCfg = nil
	}
	header := http.Header{}
	for k, v := range a.cfg.Headers {
		header.Set(k, string(v))
	}
	interval := a.cfg.ReportInterval
	err := a.client.Start(context.Background(), types.StartSettings{
		OpAMPServerURL:    a.cfg.Endpoint,
		Header:            header,
		TLSConfig:         tlsCfg,
		InstanceUid:       a.cfg.instanceUID(a.info.Node),
		HeartbeatInterval: &interval,
		Callbacks: types.Callbacks{
			OnConnect: func(context.Context) { a.logger.Info("OpAMP server connected") },
			OnConnectFailed: func(_ context.Context, err error) {
				a.logger.Debug("OpAMP server not reached; retrying", zap.Error(err))
			},
			OnError: func(_ context.Context, e *protobufs.ServerErrorResponse) {
				a.logger.Warn("OpAMP server error", zap.String("error", e.GetErrorMessage()))
			},
			OnMessage:          a.onMessage,
			GetEffectiveConfig: func(context.Context) (*protobufs.EffectiveConfig, error) { return a.effectiveConfig(), nil },
		},
	})
	if err != nil {
		return fmt.Errorf("opamp: %w", err)
	}
	a.started.Store(true)
	return nil
}

// Shutdown stops reporting and the client.
func (a *opampAgent) Shutdown(ctx context.Context) error {
	close(a.stop)
	<-a.done
	if !a.started.Load() {
		return nil
	}
	return a.client.Stop(ctx)
}

// report sends the figures every report interval, and the description when the experiments changed.
func (a *opampAgent) report() {
	defer close(a.done)
	t := time.NewTicker(a.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.sendFigures()
		}
	}
}

func (a *opampAgent) sendFigures() {
	names := a.reg.experimentNames()
	a.mu.Lock()
	changed := !slices.Equal(names, a.experiments)
	a.experiments = names
	a.mu.Unlock()
	if changed {
		if err := a.client.SetAgentDescription(a.description()); err != nil {
			a.logger.Warn("OpAMP agent description", zap.Error(err))
		}
	}
	_ = a.client.SetHealth(a.health())
	f := fleet.Figures{Node: a.info.Node, Version: a.info.Version, At: time.Now().UTC()}
	for _, n := range names {
		if e, err := a.reg.experiment(n); err == nil {
			f.Experiments = append(f.Experiments, fleet.FromSnapshot(e.Snapshot()))
		}
	}
	data, err := fleet.Encode(f)
	if err != nil {
		a.logger.Warn("OpAMP figures not encoded", zap.Error(err))
		return
	}
	_, err = a.client.SendCustomMessage(&protobufs.CustomMessage{Capability: fleet.Capability, Type: fleet.FiguresType, Data: data})
	if err != nil && !errors.Is(err, types.ErrCustomMessagePending) { // the previous one still going: skip this one
		a.logger.Debug("OpAMP figures not sent", zap.Error(err))
	}
}

// description says which collector this is: identifying attributes (service name, version, instance) and
// the node and its experiments.
func (a *opampAgent) description() *protobufs.AgentDescription {
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	uid := a.cfg.instanceUID(a.info.Node)
	return &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			str("service.name", "otelcol-phoenix"), str("service.version", a.info.Version),
			str("service.instance.id", uuid.UUID(uid).String()),
		},
		NonIdentifyingAttributes: []*protobufs.KeyValue{
			str("host.name", a.info.Node), str("os.type", runtime.GOOS), str("host.arch", runtime.GOARCH),
			str("phoenix.experiments", strings.Join(a.reg.experimentNames(), ",")),
			// so that the controller counts it silent only after three of its own intervals
			str("phoenix.report_interval", a.cfg.ReportInterval.String()),
		},
	}
}

// health is the agent's: healthy unless its state file is damaged or unavailable (reported, not fatal).
func (a *opampAgent) health() *protobufs.ComponentHealth {
	st, _ := a.reg.storageHealth()
	h := &protobufs.ComponentHealth{Healthy: true, Status: "running", StartTimeUnixNano: uint64(a.start.UnixNano()),
		StatusTimeUnixNano: uint64(time.Now().UnixNano())}
	if st.Status != statusOK && st.Status != statusNone {
		h.Status, h.LastError = "storage "+st.Status, st.Error
	}
	return h
}

// effectiveConfig is the desired state in force, as the file or the server gave it.
func (a *opampAgent) effectiveConfig() *protobufs.EffectiveConfig {
	body := a.desired.effective()
	return &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
		fleet.DesiredStateFile: {Body: body, ContentType: fleet.ContentType}}}}
}

// onMessage applies a remote configuration's desired state as the desired-state file is applied, and says
// how it went; an empty one (no file) is an empty desired state.
func (a *opampAgent) onMessage(ctx context.Context, msg *types.MessageData) {
	rc := msg.RemoteConfig
	if rc == nil {
		return
	}
	status := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: rc.GetConfigHash(), Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED}
	var body []byte
	files := rc.GetConfig().GetConfigMap()
	if f, ok := files[fleet.DesiredStateFile]; ok {
		body = f.GetBody()
	} else if len(files) > 0 {
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, fmt.Sprintf("%q", n))
		}
		slices.Sort(names)
		status.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED
		status.ErrorMessage = fmt.Sprintf("no %q in the remote config (it has %s)", fleet.DesiredStateFile, strings.Join(names, ", "))
	}
	if status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED {
		if err := a.desired.offer(time.Now(), body, sourceOpAMP); err != nil {
			status.Status, status.ErrorMessage = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, err.Error()
		} else if s := a.reg.currentStore(); s != nil {
			// Kept for a restart while the server is away (NotifyConfig applies it again).
			if err := s.Set(ctx, remoteDesiredKey, body); err != nil {
				a.logger.Warn("OpAMP remote desired state not persisted", zap.Error(err))
			}
		}
	}
	if status.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED {
		a.logger.Warn("OpAMP remote desired state not applied", zap.String("error", status.ErrorMessage))
	} else {
		a.logger.Info("OpAMP remote desired state applied")
	}
	if err := a.client.SetRemoteConfigStatus(status); err != nil {
		a.logger.Warn("OpAMP remote config status", zap.Error(err))
	}
	if err := a.client.UpdateEffectiveConfig(ctx); err != nil {
		a.logger.Debug("OpAMP effective config", zap.Error(err))
	}
}

// remoteDesiredKey holds the last remote desired state applied.
const remoteDesiredKey = "opamp/desired-state"

// restoreRemote applies the remote desired state persisted by the last session, so that a node restarted
// while its server is away keeps running what the server last asked for.
func (a *opampAgent) restoreRemote(ctx context.Context) {
	s := a.reg.currentStore()
	if s == nil {
		return
	}
	body, err := s.Get(ctx, remoteDesiredKey)
	if err != nil || body == nil {
		return
	}
	if err := a.desired.offer(time.Now(), body, sourceOpAMP); err != nil {
		a.logger.Warn("the persisted OpAMP desired state no longer applies", zap.Error(err))
	}
}
