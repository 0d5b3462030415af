import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import type { RequestMeta } from '../../packages/receiver/src/core/types.js';

// Every string of a report is the sender's to choose. One rule (fields.ts cleanText) makes them
// storable by either store: NUL removed, lone surrogates and the C0 controls but tab/LF/CR and DEL
// replaced by U+FFFD.

const meta: RequestMeta = { receivedAt: 1_800_000_010_000, userAgent: 'Chrome/156' };
const UGLY = 'a\ud800b\udc00c\u0000d\u0001e\u007ff\tg\nh\ri\u001f😀\udbff';
const CLEAN = 'a\ufffdb\ufffdcd\ufffde\ufffdf\tg\nh\ri\ufffd😀\ufffd';

const legacy = (over: object = {}) => ({
  'csp-report': {
    'document-uri': `https://shop.example/${UGLY}`,
    referrer: `https://r.example/${UGLY}`,
    'violated-directive': 'script-src-elem',
    'effective-directive': 'script-src-elem',
    'original-policy': `script-src 'self' ${UGLY}`,
    'blocked-uri': `https://cdn.example/${UGLY}.js`,
    'source-file': `https://shop.example/app.js?${UGLY}`,
    'script-sample': UGLY,
    ...over,
  },
});

const sdkBody = (page: object = {}, event: object = {}, batch: object = {}) => ({
  v: 1,
  sentAt: 1_800_000_009_000,
  page: { id: `pv${UGLY}`, url: `https://shop.example/${UGLY}#${UGLY}`, session: UGLY, release: UGLY, env: UGLY, lang: 'de', policies: [`img-src ${UGLY}`], ...page },
  events: [
    {
      t: 1_800_000_008_000,
      count: 1,
      documentURI: `https://shop.example/${UGLY}`,
      blockedURI: `https://cdn.example/${UGLY}.png`,
      effectiveDirective: 'img-src',
      violatedDirective: 'img-src',
      policy: 0,
      disposition: 'enforce',
      sample: UGLY,
      element: { tag: `img${UGLY}`, selector: `img#${UGLY}`, attr: 'src', url: `https://cdn.example/${UGLY}`, html: `<img alt="${UGLY}">` },
      ...event,
    },
  ],
  ...batch,
});

/** Every string in a value, keys included. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]);
  return [];
}

const SUSPECT = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('text on ingest', () => {
  it('cleans every field of a report-uri report: NUL gone, lone surrogates and controls U+FFFD, tab/LF/CR kept', () => {
    const [v] = normalizeNative(legacy(), meta).violations;
    expect(v.sample).toBe(CLEAN);
    expect(v.documentURL).toBe(`https://shop.example/${CLEAN}`);
    expect(v.originalPolicy).toBe(`script-src 'self' ${CLEAN}`);
    expect(strings(v).filter((s) => SUSPECT.test(s))).toEqual([]);
  });

  it('cleans a report-to report and its user agent', () => {
    const body = [{ type: 'csp-violation', age: 10, url: 'https://shop.example/', user_agent: `UA${UGLY}`, body: { ...legacy()['csp-report'], documentURL: `https://shop.example/${UGLY}`, effectiveDirective: 'img-src' } }];
    const [v] = normalizeNative(body, meta).violations;
    expect(v.userAgent).toBe(`UA${CLEAN}`);
    expect(strings(v).filter((s) => SUSPECT.test(s))).toEqual([]);
  });

  it('cleans every field of an SDK batch, the page context, tags and element included', () => {
    const context = { [`k${UGLY}`]: UGLY, nested: { deeper: [UGLY, { [UGLY]: UGLY }], n: 1, ok: true, nil: null } };
    const [v] = normalizeSdk(sdkBody({ context, tags: { [`t${UGLY}`]: UGLY } }), meta).violations;
    expect(v.page!.context).toEqual({ [`k${CLEAN}`]: CLEAN, nested: { deeper: [CLEAN, { [CLEAN]: CLEAN }], n: 1, ok: true, nil: null } });
    expect(v.page!.tags).toEqual({ [`t${CLEAN}`]: CLEAN });
    expect(v.element).toMatchObject({ tag: expect.any(String), html: `<img alt="${CLEAN}">` });
    expect(v.sample).toBe(CLEAN);
    expect(strings(v).filter((s) => SUSPECT.test(s))).toEqual([]);
  });

  it('drops context keys that become __proto__ once their NUL is removed', () => {
    const context = JSON.parse('{"__proto__\\u0000":{"polluted":1},"a":{"constructor\\u0000":1,"b":2}}');
    const [v] = normalizeSdk(sdkBody({ context }), meta).violations;
    expect(v.page!.context).toEqual({ a: { b: 2 } });
    expect(Object.getPrototypeOf(v.page!.context)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps every stored character at 3 bytes of JSON or less, whatever the sender puts in', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 300 }), (a, b) => {
        const text = a + b;
        const [v] = normalizeNative(legacy({ 'script-sample': text, 'document-uri': `https://s.example/${text}` }), meta).violations;
        const [s] = normalizeSdk(sdkBody({ context: { [text]: text } }, { sample: text }), meta).violations;
        for (const value of [...strings(v), ...strings(s)]) {
          expect(SUSPECT.test(value)).toBe(false);
          expect(Buffer.byteLength(JSON.stringify(value)) - 2).toBeLessThanOrEqual(3 * value.length);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('counts on ingest', () => {
  it('saturates an SDK count past what one event can hold instead of dropping it to 1', () => {
    const count = (c: unknown) => normalizeSdk(sdkBody({}, { count: c }), meta).violations[0].count;
    expect(count(7)).toBe(7);
    expect(count('12')).toBe(12);
    expect(count(2 ** 31)).toBe(1_000_000);
    expect(count(1e300)).toBe(1_000_000);
    expect(count('99999999999999999999999')).toBe(1_000_000);
    expect(count(0)).toBe(1);
    expect(count(-5)).toBe(1);
    expect(count(2.5)).toBe(1);
    expect(count('1e9')).toBe(1);
  });

  it('saturates the SDK dropped count', () => {
    expect(normalizeSdk(sdkBody({}, {}, { dropped: 5e9 }), meta).sdkDropped).toBe(1_000_000);
    expect(normalizeSdk(sdkBody({}, {}, { dropped: '40' }), meta).sdkDropped).toBe(40);
  });
});
