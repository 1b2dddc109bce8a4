// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// importYAML is what a user pastes: a collector config fragment whose pipeline order is not the map's.
const importYAML = `processors:
  topk:
    k: 15
  filter/drop_idle:
    metrics:
      datapoint:
        - 'metric.name == "process.cpu.time" and value_double == 0'
  batch: {}
service:
  pipelines:
    metrics:
      processors: [filter/drop_idle, topk, batch]
`

// twoPipelinesYAML is a config with two metrics pipelines: the page asks which one to import.
const twoPipelinesYAML = `processors:
  topk:
    k: 15
  filter/drop_idle:
    metrics:
      datapoint:
        - 'metric.name == "process.cpu.time" and value_double == 0'
  batch: {}
service:
  pipelines:
    metrics:
      processors: [batch, topk]
    metrics/2:
      processors: [topk, filter/drop_idle, batch]
`

// TestBuilder builds a variant in the dashboard's pipeline builder against the binary: from a template (top_k,
// k=30) to a new column that is pending, then filled with live figures at the next window, exported in the
// three formats and removed again (the API no longer lists it, its export panel goes); then a config with two
// metrics pipelines is imported, the page offering the choice; then a pasted YAML pipeline is imported,
// reordered with the keyboard only and by drag and drop (the order the server is asked to validate follows),
// and an invalid step shows the server's problem at that step. All of it fits a 390 px screen, every control
// has a label, and the console stays clean.
func TestBuilder(t *testing.T) {
	c, base := startDashboard(t)
	artifacts := artifactsDir(t)

	b, console := newBrowser(t, 1280, 900)

	b.do(chromedp.Navigate(base + "/"))
	b.enterToken(token)
	b.waitJS(`document.querySelectorAll('tr[data-variant]').length === 3`, 30*time.Second)
	// Keep what the page asks the server to validate: the order of the steps is checked in it.
	b.eval(`window.validated = []; const f = window.fetch; window.fetch = function (path, init) {
		if (String(path).endsWith('/api/v1/validate')) window.validated.push(JSON.parse(init.body));
		return f.apply(this, arguments);
	}; ''`)
	lastValidatedIDs := func() string {
		return b.eval(`JSON.stringify(window.validated.at(-1).processors.map(p => Object.keys(p)[0]))`)
	}

	const builder = `details[data-role="builder"]`
	b.do(chromedp.Click(chromedp.CSS(builder + ` > summary`)))
	b.waitJS(`[...document.querySelectorAll('`+builder+` select[name="template"] option')].some(o => o.value === 'top_k')`, 10*time.Second)
	b.waitJS(`[...document.querySelectorAll('`+builder+` select[name="processor"] option')].some(o => o.value === 'filter')`, 10*time.Second)

	// From a template: top_k with k=30, named top30.
	b.input(builder+` select[name="template"]`, "top_k")
	b.waitJS(`!!document.querySelector('`+builder+` input[data-param="k"]')`, 5*time.Second)
	b.do(chromedp.SetValue(chromedp.CSS(builder+` input[data-param="k"]`), "30"),
		chromedp.Click(chromedp.CSS(builder+` form[aria-label^="Start a variant"] button[type=submit]`)))
	b.waitJS(`document.querySelectorAll('`+builder+` li.step').length === 1`, 10*time.Second)
	assert.Equal(t, "topk", b.eval(`document.querySelector('`+builder+` li.step input[data-role="step-id"]').value`))
	assert.Equal(t, "30", b.eval(`String(JSON.parse(document.querySelector('`+builder+` li.step textarea').value).k)`))
	b.input(builder+` input[name="variant_name"]`, "") // the template suggested its own
	b.do(chromedp.SendKeys(chromedp.CSS(builder+` input[name="variant_name"]`), "top30"))
	b.waitJS(`!document.querySelector('`+builder+` button[type=submit].primary').disabled`, 10*time.Second)
	assert.Contains(t, b.text(builder+` pre.builder-yaml`), "topk/", "the generated YAML")
	assert.Contains(t, b.text(builder+` [data-role="validity"]`), "valid")

	// Add as variant: the row appears at once, pending, then fills at the next window.
	b.do(chromedp.Click(chromedp.CSS(builder + ` button[type=submit].primary`)))
	const row = `tr[data-variant="top30"]`
	b.waitJS(`!!document.querySelector('`+row+`')`, 10*time.Second)
	// The add button is disabled once done: the keyboard goes on from the new row, not from <body>.
	b.waitJS(`document.activeElement !== document.body`, 5*time.Second)
	assert.Equal(t, "true", b.eval(`String(!!document.activeElement.closest('`+row+`'))`), "focus on the new row")
	b.waitJS(`document.querySelector('`+row+`').textContent.includes('measuring from next window')`, 5*time.Second)
	b.waitJS(`/^[1-9][0-9,]*$/.test(document.querySelector('`+row+` td:nth-of-type(1)').textContent)`, 30*time.Second)
	assert.Regexp(t, `^[0-9.]+%$`, b.text(row+` td:nth-of-type(5)`), "top30's series saved")
	assert.Equal(t, "api", variantSource(t, base, "top30"))
	assert.Equal(t, "true", b.eval(`String(document.querySelector('tr[data-variant="top20"] button[data-action="remove"]').hidden)`),
		"a config variant cannot be removed")

	// Export in the three formats, each its own.
	b.do(chromedp.Click(chromedp.CSS(row + ` button[data-action="export"]`)))
	b.waitJS(`!!document.querySelector('section[data-format="collector"] pre.yaml')`, 10*time.Second)
	exported := map[string]string{"collector": b.text(`section[data-format="collector"] pre.yaml`)}
	assert.Contains(t, exported["collector"], "topk/top30")
	for _, format := range []string{"desired_state", "helm"} {
		b.input(`select[data-role="export-format"]`, format)
		b.waitJS(`!!document.querySelector('section[data-format="`+format+`"] pre.yaml')`, 10*time.Second)
		exported[format] = b.text(`section[data-format="` + format + `"] pre.yaml`)
		assert.Contains(t, exported[format], "top30", format)
		assert.Equal(t, "select", b.eval(`document.activeElement.tagName.toLowerCase()`), "the format stays focused")
	}
	assert.NotEqual(t, exported["collector"], exported["desired_state"], "a desired-state snippet, not the collector YAML")
	assert.NotEqual(t, exported["collector"], exported["helm"], "a Helm values snippet, not the collector YAML")
	assert.NotEqual(t, exported["desired_state"], exported["helm"])

	// Remove it, with confirmation: the row goes, and the API no longer lists it.
	b.do(chromedp.Click(chromedp.CSS(row + ` button[data-action="remove"]`)))
	b.waitJS(`document.querySelector('#confirm-dialog').open`, 5*time.Second)
	b.do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS(`!document.querySelector('`+row+`')`, 10*time.Second)
	assert.Equal(t, "false", b.eval(`String(!!document.querySelector('section[aria-label="Export of top30"]'))`), "its export panel goes with it")
	assert.NotContains(t, b.text(`article[data-experiment="experiment/process"]`), "Export: top30")
	require.NoError(t, c.WaitFor(10*time.Second, func() error {
		if s := variantSource(t, base, "top30"); s != "" {
			return fmt.Errorf("top30 still listed (%s)", s)
		}
		return nil
	}))

	// A config with two metrics pipelines: the page offers them (the server lists them), the chosen one is
	// imported in its order.
	steps := `JSON.stringify([...document.querySelectorAll('` + builder + ` li.step input[data-role="step-id"]')].map(i => i.value))`
	const pipelineSel = builder + ` select[data-role="import-pipeline"]`
	b.do(chromedp.Click(chromedp.CSS(builder + ` details.import-box > summary`)))
	b.input(builder+` textarea[name="yaml"]`, twoPipelinesYAML)
	b.do(chromedp.Click(chromedp.CSS(builder + ` form.import button[type=submit]`)))
	b.waitJS(`!document.querySelector('`+pipelineSel+`').closest('label').hidden`, 10*time.Second)
	assert.Equal(t, `["metrics","metrics/2"]`, b.eval(`JSON.stringify([...document.querySelectorAll('`+pipelineSel+` option')].map(o => o.value))`))
	assert.Contains(t, b.text(builder+` ul[data-role="import-problems"]`), "choose one")
	assert.Equal(t, "true", b.eval(`String(document.activeElement === document.querySelector('`+pipelineSel+`'))`), "the choice is focused")
	b.input(pipelineSel, "metrics/2")
	b.do(chromedp.Click(chromedp.CSS(builder + ` form.import button[type=submit]`)))
	b.waitJS(steps+` === '["topk","filter/drop_idle"]'`, 10*time.Second)
	assert.Contains(t, b.text(builder+` ul[data-role="import-problems"]`), "batch", "skipped, not an error")

	// Import a pasted pipeline: its order is the pipeline's; batch cannot run in a variant. Another text: no
	// pipeline to choose any more.
	b.input(builder+` textarea[name="yaml"]`, importYAML)
	assert.Equal(t, "true", b.eval(`String(document.querySelector('`+pipelineSel+`').closest('label').hidden)`))
	b.do(chromedp.Click(chromedp.CSS(builder + ` form.import button[type=submit]`)))
	b.waitJS(steps+` === '["filter/drop_idle","topk"]'`, 10*time.Second)
	assert.Contains(t, b.text(builder+` ul[data-role="import-problems"]`), "batch")
	// The chosen pipeline's import had two steps too: wait for this one's order to be what is validated.
	b.waitJS(`JSON.stringify((window.validated.at(-1) || {processors: []}).processors.map(p => Object.keys(p)[0])) === '["filter/drop_idle","topk"]'`, 5*time.Second)
	assert.Equal(t, `["filter/drop_idle","topk"]`, lastValidatedIDs())

	// Keyboard only: Tab to step 2's "move up", Enter; it is first, in the page and in what is validated.
	up := builder + ` li.step[data-step="2"] button[data-action="up"]`
	reached := false
	for range 20 {
		b.do(chromedp.KeyEvent("\t"))
		if b.eval(`String(document.activeElement === document.querySelector('`+up+`'))`) == "true" {
			reached = true
			break
		}
	}
	require.True(t, reached, "move up is reachable with Tab from the imported steps")
	b.do(chromedp.KeyEvent("\r"))
	b.waitJS(steps+` === '["topk","filter/drop_idle"]'`, 5*time.Second)
	assert.Equal(t, "down", b.eval(`document.activeElement.dataset.action`), "the keyboard stays on the moved step")
	b.waitJS(`window.validated.at(-1).processors.length === 2 && Object.keys(window.validated.at(-1).processors[0])[0] === 'topk'`, 5*time.Second)
	assert.Equal(t, `["topk","filter/drop_idle"]`, lastValidatedIDs())
	b.waitJS(`(t => t.indexOf('- topk/') >= 0 && t.indexOf('- filter/') > t.indexOf('- topk/'))(document.querySelector('`+builder+` pre.builder-yaml').textContent)`, 5*time.Second)

	// Drag and drop: the filter's handle onto the first step puts it back in front.
	b.do(chromedp.DragAndDrop(chromedp.CSS(builder+` li.step[data-step="2"] .handle`), chromedp.CSS(builder+` li.step[data-step="1"]`)))
	b.waitJS(steps+` === '["filter/drop_idle","topk"]'`, 5*time.Second)
	b.waitJS(`Object.keys(window.validated.at(-1).processors[0])[0] === 'filter/drop_idle'`, 5*time.Second)

	// An invalid configuration: the server's problem shows at its step, and the variant cannot be added.
	b.input(builder+` li.step[data-step="2"] textarea`, `{"k": 30, "no_such_option": true}`)
	b.waitJS(`document.querySelector('`+builder+` li.step[data-step="2"] ul[data-role="problems"]').textContent.includes('no_such_option')`, 10*time.Second)
	assert.Empty(t, b.text(builder+` li.step[data-step="1"] ul[data-role="problems"]`), "the valid step has no problem")
	assert.Equal(t, "true", b.eval(`String(document.querySelector('`+builder+` li.step[data-step="2"] textarea').getAttribute('aria-invalid') === 'true')`))
	b.input(builder+` input[name="variant_name"]`, "imported")
	assert.Equal(t, "true", b.eval(`String(document.querySelector('`+builder+` button[type=submit].primary').disabled)`), "invalid: not addable")
	// Not JSON at all: said by the page, without asking the server.
	b.input(builder+` li.step[data-step="2"] textarea`, `{"k": `)
	b.waitJS(`document.querySelector('`+builder+` li.step[data-step="2"] ul[data-role="problems"]').textContent.includes('Not valid JSON')`, 5*time.Second)

	shot, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(builder)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "builder-1280.png"), shot, 0o644))

	// Every control has a label, the builder's text areas included.
	assert.Equal(t, "[]", b.eval(`JSON.stringify([...document.querySelectorAll('button, input, select, textarea')]
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
		.map(el => el.outerHTML))`), "controls without a label")

	// A 390 px screen: the open builder fits, nothing scrolls the page sideways.
	b.do(chromedp.EmulateViewport(390, 844))
	b.do(chromedp.ScrollIntoView(chromedp.CSS(builder)))
	b.waitJS(`document.documentElement.scrollWidth <= window.innerWidth`, 5*time.Second)
	assert.Equal(t, "[]", b.eval(`JSON.stringify([...document.querySelectorAll('`+builder+` *')]
		.filter(el => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest('pre')).map(el => el.tagName + '.' + el.className))`),
		"builder parts past the right edge")
	shot, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "builder-390x844.png"), shot, 0o644))
	shot, err = chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(builder)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "builder-390.png"), shot, 0o644))
	t.Logf("screenshots in %s", artifacts)

	errs, asked := console.withoutImportChoice(console.errors())
	assert.Equal(t, 1, asked, "the two pipelines' import asked for a choice once")
	assert.Empty(t, errs, "console errors")
}

// withoutImportChoice drops from errs the browser's note of each 422 of /api/v1/import, and counts them:
// answering a config of several metrics pipelines with their list is how the page learns to offer the choice.
func (c *console) withoutImportChoice(errs []string) ([]string, int) {
	c.mu.Lock()
	n := 0
	for _, m := range c.msgs {
		if m.Type == chromedp.ConsoleError && strings.HasSuffix(m.URL, "/api/v1/import") && strings.Contains(m.Text, "status of 422") {
			n++
		}
	}
	c.mu.Unlock()
	left := n
	return slices.DeleteFunc(errs, func(e string) bool {
		if left > 0 && strings.Contains(e, "status of 422") {
			left--
			return true
		}
		return false
	}), n
}

// input sets a control's value as typing or choosing would: with the input and change events the page listens to.
func (b *browser) input(sel, value string) {
	b.t.Helper()
	v, _ := json.Marshal(value)
	b.eval(`(el => { el.value = ` + string(v) + `; el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true})); return ''; })(document.querySelector('` + sel + `'))`)
}

// variantSource is how the API lists a variant of experiment/process ("config", "api", …), "" when it does not.
func variantSource(t *testing.T, base, name string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/experiments/experiment%2Fprocess", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var snap struct {
		Variants []struct {
			Name   string `json:"name"`
			Source string `json:"source"`
		} `json:"variants"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&snap))
	for _, v := range snap.Variants {
		if v.Name == name {
			return strings.TrimSpace(v.Source)
		}
	}
	return ""
}
