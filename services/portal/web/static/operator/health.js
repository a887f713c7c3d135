// The operator view's status screen: each service's readiness (ready; not ready with
// the checks that fail; not answering) and key metrics, and the audit log verified on
// demand (the audit service recomputes every chain against its tip).
import { $, api, el, handled, t } from '../common/page.js';
import { data, hooks } from './shared.js';

export async function loadStatus() {
  const result = await api('GET', '/status');
  if (await handled(result, 'status-error')) data.status = result.body.services;
}

function readiness(entry) {
  if (entry.ready === null) return t('services.down');
  if (entry.ready) return t('services.ready');
  return t('services.not-ready', { checks: entry.failing.join(', ') || '-' });
}

function serviceItem(entry) {
  const state = entry.ready === null ? 'down' : entry.ready ? 'ready' : 'not-ready';
  const item = el('li', 'card service ' + state);
  item.dataset.service = entry.service;
  item.appendChild(el('p', 'title', entry.service));
  item.appendChild(el('p', 'status', readiness(entry)));
  if (entry.metrics) item.appendChild(el('p', 'facts', t('services.metrics', entry.metrics)));
  const topics = Object.entries(entry.lags || {});
  if (topics.length) {
    item.appendChild(el('p', 'facts', t('services.lags')));
    const list = el('ul', 'lags');
    for (const [topic, lag] of topics) list.appendChild(el('li', null, t('services.lag', { topic, lag })));
    item.appendChild(list);
  }
  const replay = el('p', 'facts', t('services.replay') + ' ');
  replay.appendChild(el('code', null, entry.replay));
  item.appendChild(replay);
  return item;
}

function auditText() {
  const found = data.audit;
  if (!found) return t('audit.not-yet');
  if (found.ok) return t('audit.ok', { records: found.records, heads: found.heads, unsigned: found.unsigned });
  return t('audit.breach', { breaches: found.breaches, records: found.records });
}

export function renderStatus() {
  $('service-list').replaceChildren(...(data.status || []).map(serviceItem));
  $('audit-result').textContent = auditText();
  $('audit-result').className = 'verdict' + (data.audit ? (data.audit.ok ? ' good' : ' bad') : '');
}

async function verifyAudit() {
  $('main').setAttribute('aria-busy', 'true');
  $('audit-verify').disabled = true;
  data.audit = null;
  const result = await api('GET', '/audit');
  $('audit-verify').disabled = false;
  if (await handled(result, 'audit-error')) data.audit = result.body;
  hooks.render();
  $('audit-verify').focus();
}

export function bindStatus() {
  $('audit-verify').addEventListener('click', verifyAudit);
  $('status-refresh').addEventListener('click', async () => {
    $('main').setAttribute('aria-busy', 'true');
    await loadStatus();
    hooks.render();
  });
}
