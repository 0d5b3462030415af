import type { Store } from '../core/types.js';

/**
 * How long a store counts as failing after a write failed that no write has succeeded since. A load
 * balancer that stops sending reports must get the instance back to find out whether the store
 * recovered, so the failure is not held forever.
 */
export const HEALTH_HOLD_MS = 30_000;

export interface WatchedStore extends Store {
  /** false for HEALTH_HOLD_MS after a failed write, until a write succeeds. */
  healthy(): boolean;
}

/** `store`, watched: every append's outcome tells whether it can write (the readiness probe's answer). */
export function withHealth(store: Store, clock: () => number): WatchedStore {
  // The last failed write, while no write has succeeded since.
  let failedAt: number | undefined;
  return {
    ...store,
    async append(batch, filtered, options) {
      try {
        const stored = await store.append(batch, filtered, options);
        failedAt = undefined;
        return stored;
      } catch (e) {
        failedAt = clock();
        throw e;
      }
    },
    healthy: () => failedAt === undefined || clock() - failedAt >= HEALTH_HOLD_MS,
  };
}
