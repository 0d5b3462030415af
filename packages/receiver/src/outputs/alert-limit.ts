// Which alerts go out. Per group, so that one noisy group (a decoy critical every 30 s) cannot hold
// back every other group's alerts, as one limit per webhook and reason did; and per webhook, so that
// a flood of distinct groups (free to make) still cannot flood the webhook. What is held back is
// counted, and the next alert of that webhook and reason says how many.

export interface AlertLimitOptions {
  /** At most one alert per webhook, reason and group in this window; 0 turns both limits off. */
  intervalMs: number;
  /** At most this many alerts per webhook in any window of `intervalMs`. */
  maxPerWebhook: number;
  /** Keys remembered at most (the oldest are forgotten). */
  maxTracked: number;
}

export function createAlertLimit(o: AlertLimitOptions) {
  if (!Number.isInteger(o.maxPerWebhook) || o.maxPerWebhook < 1) throw new Error('csp-lens: alerts maxPerWebhook must be an integer ≥ 1');
  /** `webhook reason group` → when its last alert went out, least recent first. */
  const lastSent = new Map<string, number>();
  /** Per webhook: when its alerts of the current window went out, oldest first. */
  const recent = new Map<number, number[]>();
  /** `webhook reason` → alerts held back since the last one sent. */
  const held = new Map<string, number>();
  let suppressed = 0;

  function allowed(hook: number, key: string, now: number): boolean {
    if (o.intervalMs <= 0) return true;
    const prev = lastSent.get(key);
    if (prev !== undefined && now - prev < o.intervalMs) return false;
    const sent = recent.get(hook) ?? [];
    while (sent.length && now - sent[0] >= o.intervalMs) sent.shift();
    if (sent.length >= o.maxPerWebhook) return false;
    sent.push(now);
    recent.set(hook, sent);
    // Only sent alerts are remembered, at most maxPerWebhook per window and webhook; past the bound,
    // the key that alerted longest ago is forgotten first (re-inserting moves a key to the end).
    lastSent.delete(key);
    lastSent.set(key, now);
    if (lastSent.size > o.maxTracked) lastSent.delete(lastSent.keys().next().value as string);
    return true;
  }

  return {
    /**
     * An alert of `reason` for `group` to webhook `hook`: undefined when held back, else how many of
     * that webhook and reason were held back since the last one sent (0 for none).
     */
    take(hook: number, reason: string, group: string, now: number): number | undefined {
      const counter = `${hook} ${reason}`;
      if (!allowed(hook, `${counter} ${group}`, now)) {
        held.set(counter, (held.get(counter) ?? 0) + 1);
        suppressed++;
        return undefined;
      }
      const before = held.get(counter) ?? 0;
      held.delete(counter);
      return before;
    },
    suppressed: () => suppressed,
  };
}
