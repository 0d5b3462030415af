import { hourChart } from '../chart.js';
import { moreGroups, type Overview } from '../data.js';
import { h } from '../dom.js';
import { coverageTotal, dateTime, num, percent, severityBadge } from '../format.js';
import type { View } from '../state.js';
import { coveragePanel, unstoredPanel } from './coverage.js';
import { filterBar } from './filters.js';
import { groupTable } from './groups.js';

const stat = (label: string, value: string, hint?: string) =>
  h('div', { class: 'stat' }, h('span', { class: 'label' }, label), h('b', null, value), hint ? h('span', { class: 'muted small' }, hint) : null);

export interface OverviewActions {
  change(view: View): void;
  open(groupId: string): void;
}

/** Why a filtered list is empty, and the one click that widens it. */
function emptyHints(view: View, change: (v: View) => void): HTMLElement[] {
  const hints: HTMLElement[] = [];
  const clear = (label: string, patch: Partial<View>) => h('button', { type: 'button', class: 'btn link', onclick: () => change({ ...view, ...patch }) }, label);
  if (view.document) {
    hints.push(
      h('p', { class: 'hint' }, 'No live record is on a document starting with ', h('code', null, view.document), '. Documents match by prefix: a path (', h('code', null, '/checkout'), '), a URL, or a host and path; query and fragment do not count. ', clear('Clear the document filter', { document: '' })),
    );
  }
  if (view.q) hints.push(h('p', { class: 'hint' }, 'The search looks in blocked URLs, document URLs and source files of live records. ', clear('Clear the search', { q: '' })));
  if (!view.status) hints.push(h('p', { class: 'hint' }, 'Ignored groups are hidden. ', clear('Show them too', { status: 'all' })));
  return hints;
}

/** How severities are decided: the rules in order, the receiver's own first. */
function severityLegend(info: Overview['severity']): HTMLElement {
  const own = Object.entries(info.overrides);
  return h(
    'details',
    { class: 'legend-severity' },
    h('summary', null, 'How severity is decided'),
    own.length
      ? h('p', { class: 'small' }, 'This receiver’s own rules come first: ', own.flatMap(([sel, sev], i) => [i ? ', ' : '', h('code', null, `${sel}=${sev}`)]))
      : null,
    h('ul', { class: 'rules' }, info.rules.map((r) => h('li', null, severityBadge(r.severity), h('b', null, r.when), h('span', { class: 'muted' }, ` — ${r.why}`)))),
    h('p', { class: 'muted small' }, 'A group shows the highest severity of its violations. Change the rules with --severity (for example --severity connect-src=high).'),
  );
}

export function overviewView(view: View, o: Overview, act: OverviewActions): HTMLElement {
  const cov = o.coverage;
  const covered = coverageTotal(cov);
  const sdkOnly = percent(cov.sdkOnly, covered);
  const critical = o.groups.filter((g) => g.severity === 'critical').length;

  const groupsCard = h('section', { class: 'card groups-card' }, h('h2', null, 'Groups', h('span', { class: 'muted small' }, ' by severity, reach, last seen')));
  const tableOptions = { overrides: o.severity.overrides, newSince: view.range === 'all' ? undefined : o.from, signals: o.signals };
  const table = () => groupTable(o.groups, act.open, tableOptions);
  const tableHost = h('div', { class: 'table-scroll' }, table());
  groupsCard.append(tableHost);
  if (!o.groups.length) groupsCard.append(...emptyHints(view, act.change));
  groupsCard.append(severityLegend(o.severity));
  let next = o.next;
  const more = h('button', { type: 'button', class: 'btn', hidden: !next }, 'Load more groups');
  more.addEventListener('click', async () => {
    if (!next) return;
    more.disabled = true;
    const page = await moreGroups(view, next).catch(() => undefined);
    more.disabled = false;
    if (!page) return;
    o.groups.push(...page.items);
    next = page.next;
    more.hidden = !next;
    tableHost.replaceChildren(table());
  });
  groupsCard.insertBefore(more, groupsCard.querySelector('.legend-severity'));

  const volume = o.signals.store.volume;
  return h(
    'div',
    { class: 'overview' },
    filterBar(view, o.directives, act.change),
    volume
      ? h('div', { class: 'card signal-banner', role: 'status' }, h('span', { class: 'signal volume' }, 'High volume'), ` ${num(volume.count)} violations within an hour across all groups, ${dateTime(volume.at)}`)
      : null,
    h(
      'div',
      { class: 'stats' },
      stat('Violations', num(o.violations), 'occurrences in range'),
      stat('Records', num(o.records), 'distinct per page view'),
      stat('Groups', num(o.groups.length) + (o.next ? '+' : ''), critical ? `${critical} critical` : 'none critical'),
      stat('SDK only', sdkOnly, 'of records: missed by native reports'),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Violations over time'),
      hourChart(o.hours, o.from, o.to),
    ),
    h('div', { class: 'columns' }, groupsCard, h('div', null, coveragePanel(cov), unstoredPanel(o.unstored))),
  );
}
