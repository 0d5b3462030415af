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
import { type StoredUnit, loadedUnit, unitSig } from './units.js';
import { jsonLiteral, named, sqlPrepared, textArray } from './prepared.js';
import { prepareWrite } from './write.js';
import { prepareFold } from './fold.js';

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
  /** Existing groups that had a triage state when loaded. */
  triaged: Set<string>;
  /** The transaction's id (txid_current). */
  xid: string;
  usedSeqs: number;
  /** Per item, the unit of each of its violations (its `rid` is its record at the end). */
  units: Unit[][];
}

// The lock every instance takes before creating groups, so the per-minute cap holds across them.
const CREATION_LOCK = '7166477438011044610';
// And before naming a new non-CSP report type, so the cap on their number holds across them.
const REPORT_TYPES_LOCK = '7166477438011044611';

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

// Bucket advisory keys and sequence counts are numbers this file makes: safe inside SQL text.
const BIGINT = /^-?\d{1,20}$/;

/**
 * Opens the transaction, takes the advisory locks of `locks` (in the order given), reserves `seqs`
 * more sequence values and runs the load (LOAD, prepared on this connection), in one
 * round trip. Each statement of a simple query takes its own snapshot, so what the load reads is
 * what the lock holders committed.
 *
 * The transaction's named statements (load, write…) get a generic plan, made once per connection:
 * their parameters are JSON documents the planner cannot see into anyway, and it judged custom
 * plans better and made one at every commit (430 µs of the write's, bench/pg-write.mjs).
 */
export async function begin(client: pg.PoolClient, locks: string[], seqs: number, load: { query: object[]; groups: string[] }): Promise<{ seqs: number[]; loaded: LoadRow[]; xid: string }> {
  if (!locks.every((k) => BIGINT.test(k)) || !Number.isSafeInteger(seqs)) throw new Error('csp-lens: bad lock key or sequence count');
  // The transaction's id, so that a COMMIT sent with the write (fold.ts) can be asked about.
  const sql = ['BEGIN', 'SET LOCAL plan_cache_mode TO force_generic_plan', 'SELECT txid_current()::text AS xid'];
  if (locks.length) sql.push(`SELECT pg_advisory_xact_lock(k) FROM unnest('{${locks.join(',')}}'::bigint[]) AS k`);
  if (seqs > 0) sql.push(`SELECT nextval('csp_lens_seq') AS s FROM generate_series(1, ${seqs})`);
  // Values as literals (a simple query has no parameters), escaped as such.
  sql.push(`EXECUTE ${LOAD.name}(${jsonLiteral(load.query)}::jsonb, ${textArray(load.groups)})`);
  const results = [(await client.query(sql.join('; '))) as unknown as pg.QueryResult | pg.QueryResult[]].flat();
  return {
    seqs: seqs > 0 ? results[results.length - 2]!.rows.map((r: { s: number }) => r.s) : [],
    loaded: results[results.length - 1]!.rows as LoadRow[],
    xid: results[2]!.rows[0].xid,
  };
}

interface LoadRow {
  /** 0 a bucket, 1 an existing group, 2 the minute's creation count, 3 a unit with its record. */
  kind: number;
  key: string | null;
  id: string | null;
  seq: number | null;
  rid: number | null;
  unit: StoredUnit | null;
  record: ViolationRecord | null;
  /** An existing group (kind 1) that has a triage state. */
  triaged: boolean | null;
}

// In one statement: the batch's buckets (their group), the units in them that can pair with the
// batch (same blocked URL, or the whole bucket once a unit that pairs widely is in it: bucket.ts's
// `related`, a superset that rematch narrows further) with their records, the groups that exist
// among those the batch may add to (held FOR KEY SHARE: prune.ts passes them by until this
// commits) and whether each has a triage state (commit.ts: without one, the write rides with the
// COMMIT), and the minute's creation count (unlocked: see `mustCreate`).
const LOAD = sqlPrepared('csp_lens_load_of', 'jsonb, text[]', `WITH q AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS q(bucket text, all_units boolean, urls text[])),
     b AS (SELECT b.key, b.group_id FROM q JOIN csp_lens_buckets b ON b.key = q.bucket),
     g AS (SELECT id FROM csp_lens_groups WHERE id = ANY($2::text[] || ARRAY(SELECT group_id FROM b)) ORDER BY id FOR KEY SHARE)
SELECT 0 AS kind, key, group_id AS id, NULL::bigint AS seq, NULL::bigint AS rid, NULL::jsonb AS unit, NULL::jsonb AS record, NULL::boolean AS triaged FROM b
UNION ALL SELECT 1, NULL, id, NULL, NULL, NULL, NULL, EXISTS (SELECT 1 FROM csp_lens_triage t WHERE t.group_id = g.id) FROM g
UNION ALL SELECT 2, NULL, NULL, at, created, NULL, NULL, NULL FROM csp_lens_minute WHERE id = 1
UNION ALL SELECT 3, q.bucket, NULL, u.seq, u.rid, u.unit, r.record, NULL
  FROM q CROSS JOIN LATERAL (
         SELECT u.seq, u.rid, u.unit FROM csp_lens_units u
          WHERE u.bucket = q.bucket AND (q.all_units OR u.blocked = ANY(q.urls) OR EXISTS (SELECT 1 FROM csp_lens_units c WHERE c.bucket = q.bucket AND c.wide))
       ) AS u
  LEFT JOIN csp_lens_records r ON r.seq = u.rid
ORDER BY kind, seq`);

// Under the creation lock: which of the groups exist now, the minute's count and the last `pos`.
const CREATING = `SELECT 1 AS kind, id, NULL::bigint AS at, NULL::bigint AS created FROM (SELECT id FROM csp_lens_groups WHERE id = ANY($1) ORDER BY id FOR KEY SHARE) AS g
UNION ALL SELECT 2, NULL, at, created FROM csp_lens_minute WHERE id = 1
UNION ALL SELECT 3, NULL, coalesce(max(pos), 0), NULL FROM csp_lens_groups`;

/**
 * Whether this commit may create a group: some new bucket's fingerprint group does not exist, and
 * the minute's cap (as last committed) does not send it to the overflow group. Past the cap, every
 * new fingerprint of the minute goes there, and a commit that only adds to existing groups needs
 * no lock: it orders before any commit that moves the minute on, which it neither reads nor writes.
 */
function mustCreate(firsts: NormalizedViolation[], exists: Set<string>, minute: { at: number; created: number }, cap: number): boolean {
  return firsts.some((v) => {
    if (exists.has(groupIdFor(v))) return false;
    const overflow = v.severity !== 'critical' && Math.floor(v.receivedAt / 60_000) === minute.at && minute.created >= cap;
    return !(overflow && exists.has(OVERFLOW_GROUP));
  });
}

/**
 * Loads what the batch's buckets hold (under their advisory locks, taken in one global order so two
 * instances never deadlock), then runs the file store's merge step on it in memory. `seqs` holds
 * sequence values reserved earlier; it gets more when the batch needs them.
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
  const short = violations.length - seqs.length;
  // The fingerprint group of each bucket, should it be new (the load says which are).
  const firsts = [...want.values()].map((w) => w.first);
  const candidates = [...new Set(firsts.map(groupIdFor))];
  const query = [...want.values()].map((w) => ({ bucket: w.id, all_units: w.all, urls: [...w.urls] }));
  // Every statement the transaction EXECUTEs, prepared on this connection before it begins (a
  // PREPARE that fails inside a transaction aborts it): the load, the write, the fold's group read.
  await LOAD.ready(client);
  await prepareWrite(client);
  await prepareFold(client);
  // Sequence values reserved ahead (a few hundred at a time), so most commits ask for none.
  const begun = await begin(client, locks, short > 0 ? short + 256 : 0, { query, groups: [OVERFLOW_GROUP, ...candidates] });
  seqs.push(...begun.seqs);
  const loaded = begun.loaded;
  const groupOf = new Map<string, string>();
  const triaged = new Set<string>();
  let exists = new Set<string>();
  let minute = { at: 0, created: 0 };
  const unitRows: { bucket: string; unit: Unit }[] = [];
  const stored = new Map<string, ViolationRecord>();
  for (const r of loaded) {
    if (r.kind === 0) groupOf.set(r.key!, r.id!);
    else if (r.kind === 1) {
      exists.add(r.id!);
      if (r.triaged) triaged.add(r.id!);
    } else if (r.kind === 2) minute = { at: r.seq!, created: r.rid! };
    else {
      unitRows.push({ bucket: r.key!, unit: { ...loadedUnit(r.unit!, r.record), rid: recordId(r.rid!) } });
      if (r.record) stored.set(r.record.id, r.record);
    }
  }

  const book: GroupBook = { groups: {}, reach: {}, minute };
  let creating: Work['creating'];
  const newFirsts = [...want.values()].filter((w) => !groupOf.has(w.id)).map((w) => w.first);
  if (mustCreate(newFirsts, exists, minute, opts.groupCapPerMinute)) {
    await client.query('SELECT pg_advisory_xact_lock($1)', [CREATION_LOCK]);
    const { rows } = await named<{ kind: number; id: string | null; at: number | null; created: number | null }>(client, 'creating', CREATING, [
      [OVERFLOW_GROUP, ...candidates, ...groupOf.values()],
    ]);
    exists = new Set();
    for (const r of rows) {
      if (r.kind === 1) exists.add(r.id!);
      else if (r.kind === 2) book.minute = { at: r.at!, created: r.created! };
      else creating = { top: r.at! };
    }
  }
  for (const id of exists) {
    book.groups[id] = placeholder(id);
    book.reach[id] = { documents: [], pageViews: [], userAgents: [], nativeOnly: 0 };
  }

  const work: Work = {
    buckets: new Map(), records: new Map(), locks: new Map(), fresh: new Set(), book, created: new Set(), touched: new Set(), policies: new Map(),
    counters: new Map(), creating, triaged, xid: begun.xid, usedSeqs: 0, units: [],
  };
  const rowsOf = new Map<string, Unit[]>();
  for (const u of unitRows) rowsOf.get(u.bucket)?.push(u.unit) ?? rowsOf.set(u.bucket, [u.unit]);
  for (const [key, w] of want) {
    const gid = groupOf.get(w.id);
    if (gid === undefined) continue;
    const bucket = newBucket(gid);
    const units = rowsOf.get(w.id) ?? [];
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
  // instances cannot both add the hundredth: the counters, and the commits not folded yet.
  const otherTypes = new Set<string>();
  if (items.some((i) => Object.keys(i.batch.otherReports).length)) {
    await client.query('SELECT pg_advisory_xact_lock($1)', [REPORT_TYPES_LOCK]);
    const { rows } = await named<{ name: string }>(
      client,
      'report-types',
      `SELECT name FROM csp_lens_counters WHERE kind = 'otherReports'
       UNION SELECT x.name FROM csp_lens_pending p, jsonb_to_recordset(p.work->'counters') AS x(kind text, name text) WHERE x.kind = 'otherReports'`,
      [],
    );
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
        // Not in the database: assignGroup made it in this transaction (mustCreate saw it coming).
        if (!exists.has(gid)) {
          if (!creating) throw new Error('csp-lens: a group was about to be created without the creation lock');
          work.created.add(gid);
        }
        const { id, lock } = want.get(key)!;
        work.buckets.set(key, (b = { id, lock, bucket: newBucket(gid), stored: false, loaded: new Map() }));
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
