// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package crosscheckconverter is a confmap converter that checks, on the whole resolved configuration, what
// no component's Validate can see: the extensions our components reference (phoenix_control's storage and
// auth authenticator, the control extension of the experiment processor and the simulated_process
// receiver) and the experiment processor's child processors, built from this build's processor factories as
// Start builds them. The collector runs converters for `validate` and for a start alike, so both give the
// same answer. It never changes the configuration.
package crosscheckconverter // import "github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"
