import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { NormalizedViolation, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch } from '../../core/types.js';
import { type Unit, bucketKey, isWildcard } from '../../core/merge.js';
import { recordId } from '../../core/records.js';
import { type GroupBook, OVERFLOW_GROUP, applyChange, assignGroup, groupIdFor } from '../../core/group.js';
import { type Bucket, addToBucket, loadUnits, newBucket } from '../../core/bucket.js';
import { policyHash } from '../../core/state.js';
import { storedTypeName } from '../../core/fields.js';
import type { CoreOptions } from '../../core/options.js';

export interface Pending {
  batch: IngestBatch;
  filtered?: Record<string, number>;
}

export type IngestOptions = Required<CoreOptions>;

/** What one transaction decided, for write.ts to store. */
export interface Work {
  buckets: Map<string, { id: string; lock: string; bucket: Bucket; stored: boolean; loaded: Map<number, string> }>;
  /** Records by id in first-touch order; null = deleted. `fresh`: deleted, then made again. */
  records: Map<string, ViolationRecord | null>;
  /** The advisory-lock key of each record's bucket (already computed for the bucket). */
  locks: Map<string, string>;
  fresh: Set<string>;
  book: GroupBook;
  /** Groups this transaction created (inserted whole) and touched (deltas added). */
  created: Set<string>;
  touched: Set<string>;
  policies: Map<string, { policy: string; firstSeen: number; count: number }>;
  counters: Map<string, number>;
  /** Set when this transaction may create groups (it holds the creation lock): the last `pos`. */
  creating?: { top: number };
  usedSeqs: number;
  /** Per item, the unit of each of its violations (its `rid` is its record at the end). */
  units: Unit[][];
}

// The lock every instance takes before creating groups, so the per-minute cap holds across them.
const CREATION_LOCK = '7166477438011044610';
// And before naming a new non-CSP report type, so the cap on their number holds across them.
const REPORT_TYPES_LOCK = '7166477438011044611';

export const unitSig = (u: Unit) => `${u.rid}|${u.count}|${u.at}|${u.lastReceivedAt}`;

/** Bucket key → a short row key and a 64-bit advisory lock key (a collision only serializes). */
export function keysOf(key: string): { id: string; lock: string } {
  const h = createHash('sha256').update(key).digest();
  return { id: h.toString('base64url', 0, 18), lock: h.readBigInt64BE(0).toString() };
}

// A group that exists in the database: totals start at zero here and are added to the row.
function placeholder(id: string): ViolationGroup {
  return {
    id, fingerprint: '', effectiveDirective: '', category: 'other', blocked: '', severity: 'low', dispositions: [],
    count: 0, records: 0, sources: { sdk: 0, reportUri: 0, reportTo: 0 }, merged: 0,
    firstSeen: Number.MAX_VALUE, lastSeen: -Number.MAX_VALUE, reach: { documents: 0, pageViews: 0, userAgents: 0 }, exampleId: '',
  };
}

/**
 * Loads what the batch's buckets hold (under their advisory locks, taken in one global order so two
 * instances never deadlock), then runs the file store's merge step on it in memory.
 */
export async function prepare(client: pg.PoolClient, items: Pending[], opts: IngestOptions, seqs: number[]): Promise<Work> {
  const violations = items.flatMap((i) => i.batch.violations);
  const want = new Map<string, { id: string; lock: string; all: boolean; urls: Set<string>; first: NormalizedViolation }>();
  const keyOf = new Map<NormalizedViolation, string>();
  for (const v of violations) {
    const key = bucketKey(v);
    keyOf.set(v, key);
    let w = want.get(key);
    if (!w) want.set(key, (w = { ...keysOf(key), all: false, urls: new Set(), first: v }));
    if (isWildcard(v)) w.all = true;
    w.urls.add(v.blockedURL ?? '');
  }
  const locks = [...new Set([...want.values()].map((w) => w.lock))].sort();
  if (locks.length) await client.query('SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k', [locks]);

  const ids = [...want.values()].map((w) => w.id);
  const bucketRows = (await client.query<{ key: string; group_id: string }>('SELECT key, group_id FROM csp_lens_buckets WHERE key = ANY($1)', [ids])).rows;
  const groupOf = new Map(bucketRows.map((r) => [r.key, r.group_id]));
  // Only units that can pair with this batch: same blocked URL, or the whole bucket once a unit
  // that pairs widely is in it (bucket.ts's `related`; a superset: rematch narrows it further).
  const query = [...want.values()].filter((w) => groupOf.has(w.id)).map((w) => ({ bucket: w.id, all_units: w.all, urls: [...w.urls] }));
  const unitRows = query.length
    ? (await client.query<{ seq: number; bucket: string; rid: number; unit: Unit }>(
        `SELECT u.seq, u.bucket, u.rid, u.unit FROM csp_lens_units u
           JOIN jsonb_to_recordset($1::jsonb) AS q(bucket text, all_units boolean, urls text[]) ON u.bucket = q.bucket
          WHERE q.all_units OR u.blocked = ANY(q.urls) OR EXISTS (SELECT 1 FROM csp_lens_units c WHERE c.bucket = q.bucket AND c.wide)
          ORDER BY u.seq`,
        [JSON.stringify(query)],
      )).rows
    : [];
  const rids = [...new Set(unitRows.map((u) => u.rid))];
  const stored = new Map<string, ViolationRecord>();
  if (rids.length) {
    const { rows } = await client.query<{ record: ViolationRecord }>('SELECT record FROM csp_lens_records WHERE seq = ANY($1::bigint[])', [rids]);
    for (const r of rows) stored.set(r.record.id, r.record);
  }

  // Groups: the ones the buckets already point to, and the fingerprint group of each new bucket
  const candidates = [...want.values()].filter((w) => !groupOf.has(w.id)).map((w) => groupIdFor(w.first));
  const known = [OVERFLOW_GROUP, ...candidates, ...groupOf.values()];
  // KEY SHARE: a group this transaction adds to cannot be pruned (postgres-prune.ts) before it commits.
  const existing = async () =>
    new Set((await client.query<{ id: string }>('SELECT id FROM csp_lens_groups WHERE id = ANY($1) ORDER BY id FOR KEY SHARE', [known])).rows.map((r) => r.id));
  let exists = await existing();
  const book: GroupBook = { groups: {}, reach: {}, minute: { at: 0, created: 0 } };
  let creating: Work['creating'];
  if (candidates.some((c) => !exists.has(c))) {
    await client.query('SELECT pg_advisory_xact_lock($1)', [CREATION_LOCK]);
    exists = await existing();
    const { rows } = await client.query<{ at: number; created: number; top: number }>(
      'SELECT at, created, (SELECT coalesce(max(pos), 0) FROM csp_lens_groups) AS top FROM csp_lens_minute WHERE id = 1',
    );
    book.minute = { at: rows[0].at, created: rows[0].created };
    creating = { top: rows[0].top };
  }
  for (const id of exists) {
    book.groups[id] = placeholder(id);
    book.reach[id] = { documents: [], pageViews: [], userAgents: [], nativeOnly: 0 };
  }

  const work: Work = { buckets: new Map(), records: new Map(), locks: new Map(), fresh: new Set(), book, created: new Set(), touched: new Set(), policies: new Map(), counters: new Map(), creating, usedSeqs: 0, units: [] };
  const rowsOf = new Map<string, typeof unitRows>();
  for (const u of unitRows) rowsOf.get(u.bucket)?.push(u) ?? rowsOf.set(u.bucket, [u]);
  for (const [key, w] of want) {
    const gid = groupOf.get(w.id);
    if (gid === undefined) continue;
    const bucket = newBucket(gid);
    const units = (rowsOf.get(w.id) ?? []).map((r) => ({ ...r.unit, rid: recordId(r.rid) }));
    loadUnits(bucket, units);
    work.buckets.set(key, { id: w.id, lock: w.lock, bucket, stored: true, loaded: new Map(units.map((u) => [u.seq, unitSig(u)])) });
  }

  const nextSeq = () => {
    if (work.usedSeqs >= seqs.length) throw new Error('csp-lens: out of reserved sequence numbers');
    return seqs[work.usedSeqs++];
  };
  const current = (id: string) => (work.records.has(id) ? work.records.get(id) : stored.get(id));
  const count = (kind: string, name: string, n: number) => {
    if (n) work.counters.set(`${kind}\u0000${name}`, (work.counters.get(`${kind}\u0000${name}`) ?? 0) + n);
  };

  // The non-CSP report types already named (storedTypeName), read under a lock so that two
  // instances cannot both add the hundredth.
  const otherTypes = new Set<string>();
  if (items.some((i) => Object.keys(i.batch.otherReports).length)) {
    await client.query('SELECT pg_advisory_xact_lock($1)', [REPORT_TYPES_LOCK]);
    const { rows } = await client.query<{ name: string }>("SELECT name FROM csp_lens_counters WHERE kind = 'otherReports'");
    for (const r of rows) otherTypes.add(r.name);
  }

  for (const { batch, filtered = {} } of items) {
    const itemUnits: Unit[] = [];
    work.units.push(itemUnits);
    for (const [type, n] of Object.entries(batch.otherReports)) {
      const name = storedTypeName(otherTypes, type);
      otherTypes.add(name);
      count('otherReports', name, n);
    }
    for (const [rule, n] of Object.entries(filtered)) count('filtered', rule, n);
    count('store', 'invalid', batch.invalid);
    // Per reason under kind `invalid` (names of ours, none of the `store` counters').
    for (const [reason, n] of Object.entries(batch.invalidReasons ?? {})) count('invalid', reason, n);
    count('store', 'sdkDropped', batch.sdkDropped ?? 0);
    for (const v of batch.violations) {
      const hash = v.originalPolicy ? policyHash(v.originalPolicy) : undefined;
      if (hash && v.originalPolicy) {
        const p = work.policies.get(hash) ?? { policy: v.originalPolicy, firstSeen: v.receivedAt, count: 0 };
        p.count++;
        work.policies.set(hash, p);
      }
      const key = keyOf.get(v)!;
      let b = work.buckets.get(key);
      if (!b) {
        const { gid } = assignGroup(book, v, v.receivedAt, opts.groupCapPerMinute);
        // Not in the database: assignGroup made it in this transaction.
        if (!exists.has(gid)) work.created.add(gid);
        work.buckets.set(key, (b = { ...keysOf(key), bucket: newBucket(gid), stored: false, loaded: new Map() }));
      }
      const { before, after, unit } = addToBucket(b.bucket, v, hash, nextSeq, opts.mergeWindowMs);
      itemUnits.push(unit);
      const old = before.map((id) => current(id)!);
      const made = new Set(after.map((r) => r.id));
      for (const r of old) if (!made.has(r.id)) work.records.set(r.id, null);
      for (const r of after) {
        // Deleted and made again: it goes to the end of the retention order, as in state.ts's Map.
        if (work.records.get(r.id) === null) work.records.delete(r.id), work.fresh.add(r.id);
        work.records.set(r.id, r);
        work.locks.set(r.id, b.lock);
      }
      applyChange(book, b.bucket.groupId, old, after, v);
      work.touched.add(b.bucket.groupId);
    }
  }
  return work;
}
