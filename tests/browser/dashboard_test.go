// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package browser drives the phoenix_control dashboard in headless Chromium against the built binary. It is
// its own module so that chromedp stays out of the distribution's module graph.
package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const token = "dashboard-test-token"

// TestDashboard loads the page against the binary under simulated load with auth on: it asks for the token
// (again after a wrong one), shows the variants with live numbers, switches by mouse and by keyboard (the API
// then reports the new active variant), exports a variant, runs an experiment to a verdict, injects chaos,
// stays readable on a narrow screen, and writes nothing to the console but the expected 401s.
func TestDashboard(t *testing.T) {
	c, base := startDashboard(t)
	artifacts := artifactsDir(t)

	b, console := newBrowser(t, 1280, 800)

	// The page loads without a token and asks for one; a wrong token is refused and asked for again.
	b.do(chromedp.Navigate(base + "/"))
	b.enterToken("wrong")
	b.waitJS(`document.querySelector('#token-dialog').open && document.querySelector('#token-why').textContent.includes('refused')`, 20*time.Second)
	b.enterToken(token)

	// Variants and live numbers: the chart gains points from the event stream.
	b.waitJS(`document.querySelectorAll('tr[data-variant]').length === 3`, 30*time.Second)
	b.waitJS(`document.querySelector('#conn').textContent === 'live'`, 10*time.Second)
	b.waitJS(`[...document.querySelectorAll('svg.chart polyline')].every(p => p.getAttribute('points').split(' ').length >= 3)`, 30*time.Second)
	// The baseline's series, once a batch has been measured (a loaded machine may scrape late).
	b.waitJS(`/^[1-9][0-9,]*$/.test(document.querySelector('tr[data-variant="full"] td:nth-of-type(1)').textContent.trim())`, 20*time.Second)
	assert.Regexp(t, `^[0-9.]+%$`, b.text(`tr[data-variant="top20"] td:nth-of-type(5)`), "top20's series saved")
	// The cost block: this node's $/month per variant and what top20 saves of the baseline's.
	assert.Regexp(t, `^\$[0-9,]+\.[0-9]{2}$`, b.text(`tr[data-variant="full"] td.cost:nth-of-type(7)`), "the baseline's cost a month")
	assert.Regexp(t, `^\$[0-9,]+\.[0-9]{2} \([0-9.]+%\)$`, b.text(`tr[data-variant="top20"] td.cost:nth-of-type(8)`), "top20's saving a month")
	assert.Contains(t, b.text(`.meta`), "cost model active_series")
	assert.Contains(t, b.text(`#node`), "·", "the node answering")

	// The rules: per variant the share unchanged; expanded, each rule that is not the same, with why. The
	// expansion survives the next evaluations (the section is rebuilt at each).
	b.waitJS(`!!document.querySelector('.rules details[data-variant="top20"] summary') &&
		document.querySelector('.rules details[data-variant="top20"] summary').textContent.includes('broken')`, 30*time.Second)
	assert.Equal(t, "null", b.eval(`String(document.querySelector('.rules details[data-variant="full"]'))`), "the baseline is not listed")
	b.do(chromedp.Click(chromedp.CSS(`.rules details[data-variant="top20"] summary`)))
	b.waitJS(`!!document.querySelector('.rules details[data-variant="top20"][open] li[data-rule="cpu_by_executable"]')`, 10*time.Second)
	rule := b.text(`.rules details[data-variant="top20"] li[data-rule="cpu_by_executable"]`)
	assert.Contains(t, rule, "broken")
	assert.Contains(t, rule, "no longer exist", "the reason names what is gone")
	time.Sleep(5 * time.Second) // two more evaluations
	assert.Equal(t, "true", b.eval(`String(document.querySelector('.rules details[data-variant="top20"]').open)`), "still expanded")
	assert.Equal(t, token, b.eval(`sessionStorage.getItem('phoenix.token')`), "the token is kept for the tab")
	assert.Equal(t, "0", b.eval(`String(localStorage.length)`), "and nowhere else")

	// Switch by mouse, with confirmation; the API then reports the new active variant.
	b.do(chromedp.Click(chromedp.CSS(`tr[data-variant="top20"] button[data-action="switch"]`)))
	b.waitJS(`document.querySelector('#confirm-dialog').open`, 5*time.Second)
	b.do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	require.NoError(t, c.WaitFor(10*time.Second, func() error { return expectActive(base, "top20") }))
	b.waitJS(`document.querySelector('tr[data-variant="top20"]').classList.contains('active')`, 10*time.Second)

	// Switch by keyboard only: Tab to the button, Enter, Enter on the focused confirmation.
	target := `tr[data-variant="by_executable"] button[data-action="switch"]`
	reached := false
	for range 80 {
		b.do(chromedp.KeyEvent("\t"))
		if b.eval(`String(document.activeElement === document.querySelector('`+target+`'))`) == "true" {
			reached = true
			break
		}
	}
	require.True(t, reached, "the switch button is reachable with Tab")
	b.do(chromedp.KeyEvent("\r"))
	b.waitJS(`document.querySelector('#confirm-dialog').open && document.activeElement.id === 'confirm-ok'`, 5*time.Second)
	b.do(chromedp.KeyEvent("\r"))
	require.NoError(t, c.WaitFor(10*time.Second, func() error { return expectActive(base, "by_executable") }))

	// Every control has a label.
	assert.Equal(t, "[]", b.eval(`JSON.stringify([...document.querySelectorAll('button, input, select')]
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
		.map(el => el.outerHTML))`), "controls without a label")

	// Export a variant as YAML.
	b.do(chromedp.Click(chromedp.CSS(`tr[data-variant="top20"] button[data-action="export"]`)))
	b.waitJS(`(document.querySelector('pre.yaml') || {}).textContent?.includes('topk/')`, 10*time.Second)

	// A short run to a verdict, shown on its timeline.
	b.do(chromedp.SetValue(chromedp.CSS(`select[name="candidate"]`), "top20"),
		chromedp.SetValue(chromedp.CSS(`input[name="warm_up"]`), "0s"),
		chromedp.SetValue(chromedp.CSS(`input[name="duration"]`), "4s"),
		chromedp.SetValue(chromedp.CSS(`input[name="min_series_reduction"]`), "30"),
		chromedp.SetValue(chromedp.CSS(`input[name="min_fidelity"]`), "90"),
		chromedp.SetValue(chromedp.CSS(`input[name="min_cost_saving"]`), "30"),
		chromedp.Click(chromedp.CSS(`form[aria-label^="Start a run"] button[type=submit]`)))
	b.waitJS(`document.querySelector('[data-role=verdict]') !== null`, 60*time.Second)
	assert.Contains(t, b.text(`[data-role=verdict]`), "Verdict: pass")
	assert.Contains(t, b.text(`[data-role=verdict]`), "cost saved $")
	assert.Contains(t, b.text(`.run ol.timeline`), "completed")

	// Chaos from the simulator panel.
	b.do(chromedp.Click(chromedp.CSS(`button[data-chaos="kill"]`)))
	b.waitJS(`(document.querySelector('#toast') || {}).textContent?.includes('processes affected')`, 10*time.Second)

	// At 1280 px the variants table fits: no column scrolled out of sight (the names are the first).
	b.do(chromedp.ScrollIntoView(chromedp.CSS(`article.card h3`)))
	assert.Equal(t, "true", b.eval(`String([...document.querySelectorAll('.scroll')].every(s => s.scrollWidth <= s.clientWidth))`), "the table fits")
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "dashboard-1280x800.png"), shot, 0o644))
	if os.Getenv("UPDATE_SCREENSHOT") != "" { // the README's picture: UPDATE_SCREENSHOT=1 make browser-test
		require.NoError(t, os.WriteFile(filepath.Join(harness.RepoRoot(t), "docs", "dashboard.png"), shot, 0o644))
	}

	// Narrow screen: nothing wider than the viewport (tables scroll inside their own box).
	b.do(chromedp.EmulateViewport(390, 844))
	b.waitJS(`document.documentElement.scrollWidth <= window.innerWidth`, 5*time.Second)
	shot, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "dashboard-390x844.png"), shot, 0o644))
	t.Logf("screenshots in %s", artifacts)

	assert.Empty(t, console.errors(), "console errors")
}

func expectActive(base, want string) error {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/experiments/experiment%2Fprocess", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var snap struct {
		Active string `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return err
	}
	if snap.Active != want {
		return fmt.Errorf("active %q, want %q", snap.Active, want)
	}
	return nil
}
