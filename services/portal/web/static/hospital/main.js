// The hospital console: hospital staff sign in with the hospital's code and admin key,
// then keep the roster (add a physician by licence, remove one) and see this hospital's
// set-aside uploads with their reasons (send one again). Thai and English; every string
// comes from /i18n/hospital.<lang>.json. The admin key stays in the portal.
import {
  $, api, button, el, enter, formatDate, formError, go, handled, renderError, signIn,
  signedIn, startPage, state, t, tOr, translatePage,
} from '../common/page.js';

const SCREENS = ['physicians', 'uploads'];
// what the screens show; `done`: the last change's message per screen (a key, its
// values and a time, so a language switch re-translates it); `next`: the cursor of the
// uploads' next page (they come a page at a time, oldest letters first)
const data = { roster: null, uploads: null, next: null, done: {} };

async function forget() {
  data.roster = null; data.uploads = null; data.next = null; data.done = {};
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

async function loadScreen() {
  if (!signedIn()) return;
  if (state.screen === 'physicians') await loadRoster(); else await loadUploads();
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
  renderDone('roster-done', 'physicians');
  renderDone('uploads-done', 'uploads');
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
  },
}));
