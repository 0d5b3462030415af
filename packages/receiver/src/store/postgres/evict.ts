import type pg from 'pg';
import { prunePolicies } from './prune.js';

/**
 * Keeps the live records at `maxRecords` (the file store's retention): adds this transaction's net
 * new records to the live count and moves the oldest (by first insertion) to the archive table.
 * A record is only moved under its bucket's lock; one another instance is merging right now is
 * skipped (try-lock, so this never waits) and goes in a later transaction. The policies only the
 * moved records named go too (postgres-prune.ts). Returns records archived.
 */
export async function evict(client: pg.PoolClient, delta: number, maxRecords: number): Promise<number> {
  if (!delta) return 0;
  const { rows } = await client.query<{ n: number }>("UPDATE csp_lens_counters SET n = n + $1 WHERE kind = 'store' AND name = 'live' RETURNING n", [delta]);
  const over = rows[0].n - maxRecords;
  if (over <= 0) return 0;
  const candidates = (await client.query<{ seq: number; lock: string }>('SELECT seq, lock_key::text AS lock FROM csp_lens_records ORDER BY ord LIMIT $1', [over + 16])).rows;
  const locks = [...new Set(candidates.map((c) => c.lock))];
  const got = new Set((await client.query<{ k: string }>('SELECT k::text FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)', [locks])).rows.map((r) => r.k));
  const victims = candidates.filter((c) => got.has(c.lock)).slice(0, over).map((c) => c.seq);
  if (!victims.length) return 0;
  const moved = await client.query<{ n: number; buckets: string[]; policies: string[] }>(
    `WITH gone AS (DELETE FROM csp_lens_records WHERE seq = ANY($1::bigint[]) RETURNING seq, ord, record),
          arch AS (INSERT INTO csp_lens_archive (seq, record) SELECT seq, record FROM gone ORDER BY ord RETURNING 1),
          units AS (DELETE FROM csp_lens_units WHERE rid = ANY($1::bigint[]) RETURNING bucket, unit->>'policyHash' AS policy)
     SELECT (SELECT count(*) FROM arch)::int AS n, ARRAY(SELECT DISTINCT bucket FROM units) AS buckets,
            ARRAY(SELECT record->>'policyHash' FROM gone UNION SELECT policy FROM units EXCEPT SELECT NULL) AS policies`,
    [victims],
  );
  const { n, buckets, policies } = moved.rows[0];
  // A bucket without live units is gone: the next violation with its key starts over (state.ts).
  if (buckets.length) {
    await client.query('DELETE FROM csp_lens_buckets b WHERE key = ANY($1) AND NOT EXISTS (SELECT 1 FROM csp_lens_units u WHERE u.bucket = b.key)', [buckets]);
  }
  await client.query("UPDATE csp_lens_counters SET n = n + (CASE name WHEN 'live' THEN -$1::bigint ELSE $1::bigint END) WHERE kind = 'store' AND name IN ('live', 'archived')", [n]);
  await prunePolicies(client, policies);
  return n;
}
