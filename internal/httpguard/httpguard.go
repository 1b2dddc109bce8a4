// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package httpguard protects our HTTP APIs from their clients: Listen bounds the connections they may hold,
// and a Guard rejects what a browser can be tricked into sending before auth or any handler sees it:
//   - DNS rebinding: without auth on a loopback endpoint, a page from attacker.example whose name resolves to
//     127.0.0.1 reaches the API with Host: attacker.example. Only loopback Host names are accepted there.
//   - cross-site writes: a mutating request whose Origin is neither the API's own nor a CORS-allowed one.
package httpguard // import "github.com/phoenix-platform/otelcol-phoenix/internal/httpguard"

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"golang.org/x/net/http2"
	"golang.org/x/net/netutil"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

// Listen is confighttp's listener with at most maxConns connections open at once (0: no limit). The limit
// sits under TLS: over it, the HTTP server would not see *tls.Conn connections — no request's TLS state (a
// client certificate, an https origin), no HTTP/2.
func Listen(ctx context.Context, cfg *confighttp.ServerConfig, maxConns int) (net.Listener, error) {
	plain := *cfg
	plain.TLS = configoptional.None[configtls.ServerConfig]()
	ln, err := plain.ToListener(ctx)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		ln = netutil.LimitListener(ln, maxConns)
	}
	if t := cfg.TLS.Get(); t != nil {
		tlsCfg, err := t.LoadTLSConfig(ctx)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		tlsCfg.NextProtos = []string{http2.NextProtoTLS, "http/1.1"} // as confighttp's
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// Guard is the request guard of one server.
type Guard struct {
	LoopbackHostsOnly bool
	AllowedOrigins    []string // confighttp CORS allowed_origins (may hold "*" or wildcards)
}

// For is the guard a confighttp server needs: loopback Host names only when it listens on loopback without
// auth; cross-origin writes only from its CORS origins.
func For(cfg *confighttp.ServerConfig) Guard {
	host, _, _ := net.SplitHostPort(cfg.NetAddr.Endpoint)
	g := Guard{LoopbackHostsOnly: !cfg.Auth.HasValue() && IsLoopback(host)}
	if cors := cfg.CORS.Get(); cors != nil {
		g.AllowedOrigins = cors.AllowedOrigins
	}
	return g
}

// Wrap puts the guard in front of next.
func (g Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.LoopbackHostsOnly && !loopbackHost(r.Host) {
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

// IsLoopback reports whether a listening host (an endpoint's host part) is loopback only.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
func (g Guard) originAllowed(r *http.Request) bool {
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
	return slices.ContainsFunc(g.AllowedOrigins, func(allowed string) bool { return originMatches(allowed, origin) })
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

// ShutdownGrace bounds how long clients can hold a server's shutdown, so that the collector's whole stop
// stays within 2 s: in-flight requests get this long to finish, then every connection is closed (a slow
// body is otherwise cut only by the read timeout).
const ShutdownGrace = 1500 * time.Millisecond

// Shutdown stops srv within ShutdownGrace whatever its clients do.
func Shutdown(ctx context.Context, srv *http.Server) error {
	ctx, cancel := context.WithTimeout(ctx, ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close() // slow bodies, stuck readers: closed, not waited for
		if errors.Is(err, context.DeadlineExceeded) {
			return nil // the grace is the bound, not a failure
		}
		return err
	}
	return nil
}
