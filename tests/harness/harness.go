// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package harness runs the built otelcol-phoenix binary in end-to-end tests: validates configs, starts the
// collector on free loopback ports, waits for endpoints and stops it with SIGTERM.
package harness // import "github.com/phoenix-platform/otelcol-phoenix/tests/harness"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names the environment variable holding the path of the built binary (set by `make e2e-test`).
const BinaryEnv = "OTELCOL_PHOENIX_BIN"

// Binary returns the path of the built otelcol-phoenix (see PathFromEnv).
func Binary(t testing.TB) string {
	t.Helper()
	return PathFromEnv(t, BinaryEnv, "make e2e-test")
}

// PathFromEnv returns the file an environment variable set by make names (the binary, helm). Outside CI an
// unset variable skips the test (run it through makeTarget); in CI it fails, so a broken Makefile cannot
// silently skip a suite.
func PathFromEnv(t testing.TB, env, makeTarget string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: run the tests through `%s`", env, makeTarget)
		}
		t.Skipf("%s is not set: run `%s`", env, makeTarget)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v", env, path, err)
	}
	return path
}

// ControlExample is examples/control.yaml on free loopback ports, made fast for tests (1 s collection,
// 2 s windows, no self-telemetry), its switches kept in a directory of its own across restarts.
type ControlExample struct {
	Config   string
	Ports    map[int]int // example port -> the port used
	StateDir string
	API      string // the control API's base URL
}

// NewControlExample prepares the example; Start runs it.
func NewControlExample(t testing.TB) *ControlExample {
	t.Helper()
	config, ports := RewritePorts(t, filepath.Join(RepoRoot(t), "examples", "control.yaml"))
	return &ControlExample{Config: config, Ports: ports, StateDir: t.TempDir(), API: "http://127.0.0.1:" + strconv.Itoa(ports[8999])}
}

// Start runs the binary on the example with extra arguments and waits for health_check.
func (e *ControlExample) Start(t testing.TB, args ...string) *Collector {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"--config", e.Config,
		"--set=receivers::simulated_process::collection_interval=1s", "--set=processors::experiment/process::window=2s",
		"--set=service::telemetry::metrics::level=none"}, args...)...)
	cmd.Env = append(os.Environ(), "PHOENIX_STATE_DIR="+e.StateDir)
	c := StartCmd(t, cmd)
	if _, err := c.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(e.Ports[13133])+"/", 200, 60*time.Second); err != nil {
		t.Fatalf("control example not healthy: %v", err)
	}
	return c
}

// NeedTool returns the path of a program the test drives (a real component, from a Debian package). Outside
// CI a missing program skips the test; in CI, where .ci/run installs it, it fails.
func NeedTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (.ci/run installs Debian's %s): %v", name, debianPackage, err)
		}
		t.Skipf("%s not installed: apt-get install %s", name, debianPackage)
	}
	return path
}

// RepoRoot returns the repository root (the directory holding builder-config.yaml).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "builder-config.yaml")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (builder-config.yaml) not found")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range:
// a test that restarts a collector on the same ports then never finds one taken in between as the local
// port of some outbound connection (seen once in 60 kill-and-restart cycles: "bind: address already in use").
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	span := ephemeralLow() - firstPort
	for range 200 {
		p := 0 // no room below the kernel's range: let it choose
		if span > 0 {
			p = firstPort + rand.IntN(span)
		}
		if portsGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		p = l.Addr().(*net.TCPAddr).Port
		l.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("no free port on 127.0.0.1 after 200 tries")
	return 0
}

// firstPort is the lowest port FreePort gives, above the well-known and common service ports.
const firstPort = 10000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{} // never hand a port out twice in one test binary
)

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's default when it cannot be read).
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return 32768
})

var endpointRE = regexp.MustCompile(`(localhost|127\.0\.0\.1|0\.0\.0\.0|\$\{env:MY_POD_IP\}):(\d{2,5})`)

// RewritePorts copies the config at src into a temporary file where every listen/dial address on this host
// (localhost, 127.0.0.1, 0.0.0.0, ${env:MY_POD_IP}) gets a free 127.0.0.1 port, consistently: the same port in
// the source maps to the same new port, so a receiver and a client of it still meet. It returns the new path
// and the mapping from original to new port.
func RewritePorts(t testing.TB, src string) (string, map[int]int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[int]int{}
	out := endpointRE.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := endpointRE.FindSubmatch(m)
		orig, _ := strconv.Atoi(string(sub[2]))
		if _, ok := ports[orig]; !ok {
			ports[orig] = FreePort(t)
		}
		return []byte(fmt.Sprintf("127.0.0.1:%d", ports[orig]))
	})
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst, ports
}

// Validate runs `otelcol-phoenix validate` on a config and returns its combined output and error.
func Validate(t testing.TB, bin, config string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"validate", "--config", config}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Collector is a running otelcol-phoenix process.
type Collector struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

// Start starts the binary with a config and extra arguments. The process is killed at test cleanup if the
// test did not stop it.
func Start(t testing.TB, bin, config string, args ...string) *Collector {
	t.Helper()
	return StartCmd(t, exec.Command(bin, append([]string{"--config", config}, args...)...))
}

// StartCmd starts a prepared command (for a custom environment or working directory).
func StartCmd(t testing.TB, cmd *exec.Cmd) *Collector {
	t.Helper()
	c := &Collector{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = c.logs
	cmd.Stderr = c.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("%s output (last lines):\n%s", filepath.Base(cmd.Path), lastLines(c.Logs(), 40))
		}
	})
	return c
}

// Logs returns everything the collector printed so far.
func (c *Collector) Logs() string { return c.logs.String() }

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit; it returns the exit error (nil for a
// clean exit with status 0).
func (c *Collector) Stop(timeout time.Duration) error {
	if !c.Exited() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-c.done:
		// otelcol installs its SIGTERM handler only once the service has started (otelcol@v0.159.0
		// collector.go Run): a SIGTERM that lands just after health_check turned ready ends the process by
		// the signal's default action. It stopped, as asked, only not gracefully; say so, don't fail.
		var exit *exec.ExitError
		if errors.As(c.err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return nil
			}
		}
		return c.err
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("did not exit within %s after SIGTERM", timeout)
	}
}

// WaitHTTP polls url until it answers with want status, the collector exits, or timeout passes. It returns
// the last body.
func (c *Collector) WaitHTTP(url string, want int, timeout time.Duration) ([]byte, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if c.Exited() {
			return nil, fmt.Errorf("collector exited early: %v", c.err)
		}
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return body, nil
			}
			last = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("GET %s: no %d within %s: %w", url, want, timeout, last)
}

// WaitFor polls cond every 200ms until it returns nil, the collector exits, or timeout passes.
func (c *Collector) WaitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	err := errors.New("condition never checked")
	for time.Now().Before(deadline) {
		if c.Exited() {
			return fmt.Errorf("collector exited early: %v", c.err)
		}
		if err = cond(); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not within %s: %w", timeout, err)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ExpectContains returns an error naming the first of wants missing from s.
func ExpectContains(s string, wants ...string) error {
	for _, w := range wants {
		if !strings.Contains(s, w) {
			return fmt.Errorf("%q not found", w)
		}
	}
	return nil
}

// ExpectBodyContains GETs url and checks the body contains every one of wants.
func ExpectBodyContains(url string, wants ...string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return ExpectContains(string(body), wants...)
}

// ExpectFileContains reads path and checks it contains every one of wants.
func ExpectFileContains(path string, wants ...string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return ExpectContains(string(b), wants...)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// Pid is the process ID.
func (c *Collector) Pid() int { return c.cmd.Process.Pid }
