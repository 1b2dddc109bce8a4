// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain: checking a config starts nothing, so nothing is left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
