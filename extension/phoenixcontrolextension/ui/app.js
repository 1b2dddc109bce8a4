// otelcol-phoenix dashboard: plain DOM, no build step. Data comes from the control API; live figures from the
// Server-Sent Events stream, read with fetch so that the bearer token can be sent with it.
'use strict';

const TOKEN_KEY = 'phoenix.token'; // sessionStorage: the token lives as long as the tab
const HISTORY = 180;               // chart points kept per variant
const COLORS = ['#0b5fff', '#d9480f', '#2b8a3e', '#7048e8', '#c2255c', '#1098ad', '#e67700', '#495057'];

const $ = (sel) => document.querySelector(sel);

// h builds an HTML element: h('td', {class: 'x', onclick: f}, 'text', child); svg builds an SVG one.
const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
const svg = (tag, attrs, ...children) => build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ---- formatting ----
const nf = new Intl.NumberFormat('en-US');
const fmtInt = (n) => nf.format(Math.round(n || 0));
const fmtRate = (n) => (n >= 100 ? fmtInt(n) : (n || 0).toFixed(1));
function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
const pct = (r, digits = 1) => `${((r || 0) * 100).toFixed(digits)}%`;
const fmtTime = (s) => (s ? new Date(s).toLocaleTimeString() : '');
// duration shortens the API's Go durations for display: 1m0s → 1m, 1h0m0s → 1h.
const duration = (d) => String(d).replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
// money formats an amount in the cost block's currency (an ISO code; anything else is written after it).
function money(n, currency) {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD', maximumFractionDigits: 2 }).format(n || 0);
  } catch (_) { return `${(n || 0).toFixed(2)} ${currency}`; }
}

// ---- API with the token ----
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let tokenPrompt = null; // one prompt at a time; every 401 waits for it

// askToken asks for the token after a 401: the first time, or again when the one given was refused.
function askToken() {
  const reason = token ? 'The token was refused. Enter a valid bearer token (kept for this tab only).'
    : 'This control API needs a bearer token. It is kept for this tab only.';
  if (!tokenPrompt) {
    tokenPrompt = new Promise((resolve) => {
      const dlg = $('#token-dialog');
      $('#token-why').textContent = reason;
      $('#token-input').value = '';
      dlg.addEventListener('close', () => {
        token = $('#token-input').value.trim();
        sessionStorage.setItem(TOKEN_KEY, token);
        tokenPrompt = null;
        resolve();
      }, { once: true });
      dlg.showModal();
      $('#token-input').focus();
    });
  }
  return tokenPrompt;
}

function authHeaders(extra) {
  const headers = Object.assign({}, extra);
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

class APIError extends Error {}

// api calls the control API; on 401 it asks for the token and tries again.
async function api(method, path, body, accept = 'application/json') {
  for (;;) {
    const init = { method, headers: authHeaders({ Accept: accept }) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (res.status === 401) {
      await askToken();
      continue;
    }
    const text = await res.text();
    if (!res.ok) {
      let msg = `${res.status} ${res.statusText}`;
      try { msg = JSON.parse(text).error.message; } catch (_) { /* not JSON */ }
      throw new APIError(msg);
    }
    return accept === 'application/json' ? JSON.parse(text) : text;
  }
}

const enc = encodeURIComponent;

// ---- notices ----
function showError(err) {
  const n = $('#notice');
  n.textContent = err instanceof Error ? err.message : String(err);
  n.hidden = false;
}
function clearError() { $('#notice').hidden = true; }
let toastTimer;
function toast(msg) {
  let t = $('#toast');
  if (!t) { t = h('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite' }); document.body.append(t); }
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

function confirmAction(text, okLabel) {
  return new Promise((resolve) => {
    const dlg = $('#confirm-dialog');
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel;
    dlg.returnValue = '';
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
    $('#confirm-ok').focus();
  });
}

// ---- experiments ----
const views = new Map(); // experiment name -> view

function experimentView(snap) {
  let v = views.get(snap.name);
  if (v) return v;
  const id = `exp-${views.size}`;
  v = { name: snap.name, id, rows: new Map(), history: new Map(), runs: [], variantsKey: '' };
  v.tbody = h('tbody');
  v.meta = h('p', { class: 'meta' });
  v.chart = svg('svg', { class: 'chart', viewBox: '0 0 640 220', role: 'img', 'aria-labelledby': `${id}-chart-h` });
  v.legend = h('ul', { class: 'legend' });
  v.candidate = h('select', { id: `${id}-candidate`, name: 'candidate', required: true });
  v.runsList = h('div', { class: 'runs', 'aria-live': 'polite' });
  v.exportOut = h('div');
  v.rulesOut = h('section', { class: 'rules', 'aria-labelledby': `${id}-rules-h`, hidden: true });
  const table = h('table', {},
    h('caption', { class: 'muted' }, 'Figures of the last complete window; savings and fidelity against the baseline'),
    h('thead', {}, h('tr', {},
      ['Variant', 'Series', 'New series', 'Datapoints/s', 'Bytes/s', 'Series saved', 'Bytes saved', 'Cost/month', 'Saved/month',
        'Fidelity', 'Critical visible', 'Actions'].map((c) => h('th', { scope: 'col', class: c.endsWith('/month') ? 'cost' : null }, c)))),
    v.tbody);
  v.el = h('article', { class: 'card', id, 'aria-labelledby': `${id}-h`, 'data-experiment': snap.name },
    h('h3', { id: `${id}-h` }, snap.name),
    v.meta,
    h('div', { class: 'scroll' }, table),
    h('div', { class: 'grid' },
      h('section', { 'aria-labelledby': `${id}-chart-h` },
        h('h3', { id: `${id}-chart-h` }, 'Series per variant'), v.chart, v.legend),
      h('section', { 'aria-labelledby': `${id}-run-h` },
        h('h3', { id: `${id}-run-h` }, 'Run an experiment'), runForm(v), v.runsList)),
    v.rulesOut,
    v.exportOut);
  $('#experiments').append(v.el);
  views.set(snap.name, v);
  loadRuns(v);
  return v;
}

function runForm(v) {
  const f = (name, label, input) => h('label', { for: `${v.id}-${name}` }, label, input);
  const form = h('form', { class: 'inline', 'aria-label': `Start a run of ${v.name}` },
    f('candidate', 'Candidate', v.candidate),
    f('warm', 'Warm-up', h('input', { id: `${v.id}-warm`, name: 'warm_up', value: '30s', size: 6, required: true, pattern: '[0-9.]+(ms|s|m|h)([0-9.]+(ms|s|m|h))*' })),
    f('duration', 'Duration', h('input', { id: `${v.id}-duration`, name: 'duration', value: '5m', size: 6, required: true, pattern: '[0-9.]+(ms|s|m|h)([0-9.]+(ms|s|m|h))*' })),
    f('reduction', 'Min. series saved (%)', h('input', { id: `${v.id}-reduction`, name: 'min_series_reduction', type: 'number', min: 0, max: 100, step: 'any', value: 50 })),
    f('fidelity', 'Min. fidelity (%)', h('input', { id: `${v.id}-fidelity`, name: 'min_fidelity', type: 'number', min: 0, max: 100, step: 'any', value: 95 })),
    h('label', { for: `${v.id}-costsave`, class: 'cost' }, 'Min. cost saved (%)', h('input', { id: `${v.id}-costsave`, name: 'min_cost_saving', type: 'number', min: 0, max: 100, step: 'any', value: 0 })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'critical_visible', checked: true }), 'Critical processes stay visible'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'activate' }), 'Activate the candidate during the run'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'auto_promote' }), 'Keep it active if it passes'),
    h('button', { type: 'submit', class: 'primary' }, 'Start run'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const spec = {
      candidate: d.get('candidate'), warm_up: d.get('warm_up'), duration: d.get('duration'),
      activate: d.get('activate') === 'on', auto_promote: d.get('auto_promote') === 'on',
      criteria: {
        min_series_reduction: Number(d.get('min_series_reduction')) / 100,
        min_fidelity: Number(d.get('min_fidelity')) / 100,
        critical_visible: d.get('critical_visible') === 'on',
        min_cost_saving: Number(d.get('min_cost_saving') || 0) / 100,
      },
    };
    try {
      const run = await api('POST', `/api/v1/experiments/${enc(v.name)}/runs`, spec);
      clearError();
      upsertRun(v, run);
      toast(`Run ${run.id} started: ${run.spec.candidate} for ${run.spec.duration}`);
    } catch (err) { showError(err); }
  });
  return form;
}

function renderExperiment(snap) {
  const v = experimentView(snap);
  v.snap = snap;
  v.meta.replaceChildren(
    h('span', {}, 'mode ', h('b', {}, snap.mode)),
    h('span', {}, 'baseline ', h('b', {}, snap.baseline)),
    h('span', {}, 'active ', h('b', { 'data-role': 'active' }, snap.active)),
    h('span', {}, 'window ', h('b', {}, duration(snap.window))),
    costModel(snap),
    h('span', {}, snap.complete ? `last window ended ${fmtTime(snap.window_end)}` : 'first window in progress…'));

  const key = snap.variants.map((x) => x.name).join('\n');
  if (key !== v.variantsKey) { // the variant set changed: rebuild rows and the candidate list once
    v.variantsKey = key;
    v.rows.clear();
    v.tbody.replaceChildren(...snap.variants.map((x) => variantRow(v, x.name)));
    const selected = v.candidate.value;
    v.candidate.replaceChildren(...snap.variants.filter((x) => !x.baseline).map((x) => h('option', { value: x.name }, x.name)));
    if (selected) v.candidate.value = selected;
  }
  v.el.classList.toggle('has-cost', snap.variants.some((x) => x.cost));
  for (const x of snap.variants) updateRow(v.rows.get(x.name), x);
  renderRules(v, snap);
  if (snap.complete) recordPoint(v, snap);
  drawChart(v);
}

// renderRules shows, per variant, how the user's rules and dashboard queries fare on its output: the share
// unchanged, and each rule that is not, with why (expandable). Rebuilt only when the evaluation changes.
function renderRules(v, snap) {
  const withRules = snap.variants.filter((x) => x.rules && !x.baseline);
  v.rulesOut.hidden = withRules.length === 0;
  const key = withRules.map((x) => `${x.name}@${x.rules.evaluated_at}`).join('\n');
  if (withRules.length === 0 || key === v.rulesKey) return;
  v.rulesKey = key;
  // Rebuilt every evaluation: what the user expanded stays expanded.
  const open = new Set([...v.rulesOut.querySelectorAll('details[open]')].map((d) => d.dataset.variant));
  const verdictClass = { same: 'good', changed: 'warn', broken: 'bad' };
  v.rulesOut.replaceChildren(
    h('h3', { id: `${v.id}-rules-h` }, 'Your rules and dashboards on each variant'),
    ...withRules.map((x) => {
      const r = x.rules;
      const notSame = (r.rules || []).filter((q) => q.verdict !== 'same');
      const summary = r.fidelity == null
        ? 'not evaluated yet (first window in progress)'
        : `${pct(r.fidelity, 1)} unchanged — ${r.same} same, ${r.changed} changed, ${r.broken} broken`;
      return h('details', { 'data-variant': x.name, class: 'rules-variant', open: open.has(x.name) },
        h('summary', {}, h('b', {}, x.name), ': ', h('span', { class: r.broken ? 'bad' : r.changed ? 'warn' : 'good' }, summary)),
        notSame.length === 0 ? h('p', { class: 'muted' }, 'Every rule evaluates as on the baseline.') :
          h('ul', {}, ...notSame.map((q) => h('li', { 'data-rule': q.name },
            h('span', { class: `badge ${verdictClass[q.verdict] || ''}` }, q.verdict), ' ',
            h('b', {}, q.name), h('span', { class: 'muted' }, ` (${q.kind}, ${q.source})`),
            q.verdict === 'changed' ? ` — up to ${pct(q.max_rel_diff, 1)} off` : '',
            q.reason ? h('div', { class: 'reason' }, q.reason) : '',
            h('code', { class: 'expr' }, q.expr)))));
    }));
}

// What each billing model's units are (the cost cell's tooltip).
const COST_UNITS = {
  active_series: 'series active within the horizon', hourly_series: 'distinct series per hour (mean)',
  datapoints: 'data points a month', bytes: 'GB a month',
};

// costModel names the experiment's billing model in its meta line, when it has a cost: block.
function costModel(snap) {
  const c = (snap.variants.find((x) => x.baseline) || {}).cost;
  return c ? h('span', {}, 'cost model ', h('b', {}, c.model), ` (${c.currency}, this node)`) : null;
}

// variantRow makes a row once; updateRow changes only its text, so focus and clicks survive live updates.
function variantRow(v, name) {
  const cells = {};
  const td = (k, cls) => (cells[k] = h('td', { class: cls }));
  const switchBtn = h('button', { type: 'button', 'data-action': 'switch', 'aria-label': `Make ${name} the active variant` }, 'Make active');
  switchBtn.addEventListener('click', () => switchTo(v, name));
  const exportBtn = h('button', { type: 'button', 'data-action': 'export', 'aria-label': `Export ${name} as collector YAML` }, 'Export');
  exportBtn.addEventListener('click', () => showExport(v, name));
  const nameCell = h('th', { scope: 'row' }, name);
  const tr = h('tr', { 'data-variant': name }, nameCell, td('series'), td('new'), td('dps'), td('bps'), td('ssave'),
    td('bsave'), td('cost', 'cost'), td('csave', 'cost'), td('fid'), td('crit'), h('td', { class: 'actions' }, switchBtn, exportBtn));
  v.rows.set(name, { tr, cells, nameCell, switchBtn, name });
  return tr;
}

function updateRow(row, x) {
  const c = row.cells;
  c.series.textContent = fmtInt(x.series) + (x.series_exact ? '' : ' ≈');
  c.new.textContent = fmtInt(x.new_series);
  c.dps.textContent = fmtRate(x.datapoints_per_second);
  c.bps.textContent = `${fmtBytes(x.bytes_per_second)}/s`;
  c.ssave.textContent = x.baseline ? '—' : pct(x.series_savings);
  c.bsave.textContent = x.baseline ? '—' : pct(x.byte_savings);
  if (x.cost) { // this node's projected bill under the experiment's model, and what the variant saves of the baseline's
    c.cost.textContent = money(x.cost.monthly, x.cost.currency) + (x.cost.exact ? '' : ' ≈');
    c.cost.title = `${fmtInt(x.cost.units)} ${COST_UNITS[x.cost.model] || 'units'}${x.cost.overage_dpm ? `, ${fmtInt(x.cost.overage_dpm)} DPM over the included` : ''}`;
    c.csave.textContent = x.baseline ? '—' : `${money(x.cost.monthly_saving, x.cost.currency)} (${pct(x.cost.saving_ratio)})`;
    c.csave.className = `cost ${x.baseline ? '' : x.cost.monthly_saving > 0 ? 'good' : x.cost.monthly_saving < 0 ? 'bad' : ''}`.trim();
  }
  c.fid.textContent = x.baseline ? '—' : pct(x.fidelity, 2);
  c.fid.className = x.baseline ? '' : x.fidelity >= 0.99 ? 'good' : x.fidelity >= 0.95 ? 'warn' : 'bad';
  c.crit.textContent = x.baseline ? '—' : pct(x.critical_visible, 0);
  c.crit.className = x.baseline ? '' : x.critical_visible >= 1 ? 'good' : 'bad';
  row.nameCell.replaceChildren(x.name,
    x.active ? h('span', { class: 'badge on' }, 'active') : '',
    x.baseline ? h('span', { class: 'badge' }, 'baseline') : '',
    x.errors ? h('span', { class: 'badge bad', title: 'batches its chain failed on' }, `${fmtInt(x.errors)} errors`) : '');
  row.tr.classList.toggle('active', x.active);
  row.switchBtn.disabled = x.active;
}

async function switchTo(v, variant) {
  const ok = await confirmAction(`Make "${variant}" the active variant of ${v.name}? From the next batch on, its output is what flows downstream.`, `Switch to ${variant}`);
  if (!ok) return;
  try {
    const snap = await api('PUT', `/api/v1/experiments/${enc(v.name)}/active`, { variant });
    clearError();
    renderExperiment(snap);
    toast(`${v.name}: ${variant} is now active`);
  } catch (err) { showError(err); }
}

async function showExport(v, variant) {
  try {
    const yaml = await api('GET', `/api/v1/experiments/${enc(v.name)}/variants/${enc(variant)}/export`, undefined, 'application/yaml');
    clearError();
    const pre = h('pre', { class: 'yaml', tabindex: 0, 'aria-label': `${variant} as collector YAML` }, yaml);
    const copy = h('button', { type: 'button' }, 'Copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(yaml);
        toast('YAML copied');
      } catch (_) { // no clipboard (plain http on a remote host): select it for Ctrl+C
        const range = document.createRange();
        range.selectNodeContents(pre);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        toast('Selected: press Ctrl+C to copy');
      }
    });
    const close = h('button', { type: 'button' }, 'Close');
    close.addEventListener('click', () => v.exportOut.replaceChildren());
    v.exportOut.replaceChildren(h('section', { 'aria-label': `Export of ${variant}` },
      h('h3', {}, `Export: ${variant}`),
      h('p', { class: 'muted' }, 'Paste into any collector with these processors, or merge: otelcol-phoenix validate --config base.yaml --config variant.yaml'),
      pre, h('div', { class: 'buttons' }, copy, close)));
    copy.focus();
  } catch (err) { showError(err); }
}

// ---- chart ----
function recordPoint(v, snap) {
  const t = Date.parse(snap.window_end);
  for (const x of snap.variants) {
    let pts = v.history.get(x.name);
    if (!pts) v.history.set(x.name, (pts = []));
    if (pts.length && pts[pts.length - 1].t === t) continue; // same window again
    pts.push({ t, y: x.series });
    if (pts.length > HISTORY) pts.shift();
  }
}

function drawChart(v) {
  const W = 640, H = 220, L = 56, R = 10, T = 10, B = 24;
  const series = [...v.history.entries()];
  const all = series.flatMap(([, pts]) => pts);
  const children = [];
  if (all.length === 0) {
    children.push(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'waiting for the first complete window…'));
  } else {
    const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
    const ymax = Math.max(1, ...all.map((p) => p.y)) * 1.1;
    const x = (t) => L + (t1 === t0 ? (W - L - R) : ((t - t0) / (t1 - t0)) * (W - L - R));
    const y = (val) => T + (1 - val / ymax) * (H - T - B);
    const grid = svg('g', { class: 'grid' });
    for (let i = 0; i <= 4; i++) {
      const val = (ymax * i) / 4;
      grid.append(svg('line', { x1: L, x2: W - R, y1: y(val), y2: y(val) }),
        svg('text', { x: L - 6, y: y(val) + 4, 'text-anchor': 'end' }, fmtInt(val)));
    }
    children.push(grid,
      svg('text', { x: L, y: H - 6 }, fmtTime(t0)),
      svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, fmtTime(t1)));
    series.forEach(([name, pts], i) => {
      const color = COLORS[i % COLORS.length];
      children.push(svg('polyline', {
        fill: 'none', stroke: color, 'stroke-width': 2, 'data-variant': name,
        points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.y).toFixed(1)}`).join(' '),
      }));
      const last = pts[pts.length - 1]; // a dot marks the latest window (and shows a line of one point)
      children.push(svg('circle', { cx: x(last.t).toFixed(1), cy: y(last.y).toFixed(1), r: 3, fill: color }));
    });
  }
  v.chart.replaceChildren(svg('title', {}, `Distinct series per variant of ${v.name}, per window`), ...children);
  v.legend.replaceChildren(...series.map(([name, pts], i) => {
    const swatch = h('span', { 'aria-hidden': 'true' });
    swatch.style.background = COLORS[i % COLORS.length]; // CSSOM, allowed by the page's CSP
    return h('li', {}, swatch, `${name}: ${fmtInt(pts[pts.length - 1].y)}`);
  }));
}

// ---- runs ----
const PHASES = ['pending', 'initializing', 'running', 'analyzing'];

async function loadRuns(v) {
  try {
    const out = await api('GET', `/api/v1/experiments/${enc(v.name)}/runs`);
    v.runs = out.runs || [];
    drawRuns(v);
  } catch (err) { showError(err); }
}

function upsertRun(v, run) {
  const i = v.runs.findIndex((r) => r.id === run.id);
  if (i >= 0) v.runs[i] = run; else v.runs.push(run);
  drawRuns(v);
}

function drawRuns(v) {
  const recent = v.runs.slice(-5).reverse();
  if (recent.length === 0) {
    v.runsList.replaceChildren(h('p', { class: 'muted' }, 'No runs yet.'));
    return;
  }
  v.runsList.replaceChildren(h('h3', {}, 'Runs'), ...recent.map((r) => {
    const seen = new Map((r.timeline || []).map((p) => [p.phase, p.at]));
    const steps = r.phase && !PHASES.includes(r.phase) ? [...PHASES, r.phase] : PHASES;
    const timeline = h('ol', { class: 'timeline', 'aria-label': `Run ${r.id} phases` }, steps.map((p) => h('li', {
      class: [p === r.phase ? 'current' : '', p === r.phase && ['completed', 'failed', 'cancelled'].includes(p) ? p : ''].join(' ').trim() || null,
      'aria-current': p === r.phase ? 'step' : null,
    }, p, seen.has(p) ? ` ${fmtTime(seen.get(p))}` : '')));
    const verdict = r.verdict
      ? h('p', { class: r.verdict.pass ? 'good' : 'bad', 'data-role': 'verdict' },
        r.verdict.pass ? 'Verdict: pass' : 'Verdict: fail',
        ` — series saved ${pct(r.verdict.series_reduction)}, fidelity ${pct(r.verdict.fidelity, 2)}, critical visible ${pct(r.verdict.critical_visible, 0)}`,
        r.verdict.cost ? `, cost saved ${money(r.verdict.cost.monthly_saving, r.verdict.cost.currency)}/month (${pct(r.verdict.cost.saving_ratio)})` : '',
        r.verdict.reasons && r.verdict.reasons.length ? ` (${r.verdict.reasons.join('; ')})` : '',
        r.promoted ? '; promoted' : '')
      : null;
    const cancel = ['completed', 'failed', 'cancelled'].includes(r.phase) ? null
      : h('button', { type: 'button', class: 'danger', 'aria-label': `Cancel run ${r.id}` }, 'Cancel');
    if (cancel) {
      cancel.addEventListener('click', async () => {
        if (!(await confirmAction(`Cancel run ${r.id}? The previous variant is restored if the run activated the candidate.`, 'Cancel run'))) return;
        try { upsertRun(v, await api('POST', `/api/v1/experiments/${enc(v.name)}/runs/${enc(r.id)}/cancel`)); clearError(); } catch (err) { showError(err); }
      });
    }
    return h('div', { class: 'run', 'data-run': r.id },
      h('p', {}, h('b', {}, r.id), ` ${r.spec.candidate}, ${r.spec.duration} after ${r.spec.warm_up} warm-up, windows checked: ${r.windows_checked} `, cancel),
      timeline, r.reason ? h('p', { class: r.phase === 'completed' ? 'muted' : 'bad' }, r.reason) : null, verdict);
  }));
}

// ---- simulators ----
const simViews = new Map();

function renderSimulator(name, st) {
  $('#simulators').hidden = false;
  let s = simViews.get(name);
  if (!s) {
    const id = `sim-${simViews.size}`;
    s = { status: h('p', { class: 'sim-status', 'aria-live': 'polite' }) };
    s.profile = h('select', { id: `${id}-profile` });
    s.processes = h('input', { id: `${id}-processes`, type: 'number', min: 1, max: 1000000, required: true });
    const settings = h('form', { class: 'inline', 'aria-label': `${name} settings` },
      h('label', { for: `${id}-profile` }, 'Profile', s.profile),
      h('label', { for: `${id}-processes` }, 'Processes per host', s.processes),
      h('button', { type: 'submit', class: 'primary' }, 'Apply'));
    settings.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const out = await api('PATCH', `/api/v1/simulators/${enc(name)}`, { profile: s.profile.value, processes: Number(s.processes.value) });
        clearError();
        renderSimulator(name, out);
        toast(`${name}: ${out.profile}, ${fmtInt(out.processes)} processes per host`);
      } catch (err) { showError(err); }
    });
    const cls = h('select', { id: `${id}-class` }, ['low', 'normal', 'high', 'critical'].map((c) => h('option', { value: c }, c)));
    const exe = h('input', { id: `${id}-exe`, placeholder: 'any', size: 10 });
    const chaos = (kind, label) => {
      const b = h('button', { type: 'button', class: 'danger', 'data-chaos': kind }, label);
      b.addEventListener('click', async () => {
        const target = exe.value.trim() ? { executable: exe.value.trim() } : { class: cls.value };
        try {
          const out = await api('POST', `/api/v1/simulators/${enc(name)}/chaos`, { kind, target });
          clearError();
          toast(`${label}: ${out.affected} processes affected`);
        } catch (err) { showError(err); }
      });
      return b;
    };
    const chaosBox = h('fieldset', {}, h('legend', {}, 'Chaos'),
      h('div', { class: 'inline' },
        h('form', { class: 'inline', 'aria-label': `${name} chaos`, onsubmit: (e) => e.preventDefault() },
          h('label', { for: `${id}-class` }, 'Target class', cls),
          h('label', { for: `${id}-exe` }, 'or executable', exe),
          chaos('cpu_spike', 'CPU spike'), chaos('memory_leak', 'Memory leak'), chaos('kill', 'Kill'))));
    s.el = h('article', { class: 'card', 'aria-labelledby': `${id}-h`, 'data-simulator': name },
      h('h3', { id: `${id}-h` }, name), s.status, settings, chaosBox);
    $('#simulators').append(s.el);
    simViews.set(name, s);
  }
  s.status.replaceChildren(
    h('span', {}, 'profile ', h('b', {}, st.profile)),
    h('span', {}, 'target ', h('b', {}, fmtInt(st.processes)), ' per host'),
    h('span', {}, 'live ', h('b', {}, fmtInt(st.live))),
    h('span', {}, 'hosts ', h('b', {}, st.hosts)),
    h('span', {}, 'intervals ', h('b', {}, fmtInt(st.intervals))));
  if (document.activeElement !== s.profile) {
    s.profile.replaceChildren(...st.profiles.map((p) => h('option', { value: p, selected: p === st.profile }, p)));
  }
  if (document.activeElement !== s.processes) s.processes.value = st.processes;
}

// ---- live stream ----
function setConn(state, text) {
  const c = $('#conn');
  c.className = `conn ${state}`;
  c.textContent = text;
}

function handleEvent(type, data) {
  switch (type) {
    case 'snapshot': renderExperiment(data); break;
    case 'switch': {
      const v = views.get(data.experiment);
      if (v) api('GET', `/api/v1/experiments/${enc(data.experiment)}`).then(renderExperiment, showError);
      if (data.source !== 'api' || !v) toast(`${data.experiment}: ${data.variant} active (${data.source})`);
      break;
    }
    case 'run': { const v = views.get(data.experiment); if (v) upsertRun(v, data); break; }
    case 'simulator': renderSimulator(data.simulator, data.status); break;
    case 'chaos': toast(`chaos ${data.event.kind} on ${data.simulator}: ${data.affected} processes`); break;
    default: break;
  }
}

async function stream() {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch('/api/v1/events', { headers: authHeaders({ Accept: 'text/event-stream' }) });
      if (res.status === 401) { await askToken(); continue; }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      setConn('live', 'live');
      attempt = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let type = 'message', data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) {
            try { handleEvent(type, JSON.parse(data)); } catch (err) { console.warn('bad event', type, err); }
          }
        }
      }
    } catch (_) { /* the collector restarted or the network dropped: retry below */ }
    setConn('down', 'disconnected, retrying…');
    await new Promise((r) => setTimeout(r, Math.min(10000, 1000 * 2 ** Math.min(attempt, 4))));
  }
}

async function load() {
  try {
    const info = await api('GET', '/api/v1/info');
    $('#node').textContent = `· ${info.node}${info.version ? ` · ${info.version}` : ''}`;
    document.title = `otelcol-phoenix · ${info.node}`;
    const [exps, sims] = await Promise.all([api('GET', '/api/v1/experiments'), api('GET', '/api/v1/simulators')]);
    exps.experiments.forEach(renderExperiment);
    $('#no-experiments').hidden = exps.experiments.length > 0;
    for (const [name, st] of Object.entries(sims.simulators)) renderSimulator(name, st);
    clearError();
  } catch (err) { showError(err); }
  stream();
}

document.addEventListener('DOMContentLoaded', load);
