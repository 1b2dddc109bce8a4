// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
)

// Config is the fleet controller's: one HTTP server (confighttp: TLS, auth, limits) for the agents' OpAMP
// connections (/v1/opamp) and the fleet API.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`
	// Storage is a storage extension keeping rollouts across restarts (optional).
	Storage component.ID `mapstructure:"storage"`
	// ReportInterval is how often agents report (their opamp.report_interval): an agent silent for three of
	// them counts as dropped off.
	ReportInterval time.Duration `mapstructure:"report_interval"`
	// MaxAgents bounds the agents followed; beyond it new connections are refused (503).
	MaxAgents int `mapstructure:"max_agents"`
	// MaxConnections bounds the open connections of each server (the agents' and api's): agents, idle and
	// slow clients alike; 0 means no limit. Above max_agents, so that every agent can connect.
	MaxConnections int `mapstructure:"max_connections"`
	// NodeIdentity "certificate" binds each agent to its client certificate: the host.name it reports must
	// be the certificate's common name or one of its DNS names (tls.client_ca_file verifies them); "" or
	// "none" trusts what agents report.
	NodeIdentity string `mapstructure:"node_identity"`
	// API, when set, serves the fleet API, its page and /metrics on a server of their own (its own TLS and
	// auth: the operators'), leaving the main endpoint to the agents' OpAMP. Without it both share the one.
	API configoptional.Optional[confighttp.ServerConfig] `mapstructure:"api"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// nodeIdentityCertificate is node_identity's value that checks each agent's host.name against its client
// certificate.
const nodeIdentityCertificate = "certificate"

// Validate reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: required (host:port)"))
	}
	if cfg.ReportInterval < time.Second || cfg.ReportInterval > time.Hour {
		errs = append(errs, fmt.Errorf("report_interval %s: want 1s..1h", cfg.ReportInterval))
	}
	if cfg.MaxAgents < 1 {
		errs = append(errs, fmt.Errorf("max_agents %d: want at least 1", cfg.MaxAgents))
	}
	if cfg.MaxConnections < 0 || (cfg.MaxConnections > 0 && cfg.MaxConnections <= cfg.MaxAgents) {
		errs = append(errs, fmt.Errorf("max_connections %d: want 0 (no limit) or more than max_agents (%d)", cfg.MaxConnections, cfg.MaxAgents))
	}
	if api := cfg.API.Get(); api != nil && api.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("api.endpoint: required (host:port) when api is set"))
	}
	switch cfg.NodeIdentity {
	case "", "none":
	case nodeIdentityCertificate:
		switch tls := cfg.TLS.Get(); {
		case tls == nil || tls.ClientCAFile == "":
			errs = append(errs, errors.New("node_identity certificate: needs tls.client_ca_file, the CA that signs the agents' client certificates"))
		case tls.IncludeSystemCACertsPool:
			errs = append(errs, errors.New("node_identity certificate: tls.include_system_ca_certs_pool would let any public CA's certificate name a node"))
		}
	default:
		errs = append(errs, fmt.Errorf("node_identity %q: want certificate or none", cfg.NodeIdentity))
	}
	return errors.Join(errs...)
}
