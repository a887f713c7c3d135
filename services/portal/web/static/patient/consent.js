// The consent screen: all hospitals, sensitive data, each participating hospital with its
// role and consent mode, per-visit consents, and withdrawing everything.
import { $, api, button, el, formatDate, formError, handled, hooks, showError, state, t, tOr } from './core.js';

let saved = null;

export async function loadDirectory() {
  const result = await api('GET', '/hospitals');
  state.directory = result.ok ? result.body.hospitals : null;
}

export function renderDirectory() {
  const rows = (state.directory || []).filter((row) => row.active);
  $('directory-list').replaceChildren(...rows.map((row) => {
    const item = el('li', 'card hospital');
    item.dataset.code = row.code;
    item.appendChild(el('strong', 'name', row.name));
    item.appendChild(el('span', 'code', ' ' + row.code));
    item.appendChild(el('p', 'facts', tOr('role.' + row.role, row.role) + ' · ' + tOr('mode.' + row.consent_mode, row.consent_mode)));
    return item;
  }));
  return rows.length > 0;
}

export async function loadConsent() {
  const result = await api('GET', '/consent');
  if (await handled(result, 'consent-error')) state.consent = result.body;
}

async function change(method, path, body, errorId) {
  $('main').setAttribute('aria-busy', 'true');  // until render()
  for (const control of document.querySelectorAll('#consent button, #consent input, #consent select')) control.disabled = true;
  const result = await api(method, path, body);
  for (const control of document.querySelectorAll('#consent button, #consent input, #consent select')) control.disabled = false;
  const done = await handled(result, errorId || 'consent-error');
  if (done) {
    state.consent = result.body;
    $('consent-saved').hidden = false;
    clearTimeout(saved);
    saved = setTimeout(() => { $('consent-saved').hidden = true; }, 4000);
  } else {
    $('consent-saved').hidden = true;
  }
  hooks.render();
  return done;
}

function hospitalStatus(row, everyone) {
  if (!row.role || !row.active) return t('consent.left');
  if (row.chosen) return t('consent.chosen');
  if (everyone) return t('consent.covered-by-all');
  return t('consent.not-chosen');
}

function hospitalItem(row, everyone) {
  const item = el('li', 'card hospital' + (row.covered ? ' covered' : ''));
  item.dataset.code = row.code;
  item.appendChild(el('strong', 'name', row.name));
  item.appendChild(el('span', 'code', ' ' + row.code));
  const facts = el('p', 'facts');
  if (row.role) facts.textContent = tOr('role.' + row.role, row.role) + ' · ' + tOr('mode.' + row.consent_mode, row.consent_mode);
  item.appendChild(facts);
  const status = el('p', 'status', hospitalStatus(row, everyone));
  status.dataset.chosen = String(row.chosen);
  item.appendChild(status);
  if (row.chosen) {
    item.appendChild(button(t('consent.revoke'), () => change('DELETE', '/consent/hospitals/' + row.code), 'revoke secondary'));
  } else if (row.role && row.active) {
    item.appendChild(button(t('consent.grant'), () => change('POST', '/consent/hospitals', { code: row.code }), 'grant'));
  }
  return item;
}

function visitItem(visit) {
  const item = el('li', 'card visit' + (visit.live ? ' live' : ''));
  item.dataset.id = visit.id;
  const hospital = (visit.requesting_name || visit.requesting_hospital);
  const sources = visit.sources.map((s) => s.name).join(', ');
  item.appendChild(el('p', null, t('visits.item', { hospital, sources, until: formatDate(visit.until) })));
  const status = visit.revoked ? 'visits.revoked' : visit.live ? 'visits.live' : 'visits.ended';
  item.appendChild(el('p', 'status', t(status)));
  if (visit.live) item.appendChild(button(t('visits.revoke'), () => change('DELETE', '/consent/visits/' + encodeURIComponent(visit.id)), 'revoke secondary'));
  return item;
}

function renderVisitForm(hospitals) {
  const select = $('visit-requesting');
  const chosen = select.value;
  select.replaceChildren(el('option', null, '—'));
  select.firstChild.value = '';
  for (const row of hospitals.filter((h) => h.role && h.active)) {
    const option = el('option', null, row.name + ' (' + tOr('mode.' + row.consent_mode, row.consent_mode) + ')');
    option.value = row.code;
    select.appendChild(option);
  }
  select.value = chosen;
  const boxes = $('visit-sources');
  const ticked = new Set([...boxes.querySelectorAll('input:checked')].map((b) => b.value));
  boxes.replaceChildren();
  for (const row of hospitals.filter((h) => h.role === 'provider' && h.active)) {
    const label = el('label', 'check');
    const box = el('input');
    box.type = 'checkbox';
    box.value = row.code;
    box.checked = ticked.has(row.code);
    label.appendChild(box);
    label.appendChild(document.createTextNode(' ' + row.name));
    boxes.appendChild(label);
  }
  if (!$('visit-until').value) {
    const tomorrow = new Date(Date.now() + 86400000 + 7 * 3600000);  // Thai time, a day ahead
    $('visit-until').value = tomorrow.toISOString().slice(0, 16);
  }
}

export function renderConsent() {
  const consent = state.consent;
  if (!consent) {  // signed out: nothing of the last patient stays on the page
    $('hospital-list').replaceChildren();
    $('visit-list').replaceChildren();
    return;
  }
  $('all-hospitals').checked = consent.all_hospitals;
  $('sensitive').checked = consent.allow_sensitive;
  const list = $('hospital-list');
  list.replaceChildren(...consent.hospitals.map((row) => hospitalItem(row, consent.all_hospitals)));
  $('hospitals-none').hidden = consent.hospitals.length > 0;
  $('visit-list').replaceChildren(...consent.visits.map(visitItem));
  $('visits-none').hidden = consent.visits.length > 0;
  renderVisitForm(consent.hospitals);
}

async function addVisit(event) {
  event.preventDefault();
  const requesting = $('visit-requesting').value;
  const sources = [...$('visit-sources').querySelectorAll('input:checked')].map((b) => b.value);
  const until = $('visit-until').value;
  if (!requesting || !sources.length || !until) { formError('visit-error', 'visit-form'); return; }
  const done = await change('POST', '/consent/visits', { requesting_hospital: requesting, sources, until }, 'visit-error');
  if (done) showError('visit-error', null);
}

export function bindConsent() {
  $('all-hospitals').addEventListener('change', (e) => change('PUT', '/consent/all', { on: e.target.checked }));
  $('sensitive').addEventListener('change', (e) => change('PUT', '/consent/sensitive', { on: e.target.checked }));
  $('visit-form').addEventListener('submit', addVisit);
  $('revoke-everything').addEventListener('click', () => change('DELETE', '/consent'));
}
