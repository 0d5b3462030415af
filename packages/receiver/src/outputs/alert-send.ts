// Delivery off the ingest path, for every output that sends (webhooks, email, syslog): one queue and
// one attempt at a time per destination, so a slow one delays only its own messages, and a full
// queue drops (and counts) instead of growing. Retries back off exponentially, for a bounded number
// of attempts. How one attempt is made is the destination's (`Target`).

/** A destination: how one attempt at delivering a payload is made. */
export interface Target<P = string> {
  /** Names it in log lines: `webhook hooks.example`, `email`, `syslog tcp://collector:601`. */
  name: string;
  /** Resolves once delivered; rejects to retry, or with a `DeliveryError` saying whether to. */
  deliver(payload: P, signal: AbortSignal): Promise<void>;
}

/** A failed attempt: `retry` false when trying again cannot help (a revoked hook, a refused address). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    /** At least this long before the next attempt (Retry-After). */
    readonly waitMs = 0,
  ) {
    super(message);
  }
}

export interface SenderOptions {
  fetch?: typeof fetch;
  /** Waits between attempts; tests pass one that advances a fake clock. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Messages waiting per destination; past it new ones are dropped and counted. Default 100. */
  maxQueue?: number;
  /** Attempts per message, the first included (Infinity: until delivered or closed). Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry, doubled each time up to `maxBackoffMs`. Default 1 s. */
  backoffMs?: number;
  /** Default 5 min. */
  maxBackoffMs?: number;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  log?: (message: string) => void;
}

interface Queue {
  target: Target<unknown>;
  jobs: (() => unknown)[];
  busy: boolean;
  /** A pump is due on the next turn. */
  scheduled: boolean;
}

const realSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export type Sender = ReturnType<typeof createSender>;

export function createSender(o: SenderOptions) {
  const sleep = o.sleep ?? realSleep;
  const log = o.log ?? ((m: string) => console.error(m));
  const maxQueue = o.maxQueue ?? 100;
  const maxAttempts = Math.max(1, o.maxAttempts ?? 5);
  const maxDelay = o.maxBackoffMs ?? 300_000;
  const stop = new AbortController();
  const queues = new Map<number, Queue>();
  const counts = { sent: 0, failed: 0, dropped: 0 };
  let waiters: (() => void)[] = [];

  const isIdle = () => [...queues.values()].every((q) => !q.busy && !q.jobs.length);
  const settle = () => {
    if (!isIdle() && !stop.signal.aborted) return;
    for (const w of waiters) w();
    waiters = [];
  };

  async function deliver(target: Target<unknown>, payload: unknown): Promise<void> {
    let delay = o.backoffMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      let why: string;
      let wait = 0;
      try {
        await target.deliver(payload, stop.signal);
        return void counts.sent++;
      } catch (e) {
        why = (e as Error).message;
        if (e instanceof DeliveryError) {
          if (!e.retry) attempt = maxAttempts;
          wait = e.waitMs;
        }
      }
      if (stop.signal.aborted) return;
      if (attempt >= maxAttempts) {
        counts.failed++;
        log(`csp-lens: ${target.name} failed after ${attempt} attempt(s): ${why}`);
        return;
      }
      await sleep(Math.min(maxDelay, Math.max(delay, wait)), stop.signal);
      delay = Math.min(maxDelay, delay * 2);
      if (stop.signal.aborted) return;
    }
  }

  function pump(q: Queue): void {
    if (q.busy || stop.signal.aborted) return settle();
    const job = q.jobs.shift();
    if (!job) return settle();
    q.busy = true;
    void (async () => deliver(q.target, job()))()
      .catch((e) => log(`csp-lens: ${q.target.name}: ${(e as Error).message}`))
      .finally(() => {
        q.busy = false;
        pump(q);
      });
  }

  return {
    get closed() {
      return stop.signal.aborted;
    },
    /** Queues a payload (built lazily, off the caller's path) for destination `id`; never blocks. */
    enqueue<P>(id: number, target: Target<P>, payload: () => P): void {
      if (stop.signal.aborted) return;
      let q = queues.get(id);
      if (!q) queues.set(id, (q = { target: target as Target<unknown>, jobs: [], busy: false, scheduled: false }));
      if (q.jobs.length >= maxQueue) return void counts.dropped++;
      q.jobs.push(payload);
      if (q.busy || q.scheduled) return;
      // Start on a later tick: the caller (ingest) returns before any delivery work begins.
      const started = q;
      q.scheduled = true;
      setImmediate(() => {
        started.scheduled = false;
        pump(started);
      });
    },
    idle: () => (isIdle() ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    /** Stops at once: queued messages are dropped, attempts in flight aborted. */
    async close(): Promise<void> {
      stop.abort();
      for (const q of queues.values()) {
        counts.dropped += q.jobs.length;
        q.jobs = [];
      }
      settle();
    },
    stats: () => ({ ...counts }),
  };
}
