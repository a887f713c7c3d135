// The patient portal (the wallet app's web twin): sign in with Health Link or register, then
// consent, who viewed my record and the inbox; Thai and English. Every string comes
// from /i18n/patient.<lang>.json.
import { $, api, cleanCid, formError, renderError, showError, signedIn as isSignedIn, startPage, state, t, translatePage, validCid } from './core.js';
import { bindConsent, loadConsent, loadDirectory, renderConsent, renderDirectory } from './consent.js';
import { bindActivity, loadAccesses, loadInbox, renderActivity, unread } from './activity.js';
import { bindRecord, loadRecord, renderRecord } from './record.js';

const SCREENS = ['consent', 'record', 'accesses', 'inbox'];

function render() {
  translatePage();
  const signedIn = isSignedIn();
  $('signin').hidden = signedIn;
  $('register').hidden = signedIn;
  $('directory').hidden = !renderDirectory() || signedIn;
  $('who').hidden = !signedIn;
  $('tabs').hidden = !signedIn;
  $('who-text').textContent = signedIn ? t('who', { cid: state.session.cid }) : '';
  const count = unread();
  $('tab-inbox').textContent = count ? t('nav.inbox-unread', { n: count }) : t('nav.inbox');
  for (const screen of SCREENS) $(screen).hidden = !signedIn || state.screen !== screen;
  for (const id of Object.keys(state.errors)) if (state.errors[id]) renderError(id);
  renderConsent();
  renderRecord();
  renderActivity();
  $('main').setAttribute('aria-busy', 'false');
}

async function forget() {
  state.consent = null; state.record = null; state.exported = false; state.accesses = null; state.inbox = null;
  await loadDirectory();
}

async function loadScreen() {
  if (!isSignedIn()) { await loadDirectory(); return; }
  if (state.screen === 'consent') await loadConsent();
  if (state.screen === 'record') await loadRecord();
  if (state.screen === 'accesses') await loadAccesses(false);
  await loadInbox(false);  // its unread count is on the tab
}

async function register(event) {
  event.preventDefault();
  const cid = cleanCid($('register-cid').value);
  const birth = $('register-birth').value;
  $('register-done').hidden = true;
  if (!validCid(cid)) { formError('register-error', 'invalid-cid'); return; }
  if (!birth) { formError('register-error', 'register-form'); return; }
  $('register-submit').disabled = true;
  const result = await api('POST', '/register', { cid, birth_date: birth });
  $('register-submit').disabled = false;
  if (!result.ok) { showError('register-error', result); return; }
  showError('register-error', null);
  $('register-done').hidden = false;
  $('signin-start').focus();
}

function bind() {
  $('register-form').addEventListener('submit', register);
  bindConsent();
  bindRecord();
  bindActivity();
  // back from the auth service's sign-in page (/patient/callback): a failure as a code
  const failed = new URLSearchParams(window.location.search).get('signin-error');
  if (failed) {
    showError('signin-error', { status: 400, body: { error: /^signin-[a-z]+$/.test(failed) ? failed : 'other' } });
    history.replaceState(null, '', location.pathname);
  }
}

document.addEventListener('DOMContentLoaded', () => startPage({
  base: '/api/patient', catalogue: 'patient', screens: SCREENS, first: 'signin-start',
  render, load: loadScreen, forget, bind,
}));
