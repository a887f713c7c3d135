// What the record may leave out: the limits the query service says the patient's
// consent puts on this read (its Bundle's outcome entry: the policy, never whether
// anything was withheld, docs/fhir.md), each with what the patient can do. A code the
// catalogue does not know is shown in the service's own words. Uses app.js's t, $,
// formatDate.
'use strict';

function limitText(limit) {
  const key = 'limits.' + limit.code;
  if (t(key) === key) return limit.text || limit.code;
  if ((limit.code === 'per-visit-only' || limit.code === 'break-glass') && !limit.until) return t(key + '.no-end');
  return t(key, { until: formatDate(limit.until) });
}

function renderLimits() {
  const limits = (state.record && state.record.limits) || [];
  $('record-limits').hidden = !limits.length;
  const list = $('limits-list');
  list.replaceChildren();
  for (const limit of limits) {
    const item = document.createElement('li');
    item.dataset.limit = limit.code;
    item.appendChild(document.createTextNode(limitText(limit)));
    const doKey = 'limits.' + limit.code + '.do';
    if (t(doKey) !== doKey) {
      const can = document.createElement('span');
      can.textContent = t(doKey);
      item.appendChild(can);
    }
    list.appendChild(item);
  }
}
