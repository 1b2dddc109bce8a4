// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

// Package simulatedprocessreceiver emits the same process metrics as the host_metrics `process` scraper,
// from a seeded, deterministic model of a host's processes under realistic, high-cardinality, high-churn and
// chaos load.
package simulatedprocessreceiver // import "github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
