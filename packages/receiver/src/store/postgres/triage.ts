import type pg from 'pg';
import type { GroupBreakdown, GroupTriage, StreamCounts, ViolationGroup } from '@csp-lens/schema';
import { type TriageChange, afterOccurrence, changedTriage } from '../../core/triage.js';
import { occurrence } from '../../core/state.js';
import { type BreakdownRow, breakdown as count } from '../../core/breakdown.js';
import type { Pending, Work } from './ingest.js';
import { type GroupRow, toGroup } from './queries.js';

/**
 * Inside an append's transaction, after write(): what its violations do to the triage state of
 * their groups (core/triage.ts afterOccurrence: a resolved group that recurs reopens as a
 * regression; an "ignore until N more" reopens at its count). The rows are locked in id order, so
 * two instances appending to one group take turns, and only one of them sees the regression.
 * Attaches each group's state to `groups`; returns the violations that reopened a resolved group,
 * as `item:index`.
 */
export async function applyOccurrences(client: pg.PoolClient, items: Pending[], work: Work, groups: Map<string, ViolationGroup>): Promise<Set<string>> {
  const regressions = new Set<string>();
  if (!groups.size) return regressions;
  const { rows } = await client.query<{ group_id: string; state: GroupTriage }>(
    'SELECT group_id, state FROM csp_lens_triage WHERE group_id = ANY($1) ORDER BY group_id FOR UPDATE',
    [[...groups.keys()]],
  );
  if (!rows.length) return regressions;
  const states = new Map(rows.map((r) => [r.group_id, r.state]));
  const changed = new Set<string>();
  items.forEach((item, i) =>
    work.units[i]!.forEach((unit, j) => {
      const record = work.records.get(unit.rid!)!;
      const t = states.get(record.groupId);
      const next = t && afterOccurrence(t, occurrence(item.batch.violations[j]!, record), groups.get(record.groupId)!.count);
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
  for (const [id, state] of states) {
    const g = groups.get(id);
    if (g) g.triage = state;
  }
  return regressions;
}

/**
 * A triage change through the API: the group is held FOR KEY SHARE (pruning passes it by, and an
 * append may still add to it), its state row written, in one transaction. Undefined: no such group.
 */
export async function setGroupState(db: pg.Pool, id: string, change: TriageChange): Promise<ViolationGroup | undefined> {
  const client = await db.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<GroupRow>('SELECT * FROM csp_lens_groups WHERE id = $1 FOR KEY SHARE', [id]);
    if (!rows.length) {
      await client.query('ROLLBACK');
      return undefined;
    }
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
