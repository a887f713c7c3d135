// The physician's viewer: sign-in, patient look-up, the record; Thai and English.
// The record's banner, trends, overview, break-glass and limits are in static/viewer/*.js.
// Source hospitals are shown by name (the participating hospitals, public, fetched once
// a page load), falling back to the code.
// Every string comes from /i18n/<lang>.json. Sign-in is SMART on FHIR at the auth
// service (/signin → its page → /callback, all server-side); the access token never
// reaches this page: the portal keeps it and this page holds only an HttpOnly cookie.
'use strict';

const state = { csrf: '', lang: 'th', cat: {}, session: null, record: null, refusal: null, glass: null, trendCode: '', errors: {}, hospitals: new Map(), named: null };
const $ = (id) => document.getElementById(id);

function t(key, vars) {
  let text = Object.prototype.hasOwnProperty.call(state.cat, key) ? state.cat[key] : key;
  for (const [name, value] of Object.entries(vars || {})) text = text.split('{' + name + '}').join(String(value));
  return text;
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') { headers['content-type'] = 'application/json'; headers['x-csrf-token'] = state.csrf; }
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, body: { error: 'unavailable' } };
  }
  let data = {};
  try { data = await response.json(); } catch (err) { data = {}; }
  return { ok: response.ok, status: response.status, body: data };
}

// --- hospitals: "Name (code)" where the name is known, else the code
async function loadHospitals() {
  const result = await api('GET', '/api/patient/hospitals');
  const rows = (result.ok && Array.isArray(result.body.hospitals)) ? result.body.hospitals : [];
  for (const row of rows) if (row.code && row.name && row.name !== row.code) state.hospitals.set(row.code, row.name);
}

function hospitalName(code) {
  const name = code ? state.hospitals.get(code) : '';
  return name ? name + ' (' + code + ')' : (code || '');
}

// --- CID: 13 digits, the last one a checksum of the first 12 (shared/cid.py)
function validCid(cid) {
  if (!/^\d{13}$/.test(cid)) return false;
  let total = 0;
  for (let i = 0; i < 12; i += 1) total += Number(cid[i]) * (13 - i);
  return (11 - (total % 11)) % 10 === Number(cid[12]);
}

// --- dates: Thai shows the Buddhist era (th-TH's calendar), English day month year;
// times in Thailand's time zone whatever the browser's, a bare date as written
// (one formatter a language and kind: making one is far dearer than using it, and a
// chart of 1,000 records formats 1,000 dates)
const formatters = new Map();

function formatter(locale, withTime) {
  const key = locale + (withTime ? ' time' : ' date');
  if (!formatters.has(key)) {
    const options = withTime
      ? { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Bangkok' }
      : { dateStyle: 'medium', timeZone: 'UTC' };
    formatters.set(key, new Intl.DateTimeFormat(locale, options));
  }
  return formatters.get(key);
}

function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return formatter(state.lang === 'th' ? 'th-TH' : 'en-GB', value.length > 10).format(date);
}

// --- errors are kept as codes so a language switch re-translates them
function showError(id, code, detail) {
  state.errors[id] = code ? { code, detail } : null;
  renderError(id);
}

function renderError(id) {
  const box = $(id);
  const error = state.errors[id];
  box.hidden = !error;
  box.textContent = error ? t('error.' + error.code) : '';
  if (error && t('error.' + error.code) === 'error.' + error.code) box.textContent = error.detail || t('error.other');
}

function errorCode(result) {
  return (result.body && result.body.error) || (result.status === 0 ? 'unavailable' : 'other');
}

// --- screens
function render() {
  document.documentElement.lang = state.lang;
  document.title = t('app.title');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const button of document.querySelectorAll('[data-lang]')) button.setAttribute('aria-pressed', String(button.dataset.lang === state.lang));
  const signedIn = Boolean(state.session && state.session.signed_in);
  $('signin').hidden = signedIn;
  $('lookup').hidden = !signedIn;
  $('who').hidden = !signedIn;
  $('who-text').textContent = signedIn ? t('who', { licence: state.session.licence, hospital: hospitalName(state.session.hospital) }) : '';
  $('record').hidden = !signedIn || !(state.record || state.refusal);
  for (const id of Object.keys(state.errors)) renderError(id);
  renderRecord();
  $('main').setAttribute('aria-busy', 'false');
}

function cell(row, text, tag) {
  const el = document.createElement(tag || 'td');
  el.textContent = text;
  row.appendChild(el);
}

function renderRecord() {
  const groups = $('groups');
  groups.replaceChildren();
  renderBanner();
  renderGlass();
  renderOverview();
  renderTrend();
  renderLimits();
  const refusal = $('refusal');
  refusal.hidden = !state.refusal;
  if (state.refusal) {
    const reason = 'refusal.' + state.refusal.reason;
    refusal.dataset.reason = state.refusal.reason;
    refusal.textContent = t('refusal.title') + ' ' + (t(reason) === reason ? state.refusal.detail : t(reason));
    $('record-title').textContent = t('record.title', { cid: state.refusal.cid });
    $('record-summary').textContent = '';
    return;
  }
  if (!state.record) return;
  const record = state.record;
  $('record-title').textContent = t('record.title', { cid: record.cid });
  $('record-summary').textContent = record.total ? t('record.total', { n: record.total }) : t('record.empty');
  for (const group of record.groups) {
    const section = document.createElement('section');
    section.className = 'group' + (group.type === 'AllergyIntolerance' ? ' allergies' : '');
    section.dataset.type = group.type;
    const heading = document.createElement('h3');
    const typeKey = 'type.' + group.type;
    heading.textContent = (t(typeKey) === typeKey ? group.type : t(typeKey)) + ' (' + group.entries.length + ')';
    section.appendChild(heading);
    const table = document.createElement('table');
    const head = document.createElement('tr');
    for (const key of ['col.date', 'col.what', 'col.value', 'col.status', 'col.hospital']) cell(head, t(key), 'th');
    table.appendChild(head);
    for (const entry of group.entries) {
      const row = document.createElement('tr');
      cell(row, formatDate(entry.date));
      cell(row, entry.what);
      cell(row, entry.value);
      cell(row, entry.status);
      cell(row, hospitalName(entry.hospital));
      table.appendChild(row);
    }
    section.appendChild(table);
    groups.appendChild(section);
  }
}

async function loadCatalogue(lang) {
  const response = await fetch('/i18n/' + lang + '.json', { credentials: 'same-origin' });
  state.cat = await response.json();
  state.lang = lang;
}

// --- actions
async function lookUp(event) {
  event.preventDefault();
  const cid = $('cid').value.replace(/[\s-]/g, '');
  state.record = null;
  state.refusal = null;
  if (!validCid(cid)) { showError('lookup-error', 'invalid-cid'); render(); return; }
  showError('lookup-error', null);
  showError('glass-error', null);
  await readRecord(cid);
}

async function readRecord(cid) {
  $('lookup-submit').disabled = true;
  const result = await api('GET', '/api/patients/' + encodeURIComponent(cid) + '/record');
  await state.named;  // the hospitals' names, asked for at the start (drawn once, with them)
  $('lookup-submit').disabled = false;
  state.record = null;
  state.refusal = null;
  if (result.ok) {
    state.record = result.body;
  } else if (result.body.error === 'refused') {
    state.refusal = { cid, reason: result.body.reason, detail: result.body.detail };
  } else if (result.status === 401) {
    await refreshSession();
    showError('signin-error', 'signed-out');
  } else {
    showError('lookup-error', errorCode(result), result.body.detail);
  }
  render();
}

async function signOut() {
  const result = await api('POST', '/api/session/end', {});
  if (result.ok) { state.session = result.body; state.csrf = result.body.csrf; }
  else await refreshSession();
  state.record = null;
  state.refusal = null;
  state.glass = null;
  state.errors = {};
  render();
  $('signin-start').focus();
}

async function chooseLanguage(lang) {
  await loadCatalogue(lang);
  await api('POST', '/api/language', { lang });
  render();
}

async function refreshSession() {
  const result = await api('GET', '/api/session');
  state.session = result.ok ? result.body : { signed_in: false };
  state.csrf = result.ok ? result.body.csrf : '';
  return state.session;
}

async function start() {
  state.named = loadHospitals();
  const session = await refreshSession();
  await loadCatalogue(session.lang || 'th');
  $('lookup-form').addEventListener('submit', lookUp);
  $('glass-form').addEventListener('submit', declareBreakGlass);
  $('trend-code').addEventListener('change', chooseTrend);
  $('sign-out').addEventListener('click', signOut);
  for (const button of document.querySelectorAll('[data-lang]')) button.addEventListener('click', () => chooseLanguage(button.dataset.lang));
  // back from the auth service's sign-in page (/callback): a failure comes as a code
  const failed = new URLSearchParams(window.location.search).get('signin-error');
  if (failed) {
    showError('signin-error', /^signin-[a-z]+$/.test(failed) ? failed : 'other');
    window.history.replaceState(null, '', '/');
  }
  render();
  state.named.then(() => { if (state.hospitals.size) render(); });
  if (session.signed_in) $('cid').focus();
  else if (failed) $('signin-start').focus();
}

document.addEventListener('DOMContentLoaded', start);
