// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

// Package phoenixcontrolextension serves otelcol-phoenix's control API: list experiments with their live
// per-variant figures, switch the active variant (persisted through a storage extension), and drive the
// simulated_process receivers.
package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"
