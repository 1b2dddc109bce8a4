// otelcol-phoenix dashboard: plain DOM, no build step (the shared parts are /ui/common.js). Data comes from
// the control API; live figures from the Server-Sent Events stream.
'use strict';

const HISTORY = 180;               // chart points kept per variant
const COLORS = ['#0b5fff', '#d9480f', '#2b8a3e', '#7048e8', '#c2255c', '#1098ad', '#e67700', '#495057'];

// svg builds an SVG element, as h an HTML one.
const svg = (tag, attrs, ...children) => build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);

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
  v.rejected = h('p', { class: 'bad', hidden: true });
  const table = h('table', {},
    h('caption', { class: 'muted' }, 'Figures of the last complete window; savings and fidelity against the baseline'),
    h('thead', {}, h('tr', {},
      ['Variant', 'Series', 'New series', 'Datapoints/s', 'Bytes/s', 'Series saved', 'Bytes saved', 'Cost/month', 'Saved/month',
        'Fidelity', 'Critical visible', 'Actions'].map((c) => h('th', { scope: 'col', class: c.endsWith('/month') ? 'cost' : null }, c)))),
    v.tbody);
  v.el = h('article', { class: 'card', id, 'aria-labelledby': `${id}-h`, 'data-experiment': snap.name },
    h('h3', { id: `${id}-h`, tabindex: -1 }, snap.name), // tabindex: focus lands here when a removed row goes
    v.meta,
    v.rejected,
    h('div', { class: 'scroll' }, table),
    h('div', { class: 'grid' },
      h('section', { 'aria-labelledby': `${id}-chart-h` },
        h('h3', { id: `${id}-chart-h` }, 'Series per variant'), v.chart, v.legend),
      h('section', { 'aria-labelledby': `${id}-run-h` },
        h('h3', { id: `${id}-run-h` }, 'Run an experiment'), runForm(v), v.runsList)),
    v.rulesOut,
    builderView(v).el,
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
    for (const name of v.history.keys()) { // a removed variant leaves the chart too
      if (!snap.variants.some((x) => x.name === name)) v.history.delete(name);
    }
    // and its export panel: its snippets would set up a variant that is gone
    if (v.exportVariant && !snap.variants.some((x) => x.name === v.exportVariant)) closeExport(v);
  }
  const rejected = snap.rejected_variants || [];
  v.rejected.hidden = rejected.length === 0;
  v.rejected.textContent = rejected.length === 0 ? '' : `Not running: ${rejected.map((r) => `${r.name} (${r.source}): ${r.error}`).join('; ')}`;
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
  const exportBtn = h('button', { type: 'button', 'data-action': 'export', 'aria-label': `Export ${name}` }, 'Export');
  exportBtn.addEventListener('click', () => showExport(v, name));
  // Only variants added at runtime can be removed: the config's are the config's. updateRow shows it.
  const removeBtn = h('button', { type: 'button', class: 'danger', 'data-action': 'remove', 'aria-label': `Remove variant ${name}`, hidden: true }, 'Remove');
  removeBtn.addEventListener('click', () => removeVariant(v, name));
  const nameCell = h('th', { scope: 'row', tabindex: -1 }, name); // focus lands here once the builder added it
  const tr = h('tr', { 'data-variant': name }, nameCell, td('series'), td('new'), td('dps'), td('bps'), td('ssave'),
    td('bsave'), td('cost', 'cost'), td('csave', 'cost'), td('fid'), td('crit'), h('td', { class: 'actions' }, switchBtn, exportBtn, removeBtn));
  v.rows.set(name, { tr, cells, nameCell, switchBtn, removeBtn, name });
  return tr;
}

// Where a runtime variant comes from, as its badge says it.
const SOURCES = { api: ['added', 'added at runtime through the API'], desired_state: ['desired state', 'added by the desired-state file'] };

function updateRow(row, x) {
  const c = row.cells;
  const source = SOURCES[x.source];
  row.nameCell.replaceChildren(x.name,
    x.active ? h('span', { class: 'badge on' }, 'active') : '',
    x.baseline ? h('span', { class: 'badge' }, 'baseline') : '',
    source ? h('span', { class: 'badge', title: source[1] }, source[0]) : '',
    x.pending ? h('span', { class: 'badge', 'data-role': 'pending' }, 'pending') : '',
    x.errors ? h('span', { class: 'badge bad', title: 'batches its chain failed on' }, `${fmtInt(x.errors)} errors`) : '');
  row.tr.classList.toggle('active', x.active);
  row.tr.classList.toggle('pending', !!x.pending);
  row.switchBtn.disabled = x.active;
  row.removeBtn.hidden = x.source !== 'api'; // the config's and the desired-state file's are theirs to remove
  row.removeBtn.disabled = x.active || x.baseline;
  if (x.pending) { // added mid-window: its empty figures are not zeros
    for (const [k, cell] of Object.entries(c)) {
      cell.textContent = k === 'series' ? 'measuring from next window' : '';
      cell.title = '';
      cell.className = cell.classList.contains('cost') ? 'cost' : '';
    }
    return;
  }
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

async function removeVariant(v, variant) {
  const ok = await confirmAction(`Remove the variant "${variant}" from ${v.name}? It stops running from the next batch on and its figures go.`, `Remove ${variant}`);
  if (!ok) return;
  try {
    const snap = await api('DELETE', `/api/v1/experiments/${enc(v.name)}/variants/${enc(variant)}`);
    clearError();
    renderExperiment(snap);
    v.el.querySelector('h3').focus(); // the button pressed has gone with its row
    toast(`${v.name}: ${variant} removed`);
  } catch (err) { showError(err); }
}

// The export formats: what each is and where it goes.
const EXPORTS = {
  collector: ['Collector YAML', 'Paste into any collector with these processors, or merge: otelcol-phoenix validate --config base.yaml --config variant.yaml'],
  desired_state: ['Desired-state snippet', 'Merge under experiments: in the desired-state file the nodes read: each then runs the variant as its active one, without a restart.'],
  helm: ['Helm values snippet', 'The chart\'s presets.desiredState values that render that file for every node of the release: helm upgrade --reuse-values -f it.'],
};

async function showExport(v, variant, format = 'collector') {
  try {
    const yaml = await api('GET', `/api/v1/experiments/${enc(v.name)}/variants/${enc(variant)}/export?format=${enc(format)}`, undefined, 'application/yaml');
    clearError();
    const [label, hint] = EXPORTS[format];
    const pre = h('pre', { class: 'yaml', tabindex: 0, 'aria-label': `${variant} as ${label}` }, yaml);
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
    close.addEventListener('click', () => closeExport(v));
    const formatSel = h('select', { id: `${v.id}-export-format`, 'data-role': 'export-format' },
      Object.entries(EXPORTS).map(([k, [l]]) => h('option', { value: k, selected: k === format }, l)));
    formatSel.addEventListener('change', async () => {
      await showExport(v, variant, formatSel.value);
      $(`#${v.id}-export-format`).focus(); // the panel was rebuilt: keep the keyboard where it was
    });
    v.exportVariant = variant;
    v.exportOut.replaceChildren(h('section', { 'aria-label': `Export of ${variant}`, 'data-format': format },
      h('h3', {}, `Export: ${variant}`),
      h('form', { class: 'inline', 'aria-label': `Export format of ${variant}`, onsubmit: (e) => e.preventDefault() },
        h('label', { for: `${v.id}-export-format` }, 'Format', formatSel)),
      h('p', { class: 'muted' }, hint),
      pre, h('div', { class: 'buttons' }, copy, close)));
    if (format === 'collector') copy.focus();
  } catch (err) { showError(err); }
}

// closeExport empties the export panel; the keyboard, if it was in it, goes to the experiment's heading.
function closeExport(v) {
  const had = v.exportOut.contains(document.activeElement);
  v.exportOut.replaceChildren();
  v.exportVariant = null;
  if (had) v.el.querySelector('h3').focus();
}

// ---- pipeline builder ----
// A new variant built in the page: steps from a template, the catalogue or pasted YAML, each step's
// configuration edited as JSON and checked by the server (the only judge of what a processor accepts).

// The catalogue and the templates are the server's, fetched once, when a builder is first opened.
let catalogue = null;
function loadCatalogue() {
  if (!catalogue) {
    catalogue = Promise.all([api('GET', '/api/v1/processors'), api('GET', '/api/v1/templates')])
      .then(([p, t]) => ({ processors: p.processors || [], templates: t.templates || [] }));
    catalogue.catch(() => { catalogue = null; }); // asked again at the next open
  }
  return catalogue;
}

let stepKeys = 0; // element ids of steps: unique in the page, stable while steps move

function builderView(v) {
  const id = `${v.id}-b`;
  const b = { v, id, steps: [], templates: [], processors: [], valid: false, req: 0 };
  const problems = (role) => h('ul', { class: 'problems', 'data-role': role, 'aria-live': 'polite' });

  b.template = h('select', { id: `${id}-template`, name: 'template' });
  b.template.addEventListener('change', () => renderParams(b));
  b.about = h('p', { class: 'muted' });
  b.params = h('span', { class: 'params' });
  b.templateErr = problems('template-problems');
  const templateForm = h('form', { class: 'inline', 'aria-label': `Start a variant of ${v.name} from a template` },
    h('label', { for: `${id}-template` }, 'Template', b.template), b.params,
    h('button', { type: 'submit' }, 'Use template'),
    h('button', { type: 'button', onclick: () => { setSteps(b, []); announce(b, 'Started from scratch: no steps'); } }, 'Start from scratch'));
  templateForm.addEventListener('submit', (e) => { e.preventDefault(); useTemplate(b); });

  b.catalogue = h('select', { id: `${id}-processor`, name: 'processor' });
  const addForm = h('form', { class: 'inline', 'aria-label': 'Add a processor step' },
    h('label', { for: `${id}-processor` }, 'Processor', b.catalogue),
    h('button', { type: 'submit' }, 'Add step'));
  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = b.processors.find((x) => x.type === b.catalogue.value);
    if (!p) return;
    const s = makeStep(b, uniqueID(b, p.type), p.default_config);
    b.steps.push(s);
    renderSteps(b);
    s.textarea.focus(); // next: its configuration
    announce(b, `Added step ${b.steps.length}: ${s.id}`);
  });

  b.list = h('ol', { class: 'steps', 'aria-label': 'Steps of the new variant, in order' });
  b.empty = h('p', { class: 'muted' }, 'No steps yet: start from a template, add a processor or import YAML.');
  b.problems = problems('problems'); // the server's step 0: the definition as a whole
  b.live = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });

  b.importText = h('textarea', { id: `${id}-import`, name: 'yaml', rows: 6, spellcheck: 'false' });
  b.importErr = problems('import-problems');
  // A config with several metrics pipelines: the server names them, the user picks one (until the text changes).
  b.pipeline = h('select', { id: `${id}-pipeline`, name: 'pipeline', 'data-role': 'import-pipeline' });
  b.pipelineLabel = h('label', { for: `${id}-pipeline`, hidden: true }, 'Metrics pipeline to import', b.pipeline);
  b.importText.addEventListener('input', () => choosePipeline(b, []));
  const importForm = h('form', { class: 'import', 'aria-label': 'Import a YAML pipeline' },
    h('label', { for: `${id}-import` }, 'Paste a collector config (processors: and a metrics pipeline) or a list of {type: config} steps', b.importText),
    b.pipelineLabel,
    h('div', { class: 'buttons start' }, h('button', { type: 'submit' }, 'Import YAML')), b.importErr);
  importForm.addEventListener('submit', (e) => { e.preventDefault(); importYAML(b); });

  b.yaml = h('pre', { class: 'builder-yaml', tabindex: 0, 'aria-label': 'The new variant as collector YAML' });
  b.name = h('input', { id: `${id}-name`, name: 'variant_name', required: true, size: 16, autocomplete: 'off', spellcheck: 'false', pattern: '[a-zA-Z][a-zA-Z0-9_.\\-]*', maxlength: 63 });
  b.name.addEventListener('input', () => scheduleValidate(b));
  b.addBtn = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Add as variant');
  b.status = h('span', { class: 'muted', id: `${id}-validity`, 'data-role': 'validity' });
  b.addBtn.setAttribute('aria-describedby', `${id}-validity`); // why it is disabled, when it is
  const variantForm = h('form', { class: 'inline', 'aria-label': `Add the pipeline to ${v.name} as a variant` },
    h('label', { for: `${id}-name` }, 'Variant name', b.name), b.addBtn, b.status);
  variantForm.addEventListener('submit', (e) => { e.preventDefault(); addVariant(b); });

  b.el = h('details', { class: 'builder', 'data-role': 'builder' },
    h('summary', {}, h('h3', { id: `${id}-h` }, 'Pipeline builder'), h('span', { class: 'muted' }, ' a new variant, tried side by side')),
    h('div', { class: 'builder-body', role: 'group', 'aria-labelledby': `${id}-h` },
      templateForm, b.about, b.templateErr, addForm, b.problems, b.list, b.empty, b.live,
      h('details', { class: 'import-box' }, h('summary', {}, 'Import YAML'), importForm),
      h('h4', {}, 'Generated YAML'), b.yaml, variantForm));
  b.el.addEventListener('toggle', () => { if (b.el.open) openBuilder(b); });
  return b;
}

async function openBuilder(b) {
  if (!b.loaded) {
    try {
      const c = await loadCatalogue();
      b.loaded = true;
      b.templates = c.templates;
      b.processors = c.processors;
      b.template.replaceChildren(...c.templates.map((t) => h('option', { value: t.name }, t.title || t.name)));
      b.catalogue.replaceChildren(...c.processors.map((p) => h('option', { value: p.type }, p.stability ? `${p.type} (${p.stability})` : p.type)));
      renderParams(b);
    } catch (err) { showError(err); }
  }
  renderSteps(b);
}

// renderParams shows the chosen template's parameters, at their defaults.
function renderParams(b) {
  const t = b.templates.find((x) => x.name === b.template.value);
  b.about.textContent = t ? t.description || '' : '';
  b.params.replaceChildren(...(t && t.parameters || []).map((p) => {
    const pid = `${b.id}-p-${p.name}`;
    const list = p.type === 'list';
    const input = h('input', {
      id: pid, name: p.name, 'data-param': p.name, title: p.description, autocomplete: 'off',
      type: p.type === 'int' ? 'number' : 'text', step: p.type === 'int' ? 1 : null, size: list ? 24 : 10,
      value: Array.isArray(p.default) ? p.default.join(',') : p.default ?? '',
    });
    return h('label', { for: pid }, list ? `${p.name} (comma-separated)` : p.name, input);
  }));
}

async function useTemplate(b) {
  const name = b.template.value;
  if (!name) return;
  const q = new URLSearchParams();
  for (const input of b.params.querySelectorAll('input')) q.set(input.name, input.value.trim());
  try {
    const t = await api('GET', `/api/v1/templates/${enc(name)}?${q}`);
    b.templateErr.replaceChildren();
    setSteps(b, t.processors || []);
    if (!b.name.value.trim()) b.name.value = name.replace(/[^a-zA-Z0-9_.-]/g, '_');
    announce(b, `${t.title || name}: ${b.steps.length} steps`);
  } catch (err) {
    b.templateErr.replaceChildren(h('li', { class: 'bad' }, err.message));
  }
}

// choosePipeline offers the metrics pipelines the server listed ({pipeline, message} each), keeping the one
// chosen when it is still there; none hides the choice. text is the YAML they are the pipelines of.
function choosePipeline(b, pipelines, text = null) {
  const chosen = b.pipeline.value;
  b.pipeline.replaceChildren(...pipelines.map((p) => h('option', { value: p.pipeline }, p.message || p.pipeline)));
  if (pipelines.some((p) => p.pipeline === chosen)) b.pipeline.value = chosen;
  b.pipelineLabel.hidden = pipelines.length === 0;
  b.pipelinesOf = pipelines.length ? text : null;
}

async function importYAML(b) {
  const body = { yaml: b.importText.value };
  if (b.pipelinesOf === body.yaml && b.pipeline.value) body.pipeline = b.pipeline.value;
  else choosePipeline(b, []); // another text (set without an input event): its own pipelines, if any, are asked
  try {
    const out = await api('POST', '/api/v1/import', body);
    // batch and the like cannot run in a variant: they stay in the pipeline around the experiment.
    const skipped = out.skipped || [];
    b.importErr.replaceChildren(...(skipped.length ? [h('li', { class: 'muted' },
      `Not imported: ${skipped.join(', ')} (cannot run in a variant; keep it in the pipeline around the experiment)`)] : []));
    setSteps(b, out.processors || []);
    if (out.name && !b.name.value.trim()) b.name.value = out.name;
    announce(b, `Imported ${b.steps.length} steps`);
    if (b.steps.length) b.steps[0].idInput.focus();
  } catch (err) {
    const e = err.body && err.body.error;
    if (e && e.code === 'choose_pipeline' && Array.isArray(e.problems) && e.problems.length) {
      choosePipeline(b, e.problems, body.yaml);
      b.importErr.replaceChildren(h('li', { class: 'bad' },
        `${body.pipeline ? err.message : `This config has ${e.problems.length} metrics pipelines`}: choose one, then Import YAML.`));
      b.pipeline.focus(); // the choice is the next thing to do
      return;
    }
    b.importErr.replaceChildren(h('li', { class: 'bad' }, err.message));
  }
}

async function addVariant(b) {
  const name = b.name.value.trim();
  if (!b.valid || !name) return;
  b.busy = true;
  updateAdd(b);
  try {
    const snap = await api('POST', `/api/v1/experiments/${enc(b.v.name)}/variants`, { name, processors: chain(b) });
    clearError();
    renderExperiment(snap);
    b.name.value = '';
    // The add button is disabled now (no name): the keyboard continues from the new row, not from <body>.
    const row = b.v.rows.get(name);
    if (row) row.nameCell.focus();
    announce(b, `${name} added: its row measures from the next window`);
    toast(`${b.v.name}: ${name} added, measured from the next window`);
  } catch (err) {
    const problems = err.body && err.body.error && err.body.error.problems;
    showProblems(b, problems && problems.length ? problems : [{ step: 0, message: err.message }]);
    b.valid = false;
  } finally {
    b.busy = false;
    updateAdd(b);
  }
}

// setSteps replaces the steps with the API's list of {id: config} (one key each; more are taken in order).
function setSteps(b, processors) {
  b.steps = processors.flatMap((p) => Object.entries(p)).map(([id, config]) => makeStep(b, id, config));
  renderSteps(b);
}

// uniqueID names a new step after its type, numbered when the type is already in the chain.
function uniqueID(b, type) {
  const used = new Set(b.steps.map((s) => s.id));
  if (!used.has(type)) return type;
  let n = 2;
  while (used.has(`${type}/${n}`)) n++;
  return `${type}/${n}`;
}

function makeStep(b, id, config) {
  const sid = `${b.id}-s${++stepKeys}`;
  const text = JSON.stringify(config ?? {}, null, 2);
  const s = { id, text };
  s.num = h('span', { class: 'step-no', 'aria-hidden': 'true' });
  s.idInput = h('input', { id: `${sid}-id`, name: 'step_id', value: id, size: 14, autocomplete: 'off', spellcheck: 'false', 'data-role': 'step-id' });
  s.idInput.addEventListener('input', () => { s.id = s.idInput.value.trim(); labelSteps(b); scheduleValidate(b); });
  s.textarea = h('textarea', { id: `${sid}-config`, name: 'step_config', rows: Math.min(12, text.split('\n').length + 1), spellcheck: 'false', 'data-role': 'step-config', 'aria-describedby': `${sid}-problems` }, text);
  s.textarea.addEventListener('input', () => { s.text = s.textarea.value; scheduleValidate(b); });
  s.problems = h('ul', { class: 'problems', id: `${sid}-problems`, 'data-role': 'problems' });
  s.up = h('button', { type: 'button', 'data-action': 'up' }, '↑');
  s.down = h('button', { type: 'button', 'data-action': 'down' }, '↓');
  s.remove = h('button', { type: 'button', class: 'danger', 'data-action': 'remove-step' }, 'Remove');
  s.up.addEventListener('click', () => moveStep(b, s, -1));
  s.down.addEventListener('click', () => moveStep(b, s, 1));
  s.remove.addEventListener('click', () => {
    const i = b.steps.indexOf(s);
    b.steps.splice(i, 1);
    renderSteps(b);
    const next = b.steps[Math.min(i, b.steps.length - 1)]; // keep the keyboard in the list
    (next ? next.remove : b.catalogue).focus();
    announce(b, `Removed ${s.id || 'the step'}`);
  });
  // Only the handle starts a drag, so that text in the step can still be selected with the mouse.
  s.handle = h('span', { class: 'handle', draggable: 'true', title: 'Drag to reorder (or use the arrows)', 'aria-hidden': 'true' }, '⠿');
  s.el = h('li', { class: 'step' },
    h('div', { class: 'step-head' }, s.handle, s.num,
      h('label', { for: `${sid}-id` }, 'Processor id', s.idInput),
      h('span', { class: 'step-buttons' }, s.up, s.down, s.remove)),
    h('label', { for: `${sid}-config`, class: 'config' }, 'Configuration (JSON)', s.textarea),
    s.problems);
  s.handle.addEventListener('dragstart', (e) => {
    b.dragging = s;
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', s.id); // some browsers start no drag without data
    e.dataTransfer.setDragImage(s.el, 12, 12);
    s.el.classList.add('dragging');
  });
  s.handle.addEventListener('dragend', () => {
    b.dragging = null;
    for (const x of b.steps) x.el.classList.remove('dragging', 'drop-target');
  });
  s.el.addEventListener('dragover', (e) => {
    if (!b.dragging || b.dragging === s) return;
    e.preventDefault(); // a drop target
    e.dataTransfer.dropEffect = 'move';
    s.el.classList.add('drop-target');
  });
  s.el.addEventListener('dragleave', (e) => { if (!s.el.contains(e.relatedTarget)) s.el.classList.remove('drop-target'); });
  s.el.addEventListener('drop', (e) => {
    e.preventDefault(); // not into the textarea under the pointer
    s.el.classList.remove('drop-target');
    const d = b.dragging;
    if (!d || d === s) return;
    const to = b.steps.indexOf(s);
    b.steps.splice(b.steps.indexOf(d), 1);
    b.steps.splice(to, 0, d);
    renderSteps(b);
    announce(b, `${d.id} moved to position ${to + 1}`);
  });
  return s;
}

function moveStep(b, s, delta) {
  const i = b.steps.indexOf(s), j = i + delta;
  if (j < 0 || j >= b.steps.length) return;
  b.steps.splice(i, 1);
  b.steps.splice(j, 0, s);
  renderSteps(b);
  const btn = delta < 0 ? s.up : s.down; // Enter again moves it further; at an end, the other way
  (btn.disabled ? (delta < 0 ? s.down : s.up) : btn).focus();
  announce(b, `${s.id} moved to position ${j + 1} of ${b.steps.length}`);
}

// renderSteps puts the step elements in order (moving, not rebuilding, them: what is typed stays) and validates.
function renderSteps(b) {
  const els = b.steps.map((s) => s.el);
  if (els.length !== b.list.children.length || els.some((el, i) => b.list.children[i] !== el)) b.list.replaceChildren(...els);
  b.empty.hidden = b.steps.length > 0;
  labelSteps(b);
  scheduleValidate(b);
}

function labelSteps(b) {
  b.steps.forEach((s, i) => {
    const n = i + 1, what = `step ${n}${s.id ? ` (${s.id})` : ''}`;
    s.el.dataset.step = n;
    s.num.textContent = `${n}.`;
    s.up.disabled = i === 0;
    s.down.disabled = i === b.steps.length - 1;
    s.up.setAttribute('aria-label', `Move ${what} up`);
    s.down.setAttribute('aria-label', `Move ${what} down`);
    s.remove.setAttribute('aria-label', `Remove ${what}`);
  });
}

const chain = (b) => b.steps.map((s) => ({ [s.id]: s.config }));

// stepProblem is what the page can tell without the server: an id, and JSON that is an object.
function stepProblem(s) {
  if (!s.id) return 'Give the step a processor id, such as filter or filter/drop_idle.';
  let config;
  try { config = s.text.trim() ? JSON.parse(s.text) : {}; } catch (err) { return `Not valid JSON: ${err.message}`; }
  if (config !== null && (typeof config !== 'object' || Array.isArray(config))) return 'The configuration must be a JSON object ({} for the defaults).';
  s.config = config || {};
  return '';
}

// scheduleValidate checks the chain once typing pauses; answers to older requests are dropped.
function scheduleValidate(b) {
  b.valid = false;
  b.checking = true;
  updateAdd(b);
  clearTimeout(b.timer);
  b.timer = setTimeout(() => validate(b), 300);
}

async function validate(b) {
  const req = ++b.req;
  const done = (problems, yaml) => {
    b.checking = false;
    showProblems(b, problems);
    b.yaml.textContent = yaml;
    updateAdd(b);
  };
  if (b.steps.length === 0) return done([], ''); // nothing to ask about yet (the pass-through is the baseline)
  const local = b.steps.map((s, i) => ({ step: i + 1, id: s.id, message: stepProblem(s) })).filter((p) => p.message);
  if (local.length) return done(local, '# fix the steps marked above to see the YAML');
  const body = { experiment: b.v.name, processors: chain(b) };
  if (b.name.value.trim()) body.name = b.name.value.trim();
  try {
    const out = await api('POST', '/api/v1/validate', body);
    if (req !== b.req) return; // the chain changed meanwhile: a newer answer is coming
    b.valid = !!out.valid;
    done(out.problems || [], out.yaml || '');
  } catch (err) {
    if (req === b.req) done([{ step: 0, message: `Not checked: ${err.message}` }], '');
  }
}

// showProblems puts each problem at its step (1-based; by id when the number is off), step 0 above the list.
function showProblems(b, problems) {
  for (const s of b.steps) {
    s.problems.replaceChildren();
    s.el.classList.remove('invalid');
    s.textarea.removeAttribute('aria-invalid');
  }
  const top = [];
  for (const p of problems) {
    const s = (p.step >= 1 && b.steps[p.step - 1]) || (p.step >= 1 && b.steps.find((x) => x.id === p.id));
    if (!s) { top.push(p); continue; }
    s.problems.append(h('li', { class: 'bad' }, p.message));
    s.el.classList.add('invalid');
    s.textarea.setAttribute('aria-invalid', 'true');
  }
  b.problems.replaceChildren(...top.map((p) => h('li', { class: 'bad' }, p.id && p.step ? `${p.id}: ` : '', p.message)));
  b.problemCount = problems.length;
}

function updateAdd(b) {
  const named = !!b.name.value.trim();
  b.addBtn.disabled = !b.valid || !named || !!b.busy;
  const n = b.problemCount || 0;
  b.status.textContent = b.busy ? 'adding…' : b.checking ? 'checking…'
    : b.steps.length === 0 ? 'add a step to check the pipeline'
      : !b.valid ? (n ? `${n} problem${n === 1 ? '' : 's'} to fix` : 'not valid')
        : named ? `valid: ${b.steps.length} step${b.steps.length === 1 ? '' : 's'}` : 'valid: name the variant to add it';
}

function announce(b, msg) { b.live.textContent = msg; }

// ---- chart ----
function recordPoint(v, snap) {
  const t = Date.parse(snap.window_end);
  for (const x of snap.variants) {
    if (x.pending) continue; // added mid-window: no figures yet, not zero
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
    case 'variant_added':
    case 'variant_removed': { // the row appears or goes now, not at the next snapshot
      if (views.has(data.experiment)) api('GET', `/api/v1/experiments/${enc(data.experiment)}`).then(renderExperiment, showError);
      if (data.source !== 'api') toast(`${data.experiment}: ${data.variant} ${type === 'variant_added' ? 'added' : 'removed'} (${data.source})`);
      break;
    }
    case 'simulator': renderSimulator(data.simulator, data.status); break;
    case 'chaos': toast(`chaos ${data.event.kind} on ${data.simulator}: ${data.affected} processes`); break;
    default: break;
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
  streamEvents('/api/v1/events', handleEvent, () => setConn('live', 'live'), () => setConn('down', 'disconnected, retrying…'));
}

document.addEventListener('DOMContentLoaded', load);
