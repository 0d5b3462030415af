import type { Coverage, GroupPage, HourBucket, Stats, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { get } from './api.js';
import { bounds, narrowed, type View } from './state.js';
import { HOUR } from './format.js';

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

export function coverageOf(r: ViolationRecord): 'merged' | 'sdk-only' | 'native-only' {
  const native = r.sources.reportUri + r.sources.reportTo > 0;
  return r.sources.sdk > 0 ? (native ? 'merged' : 'sdk-only') : 'native-only';
}

const KIND = { merged: 'merged', 'sdk-only': 'sdkOnly', 'native-only': 'nativeOnly' } as const;

/** The same numbers `/api/stats` computes, over a list of records. */
export function summarize(records: ViolationRecord[]): Pick<Overview, 'hours' | 'coverage' | 'violations' | 'records'> {
  const hours = new Map<number, HourBucket>();
  // A null prototype: a directive named `constructor` must not find Object's.
  const coverage: Stats['coverage'] = { merged: 0, sdkOnly: 0, nativeOnly: 0, byDirective: Object.create(null) };
  let violations = 0;
  for (const r of records) {
    const hour = Math.floor(r.occurredAt / HOUR) * HOUR;
    let b = hours.get(hour);
    if (!b) hours.set(hour, (b = { hour, total: 0, bySeverity: { critical: 0, high: 0, medium: 0, low: 0 } }));
    b.total += r.count;
    if (Object.hasOwn(b.bySeverity, r.severity)) b.bySeverity[r.severity] += r.count;
    violations += r.count;
    const kind = KIND[coverageOf(r)];
    coverage[kind]++;
    const d: Coverage = (coverage.byDirective[r.effectiveDirective] ??= { merged: 0, sdkOnly: 0, nativeOnly: 0 });
    d[kind]++;
  }
  return { hours: [...hours.values()].sort((a, b) => a.hour - b.hour), coverage, violations, records: records.length };
}
