// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package rulefidelity tells how a variant's output fares under the user's own Prometheus rules, Grafana
// dashboard queries and inline PromQL, compared with the baseline's, as a backend fed by the
// prometheus_remote_write exporter would compute them.
//
// It is split as Prometheus' own rule evaluation is:
//   - Load reads rule files (plain or Kubernetes PrometheusRule objects), dashboards and inline queries
//     into a RuleSet, listing every problem at once;
//   - a Store per variant holds that variant's output as Prometheus series, translated by the
//     prometheus_remote_write exporter's own code (contrib pkg/translator/prometheusremotewrite, with
//     resource_to_telemetry_conversion from contrib pkg/resourcetotelemetry), bounded in time and series;
//   - an Evaluator runs the rules with the real PromQL engine and rule groups (prometheus/rules) on each
//     store at the end of a window and compares every variant's results with the baseline's.
//
// It imports no collector transport or host types.
package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"
