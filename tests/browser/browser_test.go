// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// startDashboard starts the binary with testdata/dashboard.yaml (the control API behind the test token,
// simulated load) and returns it with the dashboard's base URL once it is healthy.
func startDashboard(t *testing.T) (*harness.Collector, string) {
	bin := harness.Binary(t)
	harness.NeedTool(t, "chromium", "chromium")
	config, ports := harness.RewritePorts(t, filepath.Join("testdata", "dashboard.yaml"))
	cmd := exec.Command(bin, "--config", config)
	cmd.Env = append(os.Environ(), "PHOENIX_TOKEN="+token)
	c := harness.StartCmd(t, cmd)
	_, err := c.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(ports[13133])+"/", 200, 60*time.Second)
	require.NoError(t, err)
	return c, "http://127.0.0.1:" + strconv.Itoa(ports[8999])
}

// newBrowser starts headless Chromium (Debian's) with a window of width × height, for the test's life, and
// collects what pages write to its console.
func newBrowser(t *testing.T, width, height int) (*browser, *console) {
	chromium := harness.NeedTool(t, "chromium", "chromium")
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height), chromedp.Flag("disable-quic", true))...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}, collectConsole(ctx)
}

// enterToken answers the page's token dialog once it is open.
func (b *browser) enterToken(token string) {
	b.t.Helper()
	b.waitJS(`document.querySelector('#token-dialog').open`, 20*time.Second)
	b.do(chromedp.SendKeys(chromedp.CSS("#token-input"), token), chromedp.Click(chromedp.CSS("#token-dialog button[type=submit]")))
}

// browser runs chromedp actions and JavaScript checks with bounded waits.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(b.t, err, expr)
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.eval(`document.querySelector('` + sel + `').textContent.trim()`)
}

// waitJS polls a boolean expression until it holds.
func (b *browser) waitJS(expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b.eval(`String(!!(`+expr+`))`) == "true" {
			return
		}
		if time.Now().After(deadline) {
			shot, _ := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			path := filepath.Join(artifactsDir(b.t), "failure.png")
			_ = os.WriteFile(path, shot, 0o644)
			b.t.Fatalf("after %s still false: %s (screenshot: %s)", timeout, expr, path)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// console keeps what the page wrote to the console.
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func collectConsole(ctx context.Context) *console {
	c := &console{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// errors are the error messages and exceptions, except the browser's own note of each 401 answer: asking for
// the token is how the page learns it needs one.
func (c *console) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		if strings.Contains(m.Text, "status of 401") {
			continue
		}
		out = append(out, m.String())
	}
	return out
}

// artifactsDir is where screenshots go: $PHOENIX_ARTIFACTS, else tests/browser/artifacts (git-ignored).
func artifactsDir(t testing.TB) string {
	dir := os.Getenv("PHOENIX_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	abs, _ := filepath.Abs(dir)
	return abs
}
