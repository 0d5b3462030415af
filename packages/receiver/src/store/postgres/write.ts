import type pg from 'pg';
import type { ViolationGroup } from '@csp-lens/schema';
import { type Unit, isWildcard } from '../../core/merge.js';
import { seqOf } from '../../core/records.js';
import { REACH_CAP } from '../../core/group.js';
import { type Work, unitSig } from './ingest.js';
import { type GroupRow, toGroup } from './queries.js';

const SEVERITIES = "ARRAY['low','medium','high','critical']";

const unitJson = (u: Unit) => ({ ...u, rid: undefined, key: undefined, wide: undefined, v: { ...u.v, originalPolicy: undefined } });

/**
 * Writes what `prepare` decided, inside its transaction; returns the change in live records, and
 * the groups it touched as they now stand (every instance's counts included). Rows shared by every
 * instance (groups, policies, counters) are updated last, in one global order, with `n = n +
 * delta`: exact under concurrency, and their row locks held only until COMMIT.
 */
export async function write(client: pg.PoolClient, work: Work): Promise<{ live: number; groups: Map<string, ViolationGroup> }> {
  const units: object[] = [];
  const dropUnits: number[] = [];
  const newBuckets: { key: string; group_id: string }[] = [];
  for (const b of work.buckets.values()) {
    if (!b.stored) newBuckets.push({ key: b.id, group_id: b.bucket.groupId });
    const live = new Set(b.bucket.units.map((u) => u.seq));
    for (const seq of b.loaded.keys()) if (!live.has(seq)) dropUnits.push(seq);
    for (const u of b.bucket.units) {
      if (b.loaded.get(u.seq) === unitSig(u)) continue;
      units.push({ seq: u.seq, bucket: b.id, blocked: u.v.blockedURL ?? '', wide: isWildcard(u.v), rid: seqOf(u.rid!), unit: unitJson(u) });
    }
  }
  if (newBuckets.length) {
    await client.query(`INSERT INTO csp_lens_buckets SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(key text, group_id text) ON CONFLICT DO NOTHING`, [JSON.stringify(newBuckets)]);
  }
  if (dropUnits.length) await client.query('DELETE FROM csp_lens_units WHERE seq = ANY($1::bigint[])', [dropUnits]);
  if (units.length) {
    await client.query(
      `INSERT INTO csp_lens_units SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, bucket text, blocked text, wide boolean, rid bigint, unit jsonb)
       ON CONFLICT (seq) DO UPDATE SET rid = excluded.rid, unit = excluded.unit`,
      [JSON.stringify(units)],
    );
  }

  const gone = [...work.records].filter(([id, r]) => r === null || work.fresh.has(id)).map(([id]) => seqOf(id));
  let live = gone.length ? -((await client.query('DELETE FROM csp_lens_records WHERE seq = ANY($1::bigint[])', [gone])).rowCount ?? 0) : 0;
  // A record's bucket key is its units' (state.ts evicts by it too): the lock eviction must take.
  const rows = [...work.records.values()].flatMap((r) => (r ? [{ seq: seqOf(r.id), lock: work.locks.get(r.id)!, record: r }] : []));
  if (rows.length) {
    // Rows go in first-touch order, so `ord` (the retention order) follows state.ts's Map order.
    const { rows: done } = await client.query<{ inserted: boolean }>(
      `INSERT INTO csp_lens_records AS t (seq, lock_key, group_id, effective_directive, document_url, disposition, severity, occurred_at, sdk, report_uri, report_to, record)
       SELECT (e->>'seq')::bigint, (e->>'lock')::bigint, r->>'groupId', r->>'effectiveDirective', r->>'documentURL', r->>'disposition', r->>'severity',
              (r->>'occurredAt')::float8, (r->'sources'->>'sdk')::bigint, (r->'sources'->>'reportUri')::bigint, (r->'sources'->>'reportTo')::bigint, r
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, i), LATERAL (SELECT e->'record' AS r) AS l
        ORDER BY i
       ON CONFLICT (seq) DO UPDATE SET group_id = excluded.group_id, effective_directive = excluded.effective_directive, document_url = excluded.document_url,
          disposition = excluded.disposition, severity = excluded.severity, occurred_at = excluded.occurred_at, sdk = excluded.sdk,
          report_uri = excluded.report_uri, report_to = excluded.report_to, record = excluded.record
       RETURNING (xmax = 0) AS inserted`,
      [JSON.stringify(rows)],
    );
    live += done.filter((d) => d.inserted).length;
  }

  const created = [...work.created];
  const groups = [...work.touched].sort().map((id) => {
    const g = work.book.groups[id];
    const pos = work.creating && created.includes(id) ? work.creating.top + 1 + created.indexOf(id) : 0;
    const { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow } = g;
    return {
      id, pos, meta: { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow }, severity: g.severity, dispositions: g.dispositions,
      count: g.count, records: g.records, sdk: g.sources.sdk, report_uri: g.sources.reportUri, report_to: g.sources.reportTo, merged: g.merged,
      native_only: work.book.reach[id].nativeOnly, first_seen: g.firstSeen, last_seen: g.lastSeen, example_id: g.exampleId,
      first_release: g.firstRelease ?? null, first_release_at: g.firstReleaseAt ?? null,
    };
  });
  if (groups.length) {
    await client.query(
      `INSERT INTO csp_lens_groups AS g (id, pos, meta, severity, dispositions, count, records, sdk, report_uri, report_to, merged, native_only, first_seen, last_seen, example_id, first_release, first_release_at)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, pos bigint, meta jsonb, severity text, dispositions text[], count bigint, records bigint, sdk bigint,
              report_uri bigint, report_to bigint, merged bigint, native_only bigint, first_seen float8, last_seen float8, example_id text, first_release text, first_release_at float8) ORDER BY id
       ON CONFLICT (id) DO UPDATE SET count = g.count + excluded.count, records = g.records + excluded.records, sdk = g.sdk + excluded.sdk,
          report_uri = g.report_uri + excluded.report_uri, report_to = g.report_to + excluded.report_to, merged = g.merged + excluded.merged,
          native_only = g.native_only + excluded.native_only, first_seen = LEAST(g.first_seen, excluded.first_seen), last_seen = GREATEST(g.last_seen, excluded.last_seen),
          severity = CASE WHEN array_position(${SEVERITIES}, excluded.severity) > array_position(${SEVERITIES}, g.severity) THEN excluded.severity ELSE g.severity END,
          dispositions = g.dispositions || ARRAY(SELECT d FROM unnest(excluded.dispositions) WITH ORDINALITY AS u(d, i) WHERE NOT d = ANY(g.dispositions) ORDER BY i),
          example_id = CASE WHEN excluded.example_id <> '' THEN excluded.example_id ELSE g.example_id END,
          first_release = CASE WHEN excluded.first_release_at IS NOT NULL AND (g.first_release_at IS NULL OR excluded.first_release_at < g.first_release_at
            OR (excluded.first_release_at = g.first_release_at AND excluded.first_release COLLATE "C" < g.first_release COLLATE "C")) THEN excluded.first_release ELSE g.first_release END,
          first_release_at = CASE WHEN excluded.first_release_at IS NOT NULL AND (g.first_release_at IS NULL OR excluded.first_release_at < g.first_release_at
            OR (excluded.first_release_at = g.first_release_at AND excluded.first_release COLLATE "C" < g.first_release COLLATE "C")) THEN excluded.first_release_at ELSE g.first_release_at END`,
      [JSON.stringify(groups)],
    );
    const reach = [...work.touched].sort().flatMap((g) => {
      const r = work.book.reach[g];
      return [r.documents, r.pageViews, r.userAgents].flatMap((values, d) => values.map((v) => ({ g, d, v })));
    });
    // Under the group rows' locks (taken just above), so the cap check is exact.
    if (reach.length) {
      await client.query(
        `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(g text, d smallint, v text)),
         ins AS (INSERT INTO csp_lens_reach (group_id, dim, value)
                 SELECT x.g, x.d, x.v FROM x JOIN csp_lens_groups gr ON gr.id = x.g
                  WHERE CASE x.d WHEN 0 THEN gr.reach_documents WHEN 1 THEN gr.reach_page_views ELSE gr.reach_user_agents END < ${REACH_CAP}
                  ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING RETURNING group_id, dim),
         c AS (SELECT group_id, count(*) FILTER (WHERE dim = 0) AS d0, count(*) FILTER (WHERE dim = 1) AS d1, count(*) FILTER (WHERE dim = 2) AS d2 FROM ins GROUP BY group_id)
         UPDATE csp_lens_groups gr SET reach_documents = LEAST(${REACH_CAP}, reach_documents + c.d0), reach_page_views = LEAST(${REACH_CAP}, reach_page_views + c.d1),
                reach_user_agents = LEAST(${REACH_CAP}, reach_user_agents + c.d2) FROM c WHERE gr.id = c.group_id`,
        [JSON.stringify(reach)],
      );
    }
  }
  if (work.creating) await client.query('UPDATE csp_lens_minute SET at = $1, created = $2 WHERE id = 1', [work.book.minute.at, work.book.minute.created]);

  const policies = [...work.policies].sort(([a], [b]) => (a < b ? -1 : 1)).map(([hash, p]) => ({ hash, policy: p.policy, first_seen: p.firstSeen, count: p.count }));
  if (policies.length) {
    await client.query(
      `INSERT INTO csp_lens_policies AS p SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(hash text, policy text, first_seen float8, count bigint) ORDER BY hash
       ON CONFLICT (hash) DO UPDATE SET count = p.count + excluded.count`,
      [JSON.stringify(policies)],
    );
  }
  const counters = [...work.counters].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => ({ kind: k.split('\u0000')[0], name: k.split('\u0000')[1], n }));
  if (counters.length) {
    await client.query(
      `INSERT INTO csp_lens_counters AS c SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(kind text, name text, n bigint) ORDER BY kind, name
       ON CONFLICT (kind, name) DO UPDATE SET n = c.n + excluded.n`,
      [JSON.stringify(counters)],
    );
  }
  const touched = work.touched.size
    ? (await client.query<GroupRow>('SELECT * FROM csp_lens_groups WHERE id = ANY($1)', [[...work.touched]])).rows
    : [];
  return { live, groups: new Map(touched.map((r) => [r.id, toGroup(r)])) };
}

