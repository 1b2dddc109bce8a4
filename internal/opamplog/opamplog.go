// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package opamplog routes opamp-go's logs (client and server) to the collector's logger.
package opamplog // import "github.com/phoenix-platform/otelcol-phoenix/internal/opamplog"

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// Logger is opamp-go's Logger over a zap logger: its errors are warnings here, since opamp-go retries
// what they are about.
type Logger struct{ L *zap.Logger }

func (o Logger) Debugf(_ context.Context, format string, v ...any) {
	o.L.Debug(fmt.Sprintf(format, v...))
}

func (o Logger) Errorf(_ context.Context, format string, v ...any) {
	o.L.Warn(fmt.Sprintf(format, v...))
}
