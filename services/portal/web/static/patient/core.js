// The patient portal's shared parts: state, the catalogue, calls to the portal's API,
// dates and errors. The patient's token never reaches this page: the portal keeps it
// and this page holds only an HttpOnly session cookie (docs/portal.md).

export const state = {
  csrf: '', lang: 'th', cat: {}, session: null, screen: 'consent',
  consent: null, directory: null, accesses: null, inbox: null, errors: {},
};

export const $ = (id) => document.getElementById(id);

export function t(key, vars) {
  let text = Object.prototype.hasOwnProperty.call(state.cat, key) ? state.cat[key] : key;
  for (const [name, value] of Object.entries(vars || {})) text = text.split('{' + name + '}').join(String(value));
  return text;
}

// t(key), or `fallback` when the catalogue has no such key
export function tOr(key, fallback, vars) {
  return Object.prototype.hasOwnProperty.call(state.cat, key) ? t(key, vars) : fallback;
}

export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') { headers['content-type'] = 'application/json'; headers['x-csrf-token'] = state.csrf; }
  let response;
  try {
    response = await fetch('/api/patient' + path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, body: { error: 'unavailable' } };
  }
  let data = {};
  try { data = await response.json(); } catch (err) { data = {}; }
  return { ok: response.ok, status: response.status, body: data };
}

export async function loadCatalogue(lang) {
  const response = await fetch('/i18n/patient.' + lang + '.json', { credentials: 'same-origin' });
  state.cat = await response.json();
  state.lang = lang;
}

// --- CID: 13 digits, the last one a checksum of the first 12 (shared/cid.py)
export function cleanCid(value) { return value.replace(/[\s-]/g, ''); }

export function validCid(cid) {
  if (!/^\d{13}$/.test(cid)) return false;
  let total = 0;
  for (let i = 0; i < 12; i += 1) total += Number(cid[i]) * (13 - i);
  return (11 - (total % 11)) % 10 === Number(cid[12]);
}

// --- dates: Thai shows the Buddhist era (th-TH's calendar), English day month year;
// always in Thailand's time zone whatever the browser's
export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const locale = state.lang === 'th' ? 'th-TH' : 'en-GB';
  const options = { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Bangkok' };
  return new Intl.DateTimeFormat(locale, options).format(date);
}

// --- errors are kept as codes (and their values) so a language switch re-translates them
export function showError(id, result) {
  if (!result) { state.errors[id] = null; renderError(id); return; }
  const body = result.body || {};
  let code = body.error || (result.status === 0 ? 'unavailable' : 'other');
  if (!body.error && (result.status === 400 || result.status === 422)) code = 'invalid';
  const vars = body.remaining === undefined || body.remaining === null ? {} : { remaining: body.remaining };
  state.errors[id] = { code, detail: body.detail, vars };
  renderError(id);
}

export function formError(id, code) { showError(id, { status: 400, body: { error: code } }); }

export function renderError(id) {
  const box = $(id);
  const error = state.errors[id];
  box.hidden = !error;
  box.dataset.code = error ? error.code : '';
  box.textContent = error ? tOr('error.' + error.code, error.detail || t('error.other'), error.vars) : '';
}

export function clearErrors() {
  for (const id of Object.keys(state.errors)) showError(id, null);
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function button(text, onClick, className) {
  const node = el('button', className, text);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

// main.js fills these in: redraw the page; the session ended (a 401 from the portal)
export const hooks = { render: () => {}, signedOut: async () => {} };

// a call's result: true when it went through; a 401 ends the session on the page too
export async function handled(result, errorId) {
  if (result.ok) { showError(errorId, null); return true; }
  if (result.status === 401) { await hooks.signedOut(); return false; }
  showError(errorId, result);
  return false;
}
