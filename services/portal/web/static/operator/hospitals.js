// The operator view's hospitals screen: every participating hospital with its role,
// consent mode, whether it is active and its upload signing keys (kid, algorithm); add
// one, promote a consumer to provider, suspend, reinstate, remove a signing key (after a
// yes: the question says what the removal sets aside). Each
// change is consent's operator API with the operator's token.
import { $, api, button, el, formError, handled, t } from '../common/page.js';
import { change, data } from './shared.js';

export async function loadHospitals() {
  const result = await api('GET', '/hospitals');
  if (await handled(result, 'hospitals-error')) data.hospitals = result.body.hospitals;
}

function act(hospital, action) {
  return change('hospitals', 'hospitals-error', () => api('POST', '/hospitals/' + hospital.code + '/change', { action }),
    { key: 'done.' + action, vars: { name: hospital.name, code: hospital.code } });
}

function actions(hospital) {
  const row = el('p', 'actions');
  const label = { name: hospital.name, code: hospital.code };
  const add = (action, className) => {
    const node = button(t('hospitals.' + action), () => act(hospital, action), className + ' ' + action);
    node.setAttribute('aria-label', t('hospitals.' + action + '-one', label));
    row.appendChild(node);
  };
  if (hospital.role !== 'provider') add('promote', 'secondary');
  if (hospital.active) add('suspend', 'danger'); else add('reinstate', 'grant');
  return row;
}

async function removeKey(hospital, kid) {
  data.confirm = null;
  const path = '/hospitals/' + hospital.code + '/signing-keys/' + encodeURIComponent(kid);
  await change('hospitals', 'hospitals-error', () => api('DELETE', path),
    { key: 'done.key-removed', vars: { kid, name: hospital.name, code: hospital.code } });
  $('new-code').focus({ preventScroll: true });
}

function ask(hospital, kid) {
  data.confirm = { code: hospital.code, kid };
  renderHospitals();
  $('confirm-remove').focus();
}

function cancel(hospital, kid) {
  data.confirm = null;
  renderHospitals();
  const row = $('hospital-list').querySelector(`li[data-code="${hospital.code}"] li[data-kid="${CSS.escape(kid)}"] button`);
  if (row) row.focus();
}

// a removal waits for a yes: the key's uploads are set aside from the next one on, and
// the last key's removal sets aside every upload of the hospital
function question(hospital, key, last) {
  const vars = { kid: key.kid, name: hospital.name, code: hospital.code };
  const text = el('p', 'warning confirm-text', t(last ? 'keys.confirm-last' : 'keys.confirm-remove', vars));
  text.id = 'confirm-remove-text';
  const yes = button(t('keys.confirm-yes'), () => removeKey(hospital, key.kid), 'danger');
  yes.id = 'confirm-remove';
  yes.setAttribute('aria-describedby', text.id);
  const no = button(t('keys.confirm-no'), () => cancel(hospital, key.kid), 'secondary');
  no.id = 'cancel-remove';
  return [text, yes, no];
}

// the hospital's signing keys: kid and algorithm (consent keeps no time of adding)
function signingKeys(hospital) {
  const wrap = el('div', 'signing-keys');
  const keys = hospital.signing_keys || [];
  wrap.appendChild(el('p', 'keys-title', t('keys.title', { count: keys.length })));
  if (!keys.length) { wrap.appendChild(el('p', 'hint', t('keys.none'))); return wrap; }
  const list = el('ul', 'keys');
  for (const key of keys) {
    const item = el('li', 'key');
    item.dataset.kid = key.kid;
    item.appendChild(el('code', 'kid', key.kid));
    item.appendChild(el('span', 'alg', ' · ' + t('keys.alg', { alg: key.alg }) + ' '));
    const asked = data.confirm && data.confirm.code === hospital.code && data.confirm.kid === key.kid;
    if (asked) {
      item.append(...question(hospital, key, keys.length === 1));
    } else {
      const remove = button(t('keys.remove'), () => ask(hospital, key.kid), 'secondary remove-key');
      remove.setAttribute('aria-label', t('keys.remove-one', { kid: key.kid, name: hospital.name, code: hospital.code }));
      item.appendChild(remove);
    }
    list.appendChild(item);
  }
  wrap.appendChild(list);
  return wrap;
}

function hospitalItem(hospital) {
  const item = el('li', 'card hospital' + (hospital.active ? '' : ' suspended'));
  item.dataset.code = hospital.code;
  item.appendChild(el('p', 'title', hospital.name));
  item.appendChild(el('p', 'code', t('hospitals.code', { code: hospital.code })));
  const facts = [t('role.' + hospital.role), t('mode.' + hospital.consent_mode)];
  item.appendChild(el('p', 'facts', facts.join(' · ')));
  item.appendChild(el('p', 'status', t(hospital.active ? 'hospitals.active' : 'hospitals.suspended')));
  item.appendChild(actions(hospital));
  item.appendChild(signingKeys(hospital));
  return item;
}

export function renderHospitals() {
  $('hospital-list').replaceChildren(...(data.hospitals || []).map(hospitalItem));
}

async function addHospital(event) {
  event.preventDefault();
  const code = $('new-code').value.trim();
  const name = $('new-name').value.trim();
  if (!/^\d{5}$/.test(code) || !name) { formError('add-error', 'hospital-format'); return; }
  const body = { code, name, role: $('new-role').value, consent_mode: $('new-mode').value };
  const added = await change('hospitals', 'add-error', () => api('POST', '/hospitals', body),
    { key: 'done.added', vars: { name, code } });
  if (added) { $('new-code').value = ''; $('new-name').value = ''; }
  $('new-code').focus();
}

export function bindHospitals() {
  $('add-form').addEventListener('submit', addHospital);
}
