// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter // import "github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"

import (
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// notInBuild are otelcol-contrib / otelcol-k8s component types this distribution does not have (README,
// "Known gaps", says why), by kind, with what to use instead. The collector reports one unknown type at a
// time, as a bare "unknown type"; a config written for otelcol-contrib learns here, at once, every
// component it has to change and how.
var notInBuild = map[string]map[string]string{
	"receivers": {
		"jaeger":           "send OTLP: the OpenTelemetry SDKs (and Jaeger ≥ 1.35) export it",
		"zipkin":           "send OTLP from the SDKs; keep an upstream collector in front of Zipkin-only senders",
		"otelarrow":        "otlp (gRPC with compression: zstd on the sender)",
		"journald":         "Fluent Bit's systemd input with its forward output into fluent_forward",
		"k8s_cluster":      "kube-state-metrics scraped by prometheus, or one upstream otelcol-k8s Deployment for cluster-level receivers",
		"k8s_events":       "one upstream otelcol-k8s Deployment for cluster-level receivers",
		"k8sobjects":       "one upstream otelcol-k8s Deployment for cluster-level receivers",
		"receiver_creator": "static prometheus scrape configs with kubernetes_sd_configs; file_log over /var/log/pods for logs",
		"httpcheck":        "Prometheus blackbox_exporter scraped by prometheus",
	},
	"processors": {
		"drain":     "transform / filter on known log patterns",
		"logdedup":  "filter to drop the repeated records",
		"remotetap": "the debug exporter (detailed verbosity) or zpages",
	},
	"exporters": {
		"otelarrow": "otlp_grpc with compression: zstd",
	},
	"extensions": {
		"basicauth":          "bearertokenauth or oidc",
		"headers_setter":     "static headers: on otlp_grpc / otlp_http",
		"oauth2client":       "bearertokenauth with filename: (a token file a sidecar refreshes)",
		"k8s_observer":       "used only by receiver_creator: static prometheus scrape configs",
		"host_observer":      "used only by receiver_creator: static prometheus scrape configs",
		"opamp":              "none in this build",
		"k8s_leader_elector": "one replica for the components that must run once",
		"ack":                "none",
		"cgroupruntime":      "GOMEMLIMIT / GOMAXPROCS from the container's limits (the chart sets GOMEMLIMIT)",
		"http_forwarder":     "none",
	},
	"connectors": {
		"routing":      "one pipeline per destination, each with a filter keeping its share, fed by forward",
		"count":        "span_metrics (calls per span name and dimension) for spans",
		"servicegraph": "span_metrics for per-service RED metrics",
		"exceptions":   "span_metrics with events enabled and an exception.type dimension",
		"failover":     "retry_on_failure with a persistent sending_queue (file_storage) on the one exporter",
		"otlpjson":     "none",
		"roundrobin":   "sending_queue.num_consumers on the exporter, or load_balancing",
	},
}

// missingComponents lists every configured component whose type is not in this build but is in
// otelcol-contrib or otelcol-k8s.
func missingComponents(conf *confmap.Conf) []error {
	var errs []error
	for _, kind := range []string{"receivers", "processors", "exporters", "connectors", "extensions"} {
		advice := notInBuild[kind]
		var found []component.ID
		for id := range ids(conf, kind) {
			if _, ok := advice[id.Type().String()]; ok {
				found = append(found, id)
			}
		}
		slices.SortFunc(found, func(a, b component.ID) int { return strings.Compare(a.String(), b.String()) })
		for _, id := range found {
			errs = append(errs, fmt.Errorf("%s::%s: %s is in otelcol-contrib but not in otelcol-phoenix (README, \"Known gaps\"); use instead: %s",
				kind, id, id.Type(), advice[id.Type().String()]))
		}
	}
	return errs
}

// NotInBuild returns the component types, by kind (receivers, …), that missingComponents names (tests
// check that the build has none of them).
func NotInBuild() map[string][]string {
	out := map[string][]string{}
	for kind, advice := range notInBuild {
		for t := range advice {
			out[kind] = append(out[kind], t)
		}
	}
	return out
}
