import type { BreakdownEntry, Disposition, GroupBreakdown, StreamCounts, ViolationRecord } from '@csp-lens/schema';
import { browserOf } from './browser.js';
import { documentGroup } from './match.js';

// A group's records counted by document, browser, release, stream and disposition. The file store
// feeds it the group's live records; PostgreSQL the rows of a GROUP BY over them (`records` and
// `count` per distinct combination). Either way memory is bounded by the live records (maxRecords).

/** Entries shown per dimension; the rest are summed. */
export const BREAKDOWN_TOP = 10;

export interface BreakdownRow {
  documentURL: string;
  userAgent?: string;
  release?: string;
  disposition: Disposition;
  sources: StreamCounts;
  /** Live records this row stands for, and their occurrences. */
  records: number;
  count: number;
}

export const NO_RELEASE = '(none)';

type Tally = Map<string, { records: number; count: number }>;

function add(t: Tally, key: string, records: number, count: number): void {
  const e = t.get(key);
  if (e) {
    e.records += records;
    e.count += count;
  } else t.set(key, { records, count });
}

// Most occurrences first, then most records, then by name: the same order in both stores.
const order = (a: BreakdownEntry, b: BreakdownEntry) => b.count - a.count || b.records - a.records || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0);

function entries(t: Tally): BreakdownEntry[] {
  return [...t].map(([value, e]) => ({ value, records: e.records, count: e.count })).sort(order);
}

export const recordRow = (r: ViolationRecord): BreakdownRow => ({
  documentURL: r.documentURL,
  userAgent: r.userAgent,
  release: r.page?.release,
  disposition: r.disposition,
  sources: r.sources,
  records: 1,
  count: r.count,
});

export function breakdown(rows: Iterable<BreakdownRow>, top = BREAKDOWN_TOP): GroupBreakdown {
  const documents: Tally = new Map();
  const browsers: Tally = new Map();
  const releases: Tally = new Map();
  const streams: Tally = new Map();
  const dispositions: Tally = new Map();
  let records = 0;
  let count = 0;
  for (const r of rows) {
    records += r.records;
    count += r.count;
    add(documents, documentGroup(r.documentURL), r.records, r.count);
    add(browsers, browserOf(r.userAgent), r.records, r.count);
    add(releases, r.release ?? NO_RELEASE, r.records, r.count);
    add(dispositions, r.disposition, r.records, r.count);
    if (r.sources.sdk > 0) add(streams, 'sdk', r.records, r.count);
    if (r.sources.reportUri > 0) add(streams, 'report-uri', r.records, r.count);
    if (r.sources.reportTo > 0) add(streams, 'report-to', r.records, r.count);
  }
  const out: GroupBreakdown = { records, count, documents: [], browsers: [], releases: [], streams: entries(streams), dispositions: entries(dispositions), rest: {} };
  for (const [name, t] of [['documents', documents], ['browsers', browsers], ['releases', releases]] as const) {
    const all = entries(t);
    out[name] = all.slice(0, top);
    const rest = all.slice(top);
    if (rest.length) out.rest[name] = { values: rest.length, records: rest.reduce((n, e) => n + e.records, 0), count: rest.reduce((n, e) => n + e.count, 0) };
  }
  return out;
}
