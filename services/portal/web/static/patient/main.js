// The patient portal (the wallet app's web twin): verify identity or register, then
// consent, who viewed my record and the inbox; Thai and English. Every string comes
// from /i18n/patient.<lang>.json.
import { $, api, cleanCid, clearErrors, formError, hooks, loadCatalogue, renderError, showError, state, t, validCid } from './core.js';
import { bindConsent, loadConsent, loadDirectory, renderConsent, renderDirectory } from './consent.js';
import { bindActivity, loadAccesses, loadInbox, renderActivity, unread } from './activity.js';

const SCREENS = ['consent', 'accesses', 'inbox'];

function screenOf(path) {
  const name = path.replace(/^\/patient\/?/, '').replace(/\/$/, '');
  return SCREENS.includes(name) ? name : 'consent';
}

function render() {
  document.documentElement.lang = state.lang;
  document.title = t('app.title');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  for (const node of document.querySelectorAll('[data-lang]')) node.setAttribute('aria-pressed', String(node.dataset.lang === state.lang));
  const signedIn = Boolean(state.session && state.session.signed_in);
  $('verify').hidden = signedIn;
  $('register').hidden = signedIn;
  $('directory').hidden = !renderDirectory() || signedIn;
  $('who').hidden = !signedIn;
  $('tabs').hidden = !signedIn;
  $('who-text').textContent = signedIn ? t('who', { cid: state.session.cid }) : '';
  const dev = Boolean(state.session && state.session.dev_verifier);
  $('dev-hint').hidden = !dev;
  $('dev-scan').hidden = !dev;
  const count = unread();
  $('tab-inbox').textContent = count ? t('nav.inbox-unread', { n: count }) : t('nav.inbox');
  for (const screen of SCREENS) {
    $(screen).hidden = !signedIn || state.screen !== screen;
    const tab = $('tab-' + screen);
    if (state.screen === screen) tab.setAttribute('aria-current', 'page'); else tab.removeAttribute('aria-current');
  }
  for (const id of Object.keys(state.errors)) if (state.errors[id]) renderError(id);
  renderConsent();
  renderActivity();
  $('main').setAttribute('aria-busy', 'false');
}

async function refreshSession() {
  const result = await api('GET', '/session');
  state.session = result.ok ? result.body : { signed_in: false };
  state.csrf = result.ok ? result.body.csrf : '';
  return state.session;
}

async function signedOut() {
  await refreshSession();
  state.consent = null; state.accesses = null; state.inbox = null;
  clearErrors();
  await loadDirectory();
  showError('session-error', { status: 401, body: { error: 'signed-out' } });
  render();
}

async function loadScreen() {
  if (!(state.session && state.session.signed_in)) { await loadDirectory(); return; }
  if (state.screen === 'consent') await loadConsent();
  if (state.screen === 'accesses') await loadAccesses(false);
  await loadInbox(false);  // its unread count is on the tab
}

async function go(screen, push) {
  $('main').setAttribute('aria-busy', 'true');  // until render(): the screen is loading
  state.screen = screen;
  if (push) history.pushState({ screen }, '', '/patient/' + screen);
  await loadScreen();
  render();
}

async function verify(event) {
  event.preventDefault();
  const cid = cleanCid($('verify-cid').value);
  const scan = $('verify-scan').value.trim();
  if (!validCid(cid)) { formError('verify-error', 'invalid-cid'); return; }
  if (!scan) { formError('verify-error', 'verify-form'); return; }
  $('verify-submit').disabled = true;
  const result = await api('POST', '/verify', { cid, scan });
  $('verify-submit').disabled = false;
  $('verify-scan').value = '';
  if (!result.ok) { showError('verify-error', result); return; }
  state.session = result.body;
  state.csrf = result.body.csrf;
  clearErrors();
  $('register-done').hidden = true;
  const screen = screenOf(location.pathname);
  history.replaceState({ screen }, '', '/patient/' + screen);
  await go(screen, false);
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
  $('verify-cid').value = cid;
  $('verify-scan').focus();
}

async function signOut() {
  const result = await api('POST', '/session/end', {});
  if (result.ok) { state.session = result.body; state.csrf = result.body.csrf; } else await refreshSession();
  state.consent = null; state.accesses = null; state.inbox = null;
  clearErrors();
  await loadDirectory();
  render();
  $('verify-cid').focus();
}

async function chooseLanguage(lang) {
  await loadCatalogue(lang);
  await api('POST', '/language', { lang });
  render();
}

async function start() {
  hooks.render = render;
  hooks.signedOut = signedOut;
  const session = await refreshSession();
  await loadCatalogue(session.lang || 'th');
  state.screen = screenOf(location.pathname);
  $('verify-form').addEventListener('submit', verify);
  $('register-form').addEventListener('submit', register);
  $('dev-scan').addEventListener('click', () => { $('verify-scan').value = 'dev-face-scan-ok'; });
  $('sign-out').addEventListener('click', signOut);
  for (const node of document.querySelectorAll('[data-lang]')) node.addEventListener('click', () => chooseLanguage(node.dataset.lang));
  for (const tab of document.querySelectorAll('#tabs a')) {
    tab.addEventListener('click', (event) => { event.preventDefault(); go(tab.dataset.screen, true); });
  }
  window.addEventListener('popstate', () => go(screenOf(location.pathname), false));
  bindConsent();
  bindActivity();
  await loadScreen();
  render();
}

document.addEventListener('DOMContentLoaded', start);
