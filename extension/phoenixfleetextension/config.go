// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
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

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

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
	return errors.Join(errs...)
}
