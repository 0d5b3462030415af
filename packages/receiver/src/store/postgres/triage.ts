import type pg from 'pg';
import type { GroupBreakdown, GroupTriage, StreamCounts, ViolationGroup } from '@csp-lens/schema';
import { type TriageChange, afterOccurrence, changedTriage } from '../../core/triage.js';
import { occurrence } from '../../core/state.js';
import { type BreakdownRow, breakdown as count } from '../../core/breakdown.js';
import type { Pending, Work } from './ingest.js';
import { type GroupRow, toGroup } from './queries.js';

/**
 * Inside an append's transaction, after write(), which locked the triage rows of the groups it adds
 * to (`locked`, in id order: two instances appending to one triaged group take turns, and only one
 * of them sees the regression): what its violations do to them (core/triage.ts afterOccurrence: a
 * resolved group that recurs reopens as a regression; an "ignore until N more" reopens at its
 * count). Returns the violations that reopened a resolved group, as `item:index`.
 */
export async function applyOccurrences(client: pg.PoolClient, items: Pending[], work: Work, locked: { id: string; state: GroupTriage }[]): Promise<Set<string>> {
  const regressions = new Set<string>();
  if (!locked.length) return regressions;
  const states = new Map(locked.map((r) => [r.id, r.state]));
  // The groups' counts after this append. Read after the lock (a statement of its own, so a snapshot
  // that has every commit to these groups before this one): the folded total, and what commits not
  // folded yet add (this one's among them; a group it created is whole in the table).
  const { rows } = await client.query<{ id: string; count: number }>('SELECT id, count FROM csp_lens_groups_now WHERE id = ANY($1)', [[...states.keys()]]);
  const counts = new Map(rows.map((r) => [r.id, r.count]));
  const changed = new Set<string>();
  items.forEach((item, i) =>
    work.units[i]!.forEach((unit, j) => {
      const record = work.records.get(unit.rid!)!;
      const t = states.get(record.groupId);
      const next = t && afterOccurrence(t, occurrence(item.batch.violations[j]!, record), counts.get(record.groupId) ?? 0);
      if (!next) return;
      states.set(record.groupId, next);
      changed.add(record.groupId);
      if (next.regression) regressions.add(`${i}:${j}`);
    }),
  );
  if (changed.size) {
    const update = [...changed].sort().map((id) => ({ id, status: states.get(id)!.status, state: states.get(id) }));
    await client.query(
      `UPDATE csp_lens_triage t SET status = x.status, state = x.state FROM jsonb_to_recordset($1::jsonb) AS x(id text, status text, state jsonb) WHERE t.group_id = x.id`,
      [JSON.stringify(update)],
    );
  }
  return regressions;
}

/**
 * A triage change through the API: the group is held FOR UPDATE (pruning passes it by), its state
 * row written, in one transaction. Undefined: no such group. FOR UPDATE waits for the appends in
 * flight to the group (each holds it FOR KEY SHARE from its load to its COMMIT) and holds back those
 * that would start meanwhile: an append commits either before the change, and is counted in the
 * totals the change reads, or after it, and its load sees the state (write.ts sends it the long way
 * then, applying the occurrences to the state). With KEY SHARE, a first state could be written
 * between an append's write and its COMMIT, and that append would pass it by.
 */
export async function setGroupState(db: pg.Pool, id: string, change: TriageChange): Promise<ViolationGroup | undefined> {
  const client = await db.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const locked = await client.query('SELECT 1 FROM csp_lens_groups WHERE id = $1 FOR UPDATE', [id]);
    if (!locked.rowCount) {
      await client.query('ROLLBACK');
      return undefined;
    }
    // Its totals as reads see them (migration 7's view: what is not folded yet included).
    const { rows } = await client.query<GroupRow>('SELECT * FROM csp_lens_groups_now WHERE id = $1', [id]);
    const triage = changedTriage(change, rows[0].count);
    await client.query(
      'INSERT INTO csp_lens_triage (group_id, status, state) VALUES ($1, $2, $3) ON CONFLICT (group_id) DO UPDATE SET status = excluded.status, state = excluded.state',
      [id, triage.status, JSON.stringify(triage)],
    );
    await client.query('COMMIT');
    return toGroup({ ...rows[0], triage });
  } catch (e) {
    await client.query('ROLLBACK').catch((r: Error) => (broken = r));
    throw e;
  } finally {
    client.release(broken);
  }
}

/** A group's breakdown (core/breakdown.ts) over a GROUP BY of its live records. */
export async function breakdown(db: pg.Pool, id: string): Promise<GroupBreakdown | undefined> {
  const [group, rows] = await Promise.all([
    db.query('SELECT 1 FROM csp_lens_groups WHERE id = $1', [id]),
    db.query<{ d: string; u: string | null; r: string | null; p: string; s: boolean; a: boolean; b: boolean; n: number; c: number }>(
      `SELECT document_url AS d, record->>'userAgent' AS u, record->'page'->>'release' AS r, disposition AS p, sdk > 0 AS s, report_uri > 0 AS a, report_to > 0 AS b,
              count(*)::bigint AS n, sum((record->>'count')::bigint)::bigint AS c
         FROM csp_lens_records WHERE group_id = $1 GROUP BY 1, 2, 3, 4, 5, 6, 7`,
      [id],
    ),
  ]);
  if (!group.rows.length) return undefined;
  const flag = (on: boolean): number => (on ? 1 : 0);
  return count(
    rows.rows.map(
      (x): BreakdownRow => ({
        documentURL: x.d,
        ...(x.u !== null ? { userAgent: x.u } : {}),
        ...(x.r !== null ? { release: x.r } : {}),
        disposition: x.p as BreakdownRow['disposition'],
        sources: { sdk: flag(x.s), reportUri: flag(x.a), reportTo: flag(x.b) } satisfies StreamCounts,
        records: x.n,
        count: x.c,
      }),
    ),
  );
}
