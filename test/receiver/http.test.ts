import { request } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GroupPage, Stats, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { browserHeaders, fixture, fixtureNames, reportUriBody, sdkBatch, sdkEventFrom } from '../helpers/bodies.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const MODES = ['enforce', 'report-only'] as const;
const CHROMIUM_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** A request with full control over framing (chunked bodies, aborts) that fetch does not give. */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; chunks?: (string | Buffer)[]; abortAfterFirstChunk?: boolean },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string } | 'aborted'> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'POST', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', (e) => (opts.abortAfterFirstChunk ? resolve('aborted') : reject(e)));
    const chunks = opts.chunks ?? [];
    if (opts.abortAfterFirstChunk) {
      req.write(chunks[0] ?? '');
      setTimeout(() => req.destroy(), 50);
      return;
    }
    for (const c of chunks) req.write(c);
    req.end();
  });
}

async function expectJsonError(res: Response, status: number, error: RegExp): Promise<void> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(JSON.parse(text)).toEqual({ error: expect.stringMatching(error) });
}

describe('ingest: every native format is accepted with 204 and stored', () => {
  let s: TestServer;
  beforeEach(async () => {
    s = await startTestServer();
  });
  afterEach(() => s.close());

  it.each(MODES)('stores every %s report-uri fixture posted as application/csp-report with Chromium’s headers', async (mode) => {
    const names = await fixtureNames(mode, 'report-uri-');
    const { headers } = await browserHeaders('report-uri-same-origin.json');
    const reports: Record<string, unknown>[] = [];
    for (const name of names) {
      const body = await fixture(`${mode}/${name}`);
      reports.push(JSON.parse(body)['csp-report']);
      const res = await s.post('/report', body, undefined, headers);
      expect(res.status, name).toBe(204);
      expect(await res.text(), name).toBe('');
    }

    const records = await s.all();
    expect(records).toHaveLength(names.length);
    expect(records.map((r) => r.effectiveDirective).sort()).toEqual(reports.map((r) => r['effective-directive']).sort());
    for (const r of records) {
      expect(r.sources).toEqual({ sdk: 0, reportUri: 1, reportTo: 0 });
      expect(r.disposition).toBe(mode === 'enforce' ? 'enforce' : 'report');
      expect(r.userAgent).toBe(headers['user-agent']);
    }
    // The policy is stored once, in the policy table, and readable by its hash.
    const hashes = new Set(records.map((r) => r.policyHash));
    expect(hashes.size).toBe(1);
    const res = await s.api(`/policies/${[...hashes][0]}`);
    expect(res.status).toBe(200);
    expect((await res.json()).policy).toBe(String(reports[0]['original-policy']).replace(/'nonce-[^']*'/g, "'nonce-…'"));
  });

  it.each(MODES)('stores the whole %s report-to batch posted as application/reports+json, and each single report', async (mode) => {
    const { headers } = await browserHeaders('report-to-same-origin.json');
    const batch = await fixture(`${mode}/report-to-batch-raw.json`);
    const items = JSON.parse(batch) as { type: string; body: { effectiveDirective: string }; user_agent: string }[];
    const csp = items.filter((i) => i.type === 'csp-violation');
    expect(csp.length).toBeGreaterThanOrEqual(10);

    const res = await s.post('/report', batch, undefined, headers);
    expect(res.status).toBe(204);
    let records = await s.all();
    expect(records).toHaveLength(csp.length);
    expect(records.map((r) => r.effectiveDirective).sort()).toEqual(csp.map((i) => i.body.effectiveDirective).sort());
    for (const r of records) {
      expect(r.sources).toEqual({ sdk: 0, reportUri: 0, reportTo: 1 });
      expect(r.userAgent).toBe(csp[0].user_agent);
    }
    const others = items.length - csp.length;
    expect(sum((await s.stats()).otherReports)).toBe(others);

    const singles = await fixtureNames(mode, 'report-to-');
    const single = singles.filter((n) => n !== 'report-to-batch-raw.json');
    for (const name of single) {
      const one = await s.post('/report', await fixture(`${mode}/${name}`), undefined, headers);
      expect(one.status, name).toBe(204);
    }
    records = await s.all();
    expect(records).toHaveLength(csp.length + single.length);
  });

  it('accepts one report under every content type older browsers use', async () => {
    const report = JSON.parse(await fixture('enforce/report-uri-img.json'))['csp-report'];
    const reportTo = JSON.parse(await fixture('enforce/report-to-img.json'))[0];
    const withDoc = (doc: string) => JSON.stringify({ 'csp-report': { ...report, 'document-uri': doc } });
    const cases: [string, string, (doc: string) => string][] = [
      ['application/json', 'json', withDoc],
      ['application/json; charset=utf-8', 'json-charset', withDoc],
      ['application/csp-report; charset=UTF-8', 'csp-charset', withDoc],
      ['application/x-www-form-urlencoded', 'form-raw', withDoc],
      ['application/x-www-form-urlencoded', 'form-field', (doc) => `report=${encodeURIComponent(withDoc(doc))}&site=shop`],
      ['application/json', 'unwrapped-legacy', (doc) => JSON.stringify({ ...report, 'document-uri': doc, 'line-number': '117' })],
      // Safari: one Reporting API report, not in an array.
      ['application/reports+json', 'safari-single', (doc) => JSON.stringify({ ...reportTo, body: { ...reportTo.body, documentURL: doc } })],
      ['text/plain;charset=UTF-8', 'text', withDoc],
    ];
    for (const [type, name, make] of cases) {
      const doc = `https://shop.example/${name}`;
      const res = await s.post('/report', make(doc), type);
      expect(res.status, name).toBe(204);
      const page = (await (await s.api(`/violations?document=${encodeURIComponent(doc)}`)).json()) as ViolationPage;
      expect(page.items, name).toHaveLength(1);
      expect(page.items[0]).toMatchObject({ documentURL: doc, effectiveDirective: 'img-src', lineNumber: 117, columnNumber: 49 });
    }
    expect(await s.all()).toHaveLength(cases.length);
  });

  it('accepts an SDK batch as text/plain (sendBeacon) and as application/json (fetch) at /sdk', async () => {
    const names = await fixtureNames('enforce', 'event-');
    const events = await Promise.all(names.map(async (n) => JSON.parse(await fixture(`enforce/${n}`))));
    const now = Date.now();
    const posted: [string, string, string][] = [
      ['text/plain;charset=UTF-8', 'sdk-beacon-string-same-POST.json', 'pv-beacon'],
      ['application/json', 'sdk-fetch-ka-json-same-POST.json', 'pv-fetch'],
    ];
    for (const [type, headersFixture, pageId] of posted) {
      const batch = { ...sdkBatch({ pageId, url: events[0].documentURI, sentAt: now }), events: events.map((e) => sdkEventFrom(e, now - 100)) };
      const { headers } = await browserHeaders(headersFixture);
      const res = await s.post('/sdk', JSON.stringify(batch), type, headers);
      expect(res.status, type).toBe(204);
    }
    const records = await s.all();
    for (const [, , pageId] of posted) {
      const mine = records.filter((r) => r.page?.id === pageId);
      // Every event is accounted for; repeats of one violation in a page view add up in one record.
      expect(mine.reduce((n, r) => n + r.count, 0), pageId).toBe(events.length);
      for (const r of mine) {
        expect(r.sources.sdk).toBeGreaterThan(0);
        expect(r.sources.reportUri + r.sources.reportTo).toBe(0);
        expect(r.page).toMatchObject({ id: pageId, release: '1.2.3', viewport: [1280, 720] });
      }
    }
    expect(records.filter((r) => !r.page)).toEqual([]);
  });

  it('merges a report-uri report with the SDK event of the same img into one record', async () => {
    const ua = { 'user-agent': CHROMIUM_UA };
    const event = JSON.parse(await fixture('enforce/event-img.json'));
    const batch = { ...sdkBatch({ pageId: 'pv-merge', url: event.documentURI }), events: [sdkEventFrom(event, Date.now())] };
    batch.events[0] = { ...batch.events[0], element: { tag: 'img', selector: 'img#v-img', attr: 'src', url: event.blockedURI } } as never;
    expect((await s.post('/sdk', JSON.stringify(batch), 'text/plain', ua)).status).toBe(204);
    expect((await s.post('/report', await fixture('enforce/report-uri-img.json'), 'application/csp-report', ua)).status).toBe(204);

    const records = await s.all();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      effectiveDirective: 'img-src',
      sources: { sdk: 1, reportUri: 1, reportTo: 0 },
      element: { tag: 'img', selector: 'img#v-img' },
      page: { id: 'pv-merge' },
    });
    expect((await s.stats()).coverage).toMatchObject({ merged: 1, sdkOnly: 0, nativeOnly: 0 });
  });

  it('accepts a gzip-compressed report', async () => {
    const { body, document } = reportUriBody('gz');
    const res = await s.post('/report', gzipSync(body), 'application/csp-report', { 'content-encoding': 'gzip' });
    expect(res.status).toBe(204);
    expect((await s.all()).map((r) => r.documentURL)).toEqual([document]);
  });

  it('answers 204 for a batch the noise filter drops, and counts it', async () => {
    const { body } = reportUriBody('ext', { 'blocked-uri': 'chrome-extension://abcdef/inject.js', 'effective-directive': 'script-src-elem' });
    const res = await s.post('/report', body, 'application/csp-report');
    expect(res.status).toBe(204);
    expect(await s.all()).toEqual([]);
    expect((await s.stats()).filtered).toEqual({ 'browser-extension': 1 });
  });
});

describe('ingest: bad input gets a JSON error, is not stored, and is never a 5xx', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const valid = reportUriBody('valid').body;
  const deep = '['.repeat(40) + ']'.repeat(40);
  const proto = '{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","__proto__":{"polluted":true}}}';
  const table: [string, '/report' | '/sdk', string | undefined, string, number, RegExp][] = [
    ['unparseable JSON', '/report', 'application/csp-report', '{"csp-report": {"document-uri": ', 400, /^body is not valid JSON/],
    ['JSON that is not a report', '/report', 'application/csp-report', '{"hello":"world"}', 400, /^not a CSP report: expected "csp-report"/],
    ['a report without document or directive', '/report', 'application/csp-report', '{"csp-report":{"blocked-uri":"x"}}', 400, /lacks a document URL/],
    ['a report whose directive is no CSP directive', '/report', 'application/csp-report', '{"csp-report":{"document-uri":"https://a.example/","effective-directive":"lolnotreal"}}', 400, /names no CSP directive/],
    ['"csp-report" that is not an object', '/report', 'application/csp-report', '{"csp-report":"x"}', 400, /"csp-report" is not an object/],
    ['an empty report-to array', '/report', 'application/reports+json', '[]', 400, /^not a CSP report: empty array/],
    ['an array of non-reports', '/report', 'application/reports+json', '[1,"a",null]', 400, /no item of the array is a report/],
    ['JSON null', '/report', 'application/json', 'null', 400, /^not a CSP report: body is null/],
    ['a JSON number', '/report', 'application/json', '42', 400, /^not a CSP report: body is number/],
    ['an empty body', '/report', 'application/csp-report', '', 400, /^empty body$/],
    ['a whitespace body', '/report', 'application/csp-report', ' \n\t ', 400, /^empty body$/],
    ['a __proto__ key', '/report', 'application/csp-report', proto, 400, /forbidden key "__proto__"/],
    ['a constructor key', '/report', 'application/json', '{"constructor":{"prototype":{}},"csp-report":{}}', 400, /forbidden key "(constructor|prototype)"/],
    ['a 40-deep body', '/report', 'application/json', deep, 400, /nests deeper than 32 levels/],
    ['a form body without JSON', '/report', 'application/x-www-form-urlencoded', 'a=1&b=2', 400, /form body carries no JSON field/],
    ['an SDK batch of another version', '/sdk', 'text/plain', '{"v":2,"page":{"id":"p"},"events":[]}', 400, /^not an SDK batch: "v" must be 1/],
    ['an SDK batch without page id', '/sdk', 'text/plain', '{"v":1,"events":[]}', 400, /^not an SDK batch: "page"/],
    ['unparseable SDK text', '/sdk', 'text/plain', 'v=1&events=', 400, /^body is not valid JSON/],
    ['an SDK batch with __proto__', '/sdk', 'application/json', '{"v":1,"page":{"id":"p","__proto__":{}},"events":[]}', 400, /forbidden key "__proto__"/],
    ['text/html', '/report', 'text/html', valid, 415, /^unsupported content type "text\/html"/],
    ['application/xml', '/report', 'application/xml', valid, 415, /^unsupported content type/],
    ['multipart/form-data', '/report', 'multipart/form-data; boundary=x', valid, 415, /^unsupported content type/],
    ['no content type', '/report', undefined, valid, 415, /^unsupported content type "\(none\)"/],
    ['a csp-report body at /sdk', '/sdk', 'application/csp-report', valid, 415, /^unsupported content type "application\/csp-report"/],
  ];

  // Titled `<case> → <status>` (the row's order has the path second: a printf title printed it as NaN).
  it.each(table.map((row) => [`${row[0]} → ${row[4]}`, ...row] as const))('%s', async (_title, _name, path, type, body, status, error) => {
    // Bytes, not a string: fetch would otherwise add text/plain itself.
    const res = await s.post(path, new TextEncoder().encode(body), type);
    await expectJsonError(res, status, error);
  });

  it('stored nothing for any of the rejected bodies', async () => {
    for (const [, path, type, body] of table) await s.post(path, new TextEncoder().encode(body), type);
    expect(await s.all()).toEqual([]);
    const stats = await s.stats();
    expect(stats).toMatchObject({ records: 0, archived: 0, groups: 0, filtered: {}, otherReports: {} });
    const onDisk = JSON.parse(await readFile(s.db, 'utf8').catch(() => '{"records":[]}'));
    expect(onDisk.records).toEqual([]);
  });

  it('never answers a 5xx, whatever the body, type or encoding', async () => {
    const bodies: (string | Uint8Array)[] = [
      valid,
      '\uFEFF' + valid,
      new Uint8Array([0x7b, 0xff, 0xfe, 0x22, 0x80, 0x7d]),
      new Uint8Array(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256)),
      '{"csp-report":{"document-uri":1e999,"effective-directive":["img-src"],"line-number":{"x":1}}}',
      '{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","line-number":-1e308,"column-number":"NaN","status-code":true}}',
      JSON.stringify(Array.from({ length: 1001 }, () => ({ type: 'csp-violation', body: {} }))),
      JSON.stringify([{ type: 'csp-violation', age: 'old', body: { documentURL: 'x', effectiveDirective: '' } }, { type: 'x'.repeat(9999), body: {} }]),
      JSON.stringify({ v: 1, page: { id: 'p', url: 42, context: { a: { b: { c: [] } } } }, events: [null, 1, { t: 'x', documentURI: 'https://a.example/', effectiveDirective: 'img-src' }] }),
      JSON.stringify({ v: 1, page: { id: 'p' }, events: Array.from({ length: 501 }, () => ({})) }),
      '"\\ud800"',
      '{"a":"' + '\\'.repeat(3) + '"}',
      '[' + '{},'.repeat(999) + '{}]',
    ];
    const types = ['application/csp-report', 'application/reports+json', 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream'];
    const seen = new Set<number>();
    for (const path of ['/report', '/sdk']) {
      for (const body of bodies) {
        for (const type of types) {
          const res = await s.post(path, body, type);
          await res.arrayBuffer();
          seen.add(res.status);
          expect(res.status, `${path} ${type} ${String(body).slice(0, 60)}`).toBeLessThan(500);
        }
      }
    }
    // Bytes that are not what Content-Encoding claims: the client's fault, a 400.
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const res = await s.post('/report', valid, 'application/csp-report', { 'content-encoding': encoding });
      await expectJsonError(res, 400, /^body could not be decoded/);
    }
    await expectJsonError(await s.post('/report', valid, 'application/csp-report', { 'content-encoding': 'x-unknown' }), 415, /Content-Encoding/);
    // A client that goes away mid-body must not take the server with it.
    const aborted = await raw(`${s.url}/report`, {
      headers: { 'content-type': 'application/csp-report', 'content-length': '5000' },
      chunks: ['{"csp-report":'],
      abortAfterFirstChunk: true,
    });
    expect(aborted).toBe('aborted');
    expect([...seen].sort()).toEqual(expect.arrayContaining([204, 400, 415]));
    expect((await s.post('/report', reportUriBody('after').body, 'application/csp-report')).status).toBe(204);
  });
});

describe('ingest: body size limit', () => {
  it('answers 413 over a configured limit, by Content-Length and when chunked, and stores nothing', async () => {
    const s = await startTestServer({ bodyLimit: 1024 });
    try {
      const { body } = reportUriBody('limit');
      const at = body + ' '.repeat(1024 - Buffer.byteLength(body));
      expect(Buffer.byteLength(at)).toBe(1024);
      expect((await s.post('/report', at, 'application/csp-report')).status).toBe(204);

      await expectJsonError(await s.post('/report', at + ' ', 'application/csp-report'), 413, /^body exceeds the size limit$/);
      const chunked = await raw(`${s.url}/report`, {
        headers: { 'content-type': 'application/csp-report', 'transfer-encoding': 'chunked' },
        chunks: [at, ' '.repeat(100)],
      });
      expect(chunked).toMatchObject({ status: 413 });
      expect(JSON.parse((chunked as { body: string }).body)).toEqual({ error: 'body exceeds the size limit' });
      const sdk = JSON.stringify({ ...sdkBatch(), pad: 'x'.repeat(2000) });
      await expectJsonError(await s.post('/sdk', sdk, 'text/plain'), 413, /size limit/);
      expect(await s.all()).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('accepts exactly 1 MiB by default and answers 413 one byte over', async () => {
    const s = await startTestServer();
    try {
      const { body } = reportUriBody('mib');
      const mib = body + ' '.repeat(1024 * 1024 - Buffer.byteLength(body));
      expect((await s.post('/report', mib, 'application/csp-report')).status).toBe(204);
      await expectJsonError(await s.post('/report', mib + ' ', 'application/csp-report'), 413, /size limit/);
      expect(await s.all()).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});

describe('ingest: per-client rate limit', () => {
  it('answers 429 with Retry-After once one client exceeds its budget, and stores only what got 204', async () => {
    // rate 1/s: the burst is the floor of 200, so request 201+ within a second is over.
    const s = await startTestServer({ rateLimit: 1 });
    try {
      const statuses: number[] = [];
      const retryAfter: string[] = [];
      for (let wave = 0; wave < 24; wave++) {
        const res = await Promise.all(
          Array.from({ length: 10 }, () => s.post('/report', reportUriBody('rl').body, 'application/csp-report')),
        );
        for (const r of res) {
          statuses.push(r.status);
          if (r.status === 429) {
            retryAfter.push(r.headers.get('retry-after') ?? '');
            expect(await r.json()).toEqual({ error: 'rate limit exceeded for this client' });
          } else await r.arrayBuffer();
        }
      }
      const ok = statuses.filter((x) => x === 204).length;
      const limited = statuses.filter((x) => x === 429).length;
      expect(ok + limited).toBe(240);
      expect(ok).toBeGreaterThanOrEqual(200);
      expect(limited).toBeGreaterThan(0);
      for (const r of retryAfter) expect(Number(r)).toBeGreaterThanOrEqual(1);
      expect(await s.all()).toHaveLength(ok);
    } finally {
      await s.close();
    }
  });

  it('counts every address of one IPv6 /64 as one client: rotating the interface id gets no new budget', async () => {
    // The proxy in front (trustProxy 1) hands over the client address it saw: one subscriber's /64.
    const s = await startTestServer({ rateLimit: 1, trustProxy: 1 });
    try {
      const t0 = Date.now();
      const statuses: number[] = [];
      for (let wave = 0; wave < 30; wave++) {
        const res = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            s.post('/report', reportUriBody('v6').body, 'application/csp-report', { 'x-forwarded-for': `2001:db8:1:2:${(wave * 10 + i).toString(16)}:1:2:3` }),
          ),
        );
        for (const r of res) {
          statuses.push(r.status);
          await r.arrayBuffer();
        }
      }
      const ok = statuses.filter((x) => x === 204).length;
      // The burst (200) and what 1/s refilled while the test ran, not one budget per address.
      expect(ok).toBeLessThanOrEqual(200 + Math.ceil((Date.now() - t0) / 1000) + 1);
      expect(statuses.filter((x) => x !== 204 && x !== 429)).toEqual([]);
      // Another /64 is another client; an IPv4-mapped address counts as its IPv4.
      for (const ip of ['2001:db8:1:3::1', '::ffff:198.51.100.7']) {
        expect((await s.post('/report', reportUriBody('v6').body, 'application/csp-report', { 'x-forwarded-for': ip })).status, ip).toBe(204);
      }
      expect(await s.all()).toHaveLength(ok + 2);
    } finally {
      await s.close();
    }
  });

  it('behind one trusted proxy takes the address that proxy appended, not the one the client wrote', async () => {
    const s = await startTestServer({ rateLimit: 1, trustProxy: 1, ipMode: 'full' });
    try {
      // The client writes any X-Forwarded-For it likes; the proxy appends the address it saw.
      const statuses: number[] = [];
      for (let wave = 0; wave < 25; wave++) {
        const res = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            s.post('/report', reportUriBody('xff').body, 'application/csp-report', { 'x-forwarded-for': `10.0.${wave}.${i}, 203.0.113.9` }),
          ),
        );
        for (const r of res) {
          statuses.push(r.status);
          await r.arrayBuffer();
        }
      }
      expect(statuses.filter((x) => x === 429).length).toBeGreaterThan(0);
      const stored = await s.all();
      expect(stored).toHaveLength(statuses.filter((x) => x === 204).length);
      expect(new Set(stored.map((r) => r.clientIp))).toEqual(new Set(['203.0.113.9']));
    } finally {
      await s.close();
    }
    // Two proxies in front: the second-to-last address is the one the outer proxy saw.
    const two = await startTestServer({ trustProxy: 2, ipMode: 'full' });
    try {
      expect((await two.post('/report', reportUriBody('xff2').body, 'application/csp-report', { 'x-forwarded-for': '6.6.6.6, 198.51.100.4, 10.0.0.2' })).status).toBe(204);
      expect((await two.all()).map((r) => r.clientIp)).toEqual(['198.51.100.4']);
    } finally {
      await two.close();
    }
  });

  it('never limits with rateLimit 0', async () => {
    const s = await startTestServer({ rateLimit: 0 });
    try {
      const statuses: number[] = [];
      for (let wave = 0; wave < 30; wave++) {
        const res = await Promise.all(Array.from({ length: 10 }, () => s.post('/report', reportUriBody('nolimit').body, 'application/csp-report')));
        statuses.push(...res.map((r) => r.status));
      }
      expect(statuses.filter((x) => x !== 204)).toEqual([]);
      expect(await s.all()).toHaveLength(300);
    } finally {
      await s.close();
    }
  });
});

describe('CORS', () => {
  it('answers a report-to preflight with 204 and the CORS headers, and the cross-origin POST carries ACAO', async () => {
    const s = await startTestServer();
    try {
      for (const [path, headersFixture] of [
        ['/report', 'report-to-cross-origin-preflight.json'],
        ['/sdk', 'sdk-fetch-ka-json-cross-star-OPTIONS.json'],
        ['/sdk', 'sdk-beacon-blobjson-cross-cred-OPTIONS.json'],
      ]) {
        const { method, headers } = await browserHeaders(headersFixture);
        expect(method).toBe('OPTIONS');
        const res = await fetch(`${s.url}${path}`, { method, headers });
        expect(res.status, headersFixture).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBe('*');
        expect(res.headers.get('access-control-allow-headers')).toMatch(/(^|,\s*)content-type(\s*,|$)/i);
        expect(res.headers.get('access-control-allow-methods')).toMatch(/\bPOST\b/);
      }
      const { headers } = await browserHeaders('report-to-cross-origin-post.json');
      const res = await s.post('/report', await fixture('enforce/report-to-img.json'), undefined, headers);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(await s.all()).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('with a list of origins echoes a listed origin and gives an unlisted one no ACAO', async () => {
    const s = await startTestServer({ corsOrigins: ['https://127.0.0.1:8811', 'https://shop.example'] });
    try {
      const { headers } = await browserHeaders('report-to-cross-origin-preflight.json');
      const listed = await fetch(`${s.url}/report`, { method: 'OPTIONS', headers });
      expect(listed.status).toBe(204);
      expect(listed.headers.get('access-control-allow-origin')).toBe('https://127.0.0.1:8811');
      expect(listed.headers.get('vary')).toMatch(/origin/i);

      const unlisted = await fetch(`${s.url}/report`, { method: 'OPTIONS', headers: { ...headers, origin: 'https://evil.example' } });
      expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();
      const post2 = await s.post('/report', reportUriBody('cors').body, 'application/csp-report', { origin: 'https://shop.example' });
      expect(post2.status).toBe(204);
      expect(post2.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    } finally {
      await s.close();
    }
  });

  it('with a list of origins refuses posts from any other origin with 403 and stores none of them', async () => {
    const s = await startTestServer({ corsOrigins: ['https://shop.example'] });
    try {
      const listed = reportUriBody('listed');
      expect((await s.post('/report', listed.body, 'application/csp-report', { origin: 'https://shop.example' })).status).toBe(204);
      // report-uri from Chromium and WebKit often carries no Origin at all: accepted.
      const none = reportUriBody('no-origin');
      expect((await s.post('/report', none.body, 'application/csp-report')).status).toBe(204);
      for (const origin of ['https://evil.example', 'null', 'https://shop.example.evil.example', 'http://shop.example']) {
        const res = await s.post('/report', reportUriBody('evil').body, 'application/csp-report', { origin });
        expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
        await expectJsonError(res, 403, /^origin .* is not allowed to post reports here$/);
        await expectJsonError(await s.post('/sdk', JSON.stringify(sdkBatch({ url: 'https://evil.example/x' })), 'text/plain', { origin }), 403, /not allowed/);
      }
      // A refused body is read first, so the client sees the 403 and not a reset; its keep-alive
      // connection still serves the next report.
      const big = await raw(`${s.url}/report`, { headers: { 'content-type': 'application/csp-report', origin: 'https://evil.example' }, chunks: [' '.repeat(256 * 1024), reportUriBody('x').body] });
      expect(big).toMatchObject({ status: 403 });
      expect((await s.all()).map((r) => r.documentURL).sort()).toEqual([listed.document, none.document].sort());
    } finally {
      await s.close();
    }
  });

  it('never opens the read API cross-origin', async () => {
    const s = await startTestServer();
    try {
      const res = await s.api('/violations', { authorization: `Bearer ${s.token}`, origin: 'https://evil.example' });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await s.close();
    }
  });
});

describe('read API', () => {
  let s: TestServer;
  let all: ViolationRecord[];
  beforeAll(async () => {
    s = await startTestServer();
    for (const mode of MODES) {
      for (const name of await fixtureNames(mode, 'report-uri-')) {
        expect((await s.post('/report', await fixture(`${mode}/${name}`), 'application/csp-report')).status).toBe(204);
      }
      expect((await s.post('/report', await fixture(`${mode}/report-to-batch-raw.json`), 'application/reports+json')).status).toBe(204);
    }
    const events = await Promise.all((await fixtureNames('enforce', 'event-')).map(async (n) => JSON.parse(await fixture(`enforce/${n}`))));
    const sdk = sdkBatch({ pageId: 'pv-read', url: 'https://other.example/' });
    sdk.page.policies = [events[0].originalPolicy];
    const batch = { ...sdk, events: events.map((e) => ({ ...sdkEventFrom({ ...e, documentURI: 'https://other.example/' }, Date.now()), policy: 0 })) };
    expect((await s.post('/sdk', JSON.stringify(batch), 'text/plain')).status).toBe(204);
    all = await s.all();
  });
  afterAll(() => s.close());

  it('refuses every read without the token or with a wrong one', async () => {
    for (const path of ['/violations', '/groups', `/groups/${all[0].groupId}`, `/policies/${all[0].policyHash}`, '/stats']) {
      const none = await s.api(path, {});
      await expectJsonError(none, 401, /^missing Authorization: Bearer <token>$/);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      await expectJsonError(await s.api(path, { authorization: 'Bearer wrong-token-0123456789' }), 401, /^invalid token$/);
      await expectJsonError(await s.api(path, { authorization: `Bearer ${s.token}x` }), 401, /^invalid token$/);
      await expectJsonError(await s.api(path, { authorization: `Basic ${Buffer.from(`u:${s.token}`).toString('base64')}` }), 401, /missing/);
    }
  });

  it('filters violations by directive, source, coverage, group, document, disposition, severity and time, and counts the same records in stats', async () => {
    expect(all.length).toBeGreaterThan(40);
    const times = all.map((r) => r.occurredAt).sort((a, b) => a - b);
    const pivot = times[Math.floor(times.length / 2)];
    const cases: [string, (r: ViolationRecord) => boolean][] = [
      ['directive=img-src', (r) => r.effectiveDirective === 'img-src'],
      ['directive=script-src-elem', (r) => r.effectiveDirective === 'script-src-elem'],
      ['source=sdk', (r) => r.sources.sdk > 0],
      ['source=reportUri', (r) => r.sources.reportUri > 0],
      ['source=reportTo', (r) => r.sources.reportTo > 0],
      ['coverage=sdk-only', (r) => r.sources.sdk > 0 && r.sources.reportUri + r.sources.reportTo === 0],
      ['coverage=native-only', (r) => r.sources.sdk === 0],
      ['coverage=native-only&directive=img-src', (r) => r.sources.sdk === 0 && r.effectiveDirective === 'img-src'],
      [`group=${all[0].groupId}`, (r) => r.groupId === all[0].groupId],
      [`document=${encodeURIComponent(all[0].documentURL)}`, (r) => r.documentURL === all[0].documentURL],
      ['disposition=enforce', (r) => r.disposition === 'enforce'],
      ['disposition=report', (r) => r.disposition === 'report'],
      ['severity=high', (r) => r.severity === 'high'],
      ['severity=low', (r) => r.severity === 'low'],
      [`since=${pivot}`, (r) => r.occurredAt >= pivot],
      [`until=${pivot}`, (r) => r.occurredAt < pivot],
      [`since=${encodeURIComponent(new Date(pivot).toISOString())}`, (r) => r.occurredAt >= pivot],
      ['directive=img-src&disposition=report&source=reportTo', (r) => r.effectiveDirective === 'img-src' && r.disposition === 'report' && r.sources.reportTo > 0],
    ];
    for (const [query, keep] of cases) {
      const res = await s.api(`/violations?${query}&limit=500`);
      expect(res.status, query).toBe(200);
      const page = (await res.json()) as ViolationPage;
      const expected = all.filter(keep).map((r) => r.id);
      expect(expected.length, query).toBeGreaterThan(0);
      expect(expected.length, query).toBeLessThan(all.length);
      expect(page.items.map((r) => r.id), query).toEqual(expected);
      // /api/stats counts exactly those records (the dashboard's chart under the same filters).
      const stats = (await (await s.api(`/stats?${query}`)).json()) as Stats;
      const kept = all.filter(keep);
      expect(stats.records, query).toBe(kept.length);
      expect(stats.hours.reduce((n, h) => n + h.total, 0), query).toBe(kept.reduce((n, r) => n + r.count, 0));
      expect(stats.coverage.sdkOnly, query).toBe(kept.filter((r) => r.sources.sdk > 0 && r.sources.reportUri + r.sources.reportTo === 0).length);
      expect(stats.coverage.nativeOnly, query).toBe(kept.filter((r) => r.sources.sdk === 0).length);
      expect(Object.keys(stats.coverage.byDirective).sort(), query).toEqual([...new Set(kept.map((r) => r.effectiveDirective))].sort());
      expect(stats.groups, 'store-wide').toBe(new Set(all.map((r) => r.groupId)).size);
    }
    const none = (await (await s.api('/violations?directive=no-such-directive')).json()) as ViolationPage;
    expect(none).toEqual({ items: [] });
  });

  it('pages through every record with a cursor, newest first, none twice or missing, while reports keep arriving', async () => {
    const p = await startTestServer();
    try {
      const docs: string[] = [];
      for (let i = 0; i < 37; i++) {
        const { body, document } = reportUriBody('page');
        docs.push(document);
        expect((await p.post('/report', body, 'application/csp-report')).status).toBe(204);
      }
      const seen: ViolationRecord[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const res = await p.api(`/violations?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        const page = (await res.json()) as ViolationPage;
        seen.push(...page.items);
        sizes.push(page.items.length);
        cursor = page.next;
        // Newer reports must not shift the pages already being walked.
        if (pages++ === 0) await p.post('/report', reportUriBody('late').body, 'application/csp-report');
      } while (cursor);
      expect(sizes).toEqual([10, 10, 10, 7]);
      expect(new Set(seen.map((r) => r.id)).size).toBe(37);
      expect(seen.map((r) => r.documentURL)).toEqual([...docs].reverse());
      expect((await p.all()).length).toBe(38);
    } finally {
      await p.close();
    }
  });

  it('answers 400 with a JSON error for bad query values', async () => {
    const bad: [string, RegExp][] = [
      ['/violations?limit=0', /^limit must be an integer from 1 to 500$/],
      ['/violations?limit=501', /^limit must be/],
      ['/violations?limit=ten', /^limit must be/],
      ['/violations?limit=1.5', /^limit must be/],
      ['/violations?source=email', /^source must be one of sdk, reportUri, reportTo$/],
      ['/violations?disposition=block', /^disposition must be one of/],
      ['/violations?severity=urgent', /^severity must be one of/],
      ['/violations?since=yesterday', /^since must be a time/],
      ['/violations?until=12abc', /^until must be a time/],
      ['/violations?cursor=garbage', /^cursor is not one this API returned$/],
      ['/violations?cursor=r!', /^cursor is not one/],
      ['/violations?directive=img-src&directive=script-src', /^directive may be given once$/],
      ['/groups?sort=random', /^sort must be one of/],
      ['/groups?coverage=all', /^coverage must be one of/],
      ['/groups?cursor=r1', /^cursor is not one/],
      ['/stats?since=soon', /^since must be a time/],
      ['/stats?coverage=both', /^coverage must be one of merged, sdk-only, native-only$/],
      ['/stats?severity=urgent', /^severity must be one of/],
      ['/violations?coverage=none', /^coverage must be one of/],
    ];
    for (const [path, error] of bad) await expectJsonError(await s.api(path), 400, error);
  });

  it('lists groups, shows one group with its records and policy, and 404s unknown ids', async () => {
    const page = (await (await s.api('/groups?limit=500')).json()) as GroupPage;
    expect(page.items.length).toBeGreaterThan(5);
    expect(page.items.reduce((n, g) => n + g.records, 0)).toBe(all.length);
    // The groups with a record on one document (the dashboard's document filter): a prefix of the
    // URL, its query and fragment ignored.
    const noQuery = (u: string) => u.replace(/[?#].*$/, '');
    for (const doc of new Set(all.map((r) => r.documentURL))) {
      const on = (await (await s.api(`/groups?limit=500&document=${encodeURIComponent(doc)}`)).json()) as GroupPage;
      expect(on.items.map((x) => x.id).sort(), doc).toEqual([...new Set(all.filter((r) => noQuery(r.documentURL).startsWith(noQuery(doc))).map((r) => r.groupId))].sort());
    }
    const withPolicy = all.find((r) => r.policyHash)!;
    const g: ViolationGroup = page.items.find((x) => x.id === withPolicy.groupId)!;
    const one = await s.api(`/groups/${g.id}`);
    expect(one.status).toBe(200);
    const detail = await one.json();
    expect(detail.group).toEqual(g);
    expect(detail.records.map((r: ViolationRecord) => r.id).sort()).toEqual(all.filter((r) => r.groupId === g.id).map((r) => r.id).sort());
    const example = all.find((r) => r.id === g.exampleId)!;
    const policy = await (await s.api(`/policies/${example.policyHash}`)).json();
    expect(detail.policy).toBe(policy.policy);
    expect(detail.policy).toMatch(/^default-src 'self'/);
    const sorted = (await (await s.api('/groups?sort=count&limit=3')).json()) as GroupPage;
    expect(sorted.items).toHaveLength(3);
    expect(sorted.next).toBe('3');
    await expectJsonError(await s.api('/groups/no-such-group'), 404, /^no such group$/);
    await expectJsonError(await s.api('/groups/__proto__'), 404, /^no such group$/);
    await expectJsonError(await s.api('/policies/0000000000000000'), 404, /^no such policy$/);
    await expectJsonError(await s.api('/policies/constructor'), 404, /^no such policy$/);
  });

  it('reports stats over what was stored', async () => {
    const stats = await s.stats();
    expect(stats.records).toBe(all.length);
    expect(stats.coverage.merged + stats.coverage.sdkOnly + stats.coverage.nativeOnly).toBe(all.length);
    expect(stats.coverage.sdkOnly).toBe(all.filter((r) => r.sources.sdk > 0).length);
    expect(stats.hours.reduce((n, h) => n + h.total, 0)).toBe(all.reduce((n, r) => n + r.count, 0));
    expect(stats.groups).toBeGreaterThan(5);
  });
});

describe('GET /csp/sdk.js', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(() => tmp.remove());

  it('serves the SDK with a JS type and an ETag, 304 on If-None-Match, immutable when pinned by ?v=', async () => {
    const script = join(tmp.dir, 'sdk.js');
    const source = '(function(){/* csp-lens sdk */})();\n';
    await writeFile(script, source);
    const s = await startTestServer({ sdkScriptPath: script });
    try {
      const res = await fetch(`${s.url}/sdk.js`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^(application|text)\/javascript/);
      expect(await res.text()).toBe(source);
      const etag = res.headers.get('etag')!;
      const version = res.headers.get('x-csp-lens-sdk-version')!;
      expect(etag).toBe(`"${version}"`);
      expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
      expect(res.headers.get('access-control-allow-origin')).toBe('*');

      // Not fetch: it adds Cache-Control: no-cache to conditional requests, which forbids a 304.
      const again = await raw(`${s.url}/sdk.js`, { method: 'GET', headers: { 'if-none-match': etag } });
      expect(again).toMatchObject({ status: 304, body: '' });
      const changed = await raw(`${s.url}/sdk.js`, { method: 'GET', headers: { 'if-none-match': '"other"' } });
      expect(changed).toMatchObject({ status: 200, body: source });

      const pinned = await fetch(`${s.url}/sdk.js?v=${version}`);
      expect(pinned.status).toBe(200);
      expect(pinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const other = await fetch(`${s.url}/sdk.js?v=000000000000`);
      expect(other.headers.get('cache-control')).toBe('public, max-age=86400');
    } finally {
      await s.close();
    }
  });

  it('answers 503 with a JSON error when the SDK is not built', async () => {
    const s = await startTestServer({ sdkScriptPath: join(tmp.dir, 'missing.js') });
    try {
      await expectJsonError(await fetch(`${s.url}/sdk.js`), 503, /not built/);
    } finally {
      await s.close();
    }
  });
});

describe('routing', () => {
  it('answers unknown routes and methods with 404/405, never 500', async () => {
    const s = await startTestServer();
    try {
      const origin = new URL(s.url).origin;
      const cases: [string, string, number][] = [
        ['GET', `${s.url}/nope`, 404],
        ['GET', `${origin}/`, 404],
        ['POST', `${origin}/report`, 404],
        ['GET', `${s.url}/report`, 405],
        ['PUT', `${s.url}/report`, 405],
        // DELETE /api/violations is an erasure now (erase-api.test.ts).
        ['PUT', `${s.url}/api/violations`, 405],
        ['DELETE', `${s.url}/api/stats`, 405],
      ];
      for (const [method, url, status] of cases) {
        const res = await fetch(url, { method, headers: { authorization: `Bearer ${s.token}` } });
        await res.arrayBuffer();
        expect(res.status, `${method} ${url}`).toBe(status);
        if (status === 405) expect(res.headers.get('allow')).toBeTruthy();
      }
    } finally {
      await s.close();
    }
  });
});
