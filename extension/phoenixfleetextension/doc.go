// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

// Package phoenixfleetextension is otelcol-phoenix's fleet controller: an OpAMP server for the node agents
// (phoenix_control with opamp:), which lists them with their health, versions and experiments, and sums
// their figures fleet-wide.
package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"
