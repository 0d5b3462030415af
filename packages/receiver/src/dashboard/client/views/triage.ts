import type { GroupTriage, ViolationGroup } from '@csp-lens/schema';
import { post } from '../api.js';
import { h } from '../dom.js';
import { dateTime, num } from '../format.js';

// The group's triage state and the controls that change it (POST /api/groups/<id>/state). Every
// value shown is text from the API: `by`, `note` and `release` are whatever the caller typed.

const BY_KEY = 'csp-lens-by';
const remembered = () => {
  try {
    return localStorage.getItem(BY_KEY) ?? '';
  } catch {
    return '';
  }
};

const HOUR = 3_600_000;
const IGNORES: [value: string, label: string][] = [
  ['forever', 'for ever'],
  ['h1', 'for 1 hour'],
  ['h24', 'for 24 hours'],
  ['d7', 'for 7 days'],
  ['n10', 'until 10 more'],
  ['n100', 'until 100 more'],
  ['n1000', 'until 1,000 more'],
];

function ignoreBody(choice: string): Record<string, unknown> {
  if (choice.startsWith('n')) return { occurrences: Number(choice.slice(1)) };
  const ms = { h1: HOUR, h24: 24 * HOUR, d7: 7 * 24 * HOUR }[choice];
  return ms ? { until: Date.now() + ms } : {};
}

/** The state in words: what, since when, by whom. */
function describe(t: GroupTriage | undefined, g: ViolationGroup): (Node | string)[] {
  if (!t) return ['Open: never triaged.'];
  const by = t.by ? [' by ', h('b', null, t.by)] : [];
  if (t.status === 'resolved') return ['Resolved ', dateTime(t.at), ...by, t.release ? ` — records from release ${t.release} or older will not reopen it.` : ' — any new occurrence reopens it.'];
  if (t.status === 'ignored') {
    const until = t.until !== undefined ? ` until ${dateTime(t.until)}` : t.untilCount !== undefined ? ` until ${num(t.occurrences)} more occurrences (${num(Math.max(0, g.count - (t.untilCount - (t.occurrences ?? 0))))} so far)` : ' for ever';
    return ['Ignored', until, ' — set ', dateTime(t.at), ...by, '. Still counted, hidden from the list by default, no alerts.'];
  }
  const r = t.reopened;
  if (r?.reason === 'regression') return ['Regression: resolved ', dateTime(r.previous.at), r.previous.by ? ` by ${r.previous.by}` : '', r.previous.release ? ` in release ${r.previous.release}` : '', ', back ', dateTime(r.at), r.release ? ` in release ${r.release}` : ' (no release on the page)', '.'];
  if (r?.reason === 'ignore-count') return [`Open again: the ignore ran out after ${num(r.previous.occurrences)} more occurrences (${dateTime(r.at)}).`];
  if (r?.reason === 'ignore-expired') return [`Open again: the ignore ran out ${dateTime(r.at)}.`];
  return ['Open — set ', dateTime(t.at), ...by, '.'];
}

/** The triage card: the state, a note, and resolve / ignore / reopen. `changed` reloads the view. */
export function triagePanel(g: ViolationGroup, changed: () => void): HTMLElement {
  const t = g.triage;
  const status = t?.status ?? 'open';
  const message = h('p', { class: 'small', role: 'status' });
  const by = h('input', { type: 'text', value: remembered(), placeholder: 'your name (optional)', 'aria-label': 'Who', maxlength: 100, autocomplete: 'off' });
  const note = h('input', { type: 'text', placeholder: 'note (optional)', 'aria-label': 'Note', maxlength: 1000, autocomplete: 'off' });
  const release = h('input', { type: 'text', value: t?.status === 'resolved' ? (t.release ?? '') : '', placeholder: 'in release (optional)', 'aria-label': 'Resolved in release', maxlength: 200, autocomplete: 'off', spellcheck: 'false' });
  const ignoreFor = h('select', { 'aria-label': 'Ignore' }, IGNORES.map(([v, label]) => h('option', { value: v }, label)));
  const buttons: HTMLButtonElement[] = [];
  const send = async (change: Record<string, unknown>) => {
    buttons.forEach((b) => (b.disabled = true));
    message.textContent = 'Saving…';
    try {
      const who = by.value.trim();
      try {
        localStorage.setItem(BY_KEY, who);
      } catch {
        // private mode: not remembered, still sent
      }
      await post(`/groups/${encodeURIComponent(g.id)}/state`, { ...change, ...(who ? { by: who } : {}), ...(note.value.trim() ? { note: note.value.trim() } : {}) });
      changed();
    } catch (e) {
      message.textContent = `Could not save: ${(e as Error).message}`;
      message.className = 'small error';
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  const button = (label: string, cls: string, change: () => Record<string, unknown>) => {
    const b = h('button', { type: 'button', class: `btn ${cls}`, onclick: () => void send(change()) }, label);
    buttons.push(b);
    return b;
  };
  return h(
    'section',
    { class: `card triage state-${t?.regression ? 'regression' : status}` },
    h('h2', null, 'Triage'),
    h('p', { class: 'state-line' }, ...describe(t, g)),
    t?.note ? h('p', { class: 'note' }, h('b', null, 'Note: '), t.note) : null,
    h(
      'div',
      { class: 'triage-actions' },
      h('div', { class: 'triage-who' }, by, note),
      h('div', { class: 'triage-row' }, release, button(status === 'resolved' ? 'Resolve again' : 'Resolve', 'primary', () => ({ status: 'resolved', ...(release.value.trim() ? { release: release.value.trim() } : {}) }))),
      h('div', { class: 'triage-row' }, ignoreFor, button('Ignore', '', () => ({ status: 'ignored', ...ignoreBody(ignoreFor.value) }))),
      status !== 'open' || t?.regression ? h('div', { class: 'triage-row' }, button(t?.regression ? 'Acknowledge (keep open)' : 'Reopen', '', () => ({ status: 'open' }))) : null,
    ),
    message,
  );
}
