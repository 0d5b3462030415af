/**
 * Time for a store's timers (checkpoints, retries): the real clock, or a test's, which is advanced
 * instead of waited for.
 */
export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; the timer must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};
