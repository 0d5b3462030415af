import type { NormalizedViolation, PolicyEntry, ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch } from '../types.js';
import { bucketKey, unitsOf } from '../merge.js';
import { type Bucket, addToBucket, freezeRecord, loadUnits, newBucket } from './bucket.js';
import { bump, storedTypeName } from '../fields.js';
import { memoize, sha256 } from '../hash.js';
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

// Every report carries its policy (KBs), mostly one of a few: hashed once each, remembered.
export const policyHash = memoize((policy) => sha256(policy, 'hex').slice(0, 16), 256);

export type State = ReturnType<typeof createState>;

/** The in-memory heart of the store: merge and grouping over plain data, no I/O. */
export function createState(data: StoreData, opts: StateOptions) {
  const records = new Map<string, ViolationRecord>();
  const buckets = new Map<string, Bucket>();
  // Each live record's bucket key: the very string `buckets` was keyed with, whose hash V8 has
  // already computed, so eviction finds the bucket without building and hashing the key again.
  const keys = new Map<string, string>();
  const book: GroupBook = { groups: data.groups, reach: data.reach, minute: data.minute };
  const nextSeq = () => ++data.seq;
  // The non-CSP report types named so far (see storedTypeName).
  const otherTypes = {
    has: (type: string) => Object.hasOwn(data.counters.otherReports, type),
    get size() {
      return Object.keys(data.counters.otherReports).length;
    },
  };

  for (const r of data.records) {
    records.set(r.id, r);
    const key = bucketKey(r as unknown as NormalizedViolation);
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = newBucket(r.groupId)));
    keys.set(r.id, key);
    loadUnits(bucket, unitsOf(r, nextSeq).map((u) => ({ ...u, rid: r.id })));
  }
  data.records = [];

  // The oldest live record: the first in the Map's insertion order. One iterator for the store's
  // life instead of a new one per batch, which would step over every entry deleted since V8 last
  // compacted the Map (thousands, at the front, once eviction runs). Everything it has passed was
  // evicted, and re-inserted records go to the end, so it always stands at the oldest.
  let oldest = records.values();
  function oldestRecord(): ViolationRecord {
    let next = oldest.next();
    if (next.done) next = (oldest = records.values()).next();
    return next.value!;
  }

  function freeze(bucket: Bucket, key: string, recordId: string): void {
    freezeRecord(bucket, recordId);
    if (!bucket.units.length) buckets.delete(key);
  }

  function add(v: NormalizedViolation): void {
    const hash = v.originalPolicy ? policyHash(v.originalPolicy) : undefined;
    if (hash && v.originalPolicy) {
      const entry = (data.policies[hash] ??= { hash, policy: v.originalPolicy, firstSeen: v.receivedAt, count: 0 });
      entry.count++;
      // The same text, one copy: the violation lives on in its bucket, and policies run to KBs.
      v.originalPolicy = entry.policy;
    }
    const key = bucketKey(v);
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = newBucket(assignGroup(book, v, v.receivedAt, opts.groupCapPerMinute));
      buckets.set(key, bucket);
    }
    const { before: ids, after } = addToBucket(bucket, v, hash, nextSeq, opts.mergeWindowMs);
    const before = ids.map((id) => records.get(id)!);
    for (const r of before) {
      if (after.some((a) => a.id === r.id)) continue;
      records.delete(r.id);
      keys.delete(r.id);
    }
    for (const r of after) {
      records.set(r.id, r);
      keys.set(r.id, key);
    }
    applyChange(book, bucket.groupId, before, after, v);
  }

  return {
    records,
    data,
    /** Applies a batch in memory; returns the records that fell out of the live window. */
    ingest(batch: IngestBatch, filtered: Record<string, number> = {}): ViolationRecord[] {
      const c = data.counters;
      for (const [type, n] of Object.entries(batch.otherReports)) bump(c.otherReports, storedTypeName(otherTypes, type), n);
      for (const [rule, n] of Object.entries(filtered)) bump(c.filtered, rule, n);
      c.invalid += batch.invalid;
      c.sdkDropped += batch.sdkDropped ?? 0;
      for (const v of batch.violations) add(v);
      const evicted: ViolationRecord[] = [];
      while (records.size > opts.maxRecords) {
        const r = oldestRecord();
        records.delete(r.id);
        // A record's key is its bucket's (its fields are its units'), as computed when it was made.
        const key = keys.get(r.id)!;
        keys.delete(r.id);
        const bucket = buckets.get(key);
        if (bucket) freeze(bucket, key, r.id);
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
