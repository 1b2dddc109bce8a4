// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package seriesend ends series the way a backend understands: points flagged NoRecordedValue (OTLP's
// staleness marker, which the prometheus exporter turns into a vanished series and prometheus_remote_write
// into a staleness NaN), laid out so every exporter reads them, and, after a switch of the flowing
// variant, the end of every series the previous variant sent and the new one does not.
package seriesend
