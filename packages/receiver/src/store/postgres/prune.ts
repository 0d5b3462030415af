import type pg from 'pg';

// What the live records no longer need goes, so that the tables stay bounded however many distinct
// policies or fingerprints senders make up (issue 12: 600 distinct 16 KiB policies under
// --max-records 100 all stayed). Neither ever waits on a row another transaction holds: that
// transaction is about to name it, and a later eviction tries again.

const bump = (client: pg.PoolClient, name: string, n: number) =>
  client.query("UPDATE csp_lens_counters SET n = n + $1 WHERE kind = 'store' AND name = $2", [n, name]);

/**
 * Deletes those of `hashes` (the policies of records and units just evicted) that no live record or
 * unit names. A transaction adding a record with one of them upserts that policy's row first, so
 * the row version seen in the first step is deleted only if nobody has touched it since (its
 * `xmin` is the same) and nobody holds it now (SKIP LOCKED); else it stays. Returns how many went.
 */
export async function prunePolicies(client: pg.PoolClient, hashes: string[]): Promise<number> {
  if (!hashes.length) return 0;
  const { rows } = await client.query<{ hash: string; x: string }>(
    `SELECT hash, xmin::text AS x FROM csp_lens_policies p
      WHERE hash = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.record->>'policyHash' = p.hash)
        AND NOT EXISTS (SELECT 1 FROM csp_lens_units u WHERE u.unit->>'policyHash' = p.hash)`,
    [hashes],
  );
  if (!rows.length) return 0;
  const { rowCount } = await client.query(
    `WITH c AS (SELECT p.hash FROM csp_lens_policies p JOIN unnest($1::text[], $2::text[]) AS c(h, x) ON p.hash = c.h AND p.xmin::text = c.x
                 ORDER BY p.hash FOR UPDATE OF p SKIP LOCKED)
     DELETE FROM csp_lens_policies p USING c WHERE p.hash = c.hash`,
    [rows.map((r) => r.hash), rows.map((r) => r.x)],
  );
  if (rowCount) await bump(client, 'policiesPruned', rowCount);
  return rowCount ?? 0;
}

/**
 * Keeps the groups table at `maxGroups` where it can: past it, deletes the groups that no live
 * record and no bucket points to, least recently seen first. Run under the creation lock
 * (postgres-ingest.ts), the only place groups are added, so the count is exact. A transaction that
 * will add to a group holds it FOR KEY SHARE from the moment it reads it, so SKIP LOCKED passes it by.
 * A pruned group's totals and triage state are gone; its fingerprint starts a new group if it comes back.
 */
export async function pruneGroups(client: pg.PoolClient, maxGroups: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM csp_lens_groups');
  const over = rows[0].n - maxGroups;
  if (over <= 0) return 0;
  const { rows: done } = await client.query<{ n: number }>(
    `WITH v AS (SELECT id FROM csp_lens_groups g
                 WHERE NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.group_id = g.id)
                   AND NOT EXISTS (SELECT 1 FROM csp_lens_buckets b WHERE b.group_id = g.id)
                 ORDER BY last_seen, pos LIMIT $1 FOR UPDATE SKIP LOCKED),
          d AS (DELETE FROM csp_lens_groups g USING v WHERE g.id = v.id RETURNING g.id),
          r AS (DELETE FROM csp_lens_reach x USING d WHERE x.group_id = d.id),
          t AS (DELETE FROM csp_lens_triage x USING d WHERE x.group_id = d.id)
     SELECT count(*)::int AS n FROM d`,
    [over],
  );
  const n = done[0].n;
  if (n) await bump(client, 'groupsPruned', n);
  return n;
}
