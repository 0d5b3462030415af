import type { IngestBatch } from './types.js';
import { type SeverityOverrides, checkSeverityOverrides, matchOverride } from './severity.js';

/**
 * How the merge and the live window behave: one set of options, one set of defaults, for every
 * store (the file store adds its files, PostgreSQL its connection).
 */
export interface CoreOptions {
  /** ms within which an SDK event and a native report can be one violation (DESIGN §4). Default 10,000. */
  mergeWindowMs?: number;
  /** Live records kept; older ones move to the archive. Default 10,000. */
  maxRecords?: number;
  /** New groups a minute before the overflow group takes the rest (critical ones never go there). Default 100. */
  groupCapPerMinute?: number;
  /** Groups without a live record kept, the most recently seen; older ones are let go. Default 10,000. */
  maxGroups?: number;
  /**
   * UTF-8 bytes of live content (records, groups, policy texts, page contexts) kept in memory and in
   * the file store's live file; past it the oldest records of the client holding the most go to
   * the archive early. Default 64 MiB, at most 256 MiB (the live file is read back whole).
   */
  maxLiveBytes?: number;
  /**
   * Severity rules of your own over the built-in ones (core/severity.ts): selector → severity, like
   * `{ 'connect-src': 'high', 'script-src:inline': 'critical', '*:external': 'low' }`. Applied as a
   * violation is stored; a group keeps the highest severity it has seen.
   */
  severity?: SeverityOverrides;
}

export const CORE_DEFAULTS: Required<CoreOptions> = {
  mergeWindowMs: 10_000,
  maxRecords: 10_000,
  groupCapPerMinute: 100,
  maxGroups: 10_000,
  maxLiveBytes: 64 * 1024 * 1024,
  severity: {},
};

type Numeric = Exclude<keyof CoreOptions, 'severity'>;

const LIMITS: Record<Numeric, [number, number]> = {
  mergeWindowMs: [0, 24 * 3_600_000],
  maxRecords: [1, Number.MAX_SAFE_INTEGER],
  groupCapPerMinute: [1, Number.MAX_SAFE_INTEGER],
  maxGroups: [1, Number.MAX_SAFE_INTEGER],
  maxLiveBytes: [1024 * 1024, 256 * 1024 * 1024],
};

/** The options with their defaults filled in; a value out of range throws at start. */
export function coreOptions(o: CoreOptions = {}): Required<CoreOptions> {
  const out = { ...CORE_DEFAULTS };
  out.severity = checkSeverityOverrides(o.severity);
  for (const key of Object.keys(LIMITS) as Numeric[]) {
    const v = o[key];
    if (v === undefined) continue;
    const [min, max] = LIMITS[key];
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new Error(`csp-lens: ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  return out;
}

/** Applies the severity rules of `CoreOptions.severity` to a batch before it is stored (both stores). */
export function applySeverity(batch: IngestBatch, rules: SeverityOverrides): void {
  if (!Object.keys(rules).length) return;
  for (const v of batch.violations) {
    const own = matchOverride(rules, v.effectiveDirective, v.category);
    if (own) v.severity = own[1];
  }
}
