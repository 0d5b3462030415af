import type { GroupPage, HourBucket, Stats, ViolationGroup } from '@csp-lens/schema';
import { get } from './api.js';
import { bounds, narrowed, type View } from './state.js';
import { coverageTotal, HOUR } from './format.js';
import { loadSignals, type Signals } from './signals.js';

export interface Overview {
  groups: ViolationGroup[];
  next?: string;
  hours: HourBucket[];
  coverage: Stats['coverage'];
  violations: number;
  records: number;
  /** Every directive in range with its records, filters aside, most first (the filter bar offers them). */
  directives: [name: string, records: number][];
  /** What arrived but is not stored as violations: store-wide, all time. */
  unstored: Pick<Stats, 'filtered' | 'otherReports' | 'invalid' | 'sdkDropped' | 'limits'>;
  from: number;
  to: number;
  /** What the alert rules fired in the last day (badges). */
  signals: Signals;
}

const filters = (v: View) => ({ directive: v.directive, severity: v.severity, disposition: v.disposition, coverage: v.coverage });

const groupQuery = (v: View, since?: number) => ({ sort: 'severity', limit: 100, ...filters(v), document: v.document, since });

/** The chart and coverage count the records the filters select, on the server (all of them, exactly). */
export async function loadOverview(v: View, now = Date.now()): Promise<Overview> {
  const { since } = bounds(v.range, now);
  const [all, groups, selected, signals] = await Promise.all([
    get<Stats>('/stats', { since }),
    get<GroupPage>('/groups', groupQuery(v, since)),
    narrowed(v) ? get<Stats>('/stats', { since, ...filters(v), document: v.document }) : undefined,
    loadSignals(),
  ]);
  const stats = selected ?? all;
  return {
    groups: groups.items,
    next: groups.next,
    hours: stats.hours,
    coverage: stats.coverage,
    violations: stats.hours.reduce((n, h) => n + h.total, 0),
    records: stats.records,
    directives: Object.entries(all.coverage.byDirective)
      .map(([d, c]): [string, number] => [d, coverageTotal(c)])
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)),
    unstored: { filtered: all.filtered, otherReports: all.otherReports, invalid: all.invalid, sdkDropped: all.sdkDropped, limits: all.limits },
    from: since ?? all.hours[0]?.hour ?? now - 24 * HOUR,
    to: now,
    signals,
  };
}

export const moreGroups = (v: View, cursor: string, now = Date.now()) =>
  get<GroupPage>('/groups', { ...groupQuery(v, bounds(v.range, now).since), cursor });
