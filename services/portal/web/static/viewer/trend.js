// Lab trends: one lab test (LOINC code) chosen from those in the record, its values over
// time as an inline SVG drawn here (dates on x, values on y, the reference range as a
// band), and the same values as a table (the chart's text alternative). No chart
// library: the portal serves every script itself (docs/portal.md).
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const CHART = { width: 640, height: 260, left: 56, right: 16, top: 12, bottom: 44 };

function svg(parent, name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  parent.appendChild(el);
  return el;
}

function shortNumber(value) {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

function drawTrend(series) {
  const points = series.points;
  const range = points[points.length - 1];  // the latest value's reference range
  const values = points.map((p) => p.value);
  for (const bound of [range.low, range.high]) if (bound !== null) values.push(bound);
  let min = Math.min(...values);
  let max = Math.max(...values);
  const pad = (max - min || Math.abs(max) || 1) * 0.1;
  min -= pad; max += pad;
  const times = points.map((p) => new Date(p.date).getTime());
  const first = Math.min(...times);
  const span = Math.max(...times) - first || 1;
  const { width, height, left, right, top, bottom } = CHART;
  const x = (time) => left + (points.length === 1 ? 0.5 : (time - first) / span) * (width - left - right);
  const y = (value) => top + (1 - (value - min) / (max - min)) * (height - top - bottom);
  const root = document.createElementNS(SVG, 'svg');
  for (const [key, value] of Object.entries({ viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'trend-caption', focusable: 'false' })) root.setAttribute(key, value);
  if (range.low !== null || range.high !== null) {
    const high = y(range.high !== null ? range.high : max);
    const low = y(range.low !== null ? range.low : min);
    svg(root, 'rect', { x: left, y: high, width: width - left - right, height: Math.max(low - high, 1), class: 'band' });
  }
  svg(root, 'line', { x1: left, y1: top, x2: left, y2: height - bottom, class: 'axis' });
  svg(root, 'line', { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: 'axis' });
  for (const tick of [min + pad, (min + max) / 2, max - pad]) {
    svg(root, 'text', { x: left - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, shortNumber(tick));
  }
  const labelled = new Set([0, points.length - 1, Math.floor((points.length - 1) / 2)]);
  for (const index of labelled) {
    const anchor = index === 0 ? 'start' : index === points.length - 1 ? 'end' : 'middle';
    svg(root, 'text', { x: x(times[index]), y: height - bottom + 18, 'text-anchor': points.length === 1 ? 'middle' : anchor, class: 'tick' }, formatDate(points[index].date.slice(0, 10)));
  }
  svg(root, 'text', { x: 4, y: top + 4, class: 'tick unit' }, series.unit);
  svg(root, 'polyline', { points: points.map((p, i) => `${x(times[i])},${y(p.value)}`).join(' '), class: 'line' });
  for (const [i, p] of points.entries()) {
    const out = (p.low !== null && p.value < p.low) || (p.high !== null && p.value > p.high);
    svg(root, 'circle', { cx: x(times[i]), cy: y(p.value), r: 4, class: out ? 'point out' : 'point' });
  }
  return root;
}

function rangeText(point) {
  if (point.low !== null && point.high !== null) return shortNumber(point.low) + '–' + shortNumber(point.high);
  if (point.high !== null) return '≤ ' + shortNumber(point.high);
  if (point.low !== null) return '≥ ' + shortNumber(point.low);
  return '';
}

function renderTrend() {
  const labs = (state.record && state.record.labs) || [];
  $('trend').hidden = !labs.length;
  if (!labs.length) return;
  const select = $('trend-code');
  if (!labs.some((s) => s.code === state.trendCode)) state.trendCode = labs[0].code;
  select.replaceChildren();
  for (const series of labs) {
    const option = document.createElement('option');
    option.value = series.code;
    option.textContent = t('trend.option', { name: series.name, code: series.code, n: series.points.length });
    select.appendChild(option);
  }
  select.value = state.trendCode;
  const series = labs.find((s) => s.code === state.trendCode);
  const last = series.points[series.points.length - 1];
  const range = rangeText(last);
  $('trend-caption').textContent = t('trend.caption', {
    name: series.name, code: series.code, n: series.points.length, unit: series.unit,
    from: formatDate(series.points[0].date), to: formatDate(last.date),
  }) + (range ? ' ' + t('trend.range', { range, unit: series.unit }) : '');
  $('trend-chart').replaceChildren(drawTrend(series));
  const table = $('trend-table');
  table.replaceChildren();
  const caption = document.createElement('caption');
  caption.textContent = t('trend.table', { name: series.name });
  table.appendChild(caption);
  const head = document.createElement('tr');
  for (const key of ['col.date', 'trend.value', 'trend.reference', 'col.hospital']) cell(head, t(key), 'th');
  table.appendChild(head);
  for (const point of series.points.slice().reverse()) {
    const row = document.createElement('tr');
    cell(row, formatDate(point.date));
    cell(row, shortNumber(point.value) + ' ' + point.unit);
    cell(row, rangeText(point) ? rangeText(point) + ' ' + point.unit : '');
    cell(row, hospitalName(point.hospital));
    table.appendChild(row);
  }
}

function chooseTrend() {
  state.trendCode = $('trend-code').value;
  renderTrend();
}
