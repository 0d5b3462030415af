// Delivery of webhook bodies, off the ingest path: one queue and one request at a time per webhook,
// so a slow endpoint delays only its own alerts, and a full queue drops (and counts) instead of
// growing. Retries back off exponentially, for a bounded number of attempts.

export interface SenderOptions {
  fetch?: typeof fetch;
  /** Waits between attempts; tests pass one that advances a fake clock. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Alerts waiting per webhook; past it new ones are dropped and counted. Default 100. */
  maxQueue?: number;
  /** Attempts per alert, the first included. Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry, doubled each time (capped at 5 min). Default 1 s. */
  backoffMs?: number;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  log?: (message: string) => void;
}

interface Queue {
  url: string;
  jobs: (() => string)[];
  busy: boolean;
}

const MAX_DELAY = 300_000;

const realSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Retry-After in seconds (RFC 9110 §10.2.3); HTTP dates are rare on webhooks and ignored. */
const retryAfter = (res: Response) => {
  const s = Number(res.headers.get('retry-after'));
  return Number.isFinite(s) && s > 0 ? s * 1000 : 0;
};

export function createSender(o: SenderOptions) {
  const doFetch = o.fetch ?? fetch;
  const sleep = o.sleep ?? realSleep;
  const log = o.log ?? ((m: string) => console.error(m));
  const maxQueue = o.maxQueue ?? 100;
  const maxAttempts = Math.max(1, o.maxAttempts ?? 5);
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

  async function deliver(url: string, body: string): Promise<void> {
    let delay = o.backoffMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      let why: string;
      let wait = 0;
      try {
        const res = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'csp-lens' },
          body,
          redirect: 'error',
          signal: AbortSignal.any([stop.signal, AbortSignal.timeout(o.timeoutMs ?? 10_000)]),
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) return void counts.sent++;
        why = `HTTP ${res.status}`;
        // Other 4xx mean the request itself is wrong (a revoked Slack hook says 404/410): don't insist.
        if (res.status !== 429 && res.status !== 408 && res.status < 500) attempt = maxAttempts;
        wait = retryAfter(res);
      } catch (e) {
        why = (e as Error).message;
      }
      if (stop.signal.aborted) return;
      if (attempt >= maxAttempts) {
        counts.failed++;
        log(`csp-lens: webhook ${new URL(url).host} failed after ${attempt} attempt(s): ${why}`);
        return;
      }
      await sleep(Math.min(MAX_DELAY, Math.max(delay, wait)), stop.signal);
      delay *= 2;
      if (stop.signal.aborted) return;
    }
  }

  function pump(q: Queue): void {
    if (q.busy || stop.signal.aborted) return settle();
    const job = q.jobs.shift();
    if (!job) return settle();
    q.busy = true;
    void deliver(q.url, job())
      .catch((e) => log(`csp-lens: webhook: ${(e as Error).message}`))
      .finally(() => {
        q.busy = false;
        pump(q);
      });
  }

  return {
    get closed() {
      return stop.signal.aborted;
    },
    /** Queues a body (built lazily, off the caller's path) for webhook `id`; never blocks. */
    enqueue(id: number, url: string, body: () => string): void {
      if (stop.signal.aborted) return;
      let q = queues.get(id);
      if (!q) queues.set(id, (q = { url, jobs: [], busy: false }));
      if (q.jobs.length >= maxQueue) return void counts.dropped++;
      q.jobs.push(body);
      // Start on a later tick: the caller (ingest) returns before any request work begins.
      const started = q;
      setImmediate(() => pump(started));
    },
    idle: () => (isIdle() ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    /** Stops at once: queued alerts are dropped, requests in flight aborted. */
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
