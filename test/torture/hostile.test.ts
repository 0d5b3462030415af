import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerator } from '../../bench/bodies.mjs';
import { memoryOf, startReceiver, type Started } from '../../bench/lib.mjs';
import { post, TOKEN, type Reply } from './helpers.js';

const TIMEOUT_MS = 10_000;
const TYPES = [
  'application/csp-report',
  'application/reports+json',
  'application/json',
  'application/json; charset=utf-8',
  'application/x-www-form-urlencoded',
  'text/plain;charset=UTF-8',
  'text/html',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '',
  'application/json; charset=utf-16',
  'APPLICATION/CSP-REPORT',
];
const gen = createGenerator({ docs: 1000, runId: 'h-' });
const valid = { '/csp/report': JSON.parse(gen.reportUri(0)), '/csp/sdk': JSON.parse(gen.sdkBatch(0)) };
const validBatch = JSON.parse(gen.reportToBatch(0, 3));

// Wrong types for every field: what a fuzzer, an old browser or an attacker puts there.
const wrong = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.constant(1e308),
  fc.string({ maxLength: 40 }),
  fc.constant('x'.repeat(70_000)),
  fc.array(fc.string(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '\uD800', '\u0000', 'javascript:alert(1)'),
);

/** `value` with the field at `path` (a list of keys) replaced. */
function setAt(value: unknown, path: (string | number)[], to: unknown): unknown {
  if (!path.length) return to;
  const copy = Array.isArray(value) ? [...value] : { ...(value as object) };
  (copy as Record<string | number, unknown>)[path[0]] = setAt((value as Record<string | number, unknown>)?.[path[0]], path.slice(1), to);
  return copy;
}

function fieldPaths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [prefix];
  const out: (string | number)[][] = prefix.length ? [prefix] : [];
  for (const [k, x] of Object.entries(v)) out.push(...fieldPaths(x, [...prefix, Array.isArray(v) ? Number(k) : k]));
  return out;
}

interface Case {
  path: string;
  type: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
}

/** Hand-made cases: each class of hostile input the issue lists, several of each. */
function handMade(): Case[] {
  const cases: Case[] = [];
  const both = (body: string | Uint8Array, type = 'application/json', headers?: Record<string, string>) => {
    cases.push({ path: '/csp/report', type, body, headers }, { path: '/csp/sdk', type: type === 'application/json' ? 'text/plain' : type, body, headers });
  };
  const text = gen.reportUri(1);
  for (let k = 1; k < text.length; k += 7) both(text.slice(0, k), 'application/csp-report'); // truncated
  const batch = gen.reportToBatch(1, 10);
  for (let k = 1; k < batch.length; k += 97) both(batch.slice(0, k), 'application/reports+json');
  for (const depth of [33, 100, 10_000, 100_000]) {
    both('['.repeat(depth) + ']'.repeat(depth));
    both('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
    both('['.repeat(depth)); // unclosed
  }
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    both(`{"csp-report":{"${key}":{"polluted":true},"document-uri":"https://a.example/"}}`, 'application/csp-report');
    both(`[{"type":"csp-violation","body":{"${key}":{"x":1},"documentURL":"https://a.example/","effectiveDirective":"img-src"}}]`, 'application/reports+json');
    both(JSON.stringify({ v: 1, page: { id: 'p', tags: JSON.parse(`{"${key}":"x"}`) }, events: [] }).replace('"tags":{}', `"tags":{"${key}":{"a":1}}`), 'text/plain');
    both(`{"${key}":{"${key}":{"toString":1}}}`);
  }
  // Invalid UTF-8: lone continuation bytes, overlongs, surrogates encoded, truncated sequences.
  const bad = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]];
  for (const b of bad) {
    const body = Buffer.concat([Buffer.from('{"csp-report":{"document-uri":"https://a.example/'), Buffer.from(b), Buffer.from('","effective-directive":"img-src","blocked-uri":"inline"}}')]);
    both(new Uint8Array(body), 'application/csp-report');
  }
  both(new Uint8Array(4096).map((_, i) => (i * 131 + 7) % 256), 'application/csp-report');
  // Huge strings: just under and over the 1 MiB body limit.
  both(JSON.stringify({ 'csp-report': { 'document-uri': `https://a.example/${'a'.repeat(900_000)}`, 'effective-directive': 'img-src', 'blocked-uri': 'inline' } }), 'application/csp-report');
  both(JSON.stringify({ 'csp-report': { 'document-uri': 'https://a.example/', 'script-sample': 'x'.repeat(1_100_000) } }), 'application/csp-report');
  both(`"${'\\u0000'.repeat(150_000)}"`);
  // Arrays of 10,000 items.
  both(JSON.stringify(Array.from({ length: 10_000 }, () => ({ type: 'csp-violation', body: { documentURL: 1 } }))), 'application/reports+json');
  both(JSON.stringify(Array.from({ length: 10_000 }, () => 0)), 'application/reports+json');
  both(JSON.stringify({ v: 1, page: { id: 'p', policies: Array.from({ length: 10_000 }, () => 'x') }, events: Array.from({ length: 10_000 }, () => ({})) }), 'text/plain');
  // Wrong content types for valid bodies, and content types that lie.
  for (const type of TYPES) both(gen.reportUri(2), type);
  both(gen.reportUri(3), 'application/json', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  // Compression: a gzip bomb (100 MB of zeros in ~100 KB), garbage that claims to be gzip, unknown codings.
  const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });
  for (let i = 0; i < 3; i++) both(new Uint8Array(bomb), 'application/csp-report', { 'content-encoding': 'gzip' });
  both(new Uint8Array(gzipSync(Buffer.from(gen.reportUri(4)))).slice(0, 20), 'application/csp-report', { 'content-encoding': 'gzip' });
  both(new Uint8Array(Buffer.from('not gzip at all')), 'application/csp-report', { 'content-encoding': 'gzip' });
  both(new Uint8Array(Buffer.from('not deflate')), 'application/csp-report', { 'content-encoding': 'deflate' });
  both(new Uint8Array(Buffer.from('not brotli')), 'application/csp-report', { 'content-encoding': 'br' });
  both(gen.reportUri(5), 'application/csp-report', { 'content-encoding': 'zstd-or-whatever' });
  both('', 'application/csp-report');
  both('   ', 'application/csp-report');
  both('\uFEFF', 'text/plain');
  both('null', 'application/json');
  both('v=1&events=%ZZ', 'application/x-www-form-urlencoded');
  return cases;
}

describe('hostile input against a listening receiver', () => {
  let dir: string;
  let s: Started;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'csp-lens-torture-hostile-'));
    // No timed checkpoint during the run: the test compares the live file's stat across rejected
    // bodies, and a checkpoint rewrites it whatever was (or was not) accepted.
    s = await startReceiver(join(dir, 'db.json'), { maxRecords: 100_000, extra: ['--checkpoint-ms', '3600000'] });
  });
  afterAll(async () => {
    agent.destroy();
    await s?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = async () => (await (await fetch(`${s.url}/csp/api/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Record<string, unknown>;
  const fileState = () => {
    try {
      const st = statSync(join(dir, 'db.json'));
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return 'none';
    }
  };

  it('answers thousands of generated and hand-made bodies: no 5xx, no crash, no hang, a rejected body changes nothing', async () => {
    const began = Date.now();
    const tally: Record<string, number> = {};
    let accepted = 0;
    let rejected = 0;
    let slowest = 0;
    const failures: string[] = [];
    let before = JSON.stringify(await stats());
    let file = fileState();

    const send = async (c: Case, label: string): Promise<Reply> => {
      const reply = await post(`${s.url}${c.path}`, c.body, { ...(c.type ? { 'content-type': c.type } : {}), ...c.headers }, { agent, timeoutMs: TIMEOUT_MS });
      slowest = Math.max(slowest, reply.ms);
      tally[reply.status] = (tally[reply.status] ?? 0) + 1;
      if (reply.status === 0 || reply.status >= 500) failures.push(`${label}: ${reply.status} ${reply.body.slice(0, 200)}`);
      if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`receiver died after ${label}: ${s.stderr()}`);
      const after = JSON.stringify(await stats());
      if (reply.status >= 200 && reply.status < 300) {
        accepted++;
        before = after;
        file = fileState();
      } else {
        rejected++;
        // The read model and the file on disk are exactly as before.
        if (after !== before) failures.push(`${label}: rejected with ${reply.status} but the store changed`);
        if (fileState() !== file) failures.push(`${label}: rejected with ${reply.status} but the file changed`);
      }
      return reply;
    };

    const cases = handMade();
    for (const [i, c] of cases.entries()) await send(c, `hand-made #${i} (${c.path}, ${c.type || 'no type'})`);

    // Generated: random JSON, valid bodies with one field of a wrong type, random bytes.
    const route = fc.constantFrom('/csp/report', '/csp/sdk');
    const type = fc.constantFrom(...TYPES);
    const arbitrary = fc.oneof(
      fc.record({ path: route, type, body: fc.json({ depthSize: 'medium' }) }),
      fc.record({ path: route, type, body: fc.uint8Array({ maxLength: 2000 }) }),
      fc.constantFrom<keyof typeof valid>('/csp/report', '/csp/sdk').chain((path) =>
        fc.record({
          path: fc.constant(path),
          type: fc.constant(path === '/csp/sdk' ? 'text/plain' : 'application/csp-report'),
          body: fc.tuple(fc.constantFrom(...fieldPaths(valid[path])), wrong).map(([p, w]) => JSON.stringify(setAt(valid[path], p, w))),
        }),
      ),
      fc.record({
        path: fc.constant('/csp/report'),
        type: fc.constant('application/reports+json'),
        body: fc.tuple(fc.constantFrom(...fieldPaths(validBatch)), wrong).map(([p, w]) => JSON.stringify(setAt(validBatch, p, w))),
      }),
      // Keys that poison prototypes, anywhere in an otherwise plausible report.
      fc.record({
        path: fc.constant('/csp/report'),
        type: fc.constant('application/csp-report'),
        body: fc.tuple(fc.constantFrom(...fieldPaths(valid['/csp/report']).filter((p) => p.length > 1)), fc.constantFrom('__proto__', 'constructor')).map(
          ([p, key]) => JSON.stringify(valid['/csp/report']).replace(`"${String(p[p.length - 1])}":`, `"${key}":{"polluted":1},"${String(p[p.length - 1])}":`),
        ),
      }),
    );
    let generated = 0;
    await fc.assert(
      fc.asyncProperty(arbitrary, async (c) => {
        generated++;
        await send(c, `generated #${generated} (${c.path}, ${c.type || 'no type'}): ${String(typeof c.body === 'string' ? c.body : `bytes ${c.body.length}`).slice(0, 120)}`);
        return true;
      }),
      { numRuns: 2500, seed: 7 },
    );

    const { rss, peak } = memoryOf(s.pid);
    const total = cases.length + generated;
    console.log(
      `hostile input: ${total} bodies (${cases.length} hand-made, ${generated} generated) in ${Date.now() - began} ms: ` +
        `${accepted} accepted, ${rejected} rejected, statuses ${JSON.stringify(tally)}, slowest answer ${Math.round(slowest)} ms, ` +
        `receiver RSS ${(rss / 2 ** 20).toFixed(0)} MiB (peak ${(peak / 2 ** 20).toFixed(0)} MiB)`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(total).toBeGreaterThan(2000);
    expect(peak).toBeLessThan(512 * 2 ** 20);
  }, 170_000);
});
