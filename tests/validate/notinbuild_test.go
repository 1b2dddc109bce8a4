// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package validate

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"
	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestNotInBuildIsNotInTheBuild: the components the converter names as missing (with advice) are really
// absent from the binary, so a config using one that was added since is never refused.
func TestNotInBuildIsNotInTheBuild(t *testing.T) {
	out, err := exec.Command(harness.Binary(t), "components").Output()
	require.NoError(t, err)
	type named []struct {
		Name string `yaml:"name"`
	}
	var list struct {
		Receivers  named `yaml:"receivers"`
		Processors named `yaml:"processors"`
		Exporters  named `yaml:"exporters"`
		Connectors named `yaml:"connectors"`
		Extensions named `yaml:"extensions"`
	}
	require.NoError(t, yaml.Unmarshal(out, &list))
	components := map[string]named{"receivers": list.Receivers, "processors": list.Processors, "exporters": list.Exporters,
		"connectors": list.Connectors, "extensions": list.Extensions}
	require.NotEmpty(t, components["receivers"])
	for kind, types := range crosscheckconverter.NotInBuild() {
		have := map[string]bool{}
		for _, c := range components[kind] {
			have[c.Name] = true
		}
		require.NotEmpty(t, have, kind)
		for _, typ := range types {
			assert.False(t, have[typ], "%s %s is in the build: remove it from the converter's notInBuild", kind, typ)
		}
	}
}
