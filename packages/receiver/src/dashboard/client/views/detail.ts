import type { GroupAdvice, GroupBreakdown, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { del, get } from '../api.js';
import { loadSeverity, type SeverityInfo } from '../data.js';
import { fields, h } from '../dom.js';
import { dateTime, num, reachText, severityBadge, severityWhy, streamChips } from '../format.js';
import { policyView } from '../policy.js';
import { breakdownPanel } from './breakdown.js';
import { blockedLabel, triageTag } from './groups.js';
import { recordCard } from './record.js';
import { adviceCard } from './advice.js';
import { openBuilder } from './builder.js';
import { triagePanel } from './triage.js';
import { signalBadges, type GroupSignals } from '../signals.js';

export interface GroupDetail {
  group: ViolationGroup;
  records: ViolationRecord[];
  policy?: string;
  advice?: GroupAdvice;
}

export interface GroupView extends GroupDetail {
  breakdown?: GroupBreakdown;
  severity: SeverityInfo;
}

/** Records per page of the group's list (the read API's cursor pages). */
const PAGE = 50;

export async function loadGroup(id: string): Promise<GroupView> {
  const path = `/groups/${encodeURIComponent(id)}`;
  const [detail, breakdown, severity] = await Promise.all([get<GroupDetail>(path), get<GroupBreakdown>(`${path}/breakdown`), loadSeverity()]);
  return { ...detail, breakdown, severity };
}

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

/** The group's live records, newest first, a page at a time (GET /api/violations?group=…&cursor=…). */
function recordList(d: GroupView): HTMLElement {
  const g = d.group;
  const live = d.breakdown?.records ?? d.records.length;
  const examplePolicy = (d.records.find((r) => r.id === g.exampleId) ?? d.records[0])?.policyHash;
  const card = (r: ViolationRecord) => recordCard(r, r.policyHash && r.policyHash !== examplePolicy ? otherPolicy(r) : null);
  const shown = [...d.records];
  const title = h('h2');
  const list = h('div', { class: 'records' }, shown.map(card));
  const more = h('button', { type: 'button', class: 'btn more-records' }, 'Load more records');
  const status = h('p', { class: 'small', role: 'status' });
  const archived = Math.max(0, g.records - live);
  const update = () => {
    title.textContent = `Records (${num(shown.length)} of ${num(live)} live${archived ? `; ${num(archived)} more in the archive` : ''})`;
    more.hidden = shown.length >= live;
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    status.textContent = '';
    try {
      const page = await get<ViolationPage>('/violations', { group: g.id, limit: PAGE, cursor: shown[shown.length - 1]?.id });
      shown.push(...page.items);
      list.append(...page.items.map(card));
      update();
      if (!page.next) more.hidden = true;
    } catch (e) {
      status.textContent = `Could not load more: ${(e as Error).message}`;
    } finally {
      more.disabled = false;
    }
  });
  update();
  return h('section', { class: 'record-list' }, title, list, more, status);
}

export interface DetailActions {
  back(): void;
  /** Reload the view (after a triage change). */
  refresh(): void;
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

export function detailView(d: GroupView, act: DetailActions, signals?: GroupSignals): HTMLElement {
  const g = d.group;
  const example = d.records.find((r) => r.id === g.exampleId) ?? d.records[0];
  const why = severityWhy(g, d.severity.overrides);
  return h(
    'div',
    { class: 'detail' },
    h('button', { type: 'button', class: 'btn link back', onclick: act.back }, '← All groups'),
    h('header', { class: 'detail-head' },
      severityBadge(g.severity, why),
      h('h1', null, h('code', null, g.effectiveDirective), h('span', { class: 'muted' }, ' blocked '), blockedLabel(g)),
      triageTag(g.triage),
      signalBadges(signals),
    ),
    d.advice ? adviceCard(d.advice, openBuilder) : null,
    h('p', { class: 'severity-why small' }, h('b', null, `Why ${g.severity}: `), why.replace(/^\w+: /, '')),
    h('div', { class: 'detail-top' },
      h('section', { class: 'card' },
        fields([
          ['Occurrences', num(g.count)],
          ['Records', num(g.records)],
          ['Reach', reachText(g)],
          ['First seen', dateTime(g.firstSeen)],
          ['Last seen', dateTime(g.lastSeen)],
          ['First release', g.firstRelease],
          ['Category', g.category],
          ['Disposition', (g.dispositions ?? []).join(', ')],
          ['Streams', streamChips(g.sources)],
          ['Merged records', `${num(g.merged)} of ${num(g.records)} seen by the SDK and a native report`],
          ['Group id', h('code', null, g.id)],
        ], 'kv grid'),
      ),
      triagePanel(g, act.refresh),
    ),
    d.breakdown ? breakdownPanel(d.breakdown) : null,
    h('section', { class: 'card' },
      h('h2', null, 'Violated policy'),
      d.policy ? policyView(d.policy, example?.effectiveDirective ?? g.effectiveDirective) : h('p', { class: 'empty' }, 'No policy text was reported for this group (the SDK and some browsers omit it).'),
    ),
    recordList(d),
    deleteCard(g, act.back),
  );
}
