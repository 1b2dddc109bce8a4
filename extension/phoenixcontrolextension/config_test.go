// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestValidateEndpointPort: a port the listener would refuse fails validation, not start.
func TestValidateEndpointPort(t *testing.T) {
	for endpoint, want := range map[string]string{
		"localhost:99999": `endpoint "localhost:99999": port 99999: want 0..65535`,
		"localhost:-1":    `endpoint "localhost:-1": port "-1": want 0..65535`,
		"localhost:nope":  `endpoint "localhost:nope": port "nope": want 0..65535`,
		"localhost:65535": "",
		"localhost:0":     "",
		"127.0.0.1:http":  "",
	} {
		err := configFrom(t, map[string]any{"endpoint": endpoint}).Validate()
		if want == "" {
			assert.NoError(t, err, endpoint)
			continue
		}
		assert.ErrorContains(t, err, want, endpoint)
	}
}
