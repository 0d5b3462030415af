import type { GroupAdvice, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { get } from '../api.js';
import { fields, h } from '../dom.js';
import { dateTime, num, reachText, severityBadge, streamChips } from '../format.js';
import { policyView } from '../policy.js';
import { blockedLabel } from './groups.js';
import { recordCard } from './record.js';
import { adviceCard } from './advice.js';
import { openBuilder } from './builder.js';

export interface GroupDetail {
  group: ViolationGroup;
  records: ViolationRecord[];
  policy?: string;
  advice?: GroupAdvice;
}

export const loadGroup = (id: string) => get<GroupDetail>(`/groups/${encodeURIComponent(id)}`);

/** A record violated another policy than the group's example: fetch that one on demand. */
function otherPolicy(r: ViolationRecord): HTMLElement {
  const box = h('div', { class: 'other-policy' });
  const btn = h('button', {
    type: 'button',
    class: 'btn link',
    onclick: async () => {
      btn.disabled = true;
      try {
        const { policy } = await get<{ policy: string }>(`/policies/${encodeURIComponent(r.policyHash ?? '')}`);
        box.replaceChildren(policyView(policy, r.effectiveDirective));
      } catch (e) {
        box.replaceChildren(h('p', { class: 'error' }, `Could not load the policy: ${(e as Error).message}`));
      }
    },
  }, 'This record violated a different policy: show it');
  box.append(btn);
  return box;
}

export function detailView(d: GroupDetail, back: () => void): HTMLElement {
  const g = d.group;
  const example = d.records.find((r) => r.id === g.exampleId) ?? d.records[0];
  const examplePolicy = example?.policyHash;
  return h(
    'div',
    { class: 'detail' },
    h('button', { type: 'button', class: 'btn link back', onclick: back }, '← All groups'),
    h('header', { class: 'detail-head' },
      severityBadge(g.severity),
      h('h1', null, h('code', null, g.effectiveDirective), h('span', { class: 'muted' }, ' blocked '), blockedLabel(g)),
    ),
    d.advice ? adviceCard(d.advice, openBuilder) : null,
    h('section', { class: 'card' },
      fields([
        ['Occurrences', num(g.count)],
        ['Records', num(g.records)],
        ['Reach', reachText(g)],
        ['First seen', dateTime(g.firstSeen)],
        ['Last seen', dateTime(g.lastSeen)],
        ['Category', g.category],
        ['Disposition', (g.dispositions ?? []).join(', ')],
        ['Streams', streamChips(g.sources)],
        ['Merged records', `${num(g.merged)} of ${num(g.records)} seen by the SDK and a native report`],
        ['Group id', h('code', null, g.id)],
      ], 'kv grid'),
    ),
    h('section', { class: 'card' },
      h('h2', null, 'Violated policy'),
      d.policy ? policyView(d.policy, example?.effectiveDirective ?? g.effectiveDirective) : h('p', { class: 'empty' }, 'No policy text was reported for this group (the SDK and some browsers omit it).'),
    ),
    h('section', null,
      h('h2', null, `Recent records (${num(d.records.length)}${g.records > d.records.length ? ` of ${num(g.records)}` : ''})`),
      d.records.map((r) => recordCard(r, r.policyHash && r.policyHash !== examplePolicy ? otherPolicy(r) : null)),
    ),
  );
}
