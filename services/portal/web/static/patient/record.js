// "My record": the patient's own record from the query service (read with the
// patient's SMART token by the portal), grouped by type, latest first, and its export
// as one FHIR Bundle (JSON) to download.
import { $, api, el, formatDate, handled, showError, state, t, tOr } from './core.js';

export async function loadRecord() {
  const result = await api('GET', '/record');
  state.record = (await handled(result, 'record-error')) ? result.body : null;
}

function entryItem(entry) {
  const item = el('li', 'card entry');
  item.dataset.id = entry.id;
  item.appendChild(el('p', 'when', formatDate(entry.date)));
  item.appendChild(el('p', 'what', entry.what || '-'));
  const facts = [entry.value, entry.status].filter(Boolean).join(' · ');
  if (facts) item.appendChild(el('p', 'facts', facts));
  if (entry.hospital) item.appendChild(el('p', 'code', t('col.hospital') + ': ' + entry.hospital));
  return item;
}

export function renderRecord() {
  const record = state.record;
  $('record-summary').textContent = record ? (record.total ? t('record.total', { n: record.total }) : t('record.empty')) : '';
  $('record-more').hidden = !(record && record.more);
  $('record-exported').hidden = !state.exported;
  $('record-groups').replaceChildren(...(record ? record.groups : []).map((group) => {
    const section = el('section', 'group');
    section.dataset.type = group.type;
    const id = 'group-' + group.type;
    const heading = el('h3', null, tOr('type.' + group.type, group.type) + ' (' + group.entries.length + ')');
    heading.id = id;
    section.setAttribute('aria-labelledby', id);
    section.appendChild(heading);
    const list = el('ul', 'cards');
    list.replaceChildren(...group.entries.map(entryItem));
    section.appendChild(list);
    return section;
  }));
}

// the export: fetched here (so a failure is told on the page), saved as a file
async function exportRecord() {
  state.exported = false;
  $('record-export').disabled = true;
  let response = null;
  try {
    response = await fetch(state.base + '/record/export', { credentials: 'same-origin', headers: { accept: 'application/fhir+json' } });
  } catch (err) {
    response = null;
  }
  $('record-export').disabled = false;
  if (!response || !response.ok) {
    let body = {};
    try { body = response ? await response.json() : {}; } catch (err) { body = {}; }
    await handled({ ok: false, status: response ? response.status : 0, body }, 'record-error');
    renderRecord();
    return;
  }
  const blob = await response.blob();
  const link = el('a');
  link.href = URL.createObjectURL(blob);
  link.download = 'health-link-record.json';
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  showError('record-error', null);
  state.exported = true;
  renderRecord();
}

export function bindRecord() {
  $('record-export').addEventListener('click', exportRecord);
}
