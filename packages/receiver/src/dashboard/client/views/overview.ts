import { hourChart } from '../chart.js';
import { moreGroups, type Overview } from '../data.js';
import { h } from '../dom.js';
import { coverageTotal, dateTime, num, percent } from '../format.js';
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

export function overviewView(view: View, o: Overview, act: OverviewActions): HTMLElement {
  const cov = o.coverage;
  const covered = coverageTotal(cov);
  const sdkOnly = percent(cov.sdkOnly, covered);
  const critical = o.groups.filter((g) => g.severity === 'critical').length;

  const groupsCard = h('section', { class: 'card groups-card' }, h('h2', null, 'Groups', h('span', { class: 'muted small' }, ' by severity, reach, last seen')));
  const tableHost = h('div', { class: 'table-scroll' }, groupTable(o.groups, act.open, o.signals));
  groupsCard.append(tableHost);
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
    tableHost.replaceChildren(groupTable(o.groups, act.open, o.signals));
  });
  groupsCard.append(more);

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
