import type { GroupPage, HourBucket, Stats, ViolationGroup } from '@csp-lens/schema';
import { get } from './api.js';
import { bounds, narrowed, type View } from './state.js';
import { coverageTotal, HOUR } from './format.js';
import type { SeverityOverrides } from '../../core/severity.js';
import { loadSignals, type Signals } from './signals.js';

export interface Overview {
  severity: SeverityInfo;
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

const filters = (v: View) => ({ directive: v.directive, severity: v.severity, disposition: v.disposition, coverage: v.coverage, q: v.q });

const groupQuery = (v: View, since?: number) => ({
  sort: 'severity',
  limit: 100,
  ...filters(v),
  document: v.document,
  since,
  status: v.status,
  newSince: v.fresh ? since : undefined,
  release: v.release,
});

export interface SeverityInfo {
  rules: { severity: string; when: string; why: string }[];
  overrides: SeverityOverrides;
}

let severityInfo: Promise<SeverityInfo> | undefined;
/** The receiver's severity rules: asked once per page (they change only with a restart). */
export const loadSeverity = (): Promise<SeverityInfo> =>
  (severityInfo ??= get<SeverityInfo>('/severity').catch((e) => {
    severityInfo = undefined;
    throw e;
  }));

/** The chart and coverage count the records the filters select, on the server (all of them, exactly). */
export async function loadOverview(v: View, now = Date.now()): Promise<Overview> {
  const { since } = bounds(v.range, now);
  const [severity, all, groups, selected, signals] = await Promise.all([
    loadSeverity(),
    get<Stats>('/stats', { since }),
    get<GroupPage>('/groups', groupQuery(v, since)),
    narrowed(v) ? get<Stats>('/stats', { since, ...filters(v), document: v.document }) : undefined,
    loadSignals(),
  ]);
  const stats = selected ?? all;
  return {
    severity,
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
