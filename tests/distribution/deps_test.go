// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package distribution

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// depsPackages is scripts/install-deps.sh --list: package, the program that shows it, what needs it.
func depsPackages(t *testing.T) [][]string {
	out, err := exec.Command("bash", filepath.Join(harness.RepoRoot(t), "scripts", "install-deps.sh"), "--list").Output()
	require.NoError(t, err)
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 3, line)
		rows = append(rows, f)
	}
	require.NotEmpty(t, rows)
	return rows
}

// TestReadmeListsSystemPackages: every Debian package the tests drive is in the README's system packages.
func TestReadmeListsSystemPackages(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "README.md"))
	require.NoError(t, err)
	_, section, found := strings.Cut(string(readme), "\n### System packages\n")
	require.True(t, found, `README.md has no "### System packages" section`)
	section, _, _ = strings.Cut(section, "\n#")
	for _, p := range depsPackages(t) {
		assert.True(t, strings.Contains(section, "| `"+p[0]+"` |"),
			"README.md's system packages must have a row | `%s` | (it provides %s)", p[0], p[1])
	}
}

// fakeHost is a PATH holding only the given programs (empty scripts), a fake `id -u` and an apt-get that logs
// its arguments and, on install, creates the programs of the packages it was asked for.
func fakeHost(t *testing.T, uid string, have []string, installs map[string]string) (dir, aptLog string) {
	dir = t.TempDir()
	aptLog = filepath.Join(t.TempDir(), "apt.log")
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/bash\n"+body), 0o755))
	}
	for _, p := range have {
		write(p, "")
	}
	write("id", "echo "+uid+"\n")
	var cases strings.Builder
	for pkg, program := range installs {
		cases.WriteString("    " + pkg + ") printf '#!/bin/bash\\n' > " + filepath.Join(dir, program) + "; /bin/chmod +x " + filepath.Join(dir, program) + " ;;\n")
	}
	write("apt-get", `echo "$@" >> `+aptLog+`
if [[ $1 == install ]]; then
  for p in "$@"; do
    case $p in
`+cases.String()+`    esac
  done
fi
`)
	return dir, aptLog
}

// runDeps runs scripts/install-deps.sh on a fake host missing the programs of prometheus and chromium.
func runDeps(t *testing.T, uid string, installs map[string]string) (string, string, error) {
	var have []string
	for _, p := range depsPackages(t) {
		if prog := p[1]; !strings.HasPrefix(prog, "/") && prog != "prometheus" && prog != "chromium" {
			have = append(have, prog)
		}
	}
	dir, aptLog := fakeHost(t, uid, have, installs)
	cmd := exec.Command("/bin/bash", filepath.Join(harness.RepoRoot(t), "scripts", "install-deps.sh"))
	cmd.Env = []string{"PATH=" + dir, "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	apt, _ := os.ReadFile(aptLog)
	return string(out), string(apt), err
}

func TestInstallDeps(t *testing.T) {
	t.Run("not root: fails naming the packages and the command", func(t *testing.T) {
		out, apt, err := runDeps(t, "1000", nil)
		require.Error(t, err, out)
		assert.Contains(t, out, "missing here: prometheus chromium")
		assert.Contains(t, out, "install them with: sudo ")
		assert.Contains(t, out, "scripts/install-deps.sh")
		assert.Empty(t, apt, "apt-get is not run without root")
	})
	t.Run("root: installs exactly the missing packages", func(t *testing.T) {
		out, apt, err := runDeps(t, "0", map[string]string{"prometheus": "prometheus", "chromium": "chromium"})
		require.NoError(t, err, out)
		assert.Contains(t, out, "installing prometheus chromium")
		lines := strings.Split(strings.TrimSpace(apt), "\n")
		require.Len(t, lines, 2, apt)
		assert.Equal(t, "update -qq", lines[0])
		assert.True(t, strings.HasPrefix(lines[1], "install -y -qq --no-install-recommends prometheus chromium"), lines[1])
	})
	t.Run("root: a package apt-get did not install fails", func(t *testing.T) {
		out, _, err := runDeps(t, "0", map[string]string{"prometheus": "prometheus"})
		require.Error(t, err, out)
		assert.Contains(t, out, "still missing after apt-get install: chromium")
	})
}
