import type { NormalizedViolation } from '@csp-lens/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlerts, type AlertsOptions } from '../../packages/receiver/src/outputs/alerts.js';
import { createRules } from '../../packages/receiver/src/outputs/rules.js';
import { configFrom } from '../../packages/receiver/src/server/config.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storing } from '../helpers/stored.js';

// The reporting guide's thresholds as alert kinds: a likely attack campaign, volume, the first
// inline script blocked on a page; and the signals the dashboard shows for them.

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const MIN = 60_000;

function violation(over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'reportUri',
    documentURL: 'https://shop.example/checkout',
    effectiveDirective: 'script-src-elem',
    blockedURL: 'https://skimmer.example/pay.js',
    disposition: 'enforce',
    occurredAt: T0,
    receivedAt: T0,
    count: 1,
    category: 'external',
    severity: 'high',
    clientIp: '198.51.100.0',
    ...over,
  };
}

function harness(options: Partial<AlertsOptions> = {}) {
  let now = T0;
  const bodies: Record<string, any>[] = [];
  const alerts = createAlerts({
    webhooks: [{ url: 'https://hooks.example/a', format: 'json', on: ['campaign', 'volume', 'new-inline'] }],
    fetch: (async (_url: string, init: RequestInit) => (bodies.push(JSON.parse(String(init.body))), new Response(null, { status: 200 }))) as unknown as typeof fetch,
    clock: () => now,
    minIntervalMs: 0,
    ...options,
  });
  const stored = storing();
  return {
    alerts,
    bodies,
    store: (vs: NormalizedViolation[]) => alerts.onStored(stored(vs.map((v) => ({ ...v, occurredAt: now, receivedAt: now })))),
    advance: (ms: number) => (now += ms),
    events: async () => (await alerts.idle(), bodies.map((b) => b.event)),
  };
}

const client = (i: number) => `203.0.${i}.0`;

describe('alert rules', () => {
  it('calls the same group from more than 5 distinct clients within an hour a likely attack campaign, once', async () => {
    const h = harness();
    for (let i = 1; i <= 5; i++) (h.store([violation({ clientIp: client(i) })]), h.advance(MIN));
    h.store([violation({ clientIp: client(1) })]); // a client seen already
    expect(await h.events()).toEqual([]);
    h.store([violation({ clientIp: client(6) })]);
    h.store([violation({ clientIp: client(7) })]);
    expect(await h.events()).toEqual(['campaign']);
    expect(h.bodies[0]).toMatchObject({ campaign: { clients: 6, max: 5, windowMs: 3_600_000 }, group: { blocked: 'https://skimmer.example' } });
  });

  it('does not count clients spread over more than the window', async () => {
    const h = harness();
    for (let i = 1; i <= 12; i++) (h.store([violation({ clientIp: client(i) })]), h.advance(15 * MIN));
    expect(await h.events()).toEqual([]);
  });

  it('takes its thresholds from the flags', async () => {
    const config = configFrom(['--campaign-clients', '2', '--campaign-window', '60000', '--volume-max', '3', '--volume-scope', 'group'], {});
    const rules = createRules((config as { rules: object }).rules);
    const stored = storing();
    const seen = (vs: NormalizedViolation[], at: number) => rules.observe(stored(vs), at).map((h) => h.reason);
    expect(seen([violation({ clientIp: client(1) }), violation({ clientIp: client(2) })], T0)).toEqual([]);
    // A third client (more than 2), then a fourth violation of the group within the hour (more than 3).
    expect(seen([violation({ clientIp: client(3) }), violation({ clientIp: client(3) })], T0 + 1000)).toEqual(['campaign', 'volume']);
    expect(() => configFrom(['--volume-scope', 'site'], {})).toThrow('--volume-scope must be store or group');
    expect(() => configFrom(['--campaign-clients', '0'], {})).toThrow('--campaign-clients must be an integer from 1 to 1000');
  });

  it('alerts on more than 10 violations an hour, store-wide, once an hour, where asked for', async () => {
    const h = harness();
    for (let i = 0; i < 10; i++) (h.store([violation({ blockedURL: `https://h${i}.example/x.js` })]), h.advance(5 * MIN));
    expect(await h.events()).toEqual([]);
    h.store([violation({ blockedURL: 'https://h10.example/x.js' })]); // the 11th within the hour
    h.store([violation({ blockedURL: 'https://h11.example/x.js' })]);
    expect(await h.events()).toEqual(['volume']);
    expect(h.bodies[0].volume).toEqual({ count: 11, max: 10, scope: 'store' });
    // A webhook left at the default kinds gets no volume alerts.
    const quiet = harness({ webhooks: [{ url: 'https://hooks.example/b', format: 'json' }] });
    for (let i = 0; i < 20; i++) quiet.store([violation({ blockedURL: `https://h${i}.example/x.js` })]);
    expect(await quiet.events()).not.toContain('volume');
  });

  it('alerts on the first inline script blocked on a page, not on its next ones nor inline styles', async () => {
    const h = harness();
    const inline = (documentURL: string, over: Partial<NormalizedViolation> = {}) =>
      violation({ documentURL, blockedURL: 'inline', category: 'inline', sourceFile: documentURL, ...over });
    h.store([inline('https://shop.example/pay')]);
    h.store([inline('https://shop.example/pay?step=2', { lineNumber: 9 })]);
    h.store([inline('https://shop.example/about', { effectiveDirective: 'style-src-elem' })]);
    h.store([inline('https://shop.example/account')]);
    await h.events();
    expect(h.bodies.map((b) => [b.event, b.violation.documentURL])).toEqual([
      ['new-inline', 'https://shop.example/pay'],
      ['new-inline', 'https://shop.example/account'],
    ]);
  });

  it('announces no page the store already had an inline script violation on (after a restart)', () => {
    const rules = createRules();
    rules.waitForSeed();
    const stored = storing();
    const inline = (documentURL: string) => violation({ documentURL, blockedURL: 'inline', category: 'inline', sourceFile: documentURL });
    expect(rules.observe(stored([inline('https://shop.example/early')]), T0)).toEqual([]);
    rules.seed(['https://shop.example/known']);
    expect(rules.observe(stored([inline('https://shop.example/known'), inline('https://shop.example/early'), inline('https://shop.example/new')]), T0).map((h) => h.stored.violation.documentURL)).toEqual(['https://shop.example/new']);
  });

  it('keeps its memory bounded: a flood of groups and clients still lets a real campaign through', () => {
    const rules = createRules();
    const stored = storing();
    // Past what is tracked (10,000 groups): the least recently seen are forgotten, not the active one.
    const flood = Array.from({ length: 12_000 }, (_, i) => violation({ blockedURL: `https://junk${i}.example/x.js`, clientIp: `10.${i >> 8 & 255}.${i & 255}.0` }));
    for (let i = 0; i < flood.length; i += 1000) rules.observe(stored(flood.slice(i, i + 1000)), T0);
    // And one group from 5,000 clients, on 60,000 pages with an inline script.
    rules.observe(stored(Array.from({ length: 5_000 }, (_, i) => violation({ blockedURL: 'https://busy.example/x.js', clientIp: `10.9.${i >> 8}.${i & 255}` }))), T0);
    for (let i = 0; i < 60_000; i += 5_000) {
      rules.observe(stored(Array.from({ length: 5_000 }, (_, k) => violation({ documentURL: `https://shop.example/p${i + k}`, blockedURL: 'inline', category: 'inline', clientIp: undefined }))), T0);
    }
    const hits = rules.observe(stored(Array.from({ length: 6 }, (_, i) => violation({ clientIp: client(i) }))), T0);
    expect(hits.map((h) => h.reason)).toContain('campaign');
    const tracked = rules.tracked();
    expect(tracked.groups).toBeLessThanOrEqual(10_000);
    expect(tracked.clients).toBeLessThanOrEqual(10_000 * 6);
    expect(tracked.volumes).toBeLessThanOrEqual(10_000);
    expect(tracked.pages).toBeLessThanOrEqual(50_000);
    expect(tracked.signals).toBeLessThanOrEqual(5_000);
    console.log('rules: tracked after the flood', tracked);
  });
});

describe('signals for the dashboard', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('answers what fired per group at /api/signals, behind the token', async () => {
    // Behind one proxy: each report's client is the address the proxy appended.
    t = await startTestServer({ trustProxy: 1 });
    const body = JSON.stringify({ 'csp-report': { 'document-uri': 'https://shop.example/pay', 'effective-directive': 'script-src-elem', 'blocked-uri': 'https://skimmer.example/x.js' } });
    for (let i = 1; i <= 6; i++) expect((await t.post('/report', body, 'application/csp-report', { 'x-forwarded-for': `203.0.${i}.9` })).status).toBe(204);
    expect((await t.api('/signals', {})).status).toBe(401);
    const signals = await (await t.api('/signals')).json();
    const [group] = (await (await t.api('/groups')).json()).items;
    expect(signals).toEqual({ groups: { [group.id]: { campaign: { clients: 6, at: expect.any(Number) } } }, store: {} });
  });
});
