// "Who viewed my record" (the audit log: physician, hospital, time, what, break-glass and
// its reason, refusals) and the inbox (notify), a page at a time, newest first.
import { $, api, button, el, formatDate, handled, hooks, state, t, tOr } from './core.js';

async function loadPage(kind, more) {
  const current = state[kind];
  const offset = more && current ? current.entries.length : 0;
  const result = await api('GET', '/' + kind + '?offset=' + offset);
  if (!(await handled(result, kind + '-error'))) return;
  const earlier = more && current ? current.entries : [];
  state[kind] = { entries: earlier.concat(result.body.entries), more: result.body.more };
}

export const loadAccesses = (more) => loadPage('accesses', more);
export const loadInbox = (more) => loadPage('inbox', more);

function line(label, value) {
  const row = el('p', 'line');
  row.appendChild(el('span', 'label', label + ': '));
  row.appendChild(el('span', 'value', value));
  return row;
}

function accessItem(entry) {
  const item = el('li', 'card access' + (entry.break_glass ? ' break-glass' : '') + (entry.decision === 'deny' ? ' denied' : ''));
  item.dataset.id = entry.id;
  item.dataset.decision = entry.decision;
  item.appendChild(el('p', 'when', formatDate(entry.time)));
  const who = [entry.physician_name, entry.physician].filter(Boolean).join(' · ') || '-';
  item.appendChild(line(t('accesses.physician'), who));
  const hospital = entry.hospital_name ? entry.hospital_name + ' (' + entry.hospital + ')' : entry.hospital || '-';
  item.appendChild(line(t('accesses.hospital'), hospital));
  const what = entry.categories.map((c) => tOr('cat.' + c, c)).join(', ');
  const count = entry.count ? t('accesses.items', { n: entry.count }) : t('accesses.nothing');
  item.appendChild(line(t('accesses.what'), what ? what + ' — ' + count : count));
  item.appendChild(line(t('accesses.purpose'), t('purpose.' + entry.purpose)));
  if (entry.decision === 'deny') {
    const reason = tOr('reason.' + entry.reason, entry.reason_text || t('reason.other'));
    item.appendChild(el('p', 'status refused', t('accesses.refused') + ': ' + reason));
  }
  if (entry.break_glass) {
    item.appendChild(el('p', 'status glass', t('accesses.break-glass')));
    item.appendChild(el('p', 'glass-reason', t('accesses.break-glass-reason', { reason: entry.break_glass_reason || '-' })));
  }
  return item;
}

async function markRead(entry) {
  $('main').setAttribute('aria-busy', 'true');  // until render()
  const result = await api('POST', '/inbox/' + encodeURIComponent(entry.id) + '/read', {});
  if (await handled(result, 'inbox-error')) entry.read = true;
  hooks.render();
}

function inboxItem(entry) {
  const item = el('li', 'card note' + (entry.read ? '' : ' unread'));
  item.dataset.id = entry.id;
  item.dataset.kind = entry.kind || '';
  const english = state.lang === 'en';
  const title = el('p', 'title');
  if (!entry.read) title.appendChild(el('span', 'badge', t('inbox.unread')));
  title.appendChild(el('strong', null, (english ? entry.title_en : entry.title_th) || ''));
  item.appendChild(title);
  item.appendChild(el('p', 'body', (english ? entry.body_en : entry.body_th) || ''));
  item.appendChild(el('p', 'when', formatDate(entry.created_at)));
  if (!entry.read) item.appendChild(button(t('inbox.mark-read'), () => markRead(entry), 'secondary mark-read'));
  return item;
}

export function unread() {
  return state.inbox ? state.inbox.entries.filter((e) => !e.read).length : 0;
}

export function renderActivity() {
  for (const [kind, list, draw] of [['accesses', 'access-list', accessItem], ['inbox', 'inbox-list', inboxItem]]) {
    const page = state[kind];
    $(list).replaceChildren(...(page ? page.entries.map(draw) : []));
    $(kind + '-none').hidden = !page || page.entries.length > 0;
    $(kind + '-more').hidden = !page || !page.more;
  }
}

export function bindActivity() {
  $('accesses-more').addEventListener('click', async () => { await loadAccesses(true); hooks.render(); });
  $('inbox-more').addEventListener('click', async () => { await loadInbox(true); hooks.render(); });
}
