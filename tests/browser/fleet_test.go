// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const fleetToken = "fleet-test-token"

// TestFleetPage loads phoenix_fleet's page against the binary: a controller behind a bearer token and two
// node agents over OpAMP. The page asks for the token (again after a wrong one), lists both agents, shows
// the fleet's figures per variant, starts a rollout from its form (waves 1,100%, soak 2s) that walks both
// waves to a passing verdict and a promotion, rolls it back with the button (confirmed; the agents return to
// the baseline), then starts another, pauses and resumes it, and cancels it from the keyboard; every control
// is labelled, it fits a 390 px screen, and the console shows nothing but the expected 401s.
func TestFleetPage(t *testing.T) {
	bin := harness.Binary(t)
	fleetPort := harness.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(fleetPort)
	env := func(kv ...string) []string {
		return append(os.Environ(), append([]string{"FLEET_PORT=" + strconv.Itoa(fleetPort), "FLEET_TOKEN=" + fleetToken}, kv...)...)
	}
	cmd := exec.Command(bin, "--config", filepath.Join("testdata", "fleet-controller.yaml"))
	cmd.Env = env()
	ctl := harness.StartCmd(t, cmd)
	_, err := ctl.WaitHTTP(base+"/", http.StatusOK, 60*time.Second) // the page is public: it asks for the token
	require.NoError(t, err)
	for _, node := range []string{"node-a", "node-b"} {
		apiPort := harness.FreePort(t)
		cmd := exec.Command(bin, "--config", filepath.Join("testdata", "fleet-agent.yaml"))
		cmd.Env = env("NODE_NAME="+node, "API_PORT="+strconv.Itoa(apiPort))
		a := harness.StartCmd(t, cmd)
		_, err := a.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(apiPort)+"/api/v1/info", http.StatusOK, 60*time.Second)
		require.NoError(t, err, node)
	}
	artifacts := artifactsDir(t)

	b, console := newBrowser(t, 1280, 900)

	// The token: asked for, refused when wrong, asked again, kept for the tab only.
	b.do(chromedp.Navigate(base + "/"))
	b.enterToken("wrong")
	b.waitJS(`document.querySelector('#token-dialog').open && document.querySelector('#token-why').textContent.includes('refused')`, 20*time.Second)
	b.enterToken(fleetToken)

	// Both agents, connected, otelcol-phoenix, on the baseline.
	agentRow := func(node, role string) string {
		return `document.querySelector('#agents-table tr[data-node="` + node + `"] [data-role="` + role + `"]')`
	}
	onVariant := func(variant string) string {
		return `['node-a', 'node-b'].every(n => { const c = document.querySelector('#agents-table tr[data-node="' + n + '"] [data-role="active"] b[data-experiment="experiment/process"]');
			return c && c.textContent === '` + variant + `'; })`
	}
	b.waitJS(`document.querySelectorAll('#agents-table tbody tr[data-agent]').length === 2`, 30*time.Second)
	for _, node := range []string{"node-a", "node-b"} {
		b.waitJS(agentRow(node, "connected")+`.textContent === 'connected'`, 20*time.Second)
		assert.Equal(t, "yes", b.eval(agentRow(node, "phoenix")+`.textContent`), node)
		assert.Equal(t, "healthy", b.eval(agentRow(node, "healthy")+`.textContent.split(' ')[0]`), node)
	}
	b.waitJS(onVariant("full"), 10*time.Second)
	assert.Contains(t, b.text(`#summary`), "2 agents, 2 connected")
	assert.Equal(t, fleetToken, b.eval(`sessionStorage.getItem('phoenix.fleet.token')`), "the token is kept for the tab")
	assert.Equal(t, "0", b.eval(`String(localStorage.length)`), "and nowhere else")

	// The fleet's figures: both variants summed over both agents, the worst node named.
	fig := `#figures article[data-experiment="experiment/process"] tr[data-variant="top20"]`
	b.waitJS(`!!document.querySelector('`+fig+` [data-role="agents"]') && document.querySelector('`+fig+` [data-role="agents"]').textContent.trim() === '2'`, 30*time.Second)
	assert.Regexp(t, `^[1-9][0-9,]*$`, b.text(fig+` [data-role="series"]`), "top20's series")
	// An agent's first window has no fidelity (nothing to compare yet): the worst node's, named, once both
	// agents have one. A rollout started before would judge that window and fail closed.
	b.waitJS(`/^[0-9.]+%node-[ab] \(of 2\)$/.test(document.querySelector('`+fig+` [data-role="fidelity"]').textContent.trim())`, 30*time.Second)
	assert.Regexp(t, `^\$[0-9,]+\.[0-9]{2}`, b.text(fig+` [data-role="cost"]`), "the fleet's cost a month")

	// A rollout from the form: both waves, a passing verdict, promoted.
	b.do(chromedp.SetValue(chromedp.CSS(`#ro-experiment`), "experiment/process"),
		chromedp.SetValue(chromedp.CSS(`#ro-candidate`), "top20"),
		chromedp.SetValue(chromedp.CSS(`#ro-waves`), "1,100%"),
		chromedp.SetValue(chromedp.CSS(`#ro-soak`), "2s"),
		chromedp.SetValue(chromedp.CSS(`#ro-apply`), "1m"),
		chromedp.SetValue(chromedp.CSS(`#ro-reduction`), "30"),
		chromedp.SetValue(chromedp.CSS(`#ro-fidelity`), "90"),
		chromedp.Click(chromedp.CSS(`#rollout-form button[type=submit]`)))
	first := `#rollout-list article.rollout:nth-child(1)`
	b.waitJS(`!!document.querySelector('`+first+`')`, 10*time.Second)
	firstID := b.eval(`document.querySelector('` + first + `').dataset.rollout`)
	card := `#rollout-list article[data-rollout="` + firstID + `"]`
	b.waitJS(`document.querySelector('`+card+`').dataset.phase === 'completed'`, 120*time.Second)
	assert.Equal(t, "true", b.eval(`document.querySelector('`+card+` [data-role="verdict"]').dataset.pass`), b.text(card))
	assert.Contains(t, b.text(card+` [data-role="verdict"]`), "Verdict: pass")
	assert.Contains(t, b.text(card+` [data-role="status"]`), "promoted")
	assert.Equal(t, "2", b.eval(`String(document.querySelectorAll('`+card+` table.waves tbody tr').length)`), "both waves shown")
	assert.Equal(t, "1", b.text(card+` tr[data-wave="1"] [data-role="size"]`))
	assert.Equal(t, "2", b.text(card+` tr[data-wave="2"] [data-role="size"]`))
	assert.Equal(t, "pass", b.text(card+` tr[data-wave="2"] [data-role="wave-verdict"]`))
	b.waitJS(onVariant("top20"), 20*time.Second)
	assert.Equal(t, "true", b.eval(`String(document.querySelector('`+card+` button[data-action="pause"]').hidden && document.querySelector('`+card+` button[data-action="cancel"]').hidden)`),
		"an ended rollout cannot be paused or cancelled")

	// Rollback, confirmed: every agent goes back to the baseline.
	b.do(chromedp.Click(chromedp.CSS(card + ` button[data-action="rollback"]`)))
	b.waitJS(`document.querySelector('#confirm-dialog').open`, 5*time.Second)
	b.do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS(onVariant("full"), 30*time.Second)
	b.waitJS(`document.querySelector('`+card+` button[data-action="rollback"]').hidden`, 10*time.Second)
	b.waitJS(`document.querySelector('`+card+` [data-role="rolled-back"]') !== null`, 10*time.Second)
	assert.NotContains(t, b.text(card+` [data-role="status"]`), "promoted", "a rolled-back promotion no longer shows as one")
	assert.Equal(t, "completed", b.eval(`document.querySelector('`+card+`').dataset.phase`), "the verdict stands")

	// Another rollout, a long soak: paused and resumed by the buttons, then cancelled from the keyboard.
	b.do(chromedp.SetValue(chromedp.CSS(`#ro-soak`), "10m"), chromedp.Click(chromedp.CSS(`#rollout-form button[type=submit]`)))
	b.waitJS(`document.querySelector('`+first+`').dataset.rollout !== '`+firstID+`'`, 10*time.Second)
	secondID := b.eval(`document.querySelector('` + first + `').dataset.rollout`)
	card = `#rollout-list article[data-rollout="` + secondID + `"]`
	b.waitJS(`['initializing', 'running'].includes(document.querySelector('`+card+`').dataset.phase)`, 20*time.Second)
	b.do(chromedp.Click(chromedp.CSS(card + ` button[data-action="pause"]`)))
	b.waitJS(`document.querySelector('`+card+`').dataset.paused === 'true' && !!document.querySelector('`+card+` [data-role="pause-reason"]')`, 10*time.Second)
	assert.Contains(t, b.text(card+` [data-role="pause-reason"]`), "by the API")
	assert.Equal(t, "resume", b.eval(`document.activeElement.dataset.action || ''`), "focus moves to Resume")
	b.do(chromedp.KeyEvent("\r")) // Resume, from the keyboard
	b.waitJS(`document.querySelector('`+card+`').dataset.paused === 'false'`, 10*time.Second)

	target := card + ` button[data-action="cancel"]`
	reached := false
	for range 80 {
		b.do(chromedp.KeyEvent("\t"))
		if b.eval(`String(document.activeElement === document.querySelector('`+target+`'))`) == "true" {
			reached = true
			break
		}
	}
	require.True(t, reached, "Cancel is reachable with Tab")
	time.Sleep(2500 * time.Millisecond) // a refresh in between: the focused button stays focused
	require.Equal(t, "true", b.eval(`String(document.activeElement === document.querySelector('`+target+`'))`),
		"focus survives the polling; it is on %s", b.eval(`document.activeElement.outerHTML.slice(0, 300)`))
	b.do(chromedp.KeyEvent("\r"))
	b.waitJS(`document.querySelector('#confirm-dialog').open && document.activeElement.id === 'confirm-ok'`, 5*time.Second)
	b.do(chromedp.KeyEvent("\r"))
	b.waitJS(`document.querySelector('`+card+`').dataset.phase === 'cancelled'`, 10*time.Second)
	assert.Contains(t, b.text(card+` [data-role="reason"]`), "cancelled")

	// The API agrees with the page.
	var list struct {
		Rollouts []struct {
			ID           string `json:"id"`
			Phase        string `json:"phase"`
			Promoted     bool   `json:"promoted"`
			RolledBackAt string `json:"rolled_back_at"`
			Verdict      *struct {
				Pass bool `json:"pass"`
			} `json:"verdict"`
		} `json:"rollouts"`
	}
	require.NoError(t, fleetGet(base+"/api/v1/fleet/rollouts", &list))
	require.Len(t, list.Rollouts, 2)
	assert.Equal(t, firstID, list.Rollouts[0].ID)
	assert.Equal(t, "completed", list.Rollouts[0].Phase)
	require.NotNil(t, list.Rollouts[0].Verdict)
	assert.True(t, list.Rollouts[0].Verdict.Pass)
	assert.False(t, list.Rollouts[0].Promoted, "rolled back")
	assert.NotEmpty(t, list.Rollouts[0].RolledBackAt)
	assert.Equal(t, secondID, list.Rollouts[1].ID)
	assert.Equal(t, "cancelled", list.Rollouts[1].Phase)
	b.waitJS(onVariant("full"), 30*time.Second)

	// Every control has a label.
	assert.Equal(t, "[]", b.eval(`JSON.stringify([...document.querySelectorAll('button, input, select')]
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
		.map(el => el.outerHTML))`), "controls without a label")

	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "fleet-1280x900.png"), shot, 0o644))

	// Narrow screen: nothing wider than the viewport (tables scroll inside their own box).
	b.do(chromedp.EmulateViewport(390, 844))
	b.waitJS(`document.documentElement.scrollWidth <= window.innerWidth`, 5*time.Second)
	shot, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "fleet-390x844.png"), shot, 0o644))
	t.Logf("screenshots in %s", artifacts)

	assert.Empty(t, console.errors(), "console errors")
}

// fleetGet GETs a fleet API path with the token and decodes a 200 answer into v.
func fleetGet(url string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
