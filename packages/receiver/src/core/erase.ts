import type { ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import type { ReachSets } from './group.js';

// Erasure (DELETE /api/violations, DELETE /api/groups/<id>): which records go, and what they take
// out of their groups' totals. Plain functions over records: the file store applies them to its
// state and archive lines, PostgreSQL does the same in SQL.

/** Which records an erasure removes: every condition given holds (at least one is given). */
export interface EraseFilter {
  /** The document URL as stored (no fragment). */
  document?: string;
  /** A client as stored: the record's `clientIp`, or `sdkClient` (its SDK context came from there). Any of these. */
  clients?: string[];
  /** Happened before this time (ms, server clock). */
  before?: number;
  groupId?: string;
}

export interface EraseResult {
  /** Live records removed. */
  deleted: number;
  /** Archived records removed. */
  archived: number;
}

/** The filter, checked: a store never erases everything because a condition was left out. */
export function checkEraseFilter(f: EraseFilter): EraseFilter {
  const out: EraseFilter = {};
  if (f.document !== undefined) {
    if (typeof f.document !== 'string' || !f.document) throw new Error('csp-lens: erase: document must be a URL');
    out.document = f.document;
  }
  if (f.clients !== undefined) {
    if (!Array.isArray(f.clients) || !f.clients.length || !f.clients.every((c) => typeof c === 'string' && c)) throw new Error('csp-lens: erase: clients must be non-empty strings');
    out.clients = [...new Set(f.clients)];
  }
  if (f.before !== undefined) {
    if (!Number.isFinite(f.before)) throw new Error('csp-lens: erase: before must be a time in ms');
    out.before = f.before;
  }
  if (f.groupId !== undefined) {
    if (typeof f.groupId !== 'string' || !f.groupId) throw new Error('csp-lens: erase: groupId must be a group id');
    out.groupId = f.groupId;
  }
  if (!Object.keys(out).length) throw new Error('csp-lens: erase needs a document, client, time or group');
  return out;
}

export function eraseMatcher(f: EraseFilter): (r: ViolationRecord) => boolean {
  const clients = f.clients ? new Set(f.clients) : undefined;
  return (r) =>
    (f.document === undefined || r.documentURL === f.document) &&
    (!clients || (r.clientIp !== undefined && clients.has(r.clientIp)) || (r.sdkClient !== undefined && clients.has(r.sdkClient))) &&
    (f.before === undefined || r.occurredAt < f.before) &&
    (f.groupId === undefined || r.groupId === f.groupId);
}

/**
 * A cheap test on a record's JSON line (the archive's), true whenever the record may match: its
 * strings appear in the line as JSON.stringify wrote them. Lines that pass are parsed and matched.
 */
export function lineMayMatch(f: EraseFilter): (line: string) => boolean {
  const needles: string[][] = [];
  if (f.document !== undefined) needles.push([`"documentURL":${JSON.stringify(f.document)}`]);
  if (f.groupId !== undefined) needles.push([`"groupId":${JSON.stringify(f.groupId)}`]);
  if (f.clients) needles.push(f.clients.map((c) => JSON.stringify(c)));
  return (line) => needles.every((any) => any.some((n) => line.includes(n)));
}

/** What erased records take out of one group's totals (group.ts counts them in the same way). */
export interface GroupDelta {
  count: number;
  records: number;
  sdk: number;
  reportUri: number;
  reportTo: number;
  merged: number;
  nativeOnly: number;
}

/** Erased records, summed per group. */
export function createTally() {
  const deltas = new Map<string, GroupDelta>();
  let records = 0;
  return {
    deltas,
    get records() {
      return records;
    },
    add(r: Pick<ViolationRecord, 'groupId' | 'count' | 'sources'>): void {
      let d = deltas.get(r.groupId);
      if (!d) deltas.set(r.groupId, (d = { count: 0, records: 0, sdk: 0, reportUri: 0, reportTo: 0, merged: 0, nativeOnly: 0 }));
      const s = r.sources ?? { sdk: 0, reportUri: 0, reportTo: 0 };
      d.count += r.count ?? 0;
      d.records++;
      d.sdk += s.sdk;
      d.reportUri += s.reportUri;
      d.reportTo += s.reportTo;
      if (s.sdk > 0 && s.reportUri + s.reportTo > 0) d.merged++;
      if (!s.sdk) d.nativeOnly++;
      records++;
    },
  };
}

export type Tally = ReturnType<typeof createTally>;

/**
 * Takes erased records out of a group's totals. Counts (occurrences, records, streams, merged) stay
 * exact; reach keeps the distinct documents, page views and user agents it has seen (short hashes,
 * not counted per record) but for the native-only page views, and first/last seen stay as seen.
 */
export function subtract(g: ViolationGroup, reach: ReachSets | undefined, d: GroupDelta): void {
  g.count = Math.max(0, g.count - d.count);
  g.records = Math.max(0, g.records - d.records);
  g.sources.sdk = Math.max(0, g.sources.sdk - d.sdk);
  g.sources.reportUri = Math.max(0, g.sources.reportUri - d.reportUri);
  g.sources.reportTo = Math.max(0, g.sources.reportTo - d.reportTo);
  g.merged = Math.max(0, g.merged - d.merged);
  if (reach) {
    reach.nativeOnly = Math.max(0, reach.nativeOnly - d.nativeOnly);
    g.reach = { ...g.reach, pageViews: reach.pageViews.length + reach.nativeOnly };
  }
}
