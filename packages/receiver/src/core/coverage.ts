import type { Coverage, StreamCounts } from '@csp-lens/schema';
import type { CoverageKind } from './types.js';

// Coverage: which streams saw a record (or a group's records). One definition, two spellings that
// the API already has: the `coverage` filter's (`sdk-only`) and the stats' keys (`sdkOnly`).

/** The `coverage` filter's values (read API, dashboard, both stores). */
export const COVERAGES = ['merged', 'sdk-only', 'native-only'] as const satisfies readonly CoverageKind[];

const KEYS = { merged: 'merged', 'sdk-only': 'sdkOnly', 'native-only': 'nativeOnly' } as const satisfies Record<CoverageKind, keyof Coverage>;

/** A record's coverage: the SDK and a native stream, the SDK only, or native reports only. */
export function coverageOf(sources: StreamCounts): CoverageKind {
  const native = sources.reportUri + sources.reportTo > 0;
  return sources.sdk > 0 ? (native ? 'merged' : 'sdk-only') : 'native-only';
}

/** A group's: merged when any of its records is, else SDK-only when the SDK saw any. */
export function groupCoverage(g: { merged: number; sources: StreamCounts }): CoverageKind {
  return g.merged > 0 ? 'merged' : g.sources.sdk > 0 ? 'sdk-only' : 'native-only';
}

/** The stats' key for a coverage (`sdk-only` → `sdkOnly`). */
export const coverageKey = (kind: CoverageKind): keyof Coverage => KEYS[kind];
