import { seqOf } from '../../core/records.js';
import type pg from 'pg';
import type { GroupPage, GroupTriage, Stats, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import type { GroupQuery, RecordFilter, ViolationQuery } from '../../core/types.js';
import { clampLimit, computeStats, queryGroups, queryViolations } from '../../core/query.js';
import type { Counters } from '../../core/state.js';
import { documentFilter } from '../../core/match.js';
import { documentSql, searchParam, searchSql } from './match.js';

// The read side: SQL narrows what query.ts's functions then page, sort and count exactly as the
// file store does, so the read API cannot tell the stores apart.

const SOURCE_COLUMN = { sdk: 'sdk', reportUri: 'report_uri', reportTo: 'report_to' } as const;
// coverage.ts's coverageOf in SQL: the SDK saw it, a native stream did, or both.
const COVERAGE_SQL = {
  merged: 'sdk > 0 AND report_uri + report_to > 0',
  'sdk-only': 'sdk > 0 AND report_uri + report_to = 0',
  'native-only': 'sdk = 0',
} as const;

/** query.ts's recordFilter as a WHERE clause (with `seq < ?` for a cursor); `$n` parameters. */
function recordWhere(q: RecordFilter & { cursor?: string }): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => where.push(sql.replace('?', `$${params.push(value)}`));
  const before = q.cursor ? seqOf(q.cursor) : NaN;
  if (Number.isFinite(before)) add('seq < ?', before);
  if (q.directive) add('effective_directive = ?', q.directive);
  if (q.source) where.push(`${SOURCE_COLUMN[q.source]} > 0`);
  if (q.coverage) where.push(COVERAGE_SQL[q.coverage]);
  if (q.groupId) add('group_id = ?', q.groupId);
  const doc = q.document ? documentFilter(q.document) : undefined;
  if (doc) where.push(documentSql(doc, `$${params.push(doc.prefix)}`));
  if (q.q) where.push(searchSql(`$${params.push(searchParam(q.q))}`));
  if (q.disposition) add('disposition = ?', q.disposition);
  if (q.severity) add('severity = ?', q.severity);
  if (q.since !== undefined) add('occurred_at >= ?', q.since);
  if (q.until !== undefined) add('occurred_at < ?', q.until);
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

export async function violations(db: pg.Pool, q: ViolationQuery): Promise<ViolationPage> {
  const where = recordWhere(q);
  // One row more than the page, to know whether there is a next page.
  const limit = clampLimit(q.limit) + 1;
  const { rows } = await db.query<{ record: ViolationRecord }>(
    `SELECT record FROM csp_lens_records ${where.sql} ORDER BY seq DESC LIMIT ${limit}`,
    where.params,
  );
  return queryViolations(
    rows.map((r) => r.record),
    q,
  );
}

export interface GroupRow {
  id: string;
  meta: Pick<ViolationGroup, 'fingerprint' | 'effectiveDirective' | 'category' | 'blocked' | 'sourceFile' | 'overflow'>;
  severity: ViolationGroup['severity'];
  dispositions: ViolationGroup['dispositions'];
  count: number;
  records: number;
  sdk: number;
  report_uri: number;
  report_to: number;
  merged: number;
  native_only: number;
  first_seen: number;
  last_seen: number;
  example_id: string;
  reach_documents: number;
  reach_page_views: number;
  reach_user_agents: number;
  first_release?: string | null;
  first_release_at?: number | null;
  /** From csp_lens_triage, where a query joins it. */
  triage?: GroupTriage | null;
}

export function toGroup(r: GroupRow): ViolationGroup {
  const { fingerprint, effectiveDirective, category, blocked, sourceFile, overflow } = r.meta;
  return {
    id: r.id,
    fingerprint,
    effectiveDirective,
    category,
    blocked,
    ...(sourceFile !== undefined ? { sourceFile } : {}),
    severity: r.severity,
    dispositions: r.dispositions,
    count: r.count,
    records: r.records,
    sources: { sdk: r.sdk, reportUri: r.report_uri, reportTo: r.report_to },
    merged: r.merged,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    reach: { documents: r.reach_documents, pageViews: r.reach_page_views + r.native_only, userAgents: r.reach_user_agents },
    exampleId: r.example_id,
    ...(overflow ? { overflow } : {}),
    ...(r.first_release != null ? { firstRelease: r.first_release, firstReleaseAt: r.first_release_at! } : {}),
    ...(r.triage ? { triage: r.triage } : {}),
  };
}

// Each group with its triage state (a group without a row is open).
const GROUPS = 'SELECT g.*, t.state AS triage FROM csp_lens_groups g LEFT JOIN csp_lens_triage t ON t.group_id = g.id';

export async function groups(db: pg.Pool, q: GroupQuery): Promise<GroupPage> {
  const on = recordWhere({ document: q.document, q: q.q });
  const { rows } = on.sql
    ? await db.query<GroupRow>(`${GROUPS} WHERE records > 0 AND id IN (SELECT group_id FROM csp_lens_records ${on.sql}) ORDER BY pos`, on.params)
    : await db.query<GroupRow>(`${GROUPS} WHERE records > 0 ORDER BY pos`);
  return queryGroups(Object.fromEntries(rows.map((r) => [r.id, toGroup(r)])), q);
}

export async function group(db: pg.Pool, id: string): Promise<{ group: ViolationGroup; records: ViolationRecord[]; policy?: string } | undefined> {
  const { rows } = await db.query<GroupRow>(`${GROUPS} WHERE g.id = $1`, [id]);
  if (!rows.length) return undefined;
  const g = toGroup(rows[0]);
  const { items } = await violations(db, { groupId: id, limit: 50 });
  const seq = /^r[0-9a-z]+$/.test(g.exampleId) ? seqOf(g.exampleId) : -1;
  const ex = await db.query<{ record: ViolationRecord }>('SELECT record FROM csp_lens_records WHERE seq = $1', [seq]);
  const example = ex.rows[0]?.record ?? items[0];
  const text = example?.policyHash ? await policy(db, example.policyHash) : undefined;
  return { group: g, records: items, ...(text ? { policy: text } : {}) };
}

export async function policy(db: pg.Pool, hash: string): Promise<string | undefined> {
  const { rows } = await db.query<{ policy: string }>('SELECT policy FROM csp_lens_policies WHERE hash = $1', [hash]);
  return rows[0]?.policy;
}

export async function stats(db: pg.Pool, q: RecordFilter): Promise<Stats> {
  const where = recordWhere(q);
  const [records, groupCount, counters] = await Promise.all([
    db.query<{ o: number; c: number; s: ViolationRecord['severity']; d: string; a: number; u: number; t: number }>(
      `SELECT occurred_at AS o, (record->>'count')::bigint AS c, severity AS s, effective_directive AS d, sdk AS a, report_uri AS u, report_to AS t
         FROM csp_lens_records ${where.sql}`,
      where.params,
    ),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM csp_lens_groups'),
    db.query<{ kind: string; name: string; n: number }>('SELECT kind, name, n FROM csp_lens_counters'),
  ]);
  const c: Counters = { filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0, archived: 0 };
  const limits = { policiesPruned: 0, groupsPruned: 0 };
  for (const { kind, name, n } of counters.rows) {
    if (kind === 'filtered' || kind === 'otherReports') c[kind][name] = n;
    else if (name === 'invalid' || name === 'sdkDropped' || name === 'archived') c[name] = n;
    else if (name === 'policiesPruned' || name === 'groupsPruned') limits[name] = n;
  }
  // Only the fields tally reads; the WHERE clause already selected them (no filter left to apply).
  const live = records.rows.map(
    (r) => ({ occurredAt: r.o, count: r.c, severity: r.s, effectiveDirective: r.d, sources: { sdk: r.a, reportUri: r.u, reportTo: r.t } }) as ViolationRecord,
  );
  return { ...computeStats(live, groupCount.rows[0].n, c, {}), limits };
}
