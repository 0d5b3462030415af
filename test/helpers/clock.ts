import type { Clock } from '../../packages/receiver/src/store/clock.js';

/** A clock a test advances: its timers run when their time comes, and only then. */
export function manualClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let now = start;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return t;
    },
    clearTimeout: (t) => void timers.delete(t as { at: number; fn: () => void }),
    advance(ms) {
      now += ms;
      for (const t of [...timers].sort((a, b) => a.at - b.at)) {
        if (t.at > now) break;
        timers.delete(t);
        t.fn();
      }
    },
  };
}
