// Break-glass: when the query service refuses a read for consent, the physician may
// declare an emergency with a written reason (audited, the patient told), then the
// record is read again (POST /api/patients/{cid}/break-glass, with the CSRF token).
'use strict';

const GLASS_REASONS = ['no-consent', 'no-visit-consent'];

function renderGlass() {
  const offered = Boolean(state.refusal && GLASS_REASONS.includes(state.refusal.reason));
  $('glass-form').hidden = !offered;
  const active = Boolean(state.glass && state.record && state.record.cid === state.glass.cid);
  $('glass-active').hidden = !active;
  $('glass-active').textContent = active ? t('glass.active', { until: formatDate(state.glass.until) }) : '';
}

async function declareBreakGlass(event) {
  event.preventDefault();
  const cid = state.refusal && state.refusal.cid;
  const reason = $('glass-reason').value.trim();
  if (!cid) return;
  if (reason.length < 10 || reason.length > 1000) {
    showError('glass-error', 'glass-reason');
    $('glass-reason').setAttribute('aria-invalid', 'true');
    $('glass-reason').focus();
    return;
  }
  showError('glass-error', null);
  $('glass-reason').removeAttribute('aria-invalid');
  $('glass-submit').disabled = true;
  const result = await api('POST', '/api/patients/' + encodeURIComponent(cid) + '/break-glass', { reason });
  $('glass-submit').disabled = false;
  if (!result.ok) {
    if (result.body.error === 'refused') {
      state.refusal = { cid, reason: result.body.reason, detail: result.body.detail, tried: true };
      render();
    } else {
      showError('glass-error', errorCode(result), result.body.detail || (result.body.issue && result.body.issue[0].diagnostics));
    }
    return;
  }
  state.glass = { cid, until: result.body.until };
  $('glass-reason').value = '';
  await readRecord(cid);
  $('record-title').focus();
}
