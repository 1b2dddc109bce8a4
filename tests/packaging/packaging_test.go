// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package packaging checks what otelcol-phoenix ships around the binary, without Docker: the image's file tree
// (the one distribution/Dockerfile copies onto scratch), run chrooted the way the Dockerfile says, and the .deb
// and .rpm, the .deb installed with dpkg and purged again. The parts that change the system (chroot, dpkg) need
// root: they skip without it, and fail in CI, which runs as root.
package packaging

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// PackagesEnv names a directory holding the .deb and .rpm to check (set by `make package-test`). Unset, the
// tests build them with scripts/package.sh, as `make package` does.
const PackagesEnv = "OTELCOL_PHOENIX_PACKAGES"

var scratch string // removed after the tests

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "packaging-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// version is the distribution's version, from builder-config.yaml through scripts/version.sh.
func version(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(harness.RepoRoot(t), "scripts", "version.sh")).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

var (
	packagesOnce sync.Once
	packagesErr  error
	debPath      string
	rpmPath      string
)

// packages returns the .deb and the .rpm: from PackagesEnv, or built once by scripts/package.sh from the binary
// under test.
func packages(t *testing.T) (deb, rpm string) {
	t.Helper()
	bin := harness.Binary(t)
	packagesOnce.Do(func() {
		dir := os.Getenv(PackagesEnv)
		if dir == "" {
			dir = filepath.Join(scratch, "packages")
			cmd := exec.Command(filepath.Join(harness.RepoRoot(t), "scripts", "package.sh"), dir)
			cmd.Env = append(os.Environ(), "BINARY="+bin)
			if out, err := cmd.CombinedOutput(); err != nil {
				packagesErr = fmt.Errorf("scripts/package.sh: %v\n%s", err, out)
				return
			}
		}
		matches := func(ext string) string {
			m, _ := filepath.Glob(filepath.Join(dir, "otelcol-phoenix_*_linux_*."+ext))
			if len(m) != 1 {
				packagesErr = fmt.Errorf("want one otelcol-phoenix .%s in %s, found %v", ext, dir, m)
				return ""
			}
			return m[0]
		}
		debPath, rpmPath = matches("deb"), matches("rpm")
	})
	require.NoError(t, packagesErr)
	return debPath, rpmPath
}

// needRoot skips a test that changes the system unless it runs as root (CI does; there it fails instead).
func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s needs root (CI runs as root), uid %d", what, os.Geteuid())
	}
	t.Skipf("%s needs root: run `make package-test` as root (CI does)", what)
}

// entry is one file of a tree as the tests expect it.
type entry struct {
	mode   fs.FileMode // type bits and permissions
	owner  string      // user and group names ("" = not checked)
	group  string
	link   string // symlink target
	source string // for regular files: the repository file it must equal ("" = not compared)
}

func (e entry) String() string {
	s := e.mode.String()
	if e.owner != "" || e.group != "" {
		s += " " + e.owner + ":" + e.group
	}
	if e.link != "" {
		s += " -> " + e.link
	}
	return s
}

// stat describes path like entry (without source).
func stat(t *testing.T, path string) (entry, error) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		return entry{}, err
	}
	e := entry{mode: fi.Mode() & (fs.ModeType | fs.ModePerm)}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.owner, e.group = userName(st.Uid), groupName(st.Gid)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		e.link, err = os.Readlink(path)
	}
	return e, err
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}

// checkEntries compares files on disk with the expectations, naming every difference; root prefixes the paths.
func checkEntries(t *testing.T, root string, want map[string]entry) {
	t.Helper()
	repo := harness.RepoRoot(t)
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		w := want[p]
		got, err := stat(t, filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if w.owner == "" {
			got.owner, got.group = "", ""
		}
		if got.mode != w.mode || got.owner != w.owner || got.group != w.group || got.link != w.link {
			t.Errorf("%s: %s, want %s", p, got, w)
		}
		if w.source != "" && w.mode.IsRegular() {
			sameFile(t, filepath.Join(root, p), filepath.Join(repo, w.source))
		}
	}
}

// sameFile fails unless both files hold the same bytes (without printing them: binaries are large).
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	require.NoError(t, err)
	b, err := os.ReadFile(want)
	require.NoError(t, err)
	if string(a) != string(b) {
		t.Errorf("%s differs from %s (%d vs %d bytes)", got, want, len(a), len(b))
	}
}

// copyTree replicates a tree (modes and symlinks; regular files hard-linked when possible) into a new directory.
// Replace a file of the copy with writeFile, never by writing through the link.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rootfs")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		default:
			if os.Link(path, to) == nil {
				return nil
			}
			return copyFile(path, to, info.Mode().Perm())
		}
	})
	require.NoError(t, err)
	return dst
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeFile replaces path (a file, a hard link, or a symlink) with a new regular file.
func writeFile(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	require.NoError(t, os.RemoveAll(path))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, perm))
	require.NoError(t, os.Chmod(path, perm))
}

// run runs a command and returns its combined output, failing the test with it on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}
