// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter // import "github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/oidcauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/extension/zpagesextension"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"
	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"
	"github.com/phoenix-platform/otelcol-phoenix/internal/components"
)

// The NewFactory functions of the build's processors and extensions, as builder-config.yaml lists them (a
// test keeps the two equal): the processors an experiment's variant can use, and the extensions whose kind
// (storage, authenticator, control) a reference needs. A converter cannot reach the factories the collector
// is given. Kept as the functions themselves (some return an x-factory) so the test can name their package.
var (
	processorFactories = components.Processors
	extensionFactories = []any{
		healthcheckextension.NewFactory,
		pprofextension.NewFactory,
		zpagesextension.NewFactory,
		filestorage.NewFactory,
		bearertokenauthextension.NewFactory,
		oidcauthextension.NewFactory,
		phoenixcontrolextension.NewFactory,
		phoenixfleetextension.NewFactory,
	}
)
