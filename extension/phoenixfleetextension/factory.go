// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
)

// DefaultEndpoint is loopback only; a gateway sets its pod address, with auth.
const DefaultEndpoint = "localhost:4320"

// NewFactory creates the phoenix_fleet extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = DefaultEndpoint
	sc.MaxRequestBodySize = 1 << 20 // an agent's report of many experiments
	// Slow and idle clients bounded, as phoenix_control's; WebSocket connections are exempt once upgraded.
	sc.ReadHeaderTimeout, sc.ReadTimeout, sc.IdleTimeout = 10*time.Second, 30*time.Second, 60*time.Second
	api := confighttp.NewDefaultServerConfig()
	api.MaxRequestBodySize = 1 << 20
	api.ReadHeaderTimeout, api.ReadTimeout, api.IdleTimeout = 10*time.Second, 30*time.Second, 60*time.Second
	return &Config{ServerConfig: sc, ReportInterval: 30 * time.Second, MaxAgents: 10_000, MaxConnections: 11_024,
		API: configoptional.Default(api)}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newFleet(cfg.(*Config), set), nil
}
