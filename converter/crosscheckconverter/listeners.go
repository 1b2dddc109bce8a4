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
)

// servers are the component types whose `endpoint` settings are addresses they listen on (by kind): two of
// them on one address fail the start with "address already in use", which no Validate sees.
var servers = map[string]map[string]bool{
	"receivers":  {"otlp": true},
	"extensions": {"health_check": true, "pprof": true, "zpages": true, "phoenix_control": true},
	"exporters":  {"prometheus": true},
}

// listener is one endpoint setting of a component.
type listener struct {
	kind  string
	id    component.ID
	path  string // the setting, e.g. protocols::grpc::endpoint
	value string
}

// endpoints finds every `endpoint` setting of the components a start builds: ports out of range are
// problems wherever they are; a listen address used twice is a problem among servers.
func (k *check) endpoints(used map[string][]component.ID) {
	byAddr := map[string][]listener{}
	for _, kind := range []string{"receivers", "extensions", "exporters"} {
		for _, id := range used[kind] {
			sub, err := k.conf.Sub(kind + confmap.KeyDelimiter + id.String())
			if err != nil {
				continue
			}
			for _, l := range findEndpoints(kind, id, "", sub.ToStringMap()) {
				host, port, err := net.SplitHostPort(l.value)
				if err != nil {
					continue // a URL, a socket path, an unresolved value: the component's own business
				}
				n, err := strconv.Atoi(port)
				if err != nil || n < 0 || n > 65535 {
					k.fail(kind, id, fmt.Errorf("%s %q: port %s is not in 0..65535", l.path, l.value, port))
					continue
				}
				if n != 0 && servers[kind][id.Type().String()] {
					key := strconv.Itoa(n)
					if h := normalHost(host); h != "" {
						key = h + ":" + key
					}
					byAddr[key] = append(byAddr[key], l)
				}
			}
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
			k.fail(l.kind, l.id, fmt.Errorf("%s %q: %s::%s listens there too (%s): the second fails to start with \"address already in use\"",
				l.path, l.value, first.kind, first.id, first.path))
		}
	}
}

func findEndpoints(kind string, id component.ID, path string, m map[string]any) []listener {
	var out []listener
	for key, v := range m {
		p := key
		if path != "" {
			p = path + confmap.KeyDelimiter + key
		}
		switch v := v.(type) {
		case string:
			if key == "endpoint" {
				out = append(out, listener{kind: kind, id: id, path: p, value: v})
			}
		case map[string]any:
			out = append(out, findEndpoints(kind, id, p, v)...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
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
