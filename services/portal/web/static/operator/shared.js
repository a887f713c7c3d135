// What the operator view's screens share: what they loaded, the last change's message
// per screen, and how a change is made (the call, then the screen loaded again).
import { $, formatDate, handled, t } from '../common/page.js';

// `done`: the last change's message per screen (a key, its values and a time, so a
// language switch re-translates it)
// `confirm`: the signing key whose removal waits for a yes ({code, kid})
export const data = { hospitals: null, letters: null, next: null, service: 'ingest', status: null, audit: null, done: {}, confirm: null };
export const hooks = { reload: async () => {}, render: () => {} };

export function forgetAll() {
  Object.assign(data, { hospitals: null, letters: null, next: null, status: null, audit: null, done: {}, confirm: null });
}

export async function change(screen, errorId, call, done) {
  $('main').setAttribute('aria-busy', 'true');
  data.done[screen] = null;
  const result = await call();
  if (await handled(result, errorId)) { data.done[screen] = done; await hooks.reload(); }
  hooks.render();
  return result.ok;
}

export function renderDone(id, screen) {
  const done = data.done[screen];
  $(id).hidden = !done;
  $(id).textContent = done ? t(done.key, { ...done.vars, when: formatDate(done.time) }) : '';
}
