import type { GroupTriage, ViolationGroup } from '@csp-lens/schema';
import { h } from '../dom.js';
import { count, dateTime, num, reachText, severityBadge, severityWhy, streamChips, urlText, when } from '../format.js';
import type { SeverityOverrides } from '../../../core/severity.js';
import { signalBadges, type Signals } from '../signals.js';

/** What was blocked, as text: origin or keyword, and the source file for inline/eval groups. */
export function blockedLabel(g: ViolationGroup): HTMLElement {
  return h(
    'span',
    { class: 'blocked' },
    h('code', null, g.blocked ? urlText(g.blocked) : g.category),
    g.sourceFile ? h('span', { class: 'muted small' }, ' in ', urlText(g.sourceFile)) : null,
  );
}

/** The triage state as a tag (nothing for an open group that never was anything else). */
export function triageTag(t: GroupTriage | undefined): HTMLElement | null {
  if (!t) return null;
  if (t.regression) return h('span', { class: 'tag state regression', title: `Resolved ${dateTime(t.reopened?.previous.at)}, back ${dateTime(t.reopened?.at)}${t.reopened?.release ? ` in release ${t.reopened.release}` : ''}` }, 'regression');
  if (t.status === 'resolved') return h('span', { class: 'tag state resolved', title: `Resolved ${dateTime(t.at)}${t.by ? ` by ${t.by}` : ''}` }, t.release ? `resolved in ${t.release}` : 'resolved');
  if (t.status === 'ignored') return h('span', { class: 'tag state ignored', title: `Ignored ${dateTime(t.at)}${t.by ? ` by ${t.by}` : ''}` }, 'ignored');
  return null;
}

export interface GroupTableOptions {
  overrides: SeverityOverrides;
  /** Groups first seen at or after this are marked new. */
  newSince?: number;
  /** What the alert rules fired (badges). */
  signals?: Signals;
}

const LABELS = ['Severity', 'Directive', 'Blocked', 'Count', 'Reach', 'Streams', 'Last seen'];

/**
 * Groups, most important first (the API sorts by severity, reach, last seen). On a narrow screen
 * each row is a card (style.css): the cells carry their column's name for that.
 */
export function groupTable(groups: ViolationGroup[], open: (id: string) => void, o: GroupTableOptions = { overrides: {} }): HTMLElement {
  if (!groups.length) return h('p', { class: 'empty' }, 'No violations match these filters.');
  const head = h('tr', null, LABELS.map((t, i) => h('th', { class: i === 3 || i === 4 ? 'num' : undefined, scope: 'col' }, t)));
  const cell = (i: number, attrs: Record<string, string | undefined>, ...children: (Node | string | null)[]) => h('td', { ...attrs, 'data-label': LABELS[i] }, ...children);
  const rows = groups.map((g) => {
    const go = () => open(g.id);
    const fresh = o.newSince !== undefined && g.firstSeen >= o.newSince;
    return h(
      'tr',
      {
        class: `row${g.triage?.regression ? ' regressed' : ''}`,
        tabindex: 0,
        'data-group': g.id,
        'aria-label': `Open group ${g.effectiveDirective} ${g.blocked}`,
        onclick: go,
        onkeydown: (e: Event) => (e as KeyboardEvent).key === 'Enter' && go(),
      },
      cell(0, {}, severityBadge(g.severity, severityWhy(g, o.overrides))),
      cell(
        1,
        { class: 'nowrap' },
        h('code', { class: 'directive' }, g.effectiveDirective),
        g.dispositions?.includes('report') && !g.dispositions.includes('enforce') ? h('span', { class: 'tag' }, 'report-only') : null,
      ),
      cell(2, { class: 'wrap' }, blockedLabel(g), fresh ? h('span', { class: 'tag new', title: `First seen ${dateTime(g.firstSeen)}${g.firstRelease ? ` (release ${g.firstRelease})` : ''}` }, 'new') : null, triageTag(g.triage), signalBadges(o.signals?.groups[g.id])),
      cell(3, { class: 'num' }, num(g.count)),
      h('td', { class: 'num', title: reachText(g), 'data-label': LABELS[4] }, num(g.reach?.pageViews), h('span', { class: 'muted small' }, ` · ${count(g.reach?.documents, 'doc')}`)),
      cell(5, {}, streamChips(g.sources, true)),
      cell(6, { class: 'nowrap' }, when(g.lastSeen)),
    );
  });
  return h('table', { class: 'groups' }, h('thead', null, head), h('tbody', null, rows));
}
