// otelcol-phoenix fleet page: plain DOM, no build step (the shared parts are /ui/common.js). Everything comes
// from the phoenix_fleet API: rollouts as they change from its event stream, agents and figures polled every
// two seconds (and rollouts with them, in case the stream is down).
'use strict';

const POLL_MS = 2000;
const TERMINAL = ['completed', 'failed', 'cancelled'];
const PHASES = ['pending', 'initializing', 'running', 'analyzing'];
const EVENTS_SHOWN = 30;

// names lists a few names and counts the rest, as the server's messages do.
const names = (list, shown = 5) => (list.length <= shown ? list.join(', ') : `${list.slice(0, shown).join(', ')} and ${list.length - shown} more`);
const waveSpec = (w) => (w.percent ? `${w.percent}%` : String(w.count));

// ---- state ----
const state = { agents: [], rollouts: [], totals: new Map() };

// experiments are what the otelcol-phoenix agents report: name -> {baselines, variants}.
function experiments() {
  const out = new Map();
  for (const a of state.agents) {
    for (const [name, e] of Object.entries(a.experiments || {})) {
      let x = out.get(name);
      if (!x) out.set(name, (x = { baselines: new Set(), variants: new Set() }));
      if (e.baseline) x.baselines.add(e.baseline);
      for (const v of e.variants || []) x.variants.add(v);
    }
  }
  return new Map([...out.entries()].sort((a, b) => a[0].localeCompare(b[0])));
}

function nodeOf(id) {
  const a = state.agents.find((x) => x.id === id);
  if (a && a.node) return a.node;
  for (const r of state.rollouts) {
    const m = (r.assigned || []).find((x) => x.id === id);
    if (m && m.node) return m.node;
  }
  return id.slice(0, 8);
}

// ---- agents ----
function renderAgents() {
  const list = state.agents;
  const connected = list.filter((a) => a.connected).length;
  $('#summary').textContent = `· ${list.length} agent${list.length === 1 ? '' : 's'}, ${connected} connected`;
  $('#no-agents').hidden = list.length > 0;
  $('#agents-table tbody').replaceChildren(...list.map((a) => {
    const exps = Object.entries(a.experiments || {}).sort((x, y) => x[0].localeCompare(y[0]));
    let desired = h('td', { class: 'text muted' }, '—');
    if (a.desired) {
      const cls = a.desired === 'applied' ? 'good' : a.desired === 'failed' ? 'bad' : 'warn';
      desired = h('td', { class: `text ${cls}${a.desired_error ? ' desired-failed' : ''}`, 'data-role': 'desired' },
        a.desired, a.desired_error ? `: ${a.desired_error}` : '');
    }
    return h('tr', { 'data-agent': a.id, 'data-node': a.node },
      h('td', { 'data-role': 'node' }, h('b', {}, a.node || '(no host.name)'), h('br'), h('small', { title: a.id }, `${a.id.slice(0, 8)}…`)),
      h('td', { class: 'text' }, a.service || '—', a.version ? ` ${a.version}` : ''),
      h('td', { class: 'text', 'data-role': 'phoenix' }, a.phoenix ? 'yes' : 'no'),
      h('td', { class: `text ${a.connected ? 'good' : 'bad'}`, 'data-role': 'connected' }, a.connected ? 'connected' : 'disconnected'),
      h('td', { class: `text ${a.healthy ? 'good' : 'bad'}`, 'data-role': 'healthy' },
        a.healthy ? 'healthy' : 'unhealthy', a.status ? ` (${a.status})` : '', a.last_error ? `: ${a.last_error}` : ''),
      h('td', { class: 'text', 'data-role': 'active' }, exps.length === 0 ? h('span', { class: 'muted' }, '—')
        : exps.map(([name, e], i) => [i ? h('br') : null, `${name}: `, h('b', { 'data-experiment': name }, e.active || '?'),
          e.active && e.active === e.baseline ? h('span', { class: 'badge' }, 'baseline') : null])),
      desired,
      h('td', {}, fmtTime(a.last_seen)));
  }));
}

// ---- fleet figures ----
const figureViews = new Map(); // experiment -> {el, meta, tbody}

function figureView(name) {
  let v = figureViews.get(name);
  if (v) return v;
  const id = `fig-${figureViews.size}`;
  v = { tbody: h('tbody'), meta: h('p', { class: 'meta' }) };
  const cols = ['Variant', 'Agents', 'Active on', 'Series', 'Data points/s', 'Bytes/s', 'Cost/month',
    'Worst fidelity', 'Worst critical visible', 'Worst rule fidelity', 'Errors'];
  v.el = h('article', { class: 'card', id, 'aria-labelledby': `${id}-h`, 'data-experiment': name },
    h('h3', { id: `${id}-h` }, name), v.meta,
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'muted' }, 'Each variant over the fleet: sums of the agents\u2019 last complete windows; fidelity and critical visibility of the worst node'),
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))), v.tbody)));
  figureViews.set(name, v);
  return v;
}

function worst(w, digits) {
  if (!w) return h('span', { class: 'muted' }, '—');
  return [pct(w.value, digits), h('br'), h('small', {}, `${w.node}${w.agents > 1 ? ` (of ${w.agents})` : ''}`)];
}

function renderFigures() {
  const exps = experiments();
  $('#no-figures').hidden = exps.size > 0;
  const section = $('#figures');
  for (const [name, v] of figureViews) {
    if (!exps.has(name)) { v.el.remove(); figureViews.delete(name); }
  }
  for (const name of exps.keys()) {
    const v = figureView(name);
    if (!v.el.isConnected) section.append(v.el);
    const t = state.totals.get(name);
    const variants = (t && t.variants) || [];
    const running = state.agents.filter((a) => a.experiments && a.experiments[name]).length;
    v.meta.replaceChildren(
      h('span', {}, 'agents ', h('b', {}, running)),
      h('span', {}, 'baseline ', h('b', {}, [...exps.get(name).baselines].join(', ') || '?')));
    if (variants.length === 0) {
      v.tbody.replaceChildren(h('tr', {}, h('td', { colspan: 11, class: 'muted' }, 'waiting for the agents\u2019 first complete window…')));
      continue;
    }
    v.tbody.replaceChildren(...variants.map((x) => h('tr', { 'data-variant': x.name },
      h('td', {}, h('b', {}, x.name), x.baseline ? h('span', { class: 'badge' }, 'baseline') : null),
      h('td', { 'data-role': 'agents' }, fmtInt(x.agents), x.pending ? h('small', {}, ` +${x.pending} pending`) : ''),
      h('td', { 'data-role': 'active' }, fmtInt(x.active)),
      h('td', { 'data-role': 'series' }, fmtInt(x.series)),
      h('td', {}, fmtRate(x.datapoints_per_second)),
      h('td', {}, `${fmtBytes(x.bytes_per_second)}/s`),
      h('td', { 'data-role': 'cost' }, (x.cost || []).length === 0 ? h('span', { class: 'muted' }, '—')
        : x.cost.map((c, i) => [i ? h('br') : null, money(c.monthly, c.currency), h('small', {}, ` (${c.agents})`)])),
      h('td', { 'data-role': 'fidelity' }, worst(x.fidelity, 2)),
      h('td', { 'data-role': 'critical' }, worst(x.critical_visible, 0)),
      h('td', {}, worst(x.rule_fidelity, 2)),
      h('td', { class: x.errors ? 'bad' : null }, fmtInt(x.errors)))));
  }
}

// ---- the rollout form ----
let formKey = '';

function renderForm() {
  const exps = experiments();
  const sel = $('#ro-experiment');
  const key = JSON.stringify([...exps.entries()].map(([n, e]) => [n, [...e.baselines], [...e.variants]]));
  if (key === formKey) return; // rebuilt only when what can be chosen changes
  formKey = key;
  const chosen = sel.value;
  sel.replaceChildren(...[...exps.keys()].map((n) => h('option', { value: n }, n)));
  if (exps.has(chosen)) sel.value = chosen;
  fillCandidates();
}

function fillCandidates() {
  const e = experiments().get($('#ro-experiment').value);
  const cand = $('#ro-candidate');
  const chosen = cand.value;
  const list = e ? [...e.variants].filter((x) => !e.baselines.has(x)).sort() : [];
  cand.replaceChildren(...list.map((n) => h('option', { value: n }, n)));
  if (list.includes(chosen)) cand.value = chosen;
}

const DURATION_RE = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$/;

// parseWaves reads "1,10%,50%,100%" as the API's waves; it throws with what is wrong.
function parseWaves(text) {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error('Waves: give at least one, e.g. 1,10%,100%.');
  return parts.map((p) => {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*%$/.exec(p);
    if (m) {
      const n = Number(m[1]);
      if (!(n > 0 && n <= 100)) throw new Error(`Waves: ${p} is not a share in (0, 100]%.`);
      return { percent: n };
    }
    if (/^[0-9]+$/.test(p) && Number(p) >= 1) return { count: Number(p) };
    throw new Error(`Waves: "${p}" is neither a number of agents (1) nor a share (10%).`);
  });
}

function parseSelector(text) {
  const out = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`Selector: "${part}" is not label=value.`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function formProblem(msg, field) {
  const p = $('#ro-problem');
  p.textContent = msg;
  p.hidden = !msg;
  for (const el of document.querySelectorAll('#rollout-form [aria-invalid]')) el.removeAttribute('aria-invalid');
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

async function submitRollout(e) {
  e.preventDefault();
  const form = e.target;
  const d = new FormData(form);
  const field = (name) => form.elements[name];
  if (!d.get('experiment')) return formProblem('No experiment to roll out: no otelcol-phoenix agent reports one yet.', field('experiment'));
  if (!d.get('candidate')) return formProblem('This experiment has no variant besides its baseline.', field('candidate'));
  let waves, selector;
  try { waves = parseWaves(String(d.get('waves'))); } catch (err) { return formProblem(err.message, field('waves')); }
  for (const name of ['soak', 'apply_timeout']) {
    if (!DURATION_RE.test(String(d.get(name)).trim())) {
      return formProblem(`${name === 'soak' ? 'Soak' : 'Apply timeout'}: a duration such as 30s, 10m or 1h.`, field(name));
    }
  }
  try { selector = parseSelector(String(d.get('selector') || '')); } catch (err) { return formProblem(err.message, field('selector')); }
  const ratio = (name) => Number(d.get(name) || 0) / 100;
  for (const name of ['min_series_reduction', 'min_fidelity', 'min_rule_fidelity', 'min_cost_saving']) {
    const r = ratio(name);
    if (!(r >= 0 && r <= 1)) return formProblem('The criteria are percentages from 0 to 100.', field(name));
  }
  const spec = {
    experiment: d.get('experiment'), candidate: d.get('candidate'), waves,
    soak: String(d.get('soak')).trim(), apply_timeout: String(d.get('apply_timeout')).trim(),
    criteria: {
      min_series_reduction: ratio('min_series_reduction'), min_fidelity: ratio('min_fidelity'),
      critical_visible: d.get('critical_visible') === 'on', min_rule_fidelity: ratio('min_rule_fidelity'),
      min_cost_saving: ratio('min_cost_saving'),
    },
  };
  if (Object.keys(selector).length) spec.selector = selector;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const r = await api('POST', '/api/v1/fleet/rollouts', spec);
    formProblem('');
    upsertRollout(r);
    toast(`Rollout ${r.id} started: ${r.spec.candidate} on ${r.spec.experiment} in ${r.spec.waves.length} wave${r.spec.waves.length === 1 ? '' : 's'}`);
  } catch (err) {
    formProblem(err.message);
  } finally {
    button.disabled = false;
  }
}

// ---- rollouts ----
const rolloutViews = new Map(); // id -> view; its buttons outlive each refresh, so focus stays on them

// lastWrite is when the page last changed a rollout: a refresh that began before it brings older rollouts.
let lastWrite = 0;

function upsertRollout(r) {
  lastWrite = performance.now();
  const i = state.rollouts.findIndex((x) => x.id === r.id);
  if (i >= 0) state.rollouts[i] = r; else state.rollouts.push(r);
  renderRollouts();
}

// latest says whether r is its experiment's last rollout: the one whose decisions the agents follow.
function latest(r) {
  const same = state.rollouts.filter((x) => x.spec.experiment === r.spec.experiment);
  return same[same.length - 1] === r;
}

const ACTIONS = {
  pause: { label: 'Pause', done: 'paused', help: 'stop before the next step; the agents keep what they run' },
  resume: { label: 'Resume', done: 'resumed', help: 'check the wave again from the start' },
  cancel: { label: 'Cancel', done: 'cancelled', danger: true },
  rollback: { label: 'Rollback', done: 'rolled back', danger: true },
};

function rolloutView(r) {
  let v = rolloutViews.get(r.id);
  if (v) return v;
  const id = `ro-${rolloutViews.size}`;
  v = { id: r.id, body: h('div'), events: h('ul', { class: 'events' }), eventsCount: h('span'), buttons: {} };
  v.heading = h('h3', { id: `${id}-h`, tabindex: -1 }, r.id);
  const actions = h('div', { class: 'rollout-actions', role: 'group', 'aria-label': `Actions on rollout ${r.id}` });
  for (const [action, a] of Object.entries(ACTIONS)) {
    const b = h('button', { type: 'button', class: a.danger ? 'danger' : null, 'data-action': action,
      'aria-label': `${a.label} rollout ${r.id}`, title: a.help || null, hidden: true }, a.label);
    b.addEventListener('click', () => act(v, action));
    v.buttons[action] = b;
    actions.append(b);
  }
  v.el = h('article', { class: 'card rollout', id, 'aria-labelledby': `${id}-h`, 'data-rollout': r.id },
    h('div', { class: 'rollout-head' }, v.heading, actions),
    v.body,
    h('details', { class: 'events-box' }, h('summary', {}, 'Events ', v.eventsCount), v.events));
  rolloutViews.set(r.id, v);
  return v;
}

async function act(v, action) {
  const r = state.rollouts.find((x) => x.id === v.id);
  if (!r) return;
  if (action === 'cancel' && !(await confirmAction(
    `Cancel rollout ${r.id}? It ends now and every agent it drives goes back to the baseline.`, 'Cancel rollout'))) return;
  if (action === 'rollback' && !(await confirmAction(TERMINAL.includes(r.phase)
    ? `Roll back rollout ${r.id}? Every agent on ${r.spec.candidate} goes back to the baseline.`
    : `Roll back rollout ${r.id}? It fails now and every agent goes back to the baseline.`, 'Roll back'))) return;
  const button = v.buttons[action];
  button.disabled = true;
  try {
    const out = await api('POST', `/api/v1/fleet/rollouts/${enc(r.id)}/${action}`);
    clearError();
    upsertRollout(out);
    toast(`Rollout ${out.id}: ${ACTIONS[action].done}`);
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    // The button may be gone with the state it acted on (the event stream may have hidden it already): keep
    // focus nearby, on its counterpart if shown — unless the user has moved it elsewhere meanwhile.
    if (document.activeElement === document.body || (document.activeElement === button && button.hidden)) {
      const next = { pause: 'resume', resume: 'pause' }[action];
      (next && !v.buttons[next].hidden ? v.buttons[next] : v.heading).focus();
    }
  }
}

function renderRollouts() {
  const list = [...state.rollouts].reverse(); // newest first
  $('#no-rollouts').hidden = list.length > 0;
  const box = $('#rollout-list');
  const ids = new Set(list.map((r) => r.id));
  for (const [id, v] of rolloutViews) {
    if (!ids.has(id)) { v.el.remove(); rolloutViews.delete(id); }
  }
  list.forEach((r, i) => {
    const v = rolloutView(r);
    if (box.children[i] !== v.el) box.insertBefore(v.el, box.children[i] || null); // moves only what is out of place
    renderRollout(v, r);
  });
}

function renderRollout(v, r) {
  const ended = TERMINAL.includes(r.phase);
  const b = v.buttons;
  b.pause.hidden = ended || r.paused;
  b.resume.hidden = ended || !r.paused;
  b.cancel.hidden = ended;
  // An ended rollout can be undone while it still leaves agents on the candidate and is the one they follow.
  b.rollback.hidden = ended && !(latest(r) && ((r.assigned || []).length > 0 || r.promoted));
  v.el.dataset.phase = r.phase;
  v.el.dataset.paused = String(!!r.paused);

  const key = JSON.stringify([r, state.agents.map((a) => [a.id, a.node])]);
  if (key === v.key) return;
  v.key = key;
  const s = r.spec;
  const c = s.criteria || {};
  const criteria = [
    c.min_series_reduction ? `series saved ≥ ${pct(c.min_series_reduction, 0)}` : null,
    c.min_fidelity ? `fidelity ≥ ${pct(c.min_fidelity, 0)}` : null,
    c.critical_visible ? 'critical visible' : null,
    c.min_rule_fidelity ? `rule fidelity ≥ ${pct(c.min_rule_fidelity, 0)}` : null,
    c.min_cost_saving ? `cost saved ≥ ${pct(c.min_cost_saving, 0)}` : null,
  ].filter(Boolean);
  const selector = Object.entries(s.selector || {}).map(([k, val]) => `${k}=${val}`);
  const meta = h('p', { class: 'meta' },
    h('span', {}, 'experiment ', h('b', {}, s.experiment)),
    h('span', {}, 'candidate ', h('b', {}, s.candidate)),
    h('span', {}, 'waves ', h('b', {}, s.waves.map(waveSpec).join(', '))),
    h('span', {}, 'soak ', h('b', {}, duration(s.soak))),
    h('span', {}, 'apply timeout ', h('b', {}, duration(s.apply_timeout) === '0s' ? 'default' : duration(s.apply_timeout))),
    selector.length ? h('span', {}, 'selector ', h('b', {}, selector.join(', '))) : null,
    h('span', {}, 'criteria ', h('b', {}, criteria.join(', ') || 'none')),
    h('span', {}, 'started ', fmtTime(r.created_at)));

  const seen = new Map((r.timeline || []).map((p) => [p.phase, p.at]));
  const steps = PHASES.includes(r.phase) ? PHASES : [...PHASES, r.phase];
  const timeline = h('ol', { class: 'timeline', 'aria-label': `Rollout ${r.id} phases` }, steps.map((p) => h('li', {
    class: p === r.phase ? `current ${ended ? p : ''}`.trim() : null,
    'aria-current': p === r.phase ? 'step' : null,
  }, p, seen.has(p) ? ` ${fmtTime(seen.get(p))}` : '')));

  const assigned = r.assigned || [];
  const status = h('p', { class: 'meta', 'data-role': 'status' },
    h('span', {}, 'phase ', h('b', { 'data-role': 'phase' }, r.phase)),
    h('span', {}, 'wave ', h('b', {}, `${Math.min(r.wave + 1, s.waves.length)} of ${s.waves.length}`)),
    h('span', {}, 'on the candidate ', h('b', {}, assigned.length), assigned.length ? ` (${names(assigned.map((m) => m.node || nodeOf(m.id)))})` : ''),
    r.promoted ? h('span', { class: 'good' }, h('b', {}, 'promoted'), ' to every targeted agent') : null,
    r.rolled_back_at ? h('span', { class: 'bad', 'data-role': 'rolled-back' }, h('b', {}, 'rolled back'), ` at ${fmtTime(r.rolled_back_at)}: every agent on the baseline`) : null);

  const last = (r.events || [])[(r.events || []).length - 1];
  const lastEvent = last ? h('p', { class: 'muted', 'data-role': 'last-event' }, `${fmtTime(last.at)} `, last.message) : null;
  const paused = r.paused ? h('p', { class: 'paused', 'data-role': 'pause-reason' }, h('b', {}, 'Paused: '), r.pause_reason || 'by request') : null;
  const reason = r.reason ? h('p', { class: `reason ${r.phase === 'completed' ? 'muted' : 'bad'}`, 'data-role': 'reason' }, r.reason) : null;

  v.body.replaceChildren(...[meta, timeline, status, lastEvent, paused, reason, verdictBlock(r.verdict, 'verdict'), wavesTable(r)].filter(Boolean));
  const events = (r.events || []).slice(-EVENTS_SHOWN).reverse();
  v.eventsCount.textContent = `(${(r.events || []).length})`;
  v.events.replaceChildren(...events.map((e) => h('li', {}, h('span', { class: 'muted' }, fmtTime(e.at)), ' ', e.message)));
}

// verdictBlock is a verdict's figures, the reasons it did not pass and the nodes that broke a guardrail.
function verdictBlock(vd, role) {
  if (!vd) return null;
  const figures = [`${vd.agents} agent${vd.agents === 1 ? '' : 's'}`, `series saved ${pct(vd.series_reduction)}`,
    vd.fidelity != null ? `worst fidelity ${pct(vd.fidelity, 2)}` : 'fidelity: no data',
    `critical visible ${pct(vd.critical_visible, 0)}`,
    vd.rule_fidelity != null ? `worst rule fidelity ${pct(vd.rule_fidelity, 2)}` : null,
    vd.cost ? `cost saved ${money(vd.cost.monthly_saving, vd.cost.currency)}/month (${pct(vd.cost.saving_ratio)})` : null].filter(Boolean);
  return h('div', { class: 'verdict', 'data-role': role, 'data-pass': String(!!vd.pass) },
    h('p', { class: vd.pass ? 'good' : 'bad' }, h('b', {}, vd.pass ? 'Verdict: pass' : 'Verdict: fail'), ` — ${figures.join(', ')}`),
    (vd.nodes || []).length ? h('p', { class: 'bad', 'data-role': 'nodes' }, 'Nodes: ', vd.nodes.join(', ')) : null,
    (vd.reasons || []).length ? h('ul', { class: 'reasons', 'aria-label': 'Why it did not pass' }, vd.reasons.map((x) => h('li', {}, x))) : null);
}

function wavesTable(r) {
  const rows = (r.waves || []).map((w) => {
    const target = r.spec.waves[w.wave];
    const vd = w.verdict;
    const current = !TERMINAL.includes(r.phase) && w === r.waves[r.waves.length - 1];
    return h('tr', { 'data-wave': w.wave + 1, class: current ? 'wave-current' : null },
      h('td', {}, `${w.wave + 1}`, current ? h('span', { class: 'badge on' }, 'now') : null),
      h('td', {}, target ? waveSpec(target) : ''),
      h('td', { 'data-role': 'size' }, w.size),
      h('td', { class: 'nodes' }, names((w.agents || []).map(nodeOf))),
      h('td', {}, fmtTime(w.started_at)),
      h('td', {}, fmtTime(w.applied_at) || h('span', { class: 'muted' }, current ? 'applying…' : '—')),
      h('td', {}, fmtTime(w.ended_at)),
      h('td', { class: `text ${vd ? (vd.pass ? 'good' : 'bad') : 'muted'}`, 'data-role': 'wave-verdict' },
        vd ? (vd.pass ? 'pass' : `fail${(vd.reasons || []).length ? `: ${vd.reasons.join('; ')}` : ''}`) : '—'));
  });
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No wave started yet.');
  return h('div', { class: 'scroll' }, h('table', { class: 'waves' },
    h('caption', { class: 'muted' }, 'Waves: each includes the agents of the waves before'),
    h('thead', {}, h('tr', {}, ['Wave', 'Target', 'Size', 'Agents', 'Started', 'Applied', 'Ended', 'Verdict']
      .map((c, i) => h('th', { scope: 'col', class: i === 3 || i === 7 ? 'text' : null }, c)))),
    h('tbody', {}, rows)));
}

// ---- polling ----
async function refresh() {
  const began = performance.now();
  const [a, r] = await Promise.all([api('GET', '/api/v1/fleet/agents'), api('GET', '/api/v1/fleet/rollouts')]);
  state.agents = a.agents || [];
  if (lastWrite < began) state.rollouts = r.rollouts || [];
  const exps = [...experiments().keys()];
  const totals = await Promise.all(exps.map((n) => api('GET', `/api/v1/fleet/experiments/${enc(n)}`)
    .catch((err) => { if (err.status === 404) return null; throw err; }))); // 404: no agent reports it (any more)
  state.totals = new Map(exps.map((n, i) => [n, totals[i]]));
  renderAgents();
  renderFigures();
  renderForm();
  renderRollouts();
}

let pollFailed = false; // the notice shows a failed refresh until one succeeds

async function poll() {
  for (;;) {
    try {
      await refresh();
      setConn('live', `live · ${new Date().toLocaleTimeString()}`);
      if (pollFailed) { clearError(); pollFailed = false; }
    } catch (err) {
      setConn('down', 'unreachable, retrying…');
      showError(err);
      pollFailed = true;
    }
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#rollout-form').addEventListener('submit', submitRollout);
  $('#ro-experiment').addEventListener('change', fillCandidates);
  poll();
  streamEvents('/api/v1/fleet/events', (type, data) => { if (type === 'rollout') upsertRollout(data); }, () => {}, () => {});
});
