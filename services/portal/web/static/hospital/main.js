// The hospital console: hospital staff sign in with the hospital's code and admin key,
// then keep the roster (add a physician by licence, remove one) and see this hospital's
// set-aside uploads with their reasons (send one again), the data requests Health Link
// made of the hospital (a page at a time), and its keys (keys.js). Thai and English; every string
// comes from /i18n/hospital.<lang>.json. The admin key stays in the portal.
import {
  $, api, button, el, enter, formatDate, formError, go, handled, renderError, signIn,
  signedIn, startPage, state, t, tOr, translatePage,
} from '../common/page.js';
import { bindKeys, forgetKeys, loadKeys, renderKeys } from './keys.js';

const SCREENS = ['physicians', 'uploads', 'requests', 'keys'];
// what the screens show; `done`: the last change's message per screen (a key, its
// values and a time, so a language switch re-translates it); `next`: the cursor of the
// uploads' next page (they come a page at a time, oldest letters first); the data
// requests likewise (`requestsNext`)
const data = { roster: null, uploads: null, next: null, requests: null, requestsNext: null, done: {} };

async function forget() {
  data.roster = null; data.uploads = null; data.next = null;
  data.requests = null; data.requestsNext = null; data.done = {};
  forgetKeys();
}

async function loadRoster() {
  const result = await api('GET', '/physicians');
  if (await handled(result, 'roster-error')) data.roster = result.body.physicians;
}

async function loadUploads() {
  const result = await api('GET', '/uploads/set-aside');
  if (await handled(result, 'uploads-error')) { data.uploads = result.body.entries; data.next = result.body.next; }
}

async function moreUploads() {
  if (!data.next) return;
  $('main').setAttribute('aria-busy', 'true');
  const result = await api('GET', '/uploads/set-aside?cursor=' + encodeURIComponent(data.next));
  if (await handled(result, 'uploads-error')) {
    data.uploads = (data.uploads || []).concat(result.body.entries);
    data.next = result.body.next;
  }
  render();
}

// a page of data requests: the first one, or (`more`) the next one added below
async function loadRequests(more = false) {
  const cursor = more && data.requestsNext ? '?cursor=' + encodeURIComponent(data.requestsNext) : '';
  const result = await api('GET', '/data-requests' + cursor);
  if (!(await handled(result, 'requests-error'))) return;
  data.requests = [...(more ? data.requests || [] : []), ...result.body.requests];
  data.requestsNext = result.body.more ? result.body.next : null;
}

async function loadScreen() {
  if (!signedIn()) return;
  if (state.screen === 'physicians') await loadRoster();
  else if (state.screen === 'requests') await loadRequests();
  else if (state.screen === 'keys') await loadKeys();
  else await loadUploads();
}

function physicianItem(licence) {
  const item = el('li', 'card physician');
  item.dataset.licence = licence;
  item.appendChild(el('p', 'title', t('roster.entry', { licence })));
  const remove = button(t('roster.remove'), () => removePhysician(licence), 'secondary remove');
  remove.setAttribute('aria-label', t('roster.remove-one', { licence }));
  item.appendChild(remove);
  return item;
}

function contents(entry) {
  const types = Object.entries(entry.resource_types || {}).map(([type, n]) => type + ' × ' + n);
  return types.length ? types.join(', ') : t('uploads.unreadable');
}

function uploadItem(entry) {
  const pending = entry.status === 'pending';
  const item = el('li', 'card upload' + (pending ? ' pending' : ' retried'));
  item.dataset.id = entry.id;
  item.dataset.reason = entry.reason;
  item.appendChild(el('p', 'when', formatDate(entry.time)));
  item.appendChild(el('p', 'status reason', tOr('reason.' + entry.reason, entry.reason)));
  if (entry.detail) item.appendChild(el('p', 'detail', entry.detail));
  const facts = [t('uploads.receipt', { id: entry.upload_id || '-' }), t('uploads.size', { n: entry.bytes || 0 })];
  item.appendChild(el('p', 'facts', facts.join(' · ')));
  item.appendChild(el('p', 'facts contents', t('uploads.contents', { what: contents(entry) })));
  if (pending) {
    const retry = button(t('uploads.retry'), () => retryUpload(entry), 'grant retry');
    retry.setAttribute('aria-label', t('uploads.retry-one', { when: formatDate(entry.time) }));
    item.appendChild(retry);
  } else {
    item.appendChild(el('p', 'status', t('uploads.retried-at', { when: formatDate(entry.retried_at) })));
  }
  return item;
}

function requestItem(request) {
  const item = el('li', 'card request');
  item.dataset.id = request.id;
  item.appendChild(el('p', 'when', formatDate(request.time)));
  item.appendChild(el('p', 'title', t('requests.entry', { patient: request.patient })));
  item.appendChild(el('p', 'facts', t('requests.facts', { id: request.id, reason: request.reason })));
  return item;
}

async function moreRequests() {
  $('main').setAttribute('aria-busy', 'true');
  await loadRequests(true);
  render();
  if ($('requests-more').hidden) $('requests-refresh').focus(); else $('requests-more').focus();
}

function renderDone(id, screen) {
  const done = data.done[screen];
  $(id).hidden = !done;
  $(id).textContent = done ? t(done.key, { ...done.vars, when: formatDate(done.time) }) : '';
}

function render() {
  translatePage();
  const inside = signedIn();
  $('signin').hidden = inside;
  $('who').hidden = !inside;
  $('tabs').hidden = !inside;
  $('who-text').textContent = inside ? t('who', { name: state.session.name, hospital: state.session.hospital }) : '';
  for (const screen of SCREENS) $(screen).hidden = !inside || state.screen !== screen;
  for (const id of Object.keys(state.errors)) if (state.errors[id]) renderError(id);
  $('roster-list').replaceChildren(...(data.roster || []).map(physicianItem));
  $('roster-none').hidden = !data.roster || data.roster.length > 0;
  $('upload-list').replaceChildren(...(data.uploads || []).map(uploadItem));
  $('uploads-none').hidden = !data.uploads || data.uploads.length > 0 || !!data.next;
  $('uploads-more').hidden = !data.next;
  $('request-list').replaceChildren(...(data.requests || []).map(requestItem));
  $('requests-none').hidden = !data.requests || data.requests.length > 0;
  $('requests-more').hidden = !data.requestsNext;
  renderDone('roster-done', 'physicians');
  renderDone('uploads-done', 'uploads');
  renderKeys(render);
  $('main').setAttribute('aria-busy', 'false');
}

async function signInForm(event) {
  event.preventDefault();
  const hospital = $('code').value.trim();
  const key = $('key').value.trim();
  if (!/^\d{5}$/.test(hospital) || !key) { formError('signin-error', 'signin-format'); return; }
  const form = { submit: 'signin-submit', secret: 'key', error: 'signin-error' };
  if (!(await signIn('/session', { hospital, key }, form))) return;
  await enter();
  (state.screen === 'physicians' ? $('licence') : $('uploads-refresh')).focus();
}

async function change(screen, errorId, call, done) {
  $('main').setAttribute('aria-busy', 'true');
  data.done[screen] = null;
  const result = await call();
  if (await handled(result, errorId)) { data.done[screen] = done; await loadScreen(); }
  render();
  return result.ok;
}

async function addPhysician(event) {
  event.preventDefault();
  const licence = $('licence').value.trim();
  if (!/^\d{3,8}$/.test(licence)) { formError('roster-error', 'licence-format'); return; }
  const added = await change('physicians', 'roster-error', () => api('POST', '/physicians', { licence }),
    { key: 'roster.added', vars: { licence } });
  if (added) $('licence').value = '';
  $('licence').focus();
}

async function removePhysician(licence) {
  await change('physicians', 'roster-error', () => api('DELETE', '/physicians/' + encodeURIComponent(licence)),
    { key: 'roster.removed', vars: { licence } });
  $('licence').focus();
}

async function retryUpload(entry) {
  await change('uploads', 'uploads-error', () => api('POST', '/uploads/set-aside/' + encodeURIComponent(entry.id) + '/retry', {}),
    { key: 'uploads.retried', vars: {}, time: entry.time });
  $('uploads-refresh').focus();
}

document.addEventListener('DOMContentLoaded', () => startPage({
  base: '/api/hospital', catalogue: 'hospital', screens: SCREENS, first: 'code',
  render, load: loadScreen, forget,
  bind() {
    $('signin-form').addEventListener('submit', signInForm);
    $('add-form').addEventListener('submit', addPhysician);
    $('uploads-refresh').addEventListener('click', () => go('uploads', false));
    $('uploads-more').addEventListener('click', moreUploads);
    $('requests-refresh').addEventListener('click', () => go('requests', false));
    $('requests-more').addEventListener('click', moreRequests);
    bindKeys(render);
  },
}));
