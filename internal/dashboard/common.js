// otelcol-phoenix pages, shared: element building, formatting, the API with the bearer token, notices,
// dialogs and the Server-Sent Events reader. Plain DOM, no build step; loaded before the page's app.js.
// The page's <body> names its token's sessionStorage key (data-token-key) and its API (data-api).
'use strict';

const $ = (sel) => document.querySelector(sel);

// h builds an HTML element: h('td', {class: 'x', onclick: f}, 'text', child); text is set as text, never
// parsed as HTML, so nothing a node or an agent reports can inject markup.
const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
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
  n = n || 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
const pct = (r, digits = 1) => `${((r || 0) * 100).toFixed(digits)}%`;
const isSet = (s) => !!s && !String(s).startsWith('0001-01-01'); // Go's zero time
const fmtTime = (s) => (isSet(s) ? new Date(s).toLocaleTimeString() : '');
// duration shortens the API's Go durations for display: 1m0s → 1m, 1h0m0s → 1h.
const duration = (d) => String(d).replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
// money formats an amount in the cost block's currency (an ISO code; anything else is written after it).
function money(n, currency) {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD', maximumFractionDigits: 2 }).format(n || 0);
  } catch (_) { return `${(n || 0).toFixed(2)} ${currency}`; }
}
const enc = encodeURIComponent;

// ---- API with the token ----
const TOKEN_KEY = document.body.dataset.tokenKey; // sessionStorage: the token lives as long as the tab
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let tokenPrompt = null; // one prompt at a time; every 401 waits for it

// askToken asks for the token after a 401: the first time, or again when the one given was refused.
function askToken() {
  const reason = token ? 'The token was refused. Enter a valid bearer token (kept for this tab only).'
    : `This ${document.body.dataset.api || 'API'} needs a bearer token. It is kept for this tab only.`;
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

// APIError carries the answer's status and JSON body: a 422 from the builder's routes lists problems per step.
class APIError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// api calls the page's API; on 401 it asks for the token and tries again.
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
      let msg = `${res.status} ${res.statusText}`, parsed;
      try { parsed = JSON.parse(text); msg = parsed.error.message; } catch (_) { /* not JSON */ }
      throw new APIError(msg, res.status, parsed);
    }
    return accept === 'application/json' ? JSON.parse(text) : text;
  }
}

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
  toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
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

function setConn(state, text) {
  const c = $('#conn');
  c.className = `conn ${state}`;
  c.textContent = text;
}

// ---- Server-Sent Events ----
// streamEvents reads the API's event stream at path for the page's life, with fetch so that the bearer
// token goes with it (EventSource cannot send one): onEvent(type, data) for each event, onOpen() each time
// the stream is (re)established, onDown() when it drops; it retries with backoff, up to 10 s.
async function streamEvents(path, onEvent, onOpen, onDown) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(path, { headers: authHeaders({ Accept: 'text/event-stream' }) });
      if (res.status === 401) { await askToken(); continue; }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      attempt = 0;
      onOpen();
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
            try { onEvent(type, JSON.parse(data)); } catch (err) { console.warn('bad event', type, err); }
          }
        }
      }
    } catch (_) { /* the collector restarted or the network dropped: retry below */ }
    onDown();
    await new Promise((r) => setTimeout(r, Math.min(10000, 1000 * 2 ** Math.min(attempt, 4))));
  }
}
