import type pg from 'pg';
import type { ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { type GroupBook, GROUPING_VERSION } from '../../core/group.js';
import { regroup } from '../../core/regroup.js';
import { seqOf } from '../../core/records.js';
import { MIGRATION_LOCK } from './schema.js';
import { foldHere } from './fold.js';
import { type GroupRow, toGroup } from './queries.js';

// The groups of a database made by an older grouping rule (csp_lens_meta 'grouping', migration 5),
// brought to the current one at open: the core's regroup (core/regroup.ts) over every group and
// live record, written back in one transaction. Runs once, under the migration lock, before the
// store takes reports; tables are locked against writers meanwhile (an instance of the old version
// still running would otherwise add to groups that are going away).

type Row = GroupRow & { pos: number };
// The reach sets come from csp_lens_reach (apply, below), not from the group's counts.
const group = (r: Row): ViolationGroup => ({ ...toGroup(r), reach: { documents: 0, pageViews: 0, userAgents: 0 } });

/** Regroups the database when its groups were made by an older rule; returns what it did, or undefined. */
export async function regroupIfOlder(client: pg.Client | pg.PoolClient): Promise<{ groupsBefore: number; groupsAfter: number; records: number } | undefined> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    const { rows: meta } = await client.query<{ value: number }>("SELECT value FROM csp_lens_meta WHERE key = 'grouping'");
    if ((meta[0]?.value ?? 1) >= GROUPING_VERSION) return undefined;
    await client.query('BEGIN');
    try {
      // Writers wait (readers do not) until the groups are consistent again.
      await client.query('LOCK TABLE csp_lens_groups, csp_lens_reach, csp_lens_records, csp_lens_buckets, csp_lens_units, csp_lens_pending IN SHARE ROW EXCLUSIVE MODE');
      // The groups as every commit left them (fold.ts): what is pending goes in before they change.
      await foldHere(client);
      const done = await apply(client);
      await client.query("UPDATE csp_lens_meta SET value = to_jsonb($1::int) WHERE key = 'grouping'", [GROUPING_VERSION]);
      await client.query('COMMIT');
      return done;
    } catch (e) {
      await client.query('ROLLBACK');
      throw e;
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}

async function apply(client: pg.Client | pg.PoolClient) {
  // With their triage states: a group the regrouping makes takes those of the groups it is made from.
  const groupRows = (await client.query<Row>('SELECT g.*, t.state AS triage FROM csp_lens_groups g LEFT JOIN csp_lens_triage t ON t.group_id = g.id ORDER BY g.pos, g.id')).rows;
  const book: Pick<GroupBook, 'groups' | 'reach'> = { groups: {}, reach: {} };
  const pos = new Map<string, number>();
  for (const r of groupRows) {
    book.groups[r.id] = group(r);
    book.reach[r.id] = { documents: [], pageViews: [], userAgents: [], nativeOnly: r.native_only };
    pos.set(r.id, r.pos);
  }
  const dims = ['documents', 'pageViews', 'userAgents'] as const;
  for (const r of (await client.query<{ group_id: string; dim: number; value: string }>('SELECT group_id, dim, value FROM csp_lens_reach ORDER BY group_id, dim, value')).rows) {
    book.reach[r.group_id]?.[dims[r.dim]!].push(r.value);
  }
  const records = (await client.query<{ record: ViolationRecord }>('SELECT record FROM csp_lens_records ORDER BY ord')).rows.map((r) => r.record);
  const out = regroup(book, records);

  if (out.records.length) {
    const changed = JSON.stringify(out.records.map((r) => ({ seq: seqOf(r.id), record: r })));
    await client.query(
      `UPDATE csp_lens_records t SET group_id = x.record->>'groupId', severity = x.record->>'severity', record = x.record
         FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, record jsonb) WHERE t.seq = x.seq`,
      [changed],
    );
    // The merge's units carry their record's category and severity (state.ts rebuilds records from
    // them): a whole violation takes the record's, one stored against its record (units.ts) stops
    // differing from it.
    await client.query(
      `UPDATE csp_lens_units u
          SET unit = CASE WHEN u.unit ? 'v' THEN jsonb_set(jsonb_set(u.unit, '{v,category}', x.record->'category'), '{v,severity}', x.record->'severity')
                          ELSE u.unit #- '{d,category}' #- '{d,severity}' END
         FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, record jsonb) WHERE u.rid = x.seq`,
      [changed],
    );
  }
  // A bucket's group: where its old group went, then, where a live record of it says, that record's.
  const moved = Object.entries(out.movedTo).filter(([from, to]) => from !== to).map(([from, to]) => ({ from, to }));
  if (moved.length) {
    await client.query('UPDATE csp_lens_buckets b SET group_id = m.to FROM jsonb_to_recordset($1::jsonb) AS m("from" text, "to" text) WHERE b.group_id = m.from', [JSON.stringify(moved)]);
  }
  await client.query(
    `UPDATE csp_lens_buckets b SET group_id = x.group_id
       FROM (SELECT DISTINCT ON (u.bucket) u.bucket, r.group_id FROM csp_lens_units u JOIN csp_lens_records r ON r.seq = u.rid ORDER BY u.bucket, u.seq DESC) AS x
      WHERE b.key = x.bucket AND b.group_id <> x.group_id`,
  );

  const gone = [...out.removed, ...out.changed];
  if (gone.length) {
    await client.query('DELETE FROM csp_lens_reach WHERE group_id = ANY($1)', [gone]);
    await client.query('DELETE FROM csp_lens_groups WHERE id = ANY($1)', [out.removed]);
    await client.query('DELETE FROM csp_lens_triage WHERE group_id = ANY($1)', [out.removed]);
  }
  const rows = out.changed.map((id) => {
    const g = out.groups[id]!;
    const { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow } = g;
    const reach = out.reach[id]!;
    return {
      id, pos: pos.get(id) ?? pos.get(out.madeFrom[id]!) ?? 0, meta: { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow },
      severity: g.severity, dispositions: g.dispositions, count: g.count, records: g.records, sdk: g.sources.sdk, report_uri: g.sources.reportUri,
      report_to: g.sources.reportTo, merged: g.merged, native_only: reach.nativeOnly, first_seen: g.firstSeen, last_seen: g.lastSeen, example_id: g.exampleId,
      reach_documents: reach.documents.length, reach_page_views: reach.pageViews.length, reach_user_agents: reach.userAgents.length,
      first_release: g.firstRelease ?? null, first_release_at: g.firstReleaseAt ?? null,
    };
  });
  if (rows.length) {
    await client.query(
      `INSERT INTO csp_lens_groups AS g (id, pos, meta, severity, dispositions, count, records, sdk, report_uri, report_to, merged, native_only, first_seen, last_seen, example_id,
              reach_documents, reach_page_views, reach_user_agents, first_release, first_release_at)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, pos bigint, meta jsonb, severity text, dispositions text[], count bigint, records bigint, sdk bigint,
              report_uri bigint, report_to bigint, merged bigint, native_only bigint, first_seen float8, last_seen float8, example_id text,
              reach_documents integer, reach_page_views integer, reach_user_agents integer, first_release text, first_release_at float8)
       ON CONFLICT (id) DO UPDATE SET meta = excluded.meta, severity = excluded.severity, dispositions = excluded.dispositions, count = excluded.count,
          records = excluded.records, sdk = excluded.sdk, report_uri = excluded.report_uri, report_to = excluded.report_to, merged = excluded.merged,
          native_only = excluded.native_only, first_seen = excluded.first_seen, last_seen = excluded.last_seen, example_id = excluded.example_id,
          reach_documents = excluded.reach_documents, reach_page_views = excluded.reach_page_views, reach_user_agents = excluded.reach_user_agents,
          first_release = excluded.first_release, first_release_at = excluded.first_release_at`,
      [JSON.stringify(rows)],
    );
    const triage = out.changed.filter((id) => out.groups[id]!.triage).map((id) => ({ id, status: out.groups[id]!.triage!.status, state: out.groups[id]!.triage }));
    if (triage.length) {
      await client.query(
        `INSERT INTO csp_lens_triage AS t (group_id, status, state) SELECT id, status, state FROM jsonb_to_recordset($1::jsonb) AS x(id text, status text, state jsonb)
         ON CONFLICT (group_id) DO UPDATE SET status = excluded.status, state = excluded.state`,
        [JSON.stringify(triage)],
      );
    }
    const reach = out.changed.flatMap((g) => dims.flatMap((dim, d) => out.reach[g]![dim].map((v) => ({ g, d, v }))));
    if (reach.length) {
      await client.query('INSERT INTO csp_lens_reach (group_id, dim, value) SELECT g, d, v FROM jsonb_to_recordset($1::jsonb) AS x(g text, d smallint, v text)', [JSON.stringify(reach)]);
    }
  }
  return { groupsBefore: groupRows.length, groupsAfter: Object.keys(out.groups).length, records: out.records.length };
}
