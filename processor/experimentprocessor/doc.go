// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

// Package experimentprocessor runs several variants of a metrics pipeline side by side on the same data,
// measures each one's cardinality, churn, volume and fidelity against a baseline, and lets one variant's
// output flow on (shadow) or all of them, tagged (tee).
package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
