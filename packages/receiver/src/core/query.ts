import { seqOf } from './records.js';
import type {
  GroupPage,
  Stats,
  ViolationGroup,
  ViolationPage,
  ViolationRecord,
} from '@csp-lens/schema';
import type { GroupQuery, RecordFilter, ViolationQuery } from './types.js';
import { severityRank } from './group.js';
import type { Counters } from './state.js';
import { tally } from './tally.js';
import { coverageOf, groupCoverage } from './coverage.js';
import { documentFilter, documentMatches, searchMatcher } from './match.js';
import { statusMatches, withEffectiveTriage } from './triage.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;


/** The records a filter selects (undefined: all of them), for both the pages and the counts. */
export function recordFilter(q: RecordFilter): ((r: ViolationRecord) => boolean) | undefined {
  const { directive, source, coverage, groupId, disposition, severity, since, until } = q;
  const doc = q.document ? documentFilter(q.document) : undefined;
  const search = q.q ? searchMatcher(q.q) : undefined;
  if (!(directive || source || coverage || groupId || doc || search || disposition || severity) && since === undefined && until === undefined) return undefined;
  return (r) =>
    (!directive || r.effectiveDirective === directive) &&
    (!source || r.sources[source] > 0) &&
    (!coverage || coverageOf(r.sources) === coverage) &&
    (!groupId || r.groupId === groupId) &&
    (!doc || documentMatches(doc, r.documentURL)) &&
    (!search || search(r)) &&
    (!disposition || r.disposition === disposition) &&
    (!severity || r.severity === severity) &&
    (since === undefined || r.occurredAt >= since) &&
    (until === undefined || r.occurredAt < until);
}

/** Newest first by record id; the cursor is the last id of the previous page. */
export function queryViolations(records: Iterable<ViolationRecord>, q: ViolationQuery): ViolationPage {
  const limit = clampLimit(q.limit);
  const before = q.cursor ? seqOf(q.cursor) : Infinity;
  const keep = recordFilter(q);
  const items: ViolationRecord[] = [];
  for (const r of records) {
    if (seqOf(r.id) >= before || (keep && !keep(r))) continue;
    items.push(r);
  }
  items.sort((a, b) => seqOf(b.id) - seqOf(a.id));
  const page = items.slice(0, limit);
  return items.length > limit ? { items: page, next: page[page.length - 1].id } : { items: page };
}


const SORTS: Record<NonNullable<GroupQuery['sort']>, (a: ViolationGroup, b: ViolationGroup) => number> = {
  lastSeen: (a, b) => b.lastSeen - a.lastSeen,
  count: (a, b) => b.count - a.count || b.lastSeen - a.lastSeen,
  reach: (a, b) => b.reach.pageViews - a.reach.pageViews || b.count - a.count,
  severity: (a, b) =>
    severityRank(b.severity) - severityRank(a.severity) || b.reach.pageViews - a.reach.pageViews || b.lastSeen - a.lastSeen,
};

/** The groups with a live record the query's `document` and `q` select (GroupQuery), or undefined when it has neither. */
export function groupsOn(records: Iterable<ViolationRecord>, q: Pick<GroupQuery, 'document' | 'q'>): Set<string> | undefined {
  if (!q.document && !q.q) return undefined;
  const keep = recordFilter({ document: q.document, q: q.q })!;
  const ids = new Set<string>();
  for (const r of records) if (keep(r)) ids.add(r.groupId);
  return ids;
}

/** A group is new in a release when its first occurrence came from it: the release's violation within this of `firstSeen`. */
export const NEW_IN_RELEASE_MS = 60_000;

export const isNewIn = (g: ViolationGroup, release: string): boolean =>
  g.firstRelease === release && g.firstReleaseAt !== undefined && g.firstReleaseAt <= g.firstSeen + NEW_IN_RELEASE_MS;

/**
 * Groups sorted and filtered, each with its triage state as it reads at `q.now`; the cursor is an
 * offset (groups are few and change in place). `only`: the groups `q.document` and `q.q` leave
 * (see `groupsOn`; a database finds them itself).
 */
export function queryGroups(groups: Record<string, ViolationGroup>, q: GroupQuery, only?: Set<string>): GroupPage {
  const limit = clampLimit(q.limit);
  const offset = q.cursor ? Math.max(0, parseInt(q.cursor, 10) || 0) : 0;
  const now = q.now ?? Date.now();
  const items = Object.values(groups)
    .filter(
      (g) =>
        g.records > 0 &&
        (!only || only.has(g.id)) &&
        (!q.directive || g.effectiveDirective === q.directive) &&
        (!q.severity || g.severity === q.severity) &&
        (!q.disposition || g.dispositions.includes(q.disposition)) &&
        (!q.coverage || groupCoverage(g) === q.coverage) &&
        (q.since === undefined || g.lastSeen >= q.since) &&
        (q.until === undefined || g.firstSeen < q.until) &&
        (q.newSince === undefined || g.firstSeen >= q.newSince) &&
        (q.release === undefined || isNewIn(g, q.release)),
    )
    .map((g) => withEffectiveTriage(g, now))
    .filter((g) => statusMatches(g.triage, q.status));
  items.sort(SORTS[q.sort ?? 'severity']);
  const page = items.slice(offset, offset + limit);
  return offset + limit < items.length ? { items: page, next: String(offset + limit) } : { items: page };
}

/** Per-hour counts and stream coverage over the live records the filter selects. */
export function computeStats(records: Iterable<ViolationRecord>, groups: number, counters: Counters, q: RecordFilter): Stats {
  const t = tally(records, recordFilter(q));
  return {
    records: t.records,
    archived: counters.archived,
    groups,
    hours: t.hours,
    coverage: t.coverage,
    filtered: counters.filtered,
    otherReports: counters.otherReports,
    invalid: counters.invalid,
    ...(counters.invalidReasons ? { invalidReasons: counters.invalidReasons } : {}),
    sdkDropped: counters.sdkDropped,
  };
}

export function clampLimit(limit: number | undefined): number {
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit ?? DEFAULT_LIMIT) || DEFAULT_LIMIT));
}
