import { createHash } from 'node:crypto';
import type { NormalizedViolation, PolicyEntry, ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch } from '../types.js';
import { type Unit, bucketKey, buildRecord, isCutToOrigin, matchUnits, unitsOf } from '../merge.js';
import { type GroupBook, applyChange, assignGroup } from '../group.js';

/** What a store persists. Plain JSON: the file store writes it whole; records stay newest-N. */
export interface StoreData {
  version: 1;
  seq: number;
  records: ViolationRecord[];
  groups: GroupBook['groups'];
  reach: GroupBook['reach'];
  minute: GroupBook['minute'];
  policies: Record<string, PolicyEntry>;
  counters: Counters;
}

export interface Counters {
  filtered: Record<string, number>;
  otherReports: Record<string, number>;
  invalid: number;
  sdkDropped: number;
  archived: number;
}

export interface StateOptions {
  /** Max distance in time between the streams' accounts of one violation (DESIGN §4). */
  mergeWindowMs: number;
  /** Live records kept; older ones are handed back by `ingest` for the archive. */
  maxRecords: number;
  groupCapPerMinute: number;
}

interface Bucket {
  groupId: string;
  units: Unit[];
  /** Units whose blocked URL was cut to its origin. */
  cut: number;
  /** The units of each of the bucket's live records, from the last matching. */
  parts: Map<string, Unit[]>;
}

// Units this far behind the newest of their bucket are frozen: their records are final. It bounds
// the work per report and the memory for a busy page; report-to's lateness does not count here
// because its time is already corrected by `age`.
const HORIZON_MS = 10 * 60_000;
const BUCKET_UNITS = 64;

const minAt = (units: Unit[]) => Math.min(...units.map((u) => u.at));

export function emptyData(): StoreData {
  return {
    version: 1,
    seq: 0,
    records: [],
    groups: {},
    reach: {},
    minute: { at: 0, created: 0 },
    policies: {},
    counters: { filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0, archived: 0 },
  };
}

export function policyHash(policy: string): string {
  return createHash('sha256').update(policy).digest('hex').slice(0, 16);
}

export type State = ReturnType<typeof createState>;

/** The in-memory heart of the store: merge and grouping over plain data, no I/O. */
export function createState(data: StoreData, opts: StateOptions) {
  const records = new Map<string, ViolationRecord>();
  const buckets = new Map<string, Bucket>();
  const book: GroupBook = { groups: data.groups, reach: data.reach, minute: data.minute };
  const nextSeq = () => ++data.seq;

  for (const r of data.records) {
    records.set(r.id, r);
    const key = bucketKey(r as unknown as NormalizedViolation);
    const bucket: Bucket = buckets.get(key) ?? { groupId: r.groupId, units: [], cut: 0, parts: new Map() };
    buckets.set(key, bucket);
    const units = unitsOf(r, nextSeq);
    for (const u of units) {
      u.rid = r.id;
      if (u.v.blockedURL && isCutToOrigin(u.v.blockedURL)) bucket.cut++;
    }
    bucket.units.push(...units);
    bucket.parts.set(r.id, units);
  }
  data.records = [];

  function freeze(bucket: Bucket, key: string, recordId: string): void {
    const units = bucket.parts.get(recordId) ?? [];
    bucket.parts.delete(recordId);
    bucket.units = bucket.units.filter((u) => !units.includes(u));
    bucket.cut -= units.filter((u) => u.v.blockedURL && isCutToOrigin(u.v.blockedURL)).length;
    if (!bucket.units.length) buckets.delete(key);
  }

  function add(v: NormalizedViolation): void {
    const hash = v.originalPolicy ? policyHash(v.originalPolicy) : undefined;
    if (hash && v.originalPolicy) {
      const entry = (data.policies[hash] ??= { hash, policy: v.originalPolicy, firstSeen: v.receivedAt, count: 0 });
      entry.count++;
    }
    const key = bucketKey(v);
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = { groupId: assignGroup(book, v, v.receivedAt, opts.groupCapPerMinute), units: [], cut: 0, parts: new Map<string, Unit[]>() };
      buckets.set(key, bucket);
    }
    const same: Unit | undefined =
      v.stream !== 'sdk' ? undefined : bucket.units.find((u) => u.stream === 'sdk' && u.v.page?.id === v.page?.id && u.v.blockedURL === v.blockedURL);
    if (same) {
      // A repeat in the same page view: the SDK sends counts since its last batch.
      same.count += v.count;
      same.at = Math.min(same.at, v.occurredAt);
      same.lastReceivedAt = Math.max(same.lastReceivedAt, v.receivedAt);
    } else {
      bucket.units.push({ seq: nextSeq(), stream: v.stream, at: v.occurredAt, count: v.count, firstReceivedAt: v.receivedAt, lastReceivedAt: v.receivedAt, v, policyHash: hash });
      if (v.blockedURL && isCutToOrigin(v.blockedURL)) bucket.cut++;
    }
    // Units with different full URLs never pair, so only the new unit's URL needs matching again,
    // unless a URL cut to its origin (which pairs with any URL of that origin) is in the bucket.
    const related = () => (bucket.cut ? bucket.units : bucket.units.filter((u) => u.v.blockedURL === v.blockedURL));
    let units = related();
    const newest = Math.max(...units.map((u) => u.at));
    const ids = new Set(units.flatMap((u) => (u.rid ? [u.rid] : [])));
    for (const id of ids) {
      if (bucket.parts.get(id)!.every((u) => newest - u.at > HORIZON_MS)) freeze(bucket, key, id), ids.delete(id);
    }
    while (units.length > BUCKET_UNITS && ids.size) {
      const oldest = [...ids].reduce((a, b) => (minAt(bucket.parts.get(b)!) < minAt(bucket.parts.get(a)!) ? b : a));
      freeze(bucket, key, oldest);
      ids.delete(oldest);
      units = related();
    }
    if (ids.size < units.length) units = related();
    const before = [...ids].map((id) => records.get(id)!);
    const after = matchUnits(units, opts.mergeWindowMs).map((parts) => {
      const r = buildRecord(parts, bucket.groupId);
      for (const p of parts) p.rid = r.id;
      return r;
    });
    for (const id of ids) bucket.parts.delete(id);
    for (const r of before) if (!after.some((a) => a.id === r.id)) records.delete(r.id);
    for (const r of after) {
      records.set(r.id, r);
      bucket.parts.set(r.id, units.filter((u) => u.rid === r.id));
    }
    applyChange(book, bucket.groupId, before, after, v);
  }

  return {
    records,
    data,
    /** Applies a batch in memory; returns the records that fell out of the live window. */
    ingest(batch: IngestBatch, filtered: Record<string, number> = {}): ViolationRecord[] {
      const c = data.counters;
      for (const [type, n] of Object.entries(batch.otherReports)) c.otherReports[type] = (c.otherReports[type] ?? 0) + n;
      for (const [rule, n] of Object.entries(filtered)) c.filtered[rule] = (c.filtered[rule] ?? 0) + n;
      c.invalid += batch.invalid;
      c.sdkDropped += batch.sdkDropped ?? 0;
      for (const v of batch.violations) add(v);
      const evicted: ViolationRecord[] = [];
      for (const [id, r] of records) {
        if (records.size <= opts.maxRecords) break;
        records.delete(id);
        const key = bucketKey(r as unknown as NormalizedViolation);
        const bucket = buckets.get(key);
        if (bucket) freeze(bucket, key, id);
        evicted.push(r);
      }
      c.archived += evicted.length;
      return evicted;
    },
    /** The persisted form, records in insertion order. */
    snapshot(): StoreData {
      return { ...data, minute: book.minute, records: [...records.values()] };
    },
  };
}
