// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

// Package topkprocessor keeps the top K resources of each host by a metric (each process is a resource), always
// keeps critical ones, and rolls the rest into one "other" resource per host with totals preserved.
package topkprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"
