// What the portal's ES-module pages share (the patient portal, the hospital console):
// state, the catalogue, calls to the page's part of the portal's API, the language
// switch, screens by address, dates and errors. No credential ever reaches a page: the
// portal keeps it and the page holds only an HttpOnly session cookie (docs/portal.md).

// `base`: the page's API ('/api/patient'); `catalogue`: its catalogues' name and its
// address ('patient': /i18n/patient.th.json, /patient/<screen>); `screens`: its screens
export const state = {
  csrf: '', lang: 'th', cat: {}, session: null, screen: '', screens: [], errors: {}, base: '', catalogue: '',
};

function configure(page) {
  state.base = page.base;
  state.catalogue = page.catalogue;
  state.screens = page.screens;
  state.screen = screenOf(location.pathname);
  for (const name of Object.keys(hooks)) hooks[name] = page[name];
}

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
    response = await fetch(state.base + path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, body: { error: 'unavailable' } };
  }
  let data = {};
  try { data = await response.json(); } catch (err) { data = {}; }
  return { ok: response.ok, status: response.status, body: data };
}

export async function loadCatalogue(lang) {
  const response = await fetch('/i18n/' + state.catalogue + '.' + lang + '.json', { credentials: 'same-origin' });
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
  state.errors[id] = { code, detail: body.detail };
  renderError(id);
}

export function formError(id, code) { showError(id, { status: 400, body: { error: code } }); }

export function renderError(id) {
  const box = $(id);
  const error = state.errors[id];
  box.hidden = !error;
  box.dataset.code = error ? error.code : '';
  box.textContent = error ? tOr('error.' + error.code, error.detail || t('error.other')) : '';
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

// main.js fills these in: redraw the page; load what the screen shows; forget what was
// loaded (signed out); the field to focus after signing out
export const hooks = { render: () => {}, load: async () => {}, forget: async () => {}, first: '' };

// a call's result: true when it went through; a 401 ends the session on the page too
export async function handled(result, errorId) {
  if (result.ok) { showError(errorId, null); return true; }
  if (result.status === 401) { await signedOut(); return false; }
  showError(errorId, result);
  return false;
}

// --- what every page does the same way: translate its fixed text, know who is signed
// in, switch language, show the screen its address names, sign out
export function translatePage() {
  document.documentElement.lang = state.lang;
  document.title = t('app.title');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  for (const node of document.querySelectorAll('[data-lang]')) node.setAttribute('aria-pressed', String(node.dataset.lang === state.lang));
  markTabs();
}

export async function refreshSession() {
  const result = await api('GET', '/session');
  state.session = result.ok ? result.body : { signed_in: false };
  state.csrf = result.ok ? result.body.csrf : '';
  return state.session;
}

export const signedIn = () => Boolean(state.session && state.session.signed_in);

// `/<page>/<screen>` → screen, else the page's first
export function screenOf(path) {
  const name = path.split('/').filter(Boolean)[1] || '';
  return state.screens.includes(name) ? name : state.screens[0];
}

export const pathOf = (screen) => '/' + state.catalogue + '/' + screen;

// the tabs: one link a screen, its name from the catalogue (`nav.<screen>`)
function buildTabs() {
  $('tabs').replaceChildren(...state.screens.map((screen) => {
    const tab = el('a', null, t('nav.' + screen));
    tab.href = pathOf(screen);
    tab.id = 'tab-' + screen;
    tab.dataset.screen = screen;
    tab.dataset.i18n = 'nav.' + screen;
    tab.addEventListener('click', (event) => { event.preventDefault(); go(screen, true); });
    return tab;
  }));
}

function markTabs() {
  for (const tab of $('tabs').children) {
    if (state.screen === tab.dataset.screen) tab.setAttribute('aria-current', 'page'); else tab.removeAttribute('aria-current');
  }
}

// load and draw a screen (`push`: a new address in the history, so reload and back work)
export async function go(screen, push) {
  $('main').setAttribute('aria-busy', 'true');  // until render(): the screen is loading
  state.screen = screen;
  if (push) history.pushState({ screen }, '', pathOf(screen));
  await hooks.load();
  hooks.render();
}

// sign in (POST `path` with `body`; `form`: the ids of its submit button, its secret
// field, emptied whatever the answer, and its error box): true when signed in
export async function signIn(path, body, form) {
  $(form.submit).disabled = true;
  const result = await api('POST', path, body);
  $(form.submit).disabled = false;
  $(form.secret).value = '';
  if (!result.ok) { showError(form.error, result); return false; }
  state.session = result.body;
  state.csrf = result.body.csrf;
  clearErrors();
  return true;
}

// once signed in: the screen the address names, loaded and drawn
export async function enter() {
  const screen = screenOf(location.pathname);
  history.replaceState({ screen }, '', pathOf(screen));
  await go(screen, false);
}

export async function signOut() {
  const result = await api('POST', '/session/end', {});
  if (result.ok) { state.session = result.body; state.csrf = result.body.csrf; } else await refreshSession();
  clearErrors();
  await hooks.forget();
  hooks.render();
  $(hooks.first).focus();
}

// the portal said the session has ended (a 401): say so, and show the sign-in again
async function signedOut() {
  await refreshSession();
  clearErrors();
  await hooks.forget();
  showError('session-error', { status: 401, body: { error: 'signed-out' } });
  hooks.render();
}

// the page's start (`page`: its base, catalogue and screens, the hooks, and `bind`,
// which binds its own controls): who is signed in, its catalogue, the language buttons,
// the tabs, sign-out, the first screen loaded and drawn
export async function startPage(page) {
  configure(page);
  page.bind();
  const session = await refreshSession();
  await loadCatalogue(session.lang || 'th');
  for (const node of document.querySelectorAll('[data-lang]')) {
    node.addEventListener('click', async () => {
      await loadCatalogue(node.dataset.lang);
      await api('POST', '/language', { lang: node.dataset.lang });
      hooks.render();
    });
  }
  buildTabs();
  window.addEventListener('popstate', () => go(screenOf(location.pathname), false));
  $('sign-out').addEventListener('click', signOut);
  await hooks.load();
  hooks.render();
}
