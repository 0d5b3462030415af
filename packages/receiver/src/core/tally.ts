import type { HourBucket, Stats, ViolationRecord } from '@csp-lens/schema';
import { coverageKey, coverageOf } from './coverage.js';

// Pure: the file store counts with it directly, PostgreSQL over the columns it selects, so the two
// stores' /api/stats can never disagree.

export const HOUR = 3_600_000;

export interface Tally {
  /** Occurrences per hour, by severity, oldest hour first. */
  hours: HourBucket[];
  /** Records per stream coverage, overall and per directive. */
  coverage: Stats['coverage'];
  records: number;
  /** Occurrences (sum of counts). */
  violations: number;
}


/** Per-hour counts and stream coverage of `records` (those `keep` accepts). */
export function tally(records: Iterable<ViolationRecord>, keep?: (r: ViolationRecord) => boolean): Tally {
  const hours = new Map<number, HourBucket>();
  // A null prototype: a directive named `constructor` or `__proto__` must not find Object's.
  const coverage: Stats['coverage'] = { merged: 0, sdkOnly: 0, nativeOnly: 0, byDirective: Object.create(null) };
  let n = 0;
  let violations = 0;
  for (const r of records) {
    if (keep && !keep(r)) continue;
    n++;
    violations += r.count;
    const hour = Math.floor(r.occurredAt / HOUR) * HOUR;
    let h = hours.get(hour);
    if (!h) hours.set(hour, (h = { hour, total: 0, bySeverity: { critical: 0, high: 0, medium: 0, low: 0 } }));
    h.total += r.count;
    if (Object.hasOwn(h.bySeverity, r.severity)) h.bySeverity[r.severity] += r.count;
    const kind = coverageKey(coverageOf(r.sources));
    coverage[kind]++;
    (coverage.byDirective[r.effectiveDirective] ??= { merged: 0, sdkOnly: 0, nativeOnly: 0 })[kind]++;
  }
  return { hours: [...hours.values()].sort((a, b) => a.hour - b.hour), coverage, records: n, violations };
}
