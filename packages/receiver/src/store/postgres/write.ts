import type pg from 'pg';
import type { GroupTriage } from '@csp-lens/schema';
import { isWildcard } from '../../core/merge.js';
import { seqOf } from '../../core/records.js';
import type { Work } from './ingest.js';
import { jsonLiteral as json, sqlPrepared, textArray } from './prepared.js';
import { storedUnit, unitSig } from './units.js';

// The whole write of a commit in one statement (each CTE below runs, in one snapshot):
//  nb  buckets this commit starts (under their locks: nobody else can have);
//  du, nu, uu  units gone, new (their seqs are this instance's), changed;
//  dr  records gone;                         nr  records new or changed ($6: the ones deleted and
//      made again go to the end of the retention order, as in state.ts's Map);
//  ng  groups this commit created, whole (nobody else can see them before it commits);
//  mn  the minute's creation count, when this commit holds the creation lock;
//  pd  what it adds to rows every instance shares, for the fold (fold.ts), with the change in
//      live records;
//  tr  the triage states of the groups it adds to, locked (triage.ts: regressions are seen once
//      across instances). Only triaged groups have one, so commits to other groups never wait here.
//      With $13 (the commit found none at its load and sends its COMMIT right behind), one found
//      now stops the transaction (csp_lens_triaged_meanwhile, code CLTRI): it is made again. The
//      triage API waits for commits in flight to the group (triage.ts), so only a state written
//      without that lock (an older instance still running) gets here.
// Prepared with SQL's PREPARE, once per connection, so that EXECUTE can ride with the COMMIT.
const WRITE = sqlPrepared('csp_lens_write', 'jsonb, bigint[], jsonb, bigint[], jsonb, bigint[], jsonb, bigint, bigint, jsonb, jsonb, text[], boolean', `WITH nb AS (INSERT INTO csp_lens_buckets SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(key text, group_id text)),
  du AS (DELETE FROM csp_lens_units u USING unnest($2::bigint[]) AS d(seq) WHERE u.seq = d.seq),
  nu AS (INSERT INTO csp_lens_units SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(seq bigint, bucket text, blocked text, wide boolean, rid bigint, unit jsonb)),
  uu AS (UPDATE csp_lens_units u SET rid = x.rid, unit = x.unit FROM jsonb_to_recordset($11::jsonb) AS x(seq bigint, rid bigint, unit jsonb) WHERE u.seq = x.seq),
  dr AS (DELETE FROM csp_lens_records r USING unnest($4::bigint[]) AS d(seq) WHERE r.seq = d.seq RETURNING 1),
  nr AS (INSERT INTO csp_lens_records AS t (seq, lock_key, group_id, effective_directive, document_url, disposition, severity, occurred_at, sdk, report_uri, report_to, record)
         SELECT (e->>'seq')::bigint, (e->>'lock')::bigint, r->>'groupId', r->>'effectiveDirective', r->>'documentURL', r->>'disposition', r->>'severity',
                (r->>'occurredAt')::float8, (r->'sources'->>'sdk')::bigint, (r->'sources'->>'reportUri')::bigint, (r->'sources'->>'reportTo')::bigint, r
           FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS x(e, i), LATERAL (SELECT e->'record' AS r) AS l
          ORDER BY i
         ON CONFLICT (seq) DO UPDATE SET group_id = excluded.group_id, effective_directive = excluded.effective_directive, document_url = excluded.document_url,
            disposition = excluded.disposition, severity = excluded.severity, occurred_at = excluded.occurred_at, sdk = excluded.sdk,
            report_uri = excluded.report_uri, report_to = excluded.report_to, record = excluded.record,
            ord = CASE WHEN t.seq = ANY($6::bigint[]) THEN excluded.ord ELSE t.ord END
         RETURNING (xmax = 0) AS inserted),
  ng AS (INSERT INTO csp_lens_groups (id, pos, meta, severity, dispositions, count, records, sdk, report_uri, report_to, merged, native_only, first_seen, last_seen, example_id,
                first_release, first_release_at)
         SELECT * FROM jsonb_to_recordset($7::jsonb) AS x(id text, pos bigint, meta jsonb, severity text, dispositions text[], count bigint, records bigint, sdk bigint,
                report_uri bigint, report_to bigint, merged bigint, native_only bigint, first_seen float8, last_seen float8, example_id text,
                first_release text, first_release_at float8) ORDER BY id),
  mn AS (UPDATE csp_lens_minute SET at = $8, created = $9 WHERE id = 1 AND $8::bigint IS NOT NULL),
  live AS (SELECT (SELECT count(*) FROM nr WHERE inserted) - (SELECT count(*) FROM dr) AS n),
  pd AS (INSERT INTO csp_lens_pending (work)
         SELECT jsonb_set($10::jsonb, '{counters}', ($10::jsonb->'counters') || jsonb_build_array(jsonb_build_object('kind', 'store', 'name', 'live', 'n', live.n))) FROM live),
  tr AS (SELECT group_id, state FROM csp_lens_triage WHERE group_id = ANY($12::text[]) ORDER BY group_id FOR UPDATE)
SELECT n::int AS live, (SELECT coalesce(jsonb_agg(jsonb_build_object('id', group_id, 'state', state)), '[]') FROM tr) AS triage,
       CASE WHEN $13 AND EXISTS (SELECT 1 FROM tr) THEN csp_lens_triaged_meanwhile() END AS stop FROM live`);

/** Readies a connection for writes (once per connection, outside a transaction). */
export const prepareWrite = (client: pg.PoolClient): Promise<void> => WRITE.ready(client);

// Numbers this file makes, checked, as literals (prepared.ts for the rest).
const int = (n: number) => {
  if (!Number.isSafeInteger(n)) throw new Error('csp-lens: not an integer');
  return String(n);
};
const ints = (ns: number[]) => `'{${ns.map(int).join(',')}}'`;

/**
 * What `prepare` decided, as one statement to run inside its transaction (`write`, or ahead of the
 * COMMIT when `alone`: no group it adds to had a triage state at its load). The rows every instance
 * shares (existing groups' totals and reach, policies, counters, the live count) are not updated
 * here: a row updated here stays locked until this commit's disk flush, and every other instance
 * adding to it would wait that long. Their changes go in a pending row, which `fold` applies right
 * after the commit. The statement returns the change in live records, and the triage states of
 * the groups it added to (locked until COMMIT).
 */
export function writeSql(work: Work, alone: boolean): string {
  const units: object[] = [];
  const changed: object[] = [];
  const dropUnits: number[] = [];
  const newBuckets: { key: string; group_id: string }[] = [];
  for (const b of work.buckets.values()) {
    if (!b.stored) newBuckets.push({ key: b.id, group_id: b.bucket.groupId });
    if (b.loaded.size) {
      const live = new Set(b.bucket.units.map((u) => u.seq));
      for (const seq of b.loaded.keys()) if (!live.has(seq)) dropUnits.push(seq);
    }
    for (const u of b.bucket.units) {
      const was = b.loaded.get(u.seq);
      // A unit is stored against its record (units.ts): one whose record this commit rewrites is
      // rewritten with it, changed or not.
      const record = work.records.get(u.rid!);
      if (was === undefined) units.push({ seq: u.seq, bucket: b.id, blocked: u.v.blockedURL ?? '', wide: isWildcard(u.v), rid: seqOf(u.rid!), unit: storedUnit(u, record) });
      else if (was !== unitSig(u) || record) changed.push({ seq: u.seq, rid: seqOf(u.rid!), unit: storedUnit(u, record) });
    }
  }
  const gone: number[] = [];
  const records: object[] = [];
  for (const [id, r] of work.records) {
    if (r) records.push({ seq: seqOf(id), lock: work.locks.get(id)!, record: r });
    else gone.push(seqOf(id));
  }

  const created: object[] = [];
  const deltas: object[] = [];
  const reach: object[] = [];
  [...work.touched].sort().forEach((id) => {
    const g = work.book.groups[id];
    const r = work.book.reach[id];
    const totals = {
      id, severity: g.severity, dispositions: g.dispositions, count: g.count, records: g.records, sdk: g.sources.sdk, report_uri: g.sources.reportUri,
      report_to: g.sources.reportTo, merged: g.merged, native_only: r.nativeOnly, first_seen: g.firstSeen, last_seen: g.lastSeen, example_id: g.exampleId,
      first_release: g.firstRelease ?? null, first_release_at: g.firstReleaseAt ?? null,
    };
    if (work.creating && work.created.has(id)) {
      const { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow } = g;
      const pos = work.creating.top + 1 + [...work.created].indexOf(id);
      created.push({ ...totals, pos, meta: { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow } });
    } else deltas.push(totals);
    [r.documents, r.pageViews, r.userAgents].forEach((values, d) => {
      for (const v of values) reach.push({ g: id, d, v });
    });
  });
  const policies = [...work.policies].map(([hash, p]) => ({ hash, policy: p.policy, first_seen: p.firstSeen, count: p.count }));
  const counters = [...work.counters].map(([k, n]) => ({ kind: k.split('\u0000')[0], name: k.split('\u0000')[1], n }));

  const args = [
    json(newBuckets),
    ints(dropUnits),
    json(units),
    ints(gone),
    json(records),
    ints([...work.fresh].map(seqOf)),
    json(created),
    work.creating ? int(work.book.minute.at) : 'NULL',
    work.creating ? int(work.book.minute.created) : 'NULL',
    json({ groups: deltas, reach, policies, counters }),
    json(changed),
    textArray([...work.touched].sort()),
    String(alone),
  ];
  return `EXECUTE ${WRITE.name}(${args.join(', ')})`;
}

/**
 * Writes what `prepare` decided, inside its transaction, in one round trip. The rows every instance
 * shares are not updated here (see `writeSql`). Returns the triage states of the groups it added to
 * (locked until COMMIT).
 */
export async function write(client: pg.PoolClient, work: Work): Promise<{ id: string; state: GroupTriage }[]> {
  const { rows } = await client.query<{ triage: { id: string; state: GroupTriage }[] }>(writeSql(work, false));
  return rows[0]!.triage;
}
