import type { NormalizedViolation, Severity, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { blockedOrigin } from './url.js';
import { sourceTemplate } from './template.js';
import { memoize, sha256 } from './hash.js';

export const OVERFLOW_GROUP = 'g_overflow';
const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
/** Distinct values kept per reach dimension; beyond it reach is a lower bound (`reachCapped`). */
export const REACH_CAP = 2000;

export interface ReachSets {
  documents: string[];
  pageViews: string[];
  userAgents: string[];
  /** Records no SDK page view is known for: each counts as one page view. */
  nativeOnly: number;
}

export interface GroupBook {
  groups: Record<string, ViolationGroup>;
  reach: Record<string, ReachSets>;
  /** New groups created per minute, to cap a flood of unique blocked hosts. */
  minute: { at: number; created: number };
}

/**
 * How records are grouped: 1 until the source file of inline and eval groups became a template
 * (template.ts). Stores that hold groups of an older version regroup on open (regroup.ts).
 */
export const GROUPING_VERSION = 2;

const SOURCE_BOUND = new Set<string>(['inline', 'eval', 'wasm-eval']);

/** What a group is about, from the fields it is keyed on (a record's, a violation's). */
export function groupKey(v: Pick<NormalizedViolation, 'effectiveDirective' | 'category' | 'blockedURL' | 'sourceFile'>) {
  // Inline and eval have no blocked URL of their own (old browsers: "", "self"): the code is in the
  // page, so the page (its template) says which code, and the category is what was blocked.
  const bound = SOURCE_BOUND.has(v.category);
  const blocked = bound ? v.category : blockedOrigin(v.blockedURL) || v.category;
  const parts = [v.effectiveDirective, v.category, blocked];
  const sourceFile = bound ? sourceTemplate(v.sourceFile ?? '') : undefined;
  if (sourceFile !== undefined) parts.push(sourceFile);
  return { fingerprint: JSON.stringify(parts), blocked, sourceFile: sourceFile || undefined };
}

/** DESIGN §4: directive + category + blocked origin or keyword (+ the source page's template for inline and eval). */
export const fingerprint = (v: NormalizedViolation): string => groupKey(v).fingerprint;

/** The id of the group a violation's fingerprint names (ignoring the per-minute cap). */
export const groupIdFor = (v: NormalizedViolation): string => groupIdOf(fingerprint(v));

/**
 * The group a new bucket of units belongs to, and whether this call made it. Creating a group past `capPerMinute` new groups in
 * the current minute sends the violation to the overflow group instead, so a flood of unique hosts
 * cannot grow the group table faster than that; critical violations are never sent there.
 */
export function assignGroup(book: GroupBook, v: NormalizedViolation, now: number, capPerMinute: number): { gid: string; created: boolean } {
  const key = groupKey(v);
  const fp = key.fingerprint;
  const id = groupIdOf(fp);
  if (book.groups[id]) return { gid: id, created: false };
  const minute = Math.floor(now / 60_000);
  if (book.minute.at !== minute) book.minute = { at: minute, created: 0 };
  // A critical violation always gets its own group: a flood of junk hosts filling the minute's cap
  // must not hide a real exfiltration in the overflow group. (Its group still counts to the cap.)
  const overflow = v.severity !== 'critical' && book.minute.created >= capPerMinute;
  if (!overflow) book.minute.created++;
  const gid = overflow ? OVERFLOW_GROUP : id;
  const created = !book.groups[gid];
  if (created) {
    book.groups[gid] = {
      id: gid,
      fingerprint: overflow ? 'overflow' : fp,
      effectiveDirective: overflow ? '*' : v.effectiveDirective,
      category: overflow ? 'other' : v.category,
      blocked: overflow ? 'overflow' : key.blocked,
      ...(!overflow && key.sourceFile ? { sourceFile: key.sourceFile } : {}),
      severity: v.severity,
      dispositions: [],
      count: 0,
      records: 0,
      sources: { sdk: 0, reportUri: 0, reportTo: 0 },
      merged: 0,
      firstSeen: v.occurredAt,
      lastSeen: v.occurredAt,
      reach: { documents: 0, pageViews: 0, userAgents: 0 },
      exampleId: '',
      ...(overflow ? { overflow: true } : {}),
    };
    book.reach[gid] = { documents: [], pageViews: [], userAgents: [], nativeOnly: 0 };
  }
  return { gid, created };
}

/** Moves a group's totals from the bucket's old records to its new ones (re-matching may re-pair). */
export function applyChange(book: GroupBook, gid: string, before: ViolationRecord[], after: ViolationRecord[], v: NormalizedViolation): void {
  touchGroup(book, gid, v);
  moveRecords(book, gid, before, after);
}

/**
 * A group's first release: the release seen earliest (ties: the smaller name), whatever the order
 * reports arrive or groups merge in; PostgreSQL keeps the same in write.ts and its fold.
 */
function keepFirstRelease(g: ViolationGroup, release: string | undefined, at: number): void {
  if (release === undefined || (g.firstReleaseAt !== undefined && (at > g.firstReleaseAt || (at === g.firstReleaseAt && release >= g.firstRelease!)))) return;
  g.firstRelease = release;
  g.firstReleaseAt = at;
}

/** What one violation adds to its group: times, severity, disposition, reach. */
export function touchGroup(book: GroupBook, gid: string, v: NormalizedViolation): void {
  const g = book.groups[gid];
  const reach = book.reach[gid];
  g.firstSeen = Math.min(g.firstSeen, v.occurredAt);
  g.lastSeen = Math.max(g.lastSeen, v.occurredAt);
  if (SEVERITY_RANK[v.severity] > SEVERITY_RANK[g.severity]) g.severity = v.severity;
  keepFirstRelease(g, v.page?.release, v.occurredAt);
  // Unknown until a record says so (an SDK event or the policy may still tell): see moveRecords.
  if (v.disposition !== 'unknown' && !g.dispositions.includes(v.disposition)) g.dispositions.push(v.disposition);
  addCapped(reach.documents, v.documentURL, RECENT[0]);
  if (v.page?.id) addCapped(reach.pageViews, v.page.id, RECENT[1]);
  if (v.userAgent) addCapped(reach.userAgents, v.userAgent, RECENT[2]);
  setReach(g, reach);
}

/** A group's totals: the records a matching replaced out, the ones it made in. */
export function moveRecords(book: GroupBook, gid: string, before: ViolationRecord[], after: ViolationRecord[]): void {
  const g = book.groups[gid];
  const reach = book.reach[gid];
  for (const r of before) count(g, reach, r, -1);
  for (const r of after) {
    count(g, reach, r, 1);
    if (!g.dispositions.includes(r.disposition)) g.dispositions.push(r.disposition);
  }
  if (after.length) g.exampleId = after[after.length - 1].id;
  setReach(g, reach);
}

/**
 * Adds group `from` (its totals, times, severity, dispositions and reach) to group `into` of the
 * book: two groups that the grouping rule now makes one (regroup.ts). Reach is the union of the
 * two sets (a lower bound past REACH_CAP, as always).
 */
export function mergeGroup(book: GroupBook, into: string, from: ViolationGroup, fromReach: ReachSets): void {
  const g = book.groups[into];
  const reach = book.reach[into];
  g.count += from.count;
  g.records += from.records;
  g.sources.sdk += from.sources.sdk;
  g.sources.reportUri += from.sources.reportUri;
  g.sources.reportTo += from.sources.reportTo;
  g.merged += from.merged;
  reach.nativeOnly += fromReach.nativeOnly;
  // The example of whichever was seen last.
  if (from.exampleId && (!g.exampleId || from.lastSeen >= g.lastSeen)) g.exampleId = from.exampleId;
  g.firstSeen = Math.min(g.firstSeen, from.firstSeen);
  g.lastSeen = Math.max(g.lastSeen, from.lastSeen);
  if (SEVERITY_RANK[from.severity] > SEVERITY_RANK[g.severity]) g.severity = from.severity;
  for (const d of from.dispositions) if (!g.dispositions.includes(d)) g.dispositions.push(d);
  if (from.firstReleaseAt !== undefined) keepFirstRelease(g, from.firstRelease, from.firstReleaseAt);
  for (const h of fromReach.documents) addHash(reach.documents, h);
  for (const h of fromReach.pageViews) addHash(reach.pageViews, h);
  for (const h of fromReach.userAgents) addHash(reach.userAgents, h);
  setReach(g, reach);
}

function setReach(g: ViolationGroup, reach: ReachSets): void {
  g.reach = {
    documents: reach.documents.length,
    pageViews: reach.pageViews.length + reach.nativeOnly,
    userAgents: reach.userAgents.length,
  };
}

/** Adds a record to its group's totals (`sign` 1) or takes it out (-1). */
function count(g: ViolationGroup, reach: ReachSets, r: ViolationRecord, sign: 1 | -1): void {
  g.count += sign * r.count;
  g.records += sign;
  g.sources.sdk += sign * r.sources.sdk;
  g.sources.reportUri += sign * r.sources.reportUri;
  g.sources.reportTo += sign * r.sources.reportTo;
  const native = r.sources.reportUri + r.sources.reportTo > 0;
  if (r.sources.sdk > 0 && native) g.merged += sign;
  if (!r.sources.sdk) reach.nativeOnly += sign;
}

export function severityRank(s: Severity): number {
  return SEVERITY_RANK[s] ?? 0;
}

// A group's id is a hash of its fingerprint, asked for on every new bucket; the reach sets hold
// short hashes (small whatever the attacker puts in a URL) of documents, page views and user
// agents, which come back again and again. Both remembered, bounded.
export const groupIdOf = memoize((fp) => `g${sha256(fp, 'hex').slice(0, 16)}`, 4096);
const short = memoize((s) => sha256(s, 'base64url').slice(0, 11), 4096);

// Each persisted reach array gets an in-memory Set of its values for the membership test (the
// arrays hold up to REACH_CAP values). Rebuilt whenever the array was changed behind its back.
const mirrors = new WeakMap<string[], Set<string>>();

// The last value added to a set of each kind (documents, page views, user agents). The reports of
// one batch mostly share their document, page view and user agent, and a value added again to the
// same set changes nothing (reach sets only ever grow): no hash, no lookup.
const RECENT = [0, 1, 2].map(() => ({ set: undefined as string[] | undefined, value: '' }));

/** Adds the short hash of `value` unless it is there or the set is full. */
function addCapped(set: string[], value: string, recent: (typeof RECENT)[number]): void {
  if (recent.set === set && recent.value === value) return;
  if (set.length < REACH_CAP) addHash(set, short(value));
  recent.set = set;
  recent.value = value;
}

function addHash(set: string[], hash: string): void {
  if (set.length >= REACH_CAP) return;
  let seen = mirrors.get(set);
  if (!seen || seen.size !== set.length) mirrors.set(set, (seen = new Set(set)));
  if (seen.has(hash)) return;
  seen.add(hash);
  set.push(hash);
}
