// The drug-allergy banner: every AllergyIntolerance of the record (substance, reaction,
// criticality, source hospital), on top of the record and sticky while scrolling (the
// FAQ's first benefit: no repeat allergic reactions). Uses app.js's t, $, formatDate.
'use strict';

function renderBanner() {
  const banner = $('allergy-banner');
  const record = state.record;
  banner.hidden = !record;
  if (!record) return;
  const list = $('allergy-list');
  list.replaceChildren();
  const allergies = record.allergies || [];
  banner.classList.toggle('none', !allergies.length);
  $('allergy-none').hidden = allergies.length > 0;
  for (const allergy of allergies) {
    const item = document.createElement('li');
    const substance = document.createElement('strong');
    substance.textContent = allergy.substance || t('allergy.unnamed');
    item.appendChild(substance);
    const parts = [];
    if (allergy.reactions.length) parts.push(t('allergy.reaction', { reaction: allergy.reactions.join(', ') }));
    if (allergy.criticality) {
      const key = 'allergy.criticality.' + allergy.criticality;
      parts.push(t('allergy.criticality', { level: t(key) === key ? allergy.criticality : t(key) }));
    }
    parts.push(t('allergy.source', { hospital: hospitalName(allergy.hospital) || '?' }));
    if (allergy.date) parts.push(formatDate(allergy.date));
    const detail = document.createElement('span');
    detail.textContent = ' — ' + parts.join(' · ');
    item.appendChild(detail);
    if (allergy.criticality === 'high') item.className = 'high';
    list.appendChild(item);
  }
}
