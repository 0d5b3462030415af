import type pg from 'pg';
import type { EraseFilter, EraseResult } from '../../core/erase.js';
import { prunePolicies } from './prune.js';
import { foldHere } from './fold.js';
import { DOCUMENT_KEY } from './schema.js';

// Erasure on PostgreSQL, in one transaction of the writer's group commit: the live records the
// filter selects go with their units (under their buckets' advisory locks, as a merge takes them,
// so no instance merges into a record being erased), csp_lens_archive's matching rows go, and the
// groups lose what those records counted. No migration: the audit table is created at open.

// Any fixed number, the same in every instance: creating the audit table takes turns on it.
const AUDIT_LOCK = '7166477438011044612';

/** `csp_lens_audit`, one row per erasure. Outside MIGRATIONS: nothing else depends on it. */
export async function ensureAuditTable(client: pg.Client | pg.PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [AUDIT_LOCK]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS csp_lens_audit (
      id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), action text NOT NULL,
      filter jsonb NOT NULL, deleted bigint NOT NULL, archived bigint NOT NULL, by_whom text)`);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [AUDIT_LOCK]);
  }
}

/** The filter as a WHERE clause over `csp_lens_records` (columns) or `csp_lens_archive` (its jsonb). */
function where(f: EraseFilter, table: 'records' | 'archive', params: unknown[]): string {
  const col = (column: string, field: string) => (table === 'records' ? column : `record->>'${field}'`);
  const add = (value: unknown) => `$${params.push(value)}`;
  const parts: string[] = [];
  if (f.document !== undefined) {
    const p = add(f.document);
    // A live record's document is found through the doc_key index: equal URLs have equal keys.
    parts.push(table === 'records' ? `doc_key = (SELECT ${DOCUMENT_KEY} FROM (SELECT ${p}::text AS document_url) AS d) AND document_url = ${p}` : `record->>'documentURL' = ${p}`);
  }
  if (f.groupId !== undefined) parts.push(`${col('group_id', 'groupId')} = ${add(f.groupId)}`);
  if (f.before !== undefined) parts.push(`${table === 'records' ? 'occurred_at' : "(record->>'occurredAt')::float8"} < ${add(f.before)}`);
  if (f.clients) {
    const p = add(f.clients);
    parts.push(`(record->>'clientIp' = ANY(${p}::text[]) OR record->>'sdkClient' = ANY(${p}::text[]))`);
  }
  return parts.join(' AND ');
}

// What each erased record took out of its group (group.ts's count, in SQL), summed per group.
const DELTAS = `SELECT group_id AS id, count(*) AS records, sum(c) AS count, sum(s) AS sdk, sum(u) AS report_uri, sum(t) AS report_to,
  count(*) FILTER (WHERE s > 0 AND u + t > 0) AS merged, count(*) FILTER (WHERE s = 0) AS native_only`;

interface Delta {
  id: string;
  records: number;
  count: number;
  sdk: number;
  report_uri: number;
  report_to: number;
  merged: number;
  native_only: number;
}

/** The buckets' advisory-lock key of a bucket row's key (postgres/ingest.ts keysOf: both from one hash). */
const lockOf = (key: string) => Buffer.from(key, 'base64url').readBigInt64BE(0).toString();

export async function erase(client: pg.PoolClient, f: EraseFilter, by?: string): Promise<EraseResult> {
  const alone = Object.keys(f).length === 1 && f.groupId !== undefined;
  // The buckets of the records to erase (and every bucket of a group erased whole), locked in the
  // order ingest takes them (sorted as text), so two transactions never wait on each other in a cycle.
  const p1: unknown[] = [];
  const keys = (await client.query<{ k: string }>(`SELECT DISTINCT lock_key::text AS k FROM csp_lens_records WHERE ${where(f, 'records', p1)}`, p1)).rows.map((r) => r.k);
  if (alone) for (const r of (await client.query<{ key: string }>('SELECT key FROM csp_lens_buckets WHERE group_id = $1', [f.groupId])).rows) keys.push(lockOf(r.key));
  const locks = [...new Set(keys)].sort();
  if (locks.length) await client.query('SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k', [locks]);
  // The groups' totals and the counters lose what the erased records counted: first they must hold
  // it. Every commit that wrote a record under these locks has committed, its pending work with it:
  // folded here (fold.ts), and the next folds wait for this transaction.
  await foldHere(client);

  // Only records under the locks held: one another instance made since is not touched half-way.
  const p2: unknown[] = [];
  const w = where(f, 'records', p2);
  const live = await client.query<{ n: number; buckets: string[]; policies: string[]; deltas: Delta[] }>(
    `WITH gone AS (DELETE FROM csp_lens_records WHERE ${w} AND lock_key = ANY($${p2.push(locks)}::bigint[])
                   RETURNING seq, group_id, (record->>'count')::bigint AS c, sdk AS s, report_uri AS u, report_to AS t, record->>'policyHash' AS policy),
          units AS (DELETE FROM csp_lens_units WHERE rid IN (SELECT seq FROM gone) RETURNING bucket, unit->>'policyHash' AS policy)
     SELECT (SELECT count(*) FROM gone)::int AS n, ARRAY(SELECT DISTINCT bucket FROM units) AS buckets,
            ARRAY(SELECT policy FROM gone UNION SELECT policy FROM units EXCEPT SELECT NULL) AS policies,
            (SELECT coalesce(jsonb_agg(d), '[]') FROM (${DELTAS} FROM gone GROUP BY group_id) d) AS deltas`,
    p2,
  );
  const { n: deleted, buckets, policies } = live.rows[0];
  // A bucket without live units is gone, as after an eviction.
  if (buckets.length || alone) {
    await client.query(
      'DELETE FROM csp_lens_buckets b WHERE (key = ANY($1) OR group_id = $2) AND NOT EXISTS (SELECT 1 FROM csp_lens_units u WHERE u.bucket = b.key)',
      [buckets, alone ? f.groupId : null],
    );
  }

  const p3: unknown[] = [];
  const arch = await client.query<{ n: number; deltas: Delta[] }>(
    `WITH gone AS (DELETE FROM csp_lens_archive WHERE ${where(f, 'archive', p3)}
                   RETURNING record->>'groupId' AS group_id, (record->>'count')::bigint AS c, (record->'sources'->>'sdk')::bigint AS s,
                             (record->'sources'->>'reportUri')::bigint AS u, (record->'sources'->>'reportTo')::bigint AS t)
     SELECT (SELECT count(*) FROM gone)::int AS n, (SELECT coalesce(jsonb_agg(d), '[]') FROM (${DELTAS} FROM gone GROUP BY group_id) d) AS deltas`,
    p3,
  );
  const archived = arch.rows[0].n;

  const deltas = [...live.rows[0].deltas, ...arch.rows[0].deltas];
  const touched = [...new Set([...deltas.map((d) => d.id), ...(f.groupId !== undefined ? [f.groupId] : [])])].sort();
  if (deltas.length) {
    // Added as n = n - delta, like ingest's n = n + delta: exact beside another instance's commits.
    await client.query(
      `UPDATE csp_lens_groups g SET count = GREATEST(0, g.count - d.count), records = GREATEST(0, g.records - d.records), sdk = GREATEST(0, g.sdk - d.sdk),
              report_uri = GREATEST(0, g.report_uri - d.report_uri), report_to = GREATEST(0, g.report_to - d.report_to),
              merged = GREATEST(0, g.merged - d.merged), native_only = GREATEST(0, g.native_only - d.native_only)
         FROM (SELECT id, sum(count) AS count, sum(records) AS records, sum(sdk) AS sdk, sum(report_uri) AS report_uri, sum(report_to) AS report_to,
                      sum(merged) AS merged, sum(native_only) AS native_only
                 FROM jsonb_to_recordset($1::jsonb) AS x(id text, records bigint, count bigint, sdk bigint, report_uri bigint, report_to bigint, merged bigint, native_only bigint)
                GROUP BY id) d
        WHERE g.id = d.id`,
      [JSON.stringify(deltas)],
    );
  }
  if (touched.length) {
    // A group left without any record goes (one another transaction holds is passed by: it is
    // being added to); so does a group erased whole, once nothing live points to it.
    await client.query(
      `WITH v AS (SELECT id FROM csp_lens_groups g WHERE id = ANY($1) AND (records <= 0 OR id = $2)
                     AND NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.group_id = g.id)
                     AND NOT EXISTS (SELECT 1 FROM csp_lens_buckets b WHERE b.group_id = g.id)
                   ORDER BY id FOR UPDATE SKIP LOCKED),
            d AS (DELETE FROM csp_lens_groups g USING v WHERE g.id = v.id RETURNING g.id),
            -- Its triage state goes with it (prune.ts): a fingerprint that comes back is a new group.
            t AS (DELETE FROM csp_lens_triage x USING d WHERE x.group_id = d.id)
       DELETE FROM csp_lens_reach x USING d WHERE x.group_id = d.id`,
      [touched, alone ? f.groupId : null],
    );
    // An erased example gives way to the group's newest live record.
    await client.query(
      `UPDATE csp_lens_groups g SET example_id = coalesce((SELECT r.record->>'id' FROM csp_lens_records r WHERE r.group_id = g.id ORDER BY r.seq DESC LIMIT 1), '')
        WHERE g.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.group_id = g.id AND r.record->>'id' = g.example_id)`,
      [touched],
    );
  }
  if (deleted || archived) {
    await client.query(
      `UPDATE csp_lens_counters SET n = GREATEST(0, n - (CASE name WHEN 'live' THEN $1::bigint ELSE $2::bigint END)) WHERE kind = 'store' AND name IN ('live', 'archived')`,
      [deleted, archived],
    );
  }
  await prunePolicies(client, policies);
  await client.query('INSERT INTO csp_lens_audit (action, filter, deleted, archived, by_whom) VALUES ($1, $2, $3, $4, $5)', ['erase', JSON.stringify(f), deleted, archived, by ?? null]);
  return { deleted, archived };
}
