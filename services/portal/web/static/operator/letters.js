// The operator view's dead letters: what one service set aside, a page at a time
// (oldest first, "More" follows the page's cursor), each with its reason, where it came
// from and what it held (sizes and types, never content); "Send again" goes through the
// service that owns the letter's topic, with the operator's token.
import { $, api, button, el, formatDate, handled, state, t, tOr } from '../common/page.js';
import { data, hooks } from './shared.js';

export const SERVICES = ['consent', 'ingest', 'query', 'audit', 'notify', 'auth'];

export async function loadLetters(more) {
  const cursor = more && data.next ? '?cursor=' + encodeURIComponent(data.next) : '';
  const result = await api('GET', '/services/' + data.service + '/letters' + cursor);
  if (!(await handled(result, 'letters-error'))) return;
  data.letters = more ? (data.letters || []).concat(result.body.entries) : result.body.entries;
  data.next = result.body.next;
}

function contents(entry) {
  const types = Object.entries(entry.resource_types || {}).map(([type, n]) => type + ' × ' + n);
  if (types.length) return types.join(', ');
  return entry.event_type || tOr('kind.' + entry.kind, entry.kind || '-');
}

function letterItem(entry) {
  const pending = entry.status === 'pending';
  const item = el('li', 'card letter' + (pending ? ' pending' : ' retried'));
  item.dataset.id = entry.id;
  item.dataset.reason = entry.reason;
  item.appendChild(el('p', 'when', formatDate(entry.time)));
  item.appendChild(el('p', 'status reason', tOr('reason.' + entry.reason, entry.reason)));
  if (entry.detail) item.appendChild(el('p', 'detail', entry.detail));
  item.appendChild(el('p', 'facts', t('letters.from', { topic: entry.topic || '-', n: entry.bytes || 0 })));
  item.appendChild(el('p', 'facts contents', t('letters.contents', { what: contents(entry) })));
  if (!pending) item.appendChild(el('p', 'status', t('letters.retried-at', { when: formatDate(entry.retried_at) })));
  if (pending && entry.retry_via) {
    const retry = button(t('letters.retry'), () => retryLetter(entry), 'grant retry');
    retry.setAttribute('aria-label', t('letters.retry-one', { when: formatDate(entry.time), via: entry.retry_via }));
    item.appendChild(retry);
  }
  return item;
}

async function retryLetter(entry) {
  $('main').setAttribute('aria-busy', 'true');
  data.done.letters = null;
  const result = await api('POST', '/letters/' + encodeURIComponent(entry.id) + '/retry', { topic: entry.topic });
  if (await handled(result, 'letters-error')) {
    Object.assign(entry, { status: 'retried', retried_at: new Date().toISOString() });
    data.done.letters = { key: 'letters.retried', vars: { via: result.body.via }, time: entry.time };
  }
  hooks.render();
  $('letters-service').focus();
}

export function renderLetters() {
  const select = $('letters-service');
  if (!select.options.length) {
    select.replaceChildren(...SERVICES.map((name) => { const o = el('option', null, name); o.value = name; return o; }));
  }
  select.value = data.service;
  $('letter-list').replaceChildren(...(data.letters || []).map(letterItem));
  $('letters-none').hidden = !data.letters || data.letters.length > 0;
  $('letters-more').hidden = !data.next || state.screen !== 'letters';
}

export function bindLetters() {
  $('letters-service').addEventListener('change', async () => {
    $('main').setAttribute('aria-busy', 'true');
    data.service = $('letters-service').value;
    data.letters = null; data.next = null; data.done.letters = null;
    await loadLetters(false);
    hooks.render();
  });
  $('letters-more').addEventListener('click', async () => {
    $('main').setAttribute('aria-busy', 'true');
    await loadLetters(true);
    hooks.render();
  });
}
