import type { ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { del, get } from '../api.js';
import { fields, h } from '../dom.js';
import { dateTime, num, reachText, severityBadge, streamChips } from '../format.js';
import { policyView } from '../policy.js';
import { blockedLabel } from './groups.js';
import { recordCard } from './record.js';
import { signalBadges, type GroupSignals } from '../signals.js';

export interface GroupDetail {
  group: ViolationGroup;
  records: ViolationRecord[];
  policy?: string;
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

/**
 * Deleting the group, behind a confirmation that says what goes: its live and archived records and
 * the group itself, for good (DELETE /api/groups/<id>, an erasure).
 */
function deleteCard(g: ViolationGroup, back: () => void): HTMLElement {
  const card = h('section', { class: 'card danger-zone' });
  const start = () =>
    card.replaceChildren(
      h('h2', null, 'Delete this group'),
      h('p', { class: 'muted' }, 'For privacy requests and test noise: its records go from the live store and the archive, and the group with them.'),
      h('button', { type: 'button', class: 'btn danger', 'data-action': 'delete', onclick: confirm }, 'Delete group…'),
    );
  const confirm = () =>
    card.replaceChildren(
      h('p', { class: 'confirm', role: 'alert' }, `Delete the ${num(g.records)} record${g.records === 1 ? '' : 's'} of this group, live and archived, for good? This cannot be undone.`),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn danger', 'data-action': 'confirm-delete', onclick: erase }, 'Delete for good'),
        h('button', { type: 'button', class: 'btn', 'data-action': 'cancel-delete', onclick: start }, 'Cancel'),
      ),
    );
  const erase = async () => {
    card.querySelectorAll('button').forEach((b) => (b.disabled = true));
    try {
      const r = await del<{ deleted: number; archived: number }>(`/groups/${encodeURIComponent(g.id)}`);
      card.replaceChildren(
        h('p', { class: 'done', role: 'status' }, `Deleted: ${num(r.deleted)} live and ${num(r.archived)} archived record${r.deleted + r.archived === 1 ? '' : 's'}.`),
        h('button', { type: 'button', class: 'btn link', onclick: back }, '← All groups'),
      );
    } catch (e) {
      card.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not delete: ${(e as Error).message}`));
      card.append(h('button', { type: 'button', class: 'btn', onclick: start }, 'Back'));
    }
  };
  start();
  return card;
}

export function detailView(d: GroupDetail, back: () => void, signals?: GroupSignals): HTMLElement {
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
      signalBadges(signals),
    ),
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
    deleteCard(g, back),
  );
}
