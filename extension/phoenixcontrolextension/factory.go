// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
)

// DefaultEndpoint is loopback only: the API changes what the collector exports.
const DefaultEndpoint = "localhost:8999"

// NewFactory creates the phoenix_control extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = DefaultEndpoint
	sc.MaxRequestBodySize = 64 << 10
	// Slow and idle clients are cut off: a request has 10 s for its headers and 30 s in all for its body,
	// an idle keep-alive connection lasts 60 s (event streams lift the read and write limits for themselves).
	sc.ReadHeaderTimeout, sc.ReadTimeout, sc.IdleTimeout = 10*time.Second, 30*time.Second, 60*time.Second
	return &Config{ServerConfig: sc, EventsInterval: 5 * time.Second, MaxConnections: 1024, MaxEventStreams: 512,
		DesiredState: DesiredStateConfig{PollInterval: 30 * time.Second}}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newControl(cfg.(*Config), set), nil
}
