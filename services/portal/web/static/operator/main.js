// The operator view: operators and auditors sign in with their named token, then see
// the participating hospitals (add, promote, suspend, reinstate), each service's dead
// letters (send one again) and the platform's health (readiness, key metrics, the
// audit log's verification). Thai and English; every string comes from
// /i18n/operator.<lang>.json. The token stays in the portal; an auditor's change is
// refused by the service (403), and the page says so.
import {
  $, enter, formError, renderError, signIn, signedIn, startPage, state, t, translatePage,
} from '../common/page.js';
import { bindHospitals, loadHospitals, renderHospitals } from './hospitals.js';
import { bindLetters, loadLetters, renderLetters } from './letters.js';
import { bindStatus, loadStatus, renderStatus } from './health.js';
import { data, forgetAll, hooks, renderDone } from './shared.js';

const SCREENS = ['hospitals', 'letters', 'status'];
const FIRST = { hospitals: 'new-code', letters: 'letters-service', status: 'status-refresh' };

async function loadScreen() {
  if (!signedIn()) return;
  if (state.screen === 'hospitals') await loadHospitals();
  else if (state.screen === 'letters') await loadLetters(false);
  else await loadStatus();
}

function who() {
  const session = state.session;
  const role = session.may_change ? t('role.operator') : t('role.auditor');
  return t('who', { name: session.name, role });
}

function render() {
  translatePage();
  const inside = signedIn();
  $('signin').hidden = inside;
  $('who').hidden = !inside;
  $('tabs').hidden = !inside;
  $('readonly').hidden = !inside || state.session.may_change;
  $('who-text').textContent = inside ? who() : '';
  for (const screen of SCREENS) $(screen).hidden = !inside || state.screen !== screen;
  for (const id of Object.keys(state.errors)) if (state.errors[id]) renderError(id);
  renderHospitals();
  renderLetters();
  renderStatus();
  renderDone('hospitals-done', 'hospitals');
  renderDone('letters-done', 'letters');
  $('main').setAttribute('aria-busy', 'false');
}

async function signInForm(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) { formError('signin-error', 'token-format'); $('token').value = ''; return; }
  const form = { submit: 'signin-submit', secret: 'token', error: 'signin-error' };
  if (!(await signIn('/session', { token }, form))) return;
  await enter();
  $(FIRST[state.screen]).focus({ preventScroll: true });  // the screen's top stays in view
}

hooks.reload = loadScreen;
hooks.render = render;

document.addEventListener('DOMContentLoaded', () => startPage({
  base: '/api/operator', catalogue: 'operator', screens: SCREENS, first: 'token',
  render, load: loadScreen, forget: async () => { forgetAll(); data.service = 'ingest'; },
  bind() {
    $('signin-form').addEventListener('submit', signInForm);
    bindHospitals();
    bindLetters();
    bindStatus();
  },
}));
