import type { GroupTriage, TriageStatus, ViolationGroup } from '@csp-lens/schema';
import { ClientError } from './errors.js';
import { cleanText, isObject } from './fields.js';

// Triage: a group is open, resolved (optionally in a release) or ignored (for ever, until a time, or
// until N more occurrences). Plain functions over plain data: both stores apply the same ones, the
// file store also on replay, so every transition must depend only on what the journal holds.

export const TRIAGE_STATUSES: TriageStatus[] = ['open', 'resolved', 'ignored'];

/** A change as the API accepted it, with the server time it was made (journaled as it is). */
export interface TriageChange {
  status: TriageStatus;
  at: number;
  by?: string;
  note?: string;
  release?: string;
  until?: number;
  occurrences?: number;
}

export const TRIAGE_CAP = { by: 100, note: 1000, release: 200, occurrences: 1_000_000_000 } as const;

const KEYS = new Set(['status', 'by', 'note', 'release', 'until', 'occurrences']);

const bad = (message: string): never => {
  throw new ClientError(400, message);
};

function text(body: Record<string, unknown>, key: 'by' | 'note' | 'release'): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return bad(`${key} must be a string`);
  const s = cleanText(v).trim();
  if (s.length > TRIAGE_CAP[key]) bad(`${key} must be at most ${TRIAGE_CAP[key]} characters`);
  return s || undefined;
}

/**
 * The body of `POST /api/groups/<id>/state`, checked strictly: a wrong key, type or combination is
 * a 400 that says which. `now` is the server's clock: the change's time, and `until` must be after it.
 */
export function parseTriageChange(body: unknown, now: number): TriageChange {
  if (!isObject(body)) return bad('the body must be a JSON object, like {"status":"resolved"}');
  for (const k of Object.keys(body)) if (!KEYS.has(k)) bad(`unknown field ${JSON.stringify(k.slice(0, 64))}; fields: ${[...KEYS].join(', ')}`);
  const status = body.status;
  if (typeof status !== 'string' || !TRIAGE_STATUSES.includes(status as TriageStatus)) bad(`status must be one of ${TRIAGE_STATUSES.join(', ')}`);
  const change: TriageChange = { status: status as TriageStatus, at: now };
  const by = text(body, 'by');
  const note = text(body, 'note');
  const release = text(body, 'release');
  if (by !== undefined) change.by = by;
  if (note !== undefined) change.note = note;
  if (release !== undefined) {
    if (status !== 'resolved') bad('release goes with status resolved only');
    change.release = release;
  }
  if (body.until !== undefined && body.until !== null) {
    if (status !== 'ignored') bad('until goes with status ignored only');
    const u = body.until;
    const t = typeof u === 'number' ? u : typeof u === 'string' && /^\d{1,15}$/.test(u) ? Number(u) : typeof u === 'string' && u.length <= 64 ? Date.parse(u) : NaN;
    if (!Number.isSafeInteger(Math.floor(t)) || t <= 0) bad('until must be a time: ms since the epoch or an ISO date');
    if (t <= now) bad('until must be in the future');
    change.until = Math.floor(t);
  }
  if (body.occurrences !== undefined && body.occurrences !== null) {
    if (status !== 'ignored') bad('occurrences goes with status ignored only');
    if (change.until !== undefined) bad('give until or occurrences, not both');
    const n = body.occurrences;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > TRIAGE_CAP.occurrences) bad(`occurrences must be an integer from 1 to ${TRIAGE_CAP.occurrences}`);
    change.occurrences = n as number;
  }
  return change;
}

/** What the journal holds of a change is this shape again (a replay trusts its own lines, but checks). */
export function isTriageChange(c: unknown): c is TriageChange {
  return isObject(c) && TRIAGE_STATUSES.includes(c.status as TriageStatus) && typeof c.at === 'number';
}

/** The group's state after a change made through the API (`count`: the group's occurrences now). */
export function changedTriage(change: TriageChange, count: number): GroupTriage {
  const t: GroupTriage = { status: change.status, at: change.at };
  if (change.by !== undefined) t.by = change.by;
  if (change.note !== undefined) t.note = change.note;
  if (change.release !== undefined) t.release = change.release;
  if (change.until !== undefined) t.until = change.until;
  if (change.occurrences !== undefined) {
    t.occurrences = change.occurrences;
    t.untilCount = count + change.occurrences;
  }
  return t;
}

const previous = (t: GroupTriage): Omit<GroupTriage, 'reopened' | 'regression'> => {
  const { reopened: _r, regression: _g, ...rest } = t;
  return rest;
};

// `1.4.2`, `v2026.11.3`: dotted numbers, compared as versions; anything else only matches itself.
const VERSION = /^v?(\d{1,15}(?:\.\d{1,15})*)$/i;

/**
 * Whether a record from `release` is covered by a resolution in `resolvedIn`: the same release or an
 * older one (pages still open or cached from before the fix), so no regression. A record without a
 * release cannot be placed, and reopens the group; a release name that is no version (a commit
 * hash) is only ever the same as itself.
 */
export function releaseCovered(resolvedIn: string, release: string | undefined): boolean {
  if (release === undefined) return false;
  if (release === resolvedIn) return true;
  const a = VERSION.exec(release);
  const b = VERSION.exec(resolvedIn);
  if (!a || !b) return false;
  const x = a[1]!.split('.').map(Number);
  const y = b[1]!.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d < 0;
  }
  return true;
}

/** One occurrence of a group: when it happened and arrived, and the release of its page, if known. */
export interface Occurrence {
  occurredAt: number;
  receivedAt: number;
  release?: string;
}

/**
 * The state after an occurrence arrived, or undefined when it stays. A resolved group recurs when
 * the violation happened after the resolution (a late report of an earlier one does not count) from
 * a release the resolution does not cover; an "ignore until N more" reopens once the group's count
 * (`count`, after this append) reaches its mark.
 */
export function afterOccurrence(t: GroupTriage, o: Occurrence, count: number): GroupTriage | undefined {
  if (t.status === 'resolved') {
    if (o.occurredAt <= t.at) return undefined;
    if (t.release !== undefined && releaseCovered(t.release, o.release)) return undefined;
    return {
      status: 'open',
      at: o.receivedAt,
      reopened: { reason: 'regression', at: o.occurredAt, ...(o.release !== undefined ? { release: o.release } : {}), previous: previous(t) },
      regression: true,
    };
  }
  if (t.status === 'ignored' && t.untilCount !== undefined && count >= t.untilCount) {
    return { status: 'open', at: o.receivedAt, reopened: { reason: 'ignore-count', at: o.receivedAt, previous: previous(t) } };
  }
  return undefined;
}

/**
 * The state as it reads at `now`: an "ignore until a time" that has passed reads as open (nothing
 * is written for it, so both stores and every reader agree whenever they look).
 */
export function effectiveTriage(t: GroupTriage | undefined, now: number): GroupTriage | undefined {
  if (!t || t.status !== 'ignored' || t.until === undefined || t.until > now) return t;
  return { status: 'open', at: t.until, reopened: { reason: 'ignore-expired', at: t.until, previous: previous(t) } };
}

/** The group with its state as it reads at `now` (a copy when that differs). */
export function withEffectiveTriage(g: ViolationGroup, now: number): ViolationGroup {
  const t = effectiveTriage(g.triage, now);
  return t === g.triage ? g : { ...g, triage: t };
}

/** The `status` filter of `/api/groups`: `all`, one status, or `regression`; unset hides ignored groups. */
export type StatusFilter = TriageStatus | 'regression' | 'all';
export const STATUS_FILTERS: StatusFilter[] = ['open', 'resolved', 'ignored', 'regression', 'all'];

export function statusMatches(t: GroupTriage | undefined, filter: StatusFilter | undefined): boolean {
  const status = t?.status ?? 'open';
  if (filter === undefined) return status !== 'ignored';
  if (filter === 'all') return true;
  if (filter === 'regression') return t?.regression === true;
  return status === filter;
}

// A state is replaced, never changed in place: its size is measured once (the live-bytes budget asks
// on every violation of its group).
const sizes = new WeakMap<GroupTriage, number>();

/** JSON size of a state, for the live-bytes budget (bounded: every text field is capped). */
export function triageBytes(t: GroupTriage | undefined): number {
  if (!t) return 0;
  let n = sizes.get(t);
  if (n === undefined) sizes.set(t, (n = Buffer.byteLength(JSON.stringify(t), 'utf8')));
  return n;
}
