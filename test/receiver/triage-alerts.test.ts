import { describe, expect, it } from 'vitest';
import type { NormalizedViolation } from '@csp-lens/schema';
import { createAlerts } from '../../packages/receiver/src/outputs/alerts.js';
import { alertBody } from '../../packages/receiver/src/outputs/alert-body.js';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import { groupIdFor } from '../../packages/receiver/src/core/group.js';
import { webhooksFrom } from '../../packages/receiver/src/outputs/index.js';

// A resolved group that comes back is a `regression` alert; an ignored group stays quiet.

const T0 = Date.UTC(2027, 0, 5, 10, 0, 0);

function violation(over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'sdk',
    documentURL: 'https://shop.example/checkout',
    effectiveDirective: 'connect-src',
    blockedURL: 'https://collect.evil.example/x',
    disposition: 'enforce',
    occurredAt: T0,
    receivedAt: T0,
    count: 1,
    category: 'external',
    severity: 'critical',
    page: { id: 'pv_1', url: 'https://shop.example/checkout', release: '2.4.1' },
    ...over,
  };
}

function harness() {
  let now = T0;
  const bodies: Record<string, unknown>[] = [];
  const fakeFetch = (async (_url: string, init: RequestInit) => {
    bodies.push(JSON.parse(String(init.body)));
    return new Response(null, { status: 200 });
  }) as unknown as typeof fetch;
  const alerts = createAlerts({ webhooks: [{ url: 'https://hooks.example/a', format: 'json' }], fetch: fakeFetch, clock: () => now, sleep: async () => {}, log: () => {}, minIntervalMs: 1 });
  const state = createState(emptyData(), { groupCapPerMinute: 1_000_000 });
  const store = (v: NormalizedViolation) => alerts.onStored(state.ingest({ violations: [{ ...v }], otherReports: {}, invalid: 0 }).stored);
  return { alerts, bodies, state, store, advance: (ms: number) => (now += ms), events: () => bodies.map((b) => b.event) };
}

describe('regression alerts', () => {
  it('fires a regression, with who resolved it and the releases, when a resolved group comes back from a newer release', async () => {
    const h = harness();
    h.store(violation());
    h.state.setTriage(groupIdFor(violation()), { status: 'resolved', at: T0 + 1000, by: 'ops <@here>', release: '2.4.1' });
    h.advance(60_000);
    h.store(violation({ occurredAt: T0 + 60_000, receivedAt: T0 + 60_000, page: { id: 'pv_2', url: 'https://shop.example/checkout', release: '2.4.0' } }));
    h.advance(60_000);
    h.store(violation({ occurredAt: T0 + 120_000, receivedAt: T0 + 120_000, page: { id: 'pv_3', url: 'https://shop.example/checkout', release: '2.5.0' } }));
    h.advance(60_000);
    h.store(violation({ occurredAt: T0 + 180_000, receivedAt: T0 + 180_000, page: { id: 'pv_4', url: 'https://shop.example/checkout', release: '2.5.0' } }));
    await h.alerts.idle();
    // new-group first; the 2.4.0 straggler is a critical alert as any; then one regression, then critical again.
    expect(h.events()).toEqual(['new-group', 'critical', 'regression', 'critical']);
    expect(h.bodies[2]).toMatchObject({ event: 'regression', regression: { resolvedAt: T0 + 1000, by: 'ops <@here>', resolvedIn: '2.4.1', release: '2.5.0' } });
  });

  it('says so in Slack, with the resolver’s text escaped', () => {
    const text = JSON.parse(
      alertBody('slack', {
        reason: 'regression',
        group: { id: 'g1', fingerprint: 'f', effectiveDirective: 'connect-src', category: 'external', blocked: 'https://x.example', severity: 'critical' },
        violation: violation(),
        at: new Date(T0).toISOString(),
        regression: { resolvedAt: T0, by: '<!channel> `x`', resolvedIn: '2.4.1', release: '2.5.0' },
      }),
    ).text as string;
    expect(text).toMatch(/^\*Regression: a resolved CSP violation group is back\*/);
    expect(text).toContain('by `&lt;!channel&gt; \'x\'` in release `2.4.1`; seen again in release `2.5.0`');
  });

  it('keeps an ignored group quiet, critical as it is, until the ignore runs out', async () => {
    const h = harness();
    h.store(violation());
    h.state.setTriage(groupIdFor(violation()), { status: 'ignored', at: T0 + 1000, until: T0 + 120_000 });
    h.advance(60_000);
    h.store(violation({ occurredAt: T0 + 60_000, receivedAt: T0 + 60_000 }));
    h.advance(60_000);
    h.store(violation({ occurredAt: T0 + 120_000, receivedAt: T0 + 120_000 }));
    await h.alerts.idle();
    expect(h.events()).toEqual(['new-group', 'critical']);
  });

  it('is one of the reasons --webhook-on takes, and on by default', () => {
    expect(webhooksFrom(['https://hooks.example/a'], 'json', 'regression')?.[0]?.on).toEqual(['regression']);
    expect(() => webhooksFrom(['https://hooks.example/a'], 'json', 'regressed')).toThrow(/--webhook-on takes new-group, regression, critical, spike/);
  });
});
