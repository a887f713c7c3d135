// The record's overview: counts by data category and by source hospital, and the
// timeline of visits (date, hospital, type and class), newest first.
'use strict';

function typeName(type) {
  const key = 'type.' + type;
  return t(key) === key ? type : t(key);
}

function countTable(table, rows, headKey, name) {
  table.replaceChildren();
  const head = document.createElement('tr');
  cell(head, t(headKey), 'th');
  cell(head, t('overview.count'), 'th');
  table.appendChild(head);
  for (const row of rows) {
    const line = document.createElement('tr');
    cell(line, name(row));
    cell(line, String(row.n));
    table.appendChild(line);
  }
}

function renderOverview() {
  const record = state.record;
  const shown = Boolean(record && record.total);
  $('overview').hidden = !shown;
  $('visits').hidden = !(shown && record.visits.length);
  if (!shown) return;
  countTable($('by-type'), record.by_type, 'overview.category', (row) => typeName(row.type));
  countTable($('by-hospital'), record.by_hospital, 'col.hospital', (row) => hospitalName(row.hospital));
  const list = $('visit-list');
  list.replaceChildren();
  for (const visit of record.visits) {
    const item = document.createElement('li');
    const when = document.createElement('strong');
    when.textContent = formatDate(visit.date);
    item.appendChild(when);
    const classKey = 'visits.class.' + visit.code;
    const kind = t(classKey) === classKey ? visit.class : t(classKey);
    const what = [visit.type, kind].filter(Boolean).join(' · ');
    item.appendChild(document.createTextNode(' — ' + t('visits.at', { hospital: hospitalName(visit.hospital) || '?' }) + (what ? ' · ' + what : '')));
    list.appendChild(item);
  }
}
