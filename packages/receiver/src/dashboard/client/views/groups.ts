import type { ViolationGroup } from '@csp-lens/schema';
import { h } from '../dom.js';
import { count, num, reachText, severityBadge, streamChips, when } from '../format.js';
import { signalBadges, type Signals } from '../signals.js';

/** What was blocked, as text: origin or keyword, and the source file for inline/eval groups. */
export function blockedLabel(g: ViolationGroup): HTMLElement {
  return h(
    'span',
    { class: 'blocked' },
    h('code', null, g.blocked || g.category),
    g.sourceFile ? h('span', { class: 'muted small' }, ` in ${g.sourceFile}`) : null,
  );
}

/** Groups, most important first (the API sorts by severity, reach, last seen). */
export function groupTable(groups: ViolationGroup[], open: (id: string) => void, signals?: Signals): HTMLElement {
  if (!groups.length) return h('p', { class: 'empty' }, 'No violations match these filters.');
  const head = h(
    'tr',
    null,
    ['Severity', 'Directive', 'Blocked', 'Count', 'Reach', 'Streams', 'Last seen'].map((t, i) => h('th', { class: i === 3 || i === 4 ? 'num' : undefined, scope: 'col' }, t)),
  );
  const rows = groups.map((g) => {
    const go = () => open(g.id);
    return h(
      'tr',
      {
        class: 'row',
        tabindex: 0,
        'data-group': g.id,
        'aria-label': `Open group ${g.effectiveDirective} ${g.blocked}`,
        onclick: go,
        onkeydown: (e: Event) => (e as KeyboardEvent).key === 'Enter' && go(),
      },
      h('td', null, severityBadge(g.severity)),
      h('td', { class: 'nowrap' }, h('code', { class: 'directive' }, g.effectiveDirective), g.dispositions?.includes('report') && !g.dispositions.includes('enforce') ? h('span', { class: 'tag' }, 'report-only') : null),
      h('td', { class: 'wrap' }, blockedLabel(g), signalBadges(signals?.groups[g.id])),
      h('td', { class: 'num' }, num(g.count)),
      h(
        'td',
        { class: 'num', title: reachText(g) },
        num(g.reach?.pageViews),
        h('span', { class: 'muted small' }, ` · ${count(g.reach?.documents, 'doc')}`),
      ),
      h('td', null, streamChips(g.sources, true)),
      h('td', { class: 'nowrap' }, when(g.lastSeen)),
    );
  });
  return h('table', { class: 'groups' }, h('thead', null, head), h('tbody', null, rows));
}
