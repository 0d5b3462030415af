import type { Coverage, Stats, StoreLimits } from '@csp-lens/schema';
import { h } from '../dom.js';
import { coverageTotal, num, percent } from '../format.js';

const PARTS: [keyof Coverage, string, string][] = [
  ['merged', 'SDK + native', 'cov-merged'],
  ['sdkOnly', 'SDK only', 'cov-sdk'],
  ['nativeOnly', 'Native only', 'cov-native'],
];

// Widths go through the CSSOM (element.style), which CSP allows; a style="" attribute would not be.
function bar(c: Coverage): HTMLElement {
  const total = coverageTotal(c) || 1;
  return h(
    'div',
    { class: 'covbar', role: 'img', 'aria-label': PARTS.map(([k, label]) => `${label} ${c[k]}`).join(', ') },
    PARTS.map(([k, label, cls]) => {
      const seg = h('span', { class: cls, title: `${label}: ${num(c[k])}` });
      seg.style.width = `${(100 * c[k]) / total}%`;
      return seg;
    }),
  );
}

const TOP = 8;
/** Rows of the per-directive coverage table. */
const TOP_DIRECTIVES = 20;

/** `{ name: n }` as "name n, …", largest first; past TOP, the rest summed. Names are attacker-chosen: text only. */
function breakdown(counts: Record<string, number>): string {
  const all = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const rest = all.slice(TOP).reduce((n, [, c]) => n + c, 0);
  return [...all.slice(0, TOP).map(([k, c]) => `${k} ${num(c)}`), ...(rest ? [`${all.length - TOP} more ${num(rest)}`] : [])].join(', ');
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

const MiB = 1024 * 1024;

/** What the store let go of to stay within its bounds (`Stats.limits`), when it had to. */
function boundsPart(l: StoreLimits | undefined): HTMLElement[] {
  if (!l) return [];
  const rows: [string, number | undefined, string][] = [
    ['Archived early for space', l.evictedForSpace, 'records moved to the archive before the record limit, because the live bytes budget was full'],
    ['Groups let go', l.groupsPruned, 'groups without a live record, past the group limit or for space (their records are in the archive)'],
    ['Policies let go', l.policiesPruned, 'policy texts no live record used any more'],
    ['Made final early', l.frozenEarly, 'records that stopped merging because their bucket was full'],
  ];
  const used = l.liveBytes !== undefined && l.maxLiveBytes ? ` Live content: ${num(Math.round((l.liveBytes / MiB) * 10) / 10)} of ${num(l.maxLiveBytes / MiB)} MiB.` : '';
  return [
    h('h3', null, 'Kept within bounds'),
    h('p', { class: 'muted small' }, `What the store let go of so that no sender can grow it without limit.${used}`),
    h('ul', { class: 'covkey' }, rows.map(([label, n, detail]) => h('li', { title: detail }, label, h('b', null, num(n ?? 0))))),
  ];
}

/** What arrived and was counted but not stored as violations (store-wide, all time). */
export function unstoredPanel(u: Pick<Stats, 'filtered' | 'otherReports' | 'invalid' | 'sdkDropped' | 'limits'>): HTMLElement {
  const rows: [string, number, string][] = [
    ['Filtered as noise', sum(u.filtered), breakdown(u.filtered)],
    ['Past the SDK’s cap per page view', u.sdkDropped, 'distinct violations the SDK counted but did not send (maxEvents)'],
    ['Unusable items', u.invalid, 'in batches that were otherwise accepted'],
    ['Other report types', sum(u.otherReports), breakdown(u.otherReports)],
  ];
  return h(
    'section',
    { class: 'card unstored' },
    h('h2', null, 'Not stored'),
    h('p', { class: 'muted small' }, 'Received and counted, but not violations to store. All time, whatever the filters.'),
    h('ul', { class: 'covkey' }, rows.map(([label, n, detail]) => h('li', { title: detail }, label, h('b', null, num(n))))),
    ...rows.filter(([, n, detail]) => n > 0 && detail).map(([label, , detail]) => h('p', { class: 'muted small' }, `${label}: ${detail}`)),
    ...boundsPart(u.limits),
  );
}

/** Merged vs SDK-only vs native-only records: what native reports alone would have missed. */
export function coveragePanel(cov: Stats['coverage']): HTMLElement {
  const total = coverageTotal(cov);
  const pct = (n: number) => percent(n, total);
  const all = Object.entries(cov.byDirective ?? {})
    .map(([d, c]) => ({ d, c, n: coverageTotal(c) }))
    .sort((a, b) => b.n - a.n);
  // Directive names are attacker-chosen and unbounded: the largest rows, and the rest in one line.
  const rows = all.slice(0, TOP_DIRECTIVES);
  const rest = all.slice(TOP_DIRECTIVES);
  return h(
    'section',
    { class: 'card coverage' },
    h('h2', null, 'Stream coverage'),
    h('p', { class: 'muted small' }, 'Records seen by the SDK and a native report, by one only. SDK-only records are what report-uri/report-to alone would miss.'),
    bar(cov),
    h('ul', { class: 'covkey' }, PARTS.map(([k, label, cls]) => h('li', null, h('i', { class: `swatch ${cls}` }), label, h('b', null, `${num(cov[k])} · ${pct(cov[k])}`)))),
    rows.length
      ? h('table', { class: 'covtable' }, h('tbody', null, rows.map(({ d, c, n }) => h('tr', null, h('td', null, h('code', null, d)), h('td', { class: 'bar-cell' }, bar(c)), h('td', { class: 'num' }, num(n))))))
      : h('p', { class: 'empty' }, 'No records in this range.'),
    rest.length ? h('p', { class: 'muted small' }, `${num(rest.length)} more directives: ${num(rest.reduce((n, r) => n + r.n, 0))} records`) : null,
  );
}
