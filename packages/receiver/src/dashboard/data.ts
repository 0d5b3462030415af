import type { GroupPage, HourBucket, Stats, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { get } from './api.js';
import { bounds, narrowed, type View } from './state.js';
import { HOUR } from './format.js';
import { coverageKind, tally } from '../tally.js';

/** Records read to draw a filtered chart; past this the chart says it is a sample. */
const SAMPLE_PAGES = 4;

export interface Overview {
  groups: ViolationGroup[];
  next?: string;
  hours: HourBucket[];
  coverage: Stats['coverage'];
  violations: number;
  records: number;
  /** Set when the chart and coverage come from the newest N matching records only. */
  sampled?: number;
  directives: string[];
  from: number;
  to: number;
}

const groupQuery = (v: View, since?: number) => ({
  sort: 'severity',
  limit: 100,
  directive: v.directive,
  severity: v.severity,
  disposition: v.disposition,
  coverage: v.coverage,
  since,
});

export async function loadOverview(v: View, now = Date.now()): Promise<Overview> {
  const { since } = bounds(v.range, now);
  const [stats, groups] = await Promise.all([get<Stats>('/stats', { since }), get<GroupPage>('/groups', groupQuery(v, since))]);
  const out: Overview = {
    groups: groups.items,
    next: groups.next,
    hours: stats.hours,
    coverage: stats.coverage,
    violations: stats.hours.reduce((n, h) => n + h.total, 0),
    records: stats.records,
    directives: Object.keys(stats.coverage.byDirective).sort(),
    from: since ?? stats.hours[0]?.hour ?? now - 24 * HOUR,
    to: now,
  };
  if (!narrowed(v)) return out;
  // Stats cover the whole range; with filters the chart and coverage are counted from the records.
  const records = await matching(v, since);
  const ids = new Set(records.items.map((r) => r.groupId));
  if (v.document) out.groups = out.groups.filter((g) => ids.has(g.id));
  Object.assign(out, summarize(records.items), { sampled: records.more ? records.items.length : undefined });
  return out;
}

export const moreGroups = (v: View, cursor: string, now = Date.now()) =>
  get<GroupPage>('/groups', { ...groupQuery(v, bounds(v.range, now).since), cursor });

async function matching(v: View, since?: number): Promise<{ items: ViolationRecord[]; more: boolean }> {
  const items: ViolationRecord[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < SAMPLE_PAGES; i++) {
    const page = await get<ViolationPage>('/violations', {
      directive: v.directive,
      severity: v.severity,
      disposition: v.disposition,
      document: v.document,
      since,
      limit: 500,
      cursor,
    });
    items.push(...page.items.filter((r) => !v.coverage || coverageOf(r) === v.coverage));
    cursor = page.next;
    if (!cursor) return { items, more: false };
  }
  return { items, more: true };
}

const KIND = { merged: 'merged', sdkOnly: 'sdk-only', nativeOnly: 'native-only' } as const;

export const coverageOf = (r: ViolationRecord): 'merged' | 'sdk-only' | 'native-only' => KIND[coverageKind(r)];

/** The same numbers `/api/stats` computes (the same function), over a list of records. */
export function summarize(records: ViolationRecord[]): Pick<Overview, 'hours' | 'coverage' | 'violations' | 'records'> {
  const { hours, coverage, violations } = tally(records);
  return { hours, coverage, violations, records: records.length };
}
