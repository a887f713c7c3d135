// The console's keys screen: this hospital's upload signing keys (list; add one made in
// this browser, or a public JWK pasted; remove one, after a confirmation that warns when
// it is the last), and a new admin key shown once (the portal's session switches to it).
// The private half of a key made here is saved to a file on this device and never sent.
import { $, api, button, el, formError, formatDate, handled, showError, state, t } from '../common/page.js';
import { canMakeKeys, forgetFile, keyFile, newKeyPair, save } from './keycrypto.js';

// `keys`: the signing keys shown; `confirm`: the change waiting for a yes ({kind:
// 'remove', kid} or {kind: 'rotate'}); `file`: the last key pair's private key file;
// `adminKey`: the new admin key, until staff hide it; `done`: the last change's message
// ({where, key, vars}: each part of the screen — keys, generate, paste, admin — has its
// own message and error boxes, next to what was done, so a phone shows them in view)
const PARTS = ['keys', 'generate', 'paste', 'admin'];
const view = { keys: null, confirm: null, file: null, adminKey: null, taken: true, done: null };

export function forgetKeys() {
  forgetFile(view.file);
  Object.assign(view, { keys: null, confirm: null, file: null, adminKey: null, taken: true, done: null });
}

export async function loadKeys() {
  const result = await api('GET', '/signing-keys');
  if (await handled(result, 'keys-error')) view.keys = result.body.keys;
}

function busy() { $('main').setAttribute('aria-busy', 'true'); }

// a change made in part `where` of the screen, then the keys again; `done`: its message
// (a key and its values)
async function change(where, call, done, render) {
  busy();
  view.done = null;
  for (const part of PARTS) if (part !== where) showError(part + '-error', null);
  const result = await call();
  if (await handled(result, where + '-error')) {
    const message = done(result.body);
    view.done = message && { where, ...message };
    await loadKeys();
  }
  render();
  return result;
}

function keyItem(key, render) {
  const item = el('li', 'card signing-key');
  item.dataset.kid = key.kid;
  item.appendChild(el('p', 'title kid', t('keys.entry', { kid: key.kid })));
  item.appendChild(el('p', 'facts', key.added_at ? t('keys.added-at', { when: formatDate(key.added_at) }) : t('keys.added-unknown')));
  const asked = view.confirm && view.confirm.kind === 'remove' && view.confirm.kid === key.kid;
  if (!asked) {
    const remove = button(t('keys.remove'), () => { view.confirm = { kind: 'remove', kid: key.kid }; render(); $('confirm-remove').focus(); }, 'secondary remove');
    remove.setAttribute('aria-label', t('keys.remove-one', { kid: key.kid }));
    item.appendChild(remove);
    return item;
  }
  const last = view.keys.length === 1;
  const asking = last ? t('keys.confirm-last', { kid: key.kid }) : t('keys.confirm-remove', { kid: key.kid });
  const question = el('p', 'warning confirm-text', asking);
  question.id = 'confirm-remove-text';
  item.appendChild(question);
  const yes = button(t('keys.confirm-yes'), () => removeKey(key.kid, render), 'danger');
  yes.id = 'confirm-remove';
  yes.setAttribute('aria-describedby', question.id);
  const no = button(t('keys.confirm-no'), () => { view.confirm = null; render(); $('key-list').querySelector('button.remove').focus(); }, 'secondary');
  no.id = 'cancel-remove';
  item.append(yes, no);
  return item;
}

async function removeKey(kid, render) {
  view.confirm = null;
  await change('keys', () => api('DELETE', '/signing-keys/' + encodeURIComponent(kid)), () => ({ key: 'keys.removed', vars: { kid } }), render);
  $('generate').focus();
}

async function generate(render) {
  if (!canMakeKeys()) { formError('generate-error', 'no-webcrypto'); render(); return; }
  busy();
  const pair = await newKeyPair();
  forgetFile(view.file);
  view.file = keyFile(state.session.hospital, pair);
  save(view.file);  // the private key goes to this device only
  const result = await change('generate', () => api('POST', '/signing-keys', { jwk: pair.publicJwk }),
    () => ({ key: 'keys.generated', vars: { kid: pair.kid, file: view.file.name } }), render);
  if (!result.ok) { forgetFile(view.file); view.file = null; render(); }
  $(result.ok ? 'save-again' : 'generate').focus();
}

async function paste(event, render) {
  event.preventDefault();
  let jwk;
  try { jwk = JSON.parse($('jwk').value); } catch (err) { jwk = null; }
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) { formError('paste-error', 'not-json'); render(); $('jwk').focus(); return; }
  if ('d' in jwk || (Array.isArray(jwk.keys) && jwk.keys.some((k) => k && 'd' in k))) {
    $('jwk').value = '';  // a private key is not kept on the page, nor sent
    formError('paste-error', 'private-key'); render(); $('jwk').focus(); return;
  }
  const result = await change('paste', () => api('POST', '/signing-keys', { jwk }), (body) => ({ key: 'keys.added', vars: { kid: body.kid } }), render);
  if (result.ok) $('jwk').value = '';
  $('jwk').focus();
}

async function rotate(render) {
  view.confirm = null;
  view.adminKey = null;
  const result = await change('admin', () => api('POST', '/admin-key'), () => null, render);
  if (!result.ok) { $('rotate').focus(); return; }
  view.adminKey = result.body.admin_key;
  view.taken = result.body.taken;
  render();
  $('new-key-value').focus();
  $('new-key-value').select();
}

async function copyKey() {
  $('new-key-value').select();
  let copied = false;
  try { await navigator.clipboard.writeText(view.adminKey); copied = true; } catch (err) { copied = document.execCommand && document.execCommand('copy'); }
  $('copy-done').hidden = !copied;
  $('copy-done').textContent = copied ? t('keys.copied') : '';
}

function hideKey(render) {
  view.adminKey = null;
  render();
  $('rotate').focus();
}

export function renderKeys(render) {
  $('key-list').replaceChildren(...(view.keys || []).map((key) => keyItem(key, render)));
  $('keys-none').hidden = !view.keys || view.keys.length > 0;
  for (const part of ['keys', 'generate', 'paste']) {
    const shown = view.done && view.done.where === part ? view.done : null;
    $(part + '-done').hidden = !shown;
    $(part + '-done').textContent = shown ? t(shown.key, shown.vars) : '';
  }
  $('save-again').hidden = !view.file;
  if (view.file) { $('save-again').href = view.file.url; $('save-again').download = view.file.name; }
  $('generate').disabled = !canMakeKeys();
  $('no-webcrypto').hidden = canMakeKeys();
  const asking = Boolean(view.confirm && view.confirm.kind === 'rotate');
  $('rotate').hidden = asking;
  $('rotate-confirm').hidden = !asking;
  $('new-admin-key').hidden = !view.adminKey;
  $('new-key-value').value = view.adminKey || '';
  $('new-key-pending').hidden = !view.adminKey || view.taken;
  if (!view.adminKey) $('copy-done').hidden = true;
}

export function bindKeys(render) {
  $('generate').addEventListener('click', () => generate(render));
  $('paste-form').addEventListener('submit', (event) => paste(event, render));
  $('rotate').addEventListener('click', () => { view.confirm = { kind: 'rotate' }; render(); $('rotate-yes').focus(); });
  $('rotate-yes').addEventListener('click', () => rotate(render));
  $('rotate-no').addEventListener('click', () => { view.confirm = null; render(); $('rotate').focus(); });
  $('copy-key').addEventListener('click', copyKey);
  $('hide-key').addEventListener('click', () => hideKey(render));
}
