import { describe, expect, it } from 'vitest';
import { normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import type { RequestMeta } from '../../packages/receiver/src/core/types.js';

const meta: RequestMeta = { receivedAt: 1_800_000_010_000, userAgent: 'Chrome/156', clientIp: '198.51.100.0' };
const POLICY = "default-src 'self'; report-uri /csp/report";

const event = (over: object = {}) => ({
  t: 1_700_000_000_400,
  count: 3,
  sinceLoad: 812.6,
  documentURI: 'https://shop.example/p?q=1',
  blockedURI: 'https://cdn.other.example/s.css?css=1',
  effectiveDirective: 'style-src-elem',
  violatedDirective: 'style-src-elem',
  policy: 0,
  disposition: 'enforce',
  statusCode: 200,
  sourceFile: '',
  lineNumber: 0,
  columnNumber: 0,
  sample: '',
  referrer: '',
  element: { tag: 'link', selector: 'head > link#v-ext-css', attr: 'href', url: 'https://cdn.other.example/s.css?css=1#f', html: '<link rel="stylesheet">' },
  ...over,
});
const batch = (over: object = {}, events: unknown[] = [event()]) => ({
  v: 1,
  // The client clock runs 100 s behind the server's.
  sentAt: 1_700_000_000_500,
  page: {
    id: 'pv_1',
    session: 's_1',
    url: 'https://shop.example/p?q=1#tab',
    referrer: 'https://search.example/',
    release: '1.2.3',
    env: 'prod',
    tags: { team: 'checkout', build: 42 },
    context: { cart: { items: 2 } },
    viewport: [1280, 720],
    lang: 'de',
    policies: [POLICY],
  },
  events,
  ...over,
});
const sdk = (body: unknown) => normalizeSdk(parseBody(JSON.stringify(body), 'text/plain;charset=UTF-8'), meta);
const rejects = (body: unknown, message: RegExp) =>
  expect(() => sdk(body)).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(message) }));

describe('normalizeSdk', () => {
  it('normalizes an event with its page context, element and policy', () => {
    const { violations, invalid } = sdk(batch());
    expect(invalid).toBe(0);
    expect(violations).toEqual([
      {
        stream: 'sdk',
        documentURL: 'https://shop.example/p?q=1',
        blockedURL: 'https://cdn.other.example/s.css?css=1',
        effectiveDirective: 'style-src-elem',
        violatedDirective: 'style-src-elem',
        disposition: 'enforce',
        statusCode: 200,
        originalPolicy: POLICY,
        // t + (receivedAt − sentAt): the event happened 100 ms before the batch left.
        occurredAt: meta.receivedAt - 100,
        receivedAt: meta.receivedAt,
        count: 3,
        sinceLoad: 813,
        userAgent: 'Chrome/156',
        clientIp: '198.51.100.0',
        category: 'external',
        severity: 'medium',
        page: {
          id: 'pv_1',
          session: 's_1',
          url: 'https://shop.example/p?q=1#tab',
          referrer: 'https://search.example/',
          release: '1.2.3',
          env: 'prod',
          tags: { team: 'checkout', build: '42' },
          context: { cart: { items: 2 } },
          viewport: [1280, 720],
          lang: 'de',
        },
        element: { tag: 'link', selector: 'head > link#v-ext-css', attr: 'href', url: 'https://cdn.other.example/s.css?css=1#f', html: '<link rel="stylesheet">' },
      },
    ]);
  });

  it('redacts the per-response nonce of the policy, as for native reports', () => {
    const policy = "script-src 'self' 'nonce-r4nd0mN0nce=='; report-uri /csp/report";
    const body = { ...batch(), page: { ...batch().page, policies: [policy] } };
    const [v] = normalizeSdk(body, meta).violations;
    expect(v.originalPolicy).toBe("script-src 'self' 'nonce-…'; report-uri /csp/report");
  });

  it('reports the page’s dropped count and noElement reasons', () => {
    const out = sdk(batch({ dropped: 7 }, [event({ element: undefined, noElement: 'none' }), event({ noElement: 'bogus', element: { tag: 'img' } })]));
    expect(out.sdkDropped).toBe(7);
    expect(out.violations[0]).toMatchObject({ noElement: 'none' });
    expect('element' in out.violations[0]!).toBe(false);
    expect(['noElement', 'element'].filter((k) => k in out.violations[1]!)).toEqual([]);
  });

  it('guards the clock correction against missing and absurd times', () => {
    const at = (b: object, e: object = {}) => sdk(batch(b, [event(e)])).violations[0]!.occurredAt;
    expect(at({ sentAt: undefined })).toBe(meta.receivedAt);
    expect(at({}, { t: 'yesterday' })).toBe(meta.receivedAt);
    // An event "after" it arrived, or older than a day, is clamped.
    expect(at({}, { t: 1_700_000_900_000 })).toBe(meta.receivedAt);
    expect(at({}, { t: 1 })).toBe(meta.receivedAt - 86_400_000);
  });

  it('takes count as an integer ≥ 1, capped', () => {
    const count = (c: unknown) => sdk(batch({}, [event({ count: c })])).violations[0]!.count;
    expect([count(0), count(2.5), count('4'), count(1e15)]).toEqual([1, 1, 4, 1_000_000]);
  });

  it('resolves originalPolicy only from a valid index', () => {
    const pol = (p: unknown) => sdk(batch({}, [event({ policy: p })])).violations[0]!.originalPolicy;
    expect([pol(0), pol(1), pol(-1), pol('0'), pol(undefined)]).toEqual([POLICY, undefined, undefined, POLICY, undefined]);
  });

  it('counts unusable events and keeps the rest', () => {
    const out = sdk(batch({}, [event(), 'x', event({ documentURI: 5 }), event({ effectiveDirective: '', violatedDirective: '' })]));
    expect([out.violations.length, out.invalid]).toEqual([1, 3]);
  });

  it('falls back to the document URL when the page has no url', () => {
    const b = batch();
    delete (b.page as Partial<typeof b.page>).url;
    expect(sdk(b).violations[0]!.page!.url).toBe('https://shop.example/p?q=1');
  });

  it('caps tags, context, viewport and element strings', () => {
    const tags = Object.fromEntries([...Array(50).keys()].map((i) => [`k${i}`, 'v'.repeat(500)]));
    const page = { ...batch().page, tags, context: { blob: 'x'.repeat(5000) }, viewport: [1280, 'tall'] };
    const v = sdk(batch({ page }, [event({ element: { tag: 'div', selector: 's'.repeat(999), html: '<'.repeat(999) } })])).violations[0]!;
    expect(Object.keys(v.page!.tags!)).toHaveLength(32);
    expect(v.page!.tags!.k0).toHaveLength(256);
    expect(['context', 'viewport'].filter((k) => k in v.page!)).toEqual([]);
    expect([v.element!.selector.length, v.element!.html!.length]).toEqual([256, 512]);
  });

  it('rejects what is not an SDK batch v1', () => {
    rejects([], /expected an object/);
    rejects({ ...batch(), v: 2 }, /"v" must be 1/);
    rejects({ ...batch(), events: {} }, /"events" must be an array/);
    rejects({ ...batch(), page: { url: 'x' } }, /"page" must be an object with a string "id"/);
    rejects(batch({}, Array(501).fill(event())), /too many events in one batch: 501/);
  });
});
