/**
 * Token bucket per client: `rate` requests per second sustained, bursts up to `burst`. A page can
 * legitimately fire ~100 report-uri POSTs at once (Chromium's per-document burst), so the default
 * burst is generous. The table is bounded: the least recently seen clients are forgotten first.
 */
export function createRateLimiter(rate: number, opts: { burst?: number; maxClients?: number; clock?: () => number } = {}) {
  const burst = opts.burst ?? Math.max(rate * 4, 200);
  const maxClients = opts.maxClients ?? 50_000;
  const clock = opts.clock ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes one token; returns 0 when allowed, else the seconds to wait before retrying. */
  return function take(client: string): number {
    if (rate <= 0) return 0;
    const now = clock();
    let b = buckets.get(client);
    if (b) {
      buckets.delete(client); // re-insert: Map order doubles as least-recently-seen order
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
      b.at = now;
    } else {
      b = { tokens: burst, at: now };
      if (buckets.size >= maxClients) buckets.delete(buckets.keys().next().value!);
    }
    buckets.set(client, b);
    if (b.tokens < 1) return Math.max(1, Math.ceil((1 - b.tokens) / rate));
    b.tokens -= 1;
    return 0;
  };
}
