import type { NormalizedViolation } from '@csp-lens/schema';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import type { CoreOptions } from '../../packages/receiver/src/core/options.js';
import type { StoredViolation } from '../../packages/receiver/src/core/types.js';

/**
 * A store's verdicts without a store: violations through a real in-memory state (its merge, its
 * groups, which of them are new), for outputs that take what an append stored.
 */
export function storing(options: CoreOptions = {}): (violations: NormalizedViolation[]) => StoredViolation[] {
  const state = createState(emptyData(), { groupCapPerMinute: 1_000_000, ...options });
  // Copies: the state keeps (and interns into) what it is given.
  return (violations) => state.ingest({ violations: violations.map((v) => ({ ...v })), otherReports: {}, invalid: 0 }).stored;
}
