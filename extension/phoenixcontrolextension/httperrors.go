// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

// serverOptions make the errors confighttp writes itself (the authenticator's 401, a body it cannot
// decompress) come out in the API's JSON error shape. Which requests are rejected does not change.
func serverOptions() []confighttp.ToServerOption {
	return []confighttp.ToServerOption{confighttp.WithErrorHandler(writeServerError)}
}

func writeServerError(w http.ResponseWriter, _ *http.Request, msg string, status int) {
	httpjson.Error(w, status, errorCode(status), msg)
}

// errorCode names a status as the API's error codes do: unauthorized, forbidden, bad_request, …
func errorCode(status int) string {
	if status == http.StatusRequestEntityTooLarge {
		return "too_large"
	}
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	if code == "" {
		return "error"
	}
	return code
}
