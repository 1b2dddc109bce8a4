// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"embed"
	"net/http"

	"github.com/phoenix-platform/otelcol-phoenix/internal/dashboard"
)

//go:embed ui
var uiFiles embed.FS

// withDashboard serves the fleet page at / and /ui/ ahead of next (internal/dashboard: public files, a
// strict CSP; everything else goes through confighttp's whole chain).
func withDashboard(next http.Handler) http.Handler {
	return dashboard.Handler(uiFiles, "ui", next)
}
