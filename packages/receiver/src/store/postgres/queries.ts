import { seqOf } from '../../core/records.js';
import type pg from 'pg';
import type { Coverage, GroupPage, GroupTriage, HourBucket, Stats, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import type { GroupQuery, RecordFilter, ViolationQuery } from '../../core/types.js';
import { HOUR } from '../../core/tally.js';
import { NEW_IN_RELEASE_MS, clampLimit } from '../../core/query.js';
import { withEffectiveTriage } from '../../core/triage.js';
import type { Counters } from '../../core/state.js';
import { documentFilter } from '../../core/match.js';
import { documentSql, searchParam, searchSql } from './match.js';

// The read side in SQL: aggregates for the counts, ORDER BY … LIMIT for the pages, so what crosses
// the wire and sits in memory is the answer, whatever the table holds (issue 17: a million live
// records). Each answer equals query.ts's over the file store (store-contract.test.ts compares them).

/** A statement's parameters: `p(value)` adds one and returns its `$n`. */
function params() {
  const list: unknown[] = [];
  return { list, p: (value: unknown) => `$${list.push(value)}` };
}

const SOURCE_COLUMN = { sdk: 'sdk', reportUri: 'report_uri', reportTo: 'report_to' } as const;
// coverage.ts's coverageOf in SQL: the SDK saw it, a native stream did, or both.
const MERGED = 'sdk > 0 AND report_uri + report_to > 0';
const SDK_ONLY = 'sdk > 0 AND report_uri + report_to = 0';
const NATIVE_ONLY = 'sdk = 0';
const COVERAGE_SQL = { merged: MERGED, 'sdk-only': SDK_ONLY, 'native-only': NATIVE_ONLY } as const;

/** query.ts's recordFilter as a WHERE clause (with `seq < ?` for a cursor). */
function recordWhere(q: RecordFilter & { cursor?: string }, { p }: ReturnType<typeof params>): string {
  const where: string[] = [];
  const before = q.cursor ? seqOf(q.cursor) : NaN;
  if (Number.isFinite(before)) where.push(`seq < ${p(before)}`);
  if (q.directive) where.push(`effective_directive = ${p(q.directive)}`);
  if (q.source) where.push(`${SOURCE_COLUMN[q.source]} > 0`);
  if (q.coverage) where.push(COVERAGE_SQL[q.coverage]);
  if (q.groupId) where.push(`group_id = ${p(q.groupId)}`);
  const doc = q.document ? documentFilter(q.document) : undefined;
  if (doc) where.push(documentSql(doc, p));
  if (q.q) where.push(searchSql(p(searchParam(q.q))));
  if (q.disposition) where.push(`disposition = ${p(q.disposition)}`);
  if (q.severity) where.push(`severity = ${p(q.severity)}`);
  if (q.since !== undefined) where.push(`occurred_at >= ${p(q.since)}`);
  if (q.until !== undefined) where.push(`occurred_at < ${p(q.until)}`);
  return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

/** Newest first; one row more than the page says whether there is a next one. */
export async function violations(db: pg.Pool, q: ViolationQuery): Promise<ViolationPage> {
  const limit = clampLimit(q.limit);
  if (await nowhere(db, q)) return { items: [] };
  const s = params();
  const where = recordWhere(q, s);
  // The page's seqs first, then their records: the seqs may come from an index alone (occurred_at's
  // holds every filter column but group and document), so a rare value costs no table read per
  // row passed. `seq + 0` is an expression, so the planner cannot walk seq's index: see behindNewer.
  const order = (await behindNewer(db, q)) ? 'seq + 0' : 'seq';
  const sql = `SELECT record FROM csp_lens_records WHERE seq = ANY(ARRAY(SELECT seq FROM csp_lens_records ${where} ORDER BY ${order} DESC LIMIT ${limit + 1}))
    ORDER BY seq DESC`;
  const { rows } = await db.query<{ record: ViolationRecord }>(sql, s.list);
  const items = rows.slice(0, limit).map((r) => r.record);
  return rows.length > limit ? { items, next: items[items.length - 1].id } : { items };
}

/**
 * Whether the tally says no live record has the filter's value of a column no index leads with
 * (disposition=report where no policy is report-only): the search would read every row to find
 * none. A tally row may also be cancelled by a delta not yet folded: then the search runs.
 */
async function nowhere(db: pg.Pool, q: ViolationQuery): Promise<boolean> {
  if (!(q.source || q.coverage || q.disposition || q.severity)) return false;
  const s = params();
  const where = tallyWhere(q, s);
  const { rows } = await db.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM csp_lens_tally ${where} AND records > 0) OR EXISTS (SELECT 1 FROM csp_lens_tally_delta ${where} AND records > 0) AS found`,
    s.list,
  );
  return !rows[0].found;
}

/**
 * Whether the first page of a window that ends (`until`) lies behind many newer records. Records
 * are stored about in time order, so walking seq's index from the top (the planner's choice: it
 * expects matches spread evenly over seq) passes every newer one first, a table read each: 1.7 s
 * under a million. The planner's estimates of the rows after the window and in it decide instead.
 * Later pages start inside the window (their cursor), where the walk finds its rows at once.
 */
async function behindNewer(db: pg.Pool, q: ViolationQuery): Promise<boolean> {
  if (q.until === undefined || q.cursor) return false;
  const estimate = async (where: string, values: unknown[]) => {
    const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM csp_lens_records WHERE ${where}`, values);
    return rows[0]['QUERY PLAN'][0].Plan['Plan Rows'];
  };
  const [after, inside] = await Promise.all([
    estimate('occurred_at >= $1', [q.until]),
    q.since === undefined ? estimate('occurred_at < $1', [q.until]) : estimate('occurred_at >= $1 AND occurred_at < $2', [q.since, q.until]),
  ]);
  // An index-only row of the window costs about a tenth of a walked one.
  return after > 10_000 && inside < 4 * after;
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

// query.ts's SORTS, then `pos` (creation order): the file store sorts its groups, kept in creation
// order, with a stable sort, so equals stay in that order there too.
const RANK = "CASE severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END";
const PAGE_VIEWS = '(reach_page_views + native_only)';
const GROUP_ORDER: Record<NonNullable<GroupQuery['sort']>, string> = {
  lastSeen: 'last_seen DESC',
  count: 'count DESC, last_seen DESC',
  reach: `${PAGE_VIEWS} DESC, count DESC`,
  severity: `${RANK} DESC, ${PAGE_VIEWS} DESC, last_seen DESC`,
};
// query.ts's coverageOf: a group is merged once one of its records is.
const GROUP_COVERAGE = { merged: 'merged > 0', 'sdk-only': 'merged = 0 AND sdk > 0', 'native-only': 'merged = 0 AND sdk = 0' } as const;

// Each group with its triage state (a group without a row is open). Groups, counters and policies
// are read through the views of migration 7, which add the commits not folded yet (fold.ts): their
// totals count exactly the records the same statement sees.
const GROUPS = 'SELECT g.*, t.state AS triage FROM csp_lens_groups_now g LEFT JOIN csp_lens_triage t ON t.group_id = g.id';

/** triage.ts's statusMatches over the state as it reads at `now` (effectiveTriage: an ignore past its time reads as open). */
function statusSql(filter: GroupQuery['status'], now: () => string): string | undefined {
  if (filter === 'all') return undefined;
  if (filter === 'regression') return `t.state->>'regression' = 'true'`;
  if (filter === 'resolved') return `t.status = 'resolved'`;
  // The placeholder is bound only when used: an unused one makes the server refuse the statement.
  const ignoring = `(t.status = 'ignored' AND (t.state->>'until' IS NULL OR (t.state->>'until')::float8 > ${now()}))`;
  if (filter === 'ignored') return ignoring;
  if (filter === 'open') return `(t.status IS NULL OR t.status = 'open' OR (t.status = 'ignored' AND NOT ${ignoring}))`;
  return `NOT coalesce(${ignoring}, false)`;
}

/**
 * Filtered, sorted and paged in SQL; the cursor is an offset, as in query.ts. The groups table is
 * small (at most --max-groups rows) and its rows change on every commit: a scan and a top-N sort
 * answer in milliseconds, where indexes on the sort keys would cost each of those updates.
 */
export async function groups(db: pg.Pool, q: GroupQuery): Promise<GroupPage> {
  const limit = clampLimit(q.limit);
  const offset = q.cursor ? Math.max(0, parseInt(q.cursor, 10) || 0) : 0;
  const now = q.now ?? Date.now();
  const s = params();
  const { p } = s;
  const where = ['records > 0'];
  if (q.directive) where.push(`meta->>'effectiveDirective' = ${p(q.directive)}`);
  if (q.severity) where.push(`severity = ${p(q.severity)}`);
  if (q.disposition) where.push(`${p(q.disposition)} = ANY(dispositions)`);
  if (q.coverage) where.push(GROUP_COVERAGE[q.coverage]);
  // The groups with a live record on the document, or matching the search.
  if (q.document || q.q) where.push(`id IN (SELECT group_id FROM csp_lens_records ${recordWhere({ document: q.document, q: q.q }, s)})`);
  if (q.since !== undefined) where.push(`last_seen >= ${p(q.since)}`);
  if (q.until !== undefined) where.push(`first_seen < ${p(q.until)}`);
  if (q.newSince !== undefined) where.push(`first_seen >= ${p(q.newSince)}`);
  // query.ts's isNewIn.
  if (q.release !== undefined) where.push(`first_release = ${p(q.release)} AND first_release_at <= first_seen + ${NEW_IN_RELEASE_MS}`);
  const status = statusSql(q.status, () => p(now));
  if (status) where.push(status);
  const { rows } = await db.query<GroupRow>(
    `${GROUPS} WHERE ${where.join(' AND ')} ORDER BY ${GROUP_ORDER[q.sort ?? 'severity']}, pos LIMIT ${limit + 1} OFFSET ${offset}`,
    s.list,
  );
  const items = rows.slice(0, limit).map((r) => withEffectiveTriage(toGroup(r), now));
  return rows.length > limit ? { items, next: String(offset + limit) } : { items };
}

/** The group, its newest 50 records and the policy of its example: three round trips at most. */
export async function group(db: pg.Pool, id: string): Promise<{ group: ViolationGroup; records: ViolationRecord[]; policy?: string } | undefined> {
  const [found, { items }] = await Promise.all([
    db.query<GroupRow>(`${GROUPS} WHERE g.id = $1`, [id]),
    violations(db, { groupId: id, limit: 50 }),
  ]);
  if (!found.rows.length) return undefined;
  const g = toGroup(found.rows[0]);
  // The example is usually among the newest records; else it is fetched (or gone: the newest stands in).
  let example = items.find((r) => r.id === g.exampleId);
  if (!example && /^r[0-9a-z]{1,12}$/.test(g.exampleId)) {
    example = (await db.query<{ record: ViolationRecord }>('SELECT record FROM csp_lens_records WHERE seq = $1', [seqOf(g.exampleId)])).rows[0]?.record;
  }
  example ??= items[0];
  const text = example?.policyHash ? await policy(db, example.policyHash) : undefined;
  return { group: g, records: items, ...(text ? { policy: text } : {}) };
}

export async function policy(db: pg.Pool, hash: string): Promise<string | undefined> {
  const { rows } = await db.query<{ policy: string }>('SELECT policy FROM csp_lens_policies_now WHERE hash = $1 LIMIT 1', [hash]);
  return rows[0]?.policy;
}

interface StatsRow {
  /** Which grouping set the row is of: 1 an hour's, 0 a directive's. */
  by: number;
  hour: number;
  directive: string;
  total: number;
  critical: number;
  high: number;
  medium: number;
  low: number;
  merged: number;
  sdk_only: number;
  native_only: number;
}

const HOUR_OF = `floor(occurred_at / ${HOUR}) * ${HOUR}`;
/** Records as rows of the tally's shape (one record each). */
const RECORD_ROWS = `SELECT ${HOUR_OF} AS hour, effective_directive AS directive, severity, sdk > 0 AS sdk, report_uri > 0 AS report_uri,
  report_to > 0 AS report_to, 1 AS records, count FROM csp_lens_records`;
const TALLY_COLUMNS = 'hour, directive, severity, sdk, report_uri, report_to, records, count';
const TALLY_COVERAGE = { merged: 'sdk AND (report_uri OR report_to)', 'sdk-only': 'sdk AND NOT (report_uri OR report_to)', 'native-only': 'NOT sdk' } as const;

/** recordWhere over the tally (schema.ts, migration 4), for the hours from `from` to before `to`. */
function tallyWhere(q: RecordFilter, { p }: ReturnType<typeof params>, from?: number, to?: number): string {
  const where: string[] = [];
  if (from !== undefined) where.push(`hour >= ${p(from)}`);
  if (to !== undefined) where.push(`hour < ${p(to)}`);
  if (q.directive) where.push(`directive = ${p(q.directive)}`);
  if (q.source) where.push(SOURCE_COLUMN[q.source]);
  if (q.coverage) where.push(TALLY_COVERAGE[q.coverage]);
  if (q.disposition) where.push(`disposition = ${p(q.disposition)}`);
  if (q.severity) where.push(`severity = ${p(q.severity)}`);
  return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

/**
 * The rows to count, in the tally's shape. The tally has whole hours and no group or document: a
 * filter by either counts the records themselves (an index has them); a time range counts whole
 * hours from the tally and the part hours at its ends (an hour each at most) from the records.
 * Its first whole hour is the one after `since`'s, even when `since` is on the hour: float
 * division can put a record a hair before the hour into it, and that record is not in the range.
 */
function rowsToCount(q: RecordFilter, s: ReturnType<typeof params>): string {
  const { since, until } = q;
  const whole = (t: number | undefined) => t === undefined || Number.isInteger(t);
  if (q.groupId || q.document || q.q || !whole(since) || !whole(until)) return `${RECORD_ROWS} ${recordWhere(q, s)}`;
  const from = since === undefined ? undefined : (Math.floor(since / HOUR) + 1) * HOUR;
  const to = until === undefined ? undefined : Math.floor(until / HOUR) * HOUR;
  if (from !== undefined && to !== undefined && from >= to) return `${RECORD_ROWS} ${recordWhere(q, s)}`;
  const parts = ['csp_lens_tally', 'csp_lens_tally_delta'].map((t) => `SELECT ${TALLY_COLUMNS} FROM ${t} ${tallyWhere(q, s, from, to)}`);
  if (from !== undefined) parts.push(`${RECORD_ROWS} ${recordWhere({ ...q, until: Math.min(until ?? from, from) }, s)} AND ${HOUR_OF} < ${s.p(from)}`);
  if (to !== undefined) parts.push(`${RECORD_ROWS} ${recordWhere({ ...q, since: Math.max(since ?? -Infinity, to - 1) }, s)} AND ${HOUR_OF} >= ${s.p(to)}`);
  return parts.join(' UNION ALL ');
}
/**
 * tally.ts over the filtered records, as aggregates: occurrences per hour by severity, and records
 * per directive by coverage (the overall coverage and `records` are their sums).
 */
async function tallySql(db: pg.Pool, q: RecordFilter): Promise<Pick<Stats, 'records' | 'hours' | 'coverage'>> {
  const s = params();
  const sum = (what: string, where: string) => `coalesce(sum(${what}) FILTER (WHERE ${where}), 0)::bigint`;
  const { rows } = await db.query<StatsRow>(
    `SELECT grouping(directive) AS by, hour, directive, sum(count)::bigint AS total,
            ${sum('count', "severity = 'critical'")} AS critical, ${sum('count', "severity = 'high'")} AS high,
            ${sum('count', "severity = 'medium'")} AS medium, ${sum('count', "severity = 'low'")} AS low,
            ${sum('records', TALLY_COVERAGE.merged)} AS merged, ${sum('records', TALLY_COVERAGE['sdk-only'])} AS sdk_only,
            ${sum('records', TALLY_COVERAGE['native-only'])} AS native_only
       FROM (${rowsToCount(q, s)}) AS x
      GROUP BY GROUPING SETS ((hour), (directive)) HAVING sum(records) > 0`,
    s.list,
  );
  const hours: HourBucket[] = [];
  // A null prototype, as tally.ts: a directive named `__proto__` must not find Object's.
  const coverage: Stats['coverage'] = { merged: 0, sdkOnly: 0, nativeOnly: 0, byDirective: Object.create(null) };
  for (const r of rows) {
    if (r.by === 1) {
      hours.push({ hour: r.hour, total: r.total, bySeverity: { critical: r.critical, high: r.high, medium: r.medium, low: r.low } });
      continue;
    }
    const c: Coverage = { merged: r.merged, sdkOnly: r.sdk_only, nativeOnly: r.native_only };
    coverage.byDirective[r.directive] = c;
    coverage.merged += c.merged;
    coverage.sdkOnly += c.sdkOnly;
    coverage.nativeOnly += c.nativeOnly;
  }
  hours.sort((a, b) => a.hour - b.hour);
  return { records: coverage.merged + coverage.sdkOnly + coverage.nativeOnly, hours, coverage };
}

export async function stats(db: pg.Pool, q: RecordFilter): Promise<Stats> {
  const [t, groupCount, counters] = await Promise.all([
    tallySql(db, q),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM csp_lens_groups'),
    db.query<{ kind: string; name: string; n: number }>('SELECT kind, name, n FROM csp_lens_counters_now'),
  ]);
  const c: Counters = { filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0, archived: 0 };
  const limits = { policiesPruned: 0, groupsPruned: 0 };
  for (const { kind, name, n } of counters.rows) {
    if (kind === 'filtered' || kind === 'otherReports') c[kind][name] = n;
    else if (kind === 'invalid') (c.invalidReasons ??= {})[name] = n;
    else if (name === 'invalid' || name === 'sdkDropped' || name === 'archived') c[name] = n;
    else if (name === 'policiesPruned' || name === 'groupsPruned') limits[name] = n;
  }
  return {
    records: t.records,
    archived: c.archived,
    groups: groupCount.rows[0].n,
    hours: t.hours,
    coverage: t.coverage,
    filtered: c.filtered,
    otherReports: c.otherReports,
    invalid: c.invalid,
    ...(c.invalidReasons ? { invalidReasons: c.invalidReasons } : {}),
    sdkDropped: c.sdkDropped,
    limits,
  };
}
