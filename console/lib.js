// Plumbing of the OpenKCM console: the admin API client, DOM building without innerHTML,
// messages, the confirmation dialog and one-time downloads. Every decision is the admin
// API's (src/server/admin*.ts): this file only carries requests and shows answers.

/** An admin API failure, with the API's own code, message and hint. */
export class ApiError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

/**
 * One admin API call on this origin. The browser authenticates it: its client certificate
 * (mutual TLS) or the SSO session cookie. JSON in, JSON out; errors become ApiError.
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `the server did not answer (${e.message})`, 'check that openkcm is running and that the browser presents the admin certificate');
  }
  const text = await res.text();
  let json = {};
  if (text !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'bad-response', `${method} ${path} answered ${res.status} with a body that is not JSON`);
    }
  }
  if (!res.ok) {
    const e = json && json.error ? json.error : {};
    throw new ApiError(res.status, e.code ?? String(res.status), e.message ?? `${method} ${path} answered ${res.status}`, e.hint);
  }
  return json;
}

/** Path segment of a name (tenant, service…), encoded. */
export const seg = (s) => encodeURIComponent(s);

/**
 * Builds an element. attrs: attributes (on* keys become listeners, `text` sets textContent);
 * children: nodes, strings (as text) or arrays of them; null/undefined/false are skipped.
 * Text is never parsed as markup: a tenant or audit detail cannot inject anything.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Replaces an element's children (same rules as h(): null, undefined and false are skipped). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** A table with a caption, header cells of scope col, and one row per item. */
export function table(caption, headers, rows, empty = 'None.') {
  if (rows.length === 0) return h('p', { class: 'muted' }, `${caption}: ${empty}`);
  return h('table', {},
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c)))))));
}

/** A labelled form field: <p><label for=id>text</label><input id=id …></p>. */
export function field(id, label, attrs = {}, control = 'input') {
  const input = control === 'select' ? h('select', { id, name: id, ...attrs }) : h('input', { id, name: id, autocomplete: 'off', ...attrs });
  return h('p', {}, h('label', { for: id, text: label }), input);
}

export function options(select, values, selected) {
  select.replaceChildren(...values.map((v) => h('option', { value: v, selected: v === selected, text: v })));
}

export function badge(kind, text) {
  return h('span', { class: `badge ${kind}`, text });
}

// ------------------------------------------------------------------ messages

export function say(text) {
  clearError();
  document.getElementById('status').textContent = text;
}

export function clearError() {
  const e = document.getElementById('error');
  e.hidden = true;
  e.replaceChildren();
}

export function showError(err) {
  const e = document.getElementById('error');
  document.getElementById('status').textContent = '';
  const msg = err instanceof ApiError ? err.message : `unexpected error: ${err && err.message ? err.message : String(err)}`;
  fill(e,
    h('strong', { text: 'Refused: ' }), msg,
    err instanceof ApiError && err.hint ? h('span', { class: 'hint' }, ' — ', err.hint) : null,
  );
  e.hidden = false;
}

/** Runs an action of a button: disabled while it runs, its error shown, never thrown further. */
export async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

// ------------------------------------------------------------------ confirmation

/**
 * Asks before an act that cannot be undone lightly. With `typed`, the OK button stays
 * disabled until the person types that text (the tenant's name for a kill switch).
 * Resolves to { reason } or null when cancelled.
 */
export function confirmAct({ title, text, ok, typed, reason }) {
  const dlg = document.getElementById('confirm');
  const okBtn = document.getElementById('confirm-ok');
  const typedRow = document.getElementById('confirm-typed-row');
  const typedInput = document.getElementById('confirm-typed');
  const reasonRow = document.getElementById('confirm-reason-row');
  const reasonInput = document.getElementById('confirm-reason');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  okBtn.textContent = ok;
  typedRow.hidden = typed === undefined;
  typedInput.value = '';
  document.getElementById('confirm-typed-label').textContent = typed === undefined ? '' : `Type ${typed} to confirm`;
  reasonRow.hidden = !reason;
  reasonInput.value = '';
  const sync = () => { okBtn.disabled = typed !== undefined && typedInput.value !== typed; };
  sync();
  typedInput.oninput = sync;
  return new Promise((resolve) => {
    const done = (value) => {
      dlg.onclose = null;
      document.getElementById('confirm-cancel').onclick = null;
      if (dlg.open) dlg.close();
      resolve(value);
    };
    document.getElementById('confirm-cancel').onclick = () => done(null);
    dlg.onclose = () => done(dlg.returnValue === 'ok' && !okBtn.disabled ? { reason: reasonInput.value.trim() || undefined } : null);
    dlg.returnValue = '';
    dlg.showModal();
    (typed !== undefined ? typedInput : okBtn).focus();
  });
}

// ------------------------------------------------------------------ downloads

/** Saves text as a file through the browser's download (a blob URL, revoked right after). */
export function download(name, text, type = 'application/x-pem-file') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  return String(iso).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
