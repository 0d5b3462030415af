import { describe, expect, it, vi } from 'vitest';
import type { GroupPage, NormalizedViolation } from '@csp-lens/schema';
import { createAlerts, type AlertsOptions } from '../../packages/receiver/src/outputs/alerts.js';
import { slackEscape } from '../../packages/receiver/src/outputs/alert-body.js';
import { startTestServer } from '../helpers/server.js';
import { storing } from '../helpers/stored.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const HOUR = 3_600_000;

function violation(over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'reportUri',
    documentURL: 'https://shop.example/checkout',
    effectiveDirective: 'img-src',
    blockedURL: 'https://cdn.tracker.example/pixel.gif',
    disposition: 'enforce',
    occurredAt: T0,
    receivedAt: T0,
    count: 1,
    category: 'external',
    severity: 'medium',
    ...over,
  };
}

interface Call {
  url: string;
  body: Record<string, unknown>;
}

/** A webhook double: answers with `statuses` in turn (then 200), or never when `hang`. */
function harness(options: Partial<AlertsOptions> & { statuses?: number[]; hang?: (url: string) => boolean } = {}) {
  let now = T0;
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const logs: string[] = [];
  const statuses = [...(options.statuses ?? [])];
  const fakeFetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, body: JSON.parse(String(init.body)) });
    if (options.hang?.(url)) return new Promise<Response>(() => {});
    return new Response(null, { status: statuses.shift() ?? 200 });
  }) as unknown as typeof fetch;
  const alerts = createAlerts({
    webhooks: [{ url: 'https://hooks.example/a', format: 'json' }],
    fetch: fakeFetch,
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    log: (m) => logs.push(m),
    ...options,
  });
  // Violations go through a store's state first: alerts get what it stored (groups, which are new).
  const stored = storing();
  return {
    alerts,
    calls,
    sleeps,
    logs,
    /** Stored without alerts: what the store already held. */
    seed: (vs: NormalizedViolation[]) => void stored(vs),
    store: (vs: NormalizedViolation[]) => alerts.onStored(stored(vs)),
    advance: (ms: number) => (now += ms),
    events: () => calls.map((c) => c.body.event),
  };
}

describe('alerts', () => {
  it('fires once for a new group, not for groups already stored', async () => {
    const h = harness();
    h.store([violation(), violation({ documentURL: 'https://shop.example/cart' })]);
    h.advance(120_000);
    h.store([violation()]);
    await h.alerts.idle();
    expect(h.events()).toEqual(['new-group']);
    const body = h.calls[0].body as { group: { id: string; blocked: string }; violation: NormalizedViolation; at: string };
    expect(body.group).toMatchObject({ id: expect.stringMatching(/^g[0-9a-f]{16}$/), blocked: 'https://cdn.tracker.example', effectiveDirective: 'img-src' });
    expect(body.violation.documentURL).toBe('https://shop.example/checkout');
    expect(body.at).toBe(new Date(T0).toISOString());

    const seeded = harness();
    seeded.seed([violation()]);
    seeded.store([violation()]);
    await seeded.alerts.idle();
    expect(seeded.calls).toEqual([]);
  });

  it('fires on a critical violation, for webhooks that want it', async () => {
    const h = harness({ webhooks: [{ url: 'https://hooks.example/crit', format: 'json', on: ['critical'] }] });
    h.store([violation(), violation({ effectiveDirective: 'connect-src', blockedURL: 'https://exfil.example/c', severity: 'critical' })]);
    await h.alerts.idle();
    expect(h.calls.map((c) => [c.url, c.body.event])).toEqual([['https://hooks.example/crit', 'critical']]);
  });

  it('sends a new critical group as one alert to a webhook that wants both', async () => {
    const h = harness({ minIntervalMs: 0 });
    const critical = violation({ effectiveDirective: 'connect-src', blockedURL: 'https://exfil.example/c', severity: 'critical' });
    h.store([critical]);
    h.store([critical]);
    await h.alerts.idle();
    expect(h.events()).toEqual(['new-group', 'critical']);
    expect((h.calls[0].body.group as { severity: string }).severity).toBe('critical');
  });

  it("fires on a spike: an hour far above the group's trailing average, once per hour", async () => {
    const h = harness({ webhooks: [{ url: 'https://hooks.example/s', format: 'json', on: ['spike'] }], spike: { factor: 10, minCount: 20 } });
    for (let hour = 0; hour < 6; hour++) {
      h.store([violation({ count: 2 })]);
      h.advance(HOUR);
    }
    h.store([violation({ count: 15 })]); // 15 < minCount
    await h.alerts.idle();
    expect(h.calls).toEqual([]);
    h.store([violation({ count: 10 })]); // 25 this hour vs 2/h
    h.store([violation({ count: 50 })]);
    await h.alerts.idle();
    expect(h.calls.map((c) => c.body)).toEqual([expect.objectContaining({ event: 'spike', spike: { count: 25, average: 2 } })]);
  });

  it('caps the alerts per webhook, and says how many it held back', async () => {
    const h = harness({ minIntervalMs: 60_000, maxPerWebhook: 1 });
    const other = (n: number) => violation({ blockedURL: `https://host${n}.example/x` });
    h.store([other(1), other(2), other(3)]);
    h.advance(30_000);
    h.store([other(4)]);
    h.advance(31_000);
    h.store([other(5)]);
    await h.alerts.idle();
    expect(h.calls.map((c) => [c.body.event, c.body.suppressed])).toEqual([['new-group', undefined], ['new-group', 3]]);
    expect(h.alerts.stats()).toMatchObject({ sent: 2, suppressed: 3 });
  });

  // Issue 12: one key per webhook and reason let a decoy critical every < 60 s keep the webhook
  // describing only the decoy.
  it('rate-limits per group: a decoy critical group every 30 s does not silence another group', async () => {
    const h = harness({ webhooks: [{ url: 'https://hooks.example/crit', format: 'json', on: ['critical'] }] });
    const decoy = violation({ effectiveDirective: 'connect-src', blockedURL: 'https://decoy.example/c', severity: 'critical' });
    const real = violation({ effectiveDirective: 'script-src-elem', blockedURL: 'https://skimmer.example/pay.js', severity: 'critical' });
    for (let k = 0; k < 6; k++) {
      h.store([decoy]); // t = 0, 30, 60, 90, 120, 150 s
      if (k === 1) {
        h.advance(15_000);
        h.store([real]); // t = 45 s, between two decoys
        h.advance(15_000);
      } else h.advance(30_000);
    }
    await h.alerts.idle();
    const sent = h.calls.map((c) => [(c.body.group as { blocked: string }).blocked, c.body.suppressed]);
    expect(sent.filter(([b]) => b === 'https://skimmer.example')).toEqual([['https://skimmer.example', 1]]);
    // The decoy still alerts, once a minute: at 0, 60 and 120 s.
    expect(sent.filter(([b]) => b === 'https://decoy.example')).toHaveLength(3);
    expect(h.alerts.stats()).toMatchObject({ sent: 4, suppressed: 3 });
  });

  it('still caps a flood of distinct groups per webhook, and the next alert counts what it held back', async () => {
    const h = harness({ webhooks: [{ url: 'https://hooks.example/crit', format: 'json', on: ['critical'] }] });
    const flood = Array.from({ length: 1000 }, (_, i) => violation({ blockedURL: `https://h${i}.example/x`, severity: 'critical' }));
    h.store(flood);
    h.advance(30_000);
    h.store(flood.slice(0, 100).map((v) => ({ ...v, blockedURL: `${v.blockedURL}?again` })));
    await h.alerts.idle();
    expect(h.calls).toHaveLength(10);
    h.advance(31_000);
    h.store([violation({ blockedURL: 'https://late.example/x', severity: 'critical' })]);
    await h.alerts.idle();
    expect(h.calls).toHaveLength(11);
    expect(h.calls[10].body).toMatchObject({ event: 'critical', suppressed: 1090, group: { blocked: 'https://late.example' } });
    expect(h.alerts.stats()).toMatchObject({ sent: 11, suppressed: 1090 });
  });

  it('retries a 500 with exponential backoff, then gives up after the last attempt', async () => {
    const h = harness({ statuses: [500, 503], backoffMs: 1000 });
    h.store([violation()]);
    await h.alerts.idle();
    expect(h.calls).toHaveLength(3);
    expect(h.sleeps).toEqual([1000, 2000]);
    expect(h.alerts.stats()).toMatchObject({ sent: 1, failed: 0 });

    const down = harness({ statuses: [500, 500, 500, 500], maxAttempts: 4, backoffMs: 500 });
    down.store([violation()]);
    await down.alerts.idle();
    expect(down.sleeps).toEqual([500, 1000, 2000]);
    expect(down.alerts.stats()).toMatchObject({ sent: 0, failed: 1 });
    expect(down.logs).toEqual(['csp-lens: webhook hooks.example failed after 4 attempt(s): HTTP 500']);

    const gone = harness({ statuses: [410] });
    gone.store([violation()]);
    await gone.alerts.idle();
    expect([gone.calls.length, gone.sleeps]).toEqual([1, []]);
  });

  it('never holds up ingest: a hanging webhook only fills its own bounded queue', async () => {
    const h = harness({
      hang: (url) => url.endsWith('/hangs'),
      maxQueue: 5,
      minIntervalMs: 0,
      webhooks: [
        { url: 'https://hooks.example/hangs', format: 'json' },
        { url: 'https://hooks.example/works', format: 'json', on: ['critical'] },
      ],
    });
    const many = Array.from({ length: 2000 }, (_, i) => violation({ blockedURL: `https://h${i}.example/` }));
    h.store(many);
    // Counted and queued, no request begun: the network is never on the caller's path.
    expect(h.calls).toHaveLength(0);
    expect(h.alerts.stats().dropped).toBe(2000 - 5);
    await vi.waitFor(() => expect(h.calls).toHaveLength(1)); // one in flight, hanging; 5 wait behind it
    // The other webhook is not stuck behind it.
    h.store([violation({ severity: 'critical' })]);
    await vi.waitFor(() => expect(h.alerts.stats().sent).toBe(1));
    expect(h.calls.map((c) => c.url)).toEqual(['https://hooks.example/hangs', 'https://hooks.example/works']);
    await h.alerts.close(); // does not wait for the hung request
  });

  it('escapes attacker text in Slack bodies: no mentions, links or extra lines', async () => {
    const hostile = '<!channel> @here <@U024BE7LH> <https://evil.example|click me> & `x`\n*fake line*';
    const h = harness({ webhooks: [{ url: 'https://hooks.slack.com/services/T/B/X', format: 'slack' }] });
    h.store([violation({ documentURL: `https://shop.example/?q=${hostile}`, blockedURL: hostile, sample: hostile, effectiveDirective: 'script-src' })]);
    await h.alerts.idle();
    const body = h.calls[0].body as { text: string; blocks: unknown[]; unfurl_links: boolean };
    const all = JSON.stringify(body);
    expect(all).not.toMatch(/<!|<@|<https?:|@here|@channel/);
    expect(body.text).toContain('&lt;!channel&gt;');
    expect(body.text).toContain('&amp;');
    expect(body.text.split('\n').every((l) => !l.startsWith('*fake'))).toBe(true);
    expect(body.unfurl_links).toBe(false);
    expect(slackEscape('a@channel')).toBe('a@\u200dchannel');
  });

  it('refuses a webhook that is not an http(s) URL, and a per-webhook cap that is no count', () => {
    expect(() => createAlerts({ webhooks: [{ url: 'file:///etc/passwd', format: 'json' }] })).toThrow(/csp-lens: a webhook must be an http\(s\) URL/);
    for (const maxPerWebhook of [0, 1.5, Number.NaN]) expect(() => createAlerts({ webhooks: [], maxPerWebhook })).toThrow(/^csp-lens: alerts maxPerWebhook/);
  });

  it("names the group the store put the violation in", async () => {
    const h = harness();
    const t = await startTestServer({ onStored: h.alerts.onStored });
    try {
      const report = { 'csp-report': { 'document-uri': 'https://a.example/', 'effective-directive': 'img-src', 'blocked-uri': 'https://b.example/x.png', disposition: 'enforce' } };
      expect((await t.post('/report', JSON.stringify(report), 'application/csp-report')).status).toBe(204);
      await h.alerts.idle();
      const groups = (await (await t.api('/groups')).json()) as GroupPage;
      expect((h.calls[0].body.group as { id: string }).id).toBe(groups.items[0].id);
    } finally {
      await t.close();
    }
  });
});
