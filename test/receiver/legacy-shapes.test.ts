// The other browsers' shapes of DESIGN §2, written from the formats described there.
import { describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import { ClientError } from '../../packages/receiver/src/core/errors.js';
import { type RequestMeta } from '../../packages/receiver/src/core/types.js';

const meta: RequestMeta = { receivedAt: 1_800_000_000_000, userAgent: 'header-ua' };
const ingest = (body: unknown, type = 'application/csp-report') =>
  normalizeNative(parseBody(typeof body === 'string' ? body : JSON.stringify(body), type), meta);
const one = (body: unknown, type?: string) => {
  const batch = ingest(body, type);
  expect(batch.violations).toHaveLength(1);
  return batch.violations[0]!;
};
const rejects = (body: unknown, message: RegExp, type?: string) => {
  const err = (() => {
    try {
      ingest(body, type);
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(ClientError);
  expect(err).toMatchObject({ status: 400, message: expect.stringMatching(message) });
};

const legacy = {
  'document-uri': 'https://shop.example/cart?x=1#summary',
  referrer: '',
  'violated-directive': 'script-src-elem',
  'effective-directive': 'script-src-elem',
  'original-policy': "script-src 'self'; report-uri /csp",
  'blocked-uri': 'https://evil.example/x.js#frag',
  'status-code': 200,
};
const reportTo = (body: object, extra: object = {}) => ({
  type: 'csp-violation',
  url: 'https://shop.example/cart',
  user_agent: 'Safari/17',
  body: { documentURL: 'https://shop.example/cart', effectiveDirective: 'img-src', disposition: 'enforce', ...body },
  ...extra,
});

describe('older browsers’ report-uri shapes', () => {
  it('reads {"csp-report"} sent as application/json, with or without charset', () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=ISO-8859-1']) {
      expect(one({ 'csp-report': legacy }, type)).toMatchObject({
        stream: 'reportUri',
        documentURL: 'https://shop.example/cart?x=1',
        blockedURL: 'https://evil.example/x.js',
        effectiveDirective: 'script-src-elem',
        category: 'external',
        severity: 'medium',
      });
    }
  });

  it('reads an unwrapped object with document-uri or document-url', () => {
    expect(one(legacy).documentURL).toBe('https://shop.example/cart?x=1');
    const { 'document-uri': _, ...rest } = legacy;
    expect(one({ ...rest, 'document-url': 'https://shop.example/b' }, 'application/json').documentURL).toBe('https://shop.example/b');
  });

  it('reads form-urlencoded bodies that are raw JSON, an encoded field value or an encoded field name', () => {
    const json = JSON.stringify({ 'csp-report': legacy });
    const type = 'application/x-www-form-urlencoded';
    expect(one(json, type).blockedURL).toBe('https://evil.example/x.js');
    expect(one(`csp-report=${encodeURIComponent(JSON.stringify(legacy))}`, type).blockedURL).toBe('https://evil.example/x.js');
    expect(one(encodeURIComponent(json), type).blockedURL).toBe('https://evil.example/x.js');
  });

  it('parses string numbers and ignores numbers that are not clean integers', () => {
    const v = one({ 'csp-report': { ...legacy, 'status-code': '200', 'line-number': '12', 'column-number': '7px' } });
    expect(v).toMatchObject({ statusCode: 200, lineNumber: 12 });
    expect(v.columnNumber).toBeUndefined();
  });

  it('takes the effective directive from the first token of violated-directive', () => {
    const { 'effective-directive': _, ...csp2 } = legacy;
    const v = one({ 'csp-report': { ...csp2, 'violated-directive': "script-src 'self' https://cdn.example 'nonce-abc'" } });
    expect(v.effectiveDirective).toBe('script-src');
    expect(v.violatedDirective).toBe("script-src 'self' https://cdn.example 'nonce-abc'");
  });

  it('lower-cases directive names', () => {
    expect(one({ 'csp-report': { ...legacy, 'effective-directive': 'IMG-SRC' } }).effectiveDirective).toBe('img-src');
  });

  it('classifies the blocked-uri keywords', () => {
    const cases = [
      ['inline', 'script-src-elem', 'inline', 'high'],
      ['eval', 'script-src', 'eval', 'high'],
      ['wasm-eval', 'script-src', 'wasm-eval', 'high'],
      ['trusted-types-policy', 'trusted-types', 'trusted-types', 'high'],
      ['trusted-types-sink', 'require-trusted-types-for', 'trusted-types', 'high'],
    ];
    for (const [blocked, dir, category, severity] of cases) {
      const v = one({ 'csp-report': { ...legacy, 'blocked-uri': blocked, 'effective-directive': dir } });
      expect([v.blockedURL, v.category, v.severity]).toEqual([blocked, category, severity]);
    }
  });

  it('treats an empty blocked-uri as absent', () => {
    const v = one({ 'csp-report': { ...legacy, 'blocked-uri': '', 'effective-directive': 'img-src' } });
    expect('blockedURL' in v).toBe(false);
    expect(v.category).toBe('other');
  });

  it('classifies scheme-only blocked-uri values', () => {
    const cat = (b: string) => one({ 'csp-report': { ...legacy, 'blocked-uri': b } }).category;
    expect([cat('data'), cat('blob'), cat('chrome-extension'), cat('moz-extension://abc/x.js')]).toEqual([
      'data', 'blob', 'extension', 'extension',
    ]);
  });

  it('reads old Firefox reports: blocked-uri "self" (its inline style), no disposition (unknown, not enforce)', () => {
    const v = one({ 'csp-report': { 'document-uri': 'https://a.example/', 'violated-directive': "style-src 'self'", 'blocked-uri': 'self' } });
    expect(v).toMatchObject({ effectiveDirective: 'style-src', blockedURL: 'self', disposition: 'unknown', category: 'inline' });
  });

  it('drops location 0 and fragments from sourceFile', () => {
    const v = one({ 'csp-report': { ...legacy, 'line-number': 0, 'column-number': 0, 'source-file': 'https://shop.example/a.js#x' } });
    expect([v.lineNumber, v.columnNumber, v.sourceFile]).toEqual([undefined, undefined, 'https://shop.example/a.js']);
  });
});

describe('Reporting API shapes', () => {
  it("reads Safari's single report-to object (no array, no age), also as application/csp-report", () => {
    for (const type of ['application/reports+json', 'application/csp-report']) {
      expect(one(reportTo({ blockedURL: 'https://img.example/a.png' }), type)).toMatchObject({
        stream: 'reportTo',
        occurredAt: meta.receivedAt,
        userAgent: 'Safari/17',
        blockedURL: 'https://img.example/a.png',
      });
    }
  });

  it('treats null locations as absent', () => {
    const v = one([reportTo({ blockedURL: 'inline', effectiveDirective: 'script-src-attr', sourceFile: null, lineNumber: null, columnNumber: null, sample: null })]);
    expect(['sourceFile', 'lineNumber', 'columnNumber', 'sample'].filter((k) => k in v)).toEqual([]);
  });

  it('counts non-CSP reports of a mixed batch by type and stores only the violations', () => {
    const batch = ingest(
      [
        { type: 'deprecation', age: 1, url: 'https://a.example/', body: { id: 'x' } },
        reportTo({ blockedURL: 'https://img.example/a.png' }, { age: 1500 }),
        { type: 'intervention', body: {} },
        { type: 'deprecation', body: {} },
        { type: 'crash', body: { reason: 'oom' } },
      ],
      'application/reports+json',
    );
    expect(batch.otherReports).toEqual({ deprecation: 2, intervention: 1, crash: 1 });
    expect(batch.violations.map((v) => v.occurredAt)).toEqual([meta.receivedAt - 1500]);
  });

  it('keeps the good reports of a batch and counts the bad ones', () => {
    const batch = ingest([reportTo({}), reportTo({ effectiveDirective: 42 }), 'junk', reportTo({ documentURL: null }, { url: null })]);
    expect([batch.violations.length, batch.invalid]).toEqual([1, 3]);
  });

  it('falls back to the report url when the body has no documentURL', () => {
    expect(one([reportTo({ documentURL: undefined }, { url: 'https://shop.example/x#y' })]).documentURL).toBe('https://shop.example/x');
  });

  it('clamps age to [0, 24 h] and reads it from a string', () => {
    const at = (age: unknown) => one([reportTo({}, { age })]).occurredAt;
    expect([at(-5000), at(1e12), at('250'), at('soon')]).toEqual([
      meta.receivedAt, meta.receivedAt - 86_400_000, meta.receivedAt - 250, meta.receivedAt,
    ]);
  });

  it('takes the user agent from the report, else from the request', () => {
    expect(one([reportTo({}, { user_agent: 7 })]).userAgent).toBe('header-ua');
  });

  it('caps and sanitizes report type names', () => {
    const types = [...Array(30).keys()].map((i) => ({ type: `t${i}`, body: {} }));
    const batch = ingest([...types, { type: '__proto__', body: {} }, { type: 'Bad Type<script>', body: {} }], 'application/reports+json');
    expect(Object.keys(batch.otherReports)).toHaveLength(21);
    expect(batch.otherReports['other-types']).toBe(12);
    expect(Object.getPrototypeOf(batch.otherReports)).toBe(Object.prototype);
  });
});

describe('what is not a report', () => {
  it('rejects bodies with no recognizable report, naming the problem', () => {
    rejects({ hello: 'world' }, /^not a CSP report: expected/);
    rejects([], /empty array/);
    rejects([1, 'a', null], /no item of the array is a report/);
    rejects('"text"', /body is string/);
    rejects({ 'csp-report': 'x' }, /"csp-report" is not an object/);
    rejects({ 'csp-report': { 'blocked-uri': 'x', 'effective-directive': 'img-src' } }, /lacks a document URL/);
    rejects({ 'csp-report': { ...legacy, 'effective-directive': '<b>', 'violated-directive': '' } }, /names no CSP directive/);
    rejects({ 'csp-report': { ...legacy, 'effective-directive': '', 'violated-directive': ' ' } }, /lacks a directive/);
  });

  it('rejects batches far larger than a browser sends', () => {
    rejects(Array(1001).fill(reportTo({})), /too many reports in one batch: 1001/, 'application/reports+json');
    expect(ingest(Array(100).fill(reportTo({})), 'application/reports+json').violations).toHaveLength(100);
  });
});

describe('hostile field values', () => {
  it('caps long strings, strips NUL and replaces other control characters with U+FFFD', () => {
    const v = one({ 'csp-report': { ...legacy, 'blocked-uri': `https://a.example/${'x'.repeat(100_000)}`, 'script-sample': 'a\0b\u0007' + 'c'.repeat(1000) } });
    expect(v.blockedURL).toHaveLength(2048);
    expect(v.sample).toHaveLength(256);
    expect(v.sample!.startsWith('ab\uFFFDc')).toBe(true);
  });

  it('never trusts types: wrong-typed fields are absent', () => {
    const v = one({ 'csp-report': { ...legacy, 'blocked-uri': 5, referrer: {}, 'source-file': ['x'], 'line-number': true, 'status-code': 1e9, disposition: 'maybe' } });
    expect(v).toMatchObject({ disposition: 'unknown' });
    expect(['blockedURL', 'referrer', 'sourceFile', 'lineNumber', 'statusCode'].filter((k) => k in v)).toEqual([]);
  });

  it('does not split a surrogate pair at the cap', () => {
    const v = one({ 'csp-report': { ...legacy, 'script-sample': 'a'.repeat(255) + '😀' } });
    expect(v.sample).toBe('a'.repeat(255));
  });

  it('keeps U+FFFD from undecodable bytes as data', () => {
    expect(one({ 'csp-report': { ...legacy, 'script-sample': 'caf\uFFFD' } }).sample).toBe('caf\uFFFD');
  });
});

describe('arbitrary input', () => {
  // Deterministic PRNG (mulberry32): a failure reproduces.
  let seed = 42;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const KEYS = [...Object.keys(legacy), 'csp-report', 'type', 'body', 'age', 'url', 'user_agent', 'documentURL', 'blockedURL',
    'effectiveDirective', 'lineNumber', 'v', 'page', 'events', 'id', 'sentAt', 't', 'count', 'policy', 'policies', 'element',
    'tags', 'context', 'viewport', 'toString', 'valueOf', 'hasOwnProperty'];
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 4 || r < 0.3) {
      return [null, true, 0, -1, 1e308, 'csp-violation', '', 'https://a.example/#x', 'inline', '12', 'data', 1]
        [Math.floor(rand() * 12)];
    }
    if (r < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(rand() * 6) }, () => [KEYS[Math.floor(rand() * KEYS.length)]!, value(depth + 1)]));
  };

  it('never throws anything but a 400 ClientError, for native and SDK bodies', () => {
    for (let i = 0; i < 3000; i++) {
      const body = value(0);
      for (const fn of [normalizeNative, normalizeSdk]) {
        try {
          fn(body, meta);
        } catch (e) {
          expect(e).toBeInstanceOf(ClientError);
          expect((e as ClientError).status).toBe(400);
        }
      }
    }
  });
});
