// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpguard"
)

// Config is the phoenix_control extension's configuration: an HTTP server built from confighttp (TLS, auth
// through authenticator extensions, CORS, body limits all come from it).
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`
	// AllowUnauthenticatedRemote lets the API listen on a non-loopback address without auth. Off by default:
	// the API switches what a collector exports.
	AllowUnauthenticatedRemote bool `mapstructure:"allow_unauthenticated_remote"`
	// Storage is a storage extension (e.g. file_storage) that keeps switches across restarts.
	Storage component.ID `mapstructure:"storage"`
	// DesiredState is a file (a mounted ConfigMap) naming, per experiment, the variant the fleet should run.
	DesiredState DesiredStateConfig `mapstructure:"desired_state"`
	// NodeName decides this node's share of a rollout; default: $K8S_NODE_NAME, else the hostname.
	NodeName string `mapstructure:"node_name"`
	// EventsInterval is how often /api/v1/events sends every experiment's snapshot.
	EventsInterval time.Duration `mapstructure:"events_interval"`
	// MaxConnections bounds open connections (idle, slow and streaming clients alike); 0 means no limit.
	MaxConnections int `mapstructure:"max_connections"`
	// MaxEventStreams bounds open /api/v1/events streams, below MaxConnections so that streams, which live
	// long, can never take every connection (the API and its /metrics stay reachable); beyond it: 429.
	MaxEventStreams int `mapstructure:"max_event_streams"`
	// OpAMP connects to an OpAMP server (a fleet manager) as an agent (optional).
	OpAMP *OpAMPConfig `mapstructure:"opamp"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// DesiredStateConfig locates the desired-state file and how often to look at it.
type DesiredStateConfig struct {
	Path         string        `mapstructure:"path"`
	PollInterval time.Duration `mapstructure:"poll_interval"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(cfg.NetAddr.Endpoint)
	if err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: %w", cfg.NetAddr.Endpoint, err))
	} else if err := checkPort(port); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: %w", cfg.NetAddr.Endpoint, err))
	}
	if err == nil && !httpguard.IsLoopback(host) && !cfg.Auth.HasValue() && !cfg.AllowUnauthenticatedRemote {
		errs = append(errs, fmt.Errorf("endpoint %q is not a loopback address and no auth is configured: add auth "+
			"(e.g. auth: {authenticator: bearertokenauth}) or set allow_unauthenticated_remote: true", cfg.NetAddr.Endpoint))
	}
	if cfg.EventsInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("events_interval %s: want at least 100ms", cfg.EventsInterval))
	}
	if cfg.DesiredState.Path != "" && cfg.DesiredState.PollInterval < time.Second {
		errs = append(errs, fmt.Errorf("desired_state.poll_interval %s: want at least 1s", cfg.DesiredState.PollInterval))
	}
	if cfg.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max_connections %d: want 0 (no limit) or more", cfg.MaxConnections))
	}
	if cfg.MaxEventStreams < 1 || (cfg.MaxConnections > 0 && cfg.MaxEventStreams >= cfg.MaxConnections) {
		errs = append(errs, fmt.Errorf("max_event_streams %d: want at least 1 and fewer than max_connections (%d)", cfg.MaxEventStreams, cfg.MaxConnections))
	}
	if cfg.MaxRequestBodySize < 0 {
		errs = append(errs, errors.New("max_request_body_size must be >= 0"))
	}
	errs = append(errs, cfg.OpAMP.validate()...)
	return errors.Join(errs...)
}

// checkPort accepts what the listener accepts: a number 0..65535 (0: any free port) or a service name.
func checkPort(port string) error {
	if n, err := strconv.ParseUint(port, 10, 64); err == nil {
		if n > 65535 {
			return fmt.Errorf("port %d: want 0..65535", n)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q: want 0..65535", port)
	}
	return nil
}
