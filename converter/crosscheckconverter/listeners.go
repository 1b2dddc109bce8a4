// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter // import "github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/featuregate"
)

// servers are, by kind and type, the settings that are addresses a component of the build listens on, each
// with the bool setting that turns it on ("" when always on): two listeners on one address fail the start
// with "address already in use", which no Validate sees. Other `endpoint` settings are clients (exporters,
// kubeletstats, the prometheus receiver's discovery) and only have their ports checked.
var servers = map[string]map[string]map[string]string{
	"receivers": {
		"otlp":          {"protocols::grpc::endpoint": "", "protocols::http::endpoint": ""},
		"fluentforward": {"endpoint": ""},
		"prometheus":    {"api_server::server_config::endpoint": "api_server::enabled"},
	},
	"extensions": {
		"health_check":    {"endpoint": ""}, // the v2 settings instead: healthCheckServers
		"pprof":           {"endpoint": ""},
		"zpages":          {"endpoint": ""},
		"phoenix_control": {"endpoint": ""},
		"phoenix_fleet":   {"endpoint": "", "api::endpoint": ""},
	},
	"exporters": {"prometheus": {"endpoint": ""}},
}

// checksItsPorts: components whose own Validate reports a port out of range (the converter lists it with the
// problems it finds, so reporting it here too would say it twice).
var checksItsPorts = map[string]bool{"extensions::phoenix_control": true}

// telemetryMetrics is where the collector's own metrics readers are set; without `readers` it serves
// Prometheus on localhost:8888, unless the level is none.
const telemetryMetrics = "service::telemetry::metrics"

// listener is one endpoint setting of a component (or of the collector's telemetry).
type listener struct {
	owner  string // e.g. receivers::otlp
	path   string // the setting, e.g. protocols::grpc::endpoint
	value  string // host:port
	server bool   // it listens there
}

// endpoints finds every `endpoint` setting of the components a start builds, and the collector's Prometheus
// readers: ports out of range are problems wherever they are; a listen address used twice is a problem among
// servers.
func (k *check) endpoints(used map[string][]component.ID) {
	var all []listener
	for _, kind := range []string{"receivers", "extensions", "exporters"} {
		for _, id := range used[kind] {
			sub, err := k.conf.Sub(kind + confmap.KeyDelimiter + id.String())
			if err != nil {
				continue
			}
			m := sub.ToStringMap()
			if kind == "extensions" {
				m = k.withDefaults(id, sub)
			}
			listens := servers[kind][id.Type().String()]
			if kind == "extensions" && id.Type().String() == "health_check" {
				listens = healthCheckServers(m)
			}
			for _, l := range findEndpoints(kind+confmap.KeyDelimiter+id.String(), "", m) {
				if on, ok := listens[l.path]; ok {
					l.server = on == "" || isTrue(m, on)
				}
				all = append(all, l)
			}
		}
	}
	all = append(all, k.telemetryReaders()...)

	byAddr := map[string][]listener{}
	for _, l := range all {
		host, port, err := net.SplitHostPort(l.value)
		if err != nil || strings.Contains(l.value, "://") {
			continue // a URL, a socket path (unix:///…), an unresolved value: the component's own business
		}
		if port == "" {
			port = "0" // as net listens: a free port (an unset ${env:PORT}, say)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			n, err = net.LookupPort("tcp", port) // a service name ("http") listens as its number
		}
		if err != nil || n < 0 || n > 65535 {
			if !checksItsPorts[strings.SplitN(l.owner, "/", 2)[0]] {
				k.problems = append(k.problems, fmt.Errorf("%s: %s %q: port %s is not in 0..65535", l.owner, l.path, l.value, port))
			}
			continue
		}
		if n != 0 && l.server {
			key := strconv.Itoa(n)
			if h := normalHost(host); h != "" {
				key = h + ":" + key
			}
			byAddr[key] = append(byAddr[key], l)
		}
	}
	// An unspecified host (0.0.0.0, ::, empty) takes the port on every address.
	keys := make([]string, 0, len(byAddr))
	for key := range byAddr {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		all := byAddr[key]
		if !strings.Contains(key, ":") { // the wildcard: every host-specific listener on the port collides
			for _, other := range keys {
				if other != key && strings.HasSuffix(other, ":"+key) {
					all = append(all, byAddr[other]...)
				}
			}
		}
		if len(all) < 2 {
			continue
		}
		first := all[0]
		for _, l := range all[1:] {
			k.problems = append(k.problems, fmt.Errorf("%s: %s %q: %s listens there too (%s): the second fails to start with \"address already in use\"",
				l.owner, l.path, l.value, first.owner, first.path))
		}
	}
}

// healthCheckGate switches health_check to its v2 server, which listens on `http` and `grpc` when either is
// set and on the legacy `endpoint` otherwise; without the gate only the legacy `endpoint` listens.
const healthCheckGate = "extension.healthcheck.useComponentStatus"

func healthCheckServers(m map[string]any) map[string]string {
	v2 := false
	featuregate.GlobalRegistry().VisitAll(func(g *featuregate.Gate) {
		v2 = v2 || g.ID() == healthCheckGate && g.IsEnabled()
	})
	if v2 && (m["http"] != nil || m["grpc"] != nil) {
		return map[string]string{"http::endpoint": "", "grpc::endpoint": ""}
	}
	return map[string]string{"endpoint": ""}
}

// withDefaults is an extension's config over its factory's defaults, so a listener left at its default
// address (phoenix_fleet's localhost:4320) is seen; the config alone when the build lacks the type.
func (k *check) withDefaults(id component.ID, sub *confmap.Conf) map[string]any {
	f := k.c.extensions[id.Type()]
	if f == nil || !k.configured[id] {
		return sub.ToStringMap()
	}
	d := confmap.New()
	if d.Marshal(f.CreateDefaultConfig()) != nil || d.Merge(sub) != nil {
		return sub.ToStringMap()
	}
	return d.ToStringMap()
}

// telemetryReaders are the collector's own Prometheus endpoints (pull readers), which it binds at start as
// it does a component's.
func (k *check) telemetryReaders() []listener {
	metrics, err := k.conf.Sub(telemetryMetrics)
	if err != nil {
		return nil
	}
	m := metrics.ToStringMap()
	if level, ok := m["level"].(string); ok && strings.EqualFold(level, "none") {
		return nil // no meter provider, nothing bound
	}
	readers, set := m["readers"]
	if !set {
		return []listener{{owner: telemetryMetrics, path: "readers (the default)", value: "localhost:8888", server: true}}
	}
	list, _ := readers.([]any)
	var out []listener
	for i, r := range list {
		prom, ok := lookup(r, "pull", "exporter", "prometheus").(map[string]any)
		if !ok {
			continue // push readers are clients
		}
		if prom["port"] == nil {
			continue // the collector says the port must be specified
		}
		port, host := fmt.Sprint(prom["port"]), ""
		if h, ok := prom["host"].(string); ok {
			host = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]") // the collector takes [::1] as ::1
		}
		out = append(out, listener{owner: fmt.Sprintf("%s::readers::%d", telemetryMetrics, i), path: "pull::exporter::prometheus",
			value: net.JoinHostPort(host, port), server: true})
	}
	return out
}

func findEndpoints(owner, path string, m map[string]any) []listener {
	var out []listener
	for key, v := range m {
		p := key
		if path != "" {
			p = path + confmap.KeyDelimiter + key
		}
		switch v := v.(type) {
		case string:
			if key == "endpoint" {
				out = append(out, listener{owner: owner, path: p, value: v})
			}
		case map[string]any:
			out = append(out, findEndpoints(owner, p, v)...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// lookup is the value at keys in nested maps; nil when a key is missing.
func lookup(v any, keys ...string) any {
	for _, key := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

// isTrue says whether the bool setting at path (key::key) is true.
func isTrue(m map[string]any, path string) bool {
	on, _ := lookup(m, strings.Split(path, confmap.KeyDelimiter)...).(bool)
	return on
}

// normalHost is the host a listener binds: "" for every address; localhost is loopback.
func normalHost(h string) string {
	switch strings.ToLower(h) {
	case "", "0.0.0.0", "::":
		return ""
	case "localhost":
		return "127.0.0.1"
	}
	return h
}
