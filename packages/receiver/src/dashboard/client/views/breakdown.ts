import type { BreakdownEntry, GroupBreakdown } from '@csp-lens/schema';
import { h } from '../dom.js';
import { num, urlText } from '../format.js';

// A group's live records counted by document, browser, release, stream and disposition
// (GET /api/groups/<id>/breakdown): where it happens, for whom, since which release.

const DIMENSIONS: [key: 'documents' | 'browsers' | 'releases' | 'streams' | 'dispositions', title: string][] = [
  ['documents', 'Top documents'],
  ['browsers', 'Browsers'],
  ['releases', 'Releases'],
  ['streams', 'Streams'],
  ['dispositions', 'Dispositions'],
];

function table(key: string, entries: BreakdownEntry[], total: number, rest?: { values: number; records: number; count: number }): HTMLElement {
  if (!entries.length) return h('p', { class: 'empty' }, 'None.');
  return h(
    'table',
    { class: 'breakdown-table' },
    h(
      'tbody',
      null,
      entries.map((e) => {
        const bar = h('span', { class: 'fill' });
        // The CSSOM is allowed under the page's CSP; a style="" attribute would not be.
        bar.style.width = `${total ? Math.max(1, Math.round((100 * e.count) / total)) : 0}%`;
        return h(
          'tr',
          null,
          h('td', { class: 'value' }, key === 'documents' ? h('code', null, urlText(e.value)) : e.value),
          h('td', { class: 'bar-cell' }, h('span', { class: 'hbar' }, bar)),
          h('td', { class: 'num', title: `${num(e.records)} record${e.records === 1 ? '' : 's'}` }, num(e.count)),
        );
      }),
      rest ? h('tr', { class: 'rest' }, h('td', { class: 'muted' }, `${num(rest.values)} more`), h('td'), h('td', { class: 'num muted' }, num(rest.count))) : null,
    ),
  );
}

export function breakdownPanel(b: GroupBreakdown): HTMLElement {
  return h(
    'section',
    { class: 'card breakdown' },
    h('h2', null, 'Breakdown', h('span', { class: 'muted small' }, ` of ${num(b.records)} live record${b.records === 1 ? '' : 's'} (${num(b.count)} occurrences)`)),
    h(
      'div',
      { class: 'breakdown-grid' },
      DIMENSIONS.map(([key, title]) => h('div', { class: `dim dim-${key}` }, h('h4', null, title), table(key, b[key], b.count, key === 'documents' || key === 'browsers' || key === 'releases' ? b.rest[key] : undefined))),
    ),
  );
}
