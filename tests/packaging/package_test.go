// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const (
	pkgName    = "otelcol-phoenix"
	serviceUsr = "otelcol-phoenix"
	unitPath   = "/usr/lib/systemd/system/otelcol-phoenix.service"
	configPath = "/etc/otelcol-phoenix/config.yaml"
	envPath    = "/etc/otelcol-phoenix/otelcol-phoenix.conf"
	stateDir   = "/var/lib/otelcol-phoenix"
	wantsLink  = "/etc/systemd/system/multi-user.target.wants/otelcol-phoenix.service"
)

// installed is what both packages put on the system, as dpkg and rpm must report and create it.
func installed() map[string]entry {
	return map[string]entry{
		"/usr/bin/otelcol-phoenix": {mode: 0o755, owner: "root", group: "root"},
		unitPath:                   {mode: 0o644, owner: "root", group: "root", source: "distribution/otelcol-phoenix.service"},
		"/etc/otelcol-phoenix":     {mode: fs.ModeDir | 0o755, owner: "root", group: "root"},
		envPath:                    {mode: 0o644, owner: "root", group: "root", source: "distribution/otelcol-phoenix.conf"},
		configPath:                 {mode: 0o640, owner: "root", group: serviceUsr, source: "distribution/config.yaml"},
		stateDir:                   {mode: fs.ModeDir | 0o750, owner: serviceUsr, group: serviceUsr},
	}
}

// TestDeb installs the .deb with dpkg, checks what it put where and that it runs as the unit says, reinstalls it
// over a changed config, removes and purges it, and checks nothing is left.
func TestDeb(t *testing.T) {
	needRoot(t, "installing the .deb")
	dpkg := harness.NeedTool(t, "dpkg", "dpkg")
	deb, _ := packages(t)
	v := version(t)

	// Never touch an installation or a user this test did not make.
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkgName).Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Fatalf("%s is already installed (%s): this test installs and purges it; `dpkg --purge %s` first", pkgName, out, pkgName)
	}
	if _, err := user.Lookup(serviceUsr); err == nil {
		t.Fatalf("user %s exists already: this test creates and removes it (with the package)", serviceUsr)
	}
	t.Cleanup(func() { _ = exec.Command(dpkg, "--purge", pkgName).Run() })

	out := run(t, dpkg, "--install", deb)
	t.Logf("dpkg --install %s:\n%s", filepath.Base(deb), out)

	t.Run("status", func(t *testing.T) {
		status := run(t, "dpkg-query", "-W", "-f=${Version} ${Status}", pkgName)
		assert.Equal(t, v+" install ok installed", status)
		conffiles := run(t, "dpkg-query", "-W", "-f=${Conffiles}", pkgName)
		assert.Contains(t, conffiles, configPath+" ")
		assert.Contains(t, conffiles, envPath+" ")
		listed := run(t, "dpkg-query", "-L", pkgName)
		for p := range installed() {
			assert.Contains(t, strings.Split(listed, "\n"), p, "dpkg -L")
		}
	})

	t.Run("files", func(t *testing.T) {
		checkEntries(t, "/", installed())
		out := run(t, "/usr/bin/otelcol-phoenix", "--version")
		assert.Equal(t, "otelcol-phoenix version "+v, strings.TrimSpace(out))
	})

	t.Run("user", func(t *testing.T) {
		u, err := user.Lookup(serviceUsr)
		require.NoError(t, err)
		uid, _ := strconv.Atoi(u.Uid)
		assert.Less(t, uid, 1000, "a system user")
		assert.Equal(t, stateDir, u.HomeDir)
		g, err := user.LookupGroupId(u.Gid)
		require.NoError(t, err)
		assert.Equal(t, serviceUsr, g.Name, "its own group")
		pw := run(t, "getent", "passwd", serviceUsr)
		assert.Regexp(t, `:/(usr/)?sbin/nologin\n?$`, pw, "no login shell")
	})

	t.Run("unit", func(t *testing.T) {
		b, err := os.ReadFile(unitPath)
		require.NoError(t, err)
		unit := string(b)
		for _, line := range []string{
			"ExecStart=/usr/bin/otelcol-phoenix $OTELCOL_OPTIONS",
			"ExecReload=/usr/bin/otelcol-phoenix validate $OTELCOL_OPTIONS",
			"ExecReload=/bin/kill -HUP $MAINPID",
			"EnvironmentFile=" + envPath,
			"User=" + serviceUsr,
			"StateDirectory=otelcol-phoenix",
			"StateDirectoryMode=0750",
		} {
			assert.Contains(t, strings.Split(unit, "\n"), line)
		}
		if _, err := exec.LookPath("systemctl"); err == nil {
			// systemctl names the unit by its search path (/lib/systemd/system on Debian 12): same file.
			target, err := filepath.EvalSymlinks(wantsLink)
			if assert.NoError(t, err, "enabled on install") {
				unit, err := filepath.EvalSymlinks(unitPath)
				require.NoError(t, err)
				assert.Equal(t, unit, target)
			}
		}
		analyze := harness.NeedTool(t, "systemd-analyze", "systemd")
		out, err := exec.Command(analyze, "verify", unitPath).CombinedOutput()
		assert.NoError(t, err, "systemd-analyze verify:\n%s", out)
		assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")
	})

	// What the unit runs, as the unit's user: ExecReload's validate, then ExecStart, then a SIGHUP after the config
	// changed. Free ports through --set, so it cannot collide with anything else on this host.
	t.Run("runs and reloads on SIGHUP as the unit's user", func(t *testing.T) {
		opts := envOptions(t)
		cred := credential(t, serviceUsr)

		validate := exec.Command("/usr/bin/otelcol-phoenix", append([]string{"validate"}, opts...)...)
		validate.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := validate.CombinedOutput()
		require.NoError(t, err, "validate %s as %s:\n%s", strings.Join(opts, " "), serviceUsr, out)
		out, err = exec.Command("/usr/bin/otelcol-phoenix", "validate", "--config", configPath).CombinedOutput()
		require.NoError(t, err, "validate as root:\n%s", out)

		health := harness.FreePort(t)
		args := append(append([]string{}, opts...),
			"--set=extensions::health_check::endpoint=127.0.0.1:"+strconv.Itoa(health),
			"--set=extensions::zpages::endpoint=127.0.0.1:"+strconv.Itoa(harness.FreePort(t)),
			"--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:"+strconv.Itoa(harness.FreePort(t)),
			"--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:"+strconv.Itoa(harness.FreePort(t)),
			"--set=service::telemetry::metrics::level=none")
		cmd := exec.Command("/usr/bin/otelcol-phoenix", args...)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		c := harness.StartCmd(t, cmd)
		base := "http://127.0.0.1:" + strconv.Itoa(health)
		_, err = c.WaitHTTP(base+"/", http.StatusOK, 60*time.Second)
		require.NoError(t, err)

		// The reload re-reads the file: health_check moves to another path.
		orig, err := os.ReadFile(configPath)
		require.NoError(t, err)
		changed := strings.Replace(string(orig), "  health_check:\n", "  health_check:\n    path: /reloaded\n", 1)
		require.NotEqual(t, string(orig), changed)
		require.NoError(t, os.WriteFile(configPath, []byte(changed), 0o640))

		pid := c.Pid()
		require.NoError(t, syscall.Kill(pid, syscall.SIGHUP))
		_, err = c.WaitHTTP(base+"/reloaded", http.StatusOK, 60*time.Second)
		require.NoError(t, err, "the new config after SIGHUP")
		// The log lines arrive through a pipe: wait for them rather than read them at once.
		assert.NoError(t, c.WaitFor(10*time.Second, func() error {
			return harness.ExpectContains(c.Logs(), `"signal": "hangup"`, "Config updated, restart service")
		}))
		assert.Equal(t, pid, c.Pid(), "same process")
		require.NoError(t, c.Stop(30*time.Second))
	})

	// The config was changed above: reinstalling keeps it (a conffile), as an upgrade would.
	t.Run("reinstall keeps a changed config", func(t *testing.T) {
		before, err := os.ReadFile(configPath)
		require.NoError(t, err)
		require.Contains(t, string(before), "/reloaded", "the previous step changed the config")
		run(t, dpkg, "--install", deb)
		after, err := os.ReadFile(configPath)
		require.NoError(t, err)
		assert.Equal(t, string(before), string(after))
		checkEntries(t, "/", map[string]entry{stateDir: installed()[stateDir]})
	})

	t.Run("remove keeps config and state", func(t *testing.T) {
		// State as the service leaves it (file_storage's files); dpkg would drop the directory were it empty.
		state := filepath.Join(stateDir, "phoenix_control")
		require.NoError(t, os.WriteFile(state, []byte("state"), 0o600))
		cred := credential(t, serviceUsr)
		require.NoError(t, os.Chown(state, int(cred.Uid), int(cred.Gid)))

		run(t, dpkg, "--remove", pkgName)
		for _, p := range []string{"/usr/bin/otelcol-phoenix", unitPath, wantsLink} {
			_, err := os.Lstat(p)
			assert.ErrorIs(t, err, fs.ErrNotExist, "%s after dpkg --remove", p)
		}
		for _, p := range []string{configPath, envPath, stateDir, filepath.Join(stateDir, "phoenix_control")} {
			_, err := os.Lstat(p)
			assert.NoError(t, err, "%s after dpkg --remove", p)
		}
		_, err := user.Lookup(serviceUsr)
		assert.NoError(t, err, "the user after dpkg --remove")
	})

	t.Run("purge leaves nothing", func(t *testing.T) {
		run(t, dpkg, "--purge", pkgName)
		for p := range installed() {
			_, err := os.Lstat(p)
			assert.ErrorIs(t, err, fs.ErrNotExist, "%s after dpkg --purge", p)
		}
		_, err := os.Lstat(wantsLink)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = user.Lookup(serviceUsr)
		assert.Error(t, err, "the user after dpkg --purge")
		_, err = user.LookupGroup(serviceUsr)
		assert.Error(t, err, "the group after dpkg --purge")
		out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkgName).CombinedOutput()
		assert.NotContains(t, string(out), "installed")
	})
}

// envOptions reads OTELCOL_OPTIONS from the installed env file and splits it as systemd expands an unquoted
// $OTELCOL_OPTIONS in ExecStart: on whitespace.
func envOptions(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(envPath)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "OTELCOL_OPTIONS="); ok {
			return strings.Fields(strings.Trim(v, `"`))
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("%s sets no OTELCOL_OPTIONS", envPath)
	return nil
}

func credential(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup(name)
	require.NoError(t, err)
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	require.NoError(t, err)
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	require.NoError(t, err)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// TestRPM queries the .rpm with rpm(8): name, version, files with modes and owners, config files, scriptlets.
// (Installing it needs an rpm-based system; the scriptlets are the .deb's, exercised by TestDeb.)
func TestRPM(t *testing.T) {
	rpm := harness.NeedTool(t, "rpm", "rpm")
	_, pkg := packages(t)
	v := version(t)
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}[runtime.GOARCH]
	q := func(args ...string) string { return run(t, rpm, append([]string{"-qp", pkg}, args...)...) }

	assert.Equal(t, fmt.Sprintf("%s %s %s", pkgName, v, arch), q("--qf", "%{NAME} %{VERSION} %{ARCH}"))

	// --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
	got := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(q("--dump")), "\n") {
		f := strings.Fields(line)
		require.Len(t, f, 11, "rpm --dump line %q", line)
		mode, err := strconv.ParseUint(f[4], 8, 32)
		require.NoError(t, err)
		e := entry{mode: fs.FileMode(mode & 0o777), owner: f[5], group: f[6]}
		if mode&0o170000 == 0o040000 {
			e.mode |= fs.ModeDir
		}
		got[f[0]] = e
	}
	want := installed()
	for p, w := range want {
		w.source = ""
		assert.Equal(t, w.String(), got[p].String(), "rpm: %s", p)
	}
	assert.Len(t, got, len(want), "rpm files: %v", got)

	flags := q("--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
	for _, p := range []string{configPath, envPath} {
		assert.Contains(t, strings.Split(flags, "\n"), "cn "+p, "%%config(noreplace) %s", p)
	}

	scripts := q("--scripts")
	repo := harness.RepoRoot(t)
	for _, s := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		b, err := os.ReadFile(filepath.Join(repo, "packaging", "scripts", s+".sh"))
		require.NoError(t, err)
		assert.Contains(t, scripts, strings.TrimSpace(string(b)), "rpm --scripts: %s", s)
	}
	assert.Contains(t, strings.Split(q("-R"), "\n"), "/usr/sbin/useradd", "preinstall runs useradd (a file dependency: shadow-utils on RHEL, shadow on SUSE)")
}
