// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

// requestGuard rejects what a browser can be tricked into sending before auth or any handler sees it:
//   - DNS rebinding: without auth on a loopback endpoint, a page from attacker.example whose name resolves to
//     127.0.0.1 reaches the API with Host: attacker.example. Only loopback Host names are accepted there.
//   - cross-site writes: a mutating request whose Origin is neither the API's own nor a CORS-allowed one.
type requestGuard struct {
	loopbackHostsOnly bool
	allowedOrigins    []string // confighttp CORS allowed_origins (may hold "*" or wildcards)
}

func (g requestGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.loopbackHostsOnly && !loopbackHost(r.Host) {
			httpjson.Error(w, http.StatusForbidden, "forbidden_host",
				"this API listens on loopback without auth and answers only loopback Host names (localhost, 127.0.0.1, [::1])")
			return
		}
		if mutating(r.Method) && !g.originAllowed(r) {
			httpjson.Error(w, http.StatusForbidden, "forbidden_origin",
				"cross-origin "+r.Method+" refused: add the origin to cors.allowed_origins to allow it")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// loopbackHost reports whether a Host header names this machine's loopback: localhost (and *.localhost,
// which resolvers must map to loopback), 127.0.0.0/8 or ::1, with any port. An empty Host (HTTP/1.0) names
// nothing a rebinding page could use.
func loopbackHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originAllowed: no Origin (curl, other programs), the request's own origin, or one CORS allows.
func (g requestGuard) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null": sandboxed frames and file: pages
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.User == nil && u.Scheme == scheme && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.ContainsFunc(g.allowedOrigins, func(allowed string) bool { return originMatches(allowed, origin) })
}

// originMatches follows confighttp's CORS wildcard rules: "*" alone, or one "*" inside the pattern.
func originMatches(pattern, origin string) bool {
	if pattern == "*" {
		return true
	}
	prefix, suffix, wildcard := strings.Cut(strings.ToLower(pattern), "*")
	origin = strings.ToLower(origin)
	if !wildcard {
		return prefix == origin
	}
	return len(origin) >= len(prefix)+len(suffix) && strings.HasPrefix(origin, prefix) && strings.HasSuffix(origin, suffix)
}
