import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GroupAdvice, ViolationGroup } from '@csp-lens/schema';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import { openFileStore } from '../../packages/receiver/src/store/file/index.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/core/types.js';
import { adviseGroup, MAX_HASHES } from '../../packages/receiver/src/core/advice.js';
import { groupAdvice } from '../../packages/receiver/src/http/policy-api.js';
import { tempDir } from '../helpers/server.js';

// The advice rules on real report bodies: one page view of the probe page with the SDK on it, as
// Firefox ESR 153 and WebKitGTK 2.50 sent it (test/fixtures/<engine>/wire/f_sdk_uri.json), and
// Chromium 156's report-uri bodies (test/fixtures/chromium-156/enforce). Where a rule needs what the
// probe page does not do (a cross-site fetch, eval of WebAssembly, 'strict-dynamic'), a real body
// is changed in the one field the rule is about, and the test says so.

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const FIXTURES = new URL('../fixtures/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), 'utf8');
const sha256 = (text: string) => `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;

/** The text the browser hashed for an inline element of the probe page (page.html), by id. */
function inlineText(engine: string, id: string, attr?: string): string {
  const html = read(`${engine}/page.html`);
  if (attr) return new RegExp(`id="${id}"[^>]*\\s${attr}="([^"]*)"`).exec(html)![1]!;
  return new RegExp(`<(script|style) id="${id}">([^]*?)</\\1>`).exec(html)![2]!;
}

interface Wire {
  requests: { at: number; method: string; url: string; rawHeaders: string[]; body: string }[];
}
const header = (raw: string[], name: string) => {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
};

interface Replay {
  /** Add the SDK's hash to its inline events, as the SDK of this branch does. */
  hash?: boolean;
  release?: string;
  at?: number;
  clientIp?: string;
  /** Another page view id (a replay is otherwise the same page view, and merges with it). */
  view?: string;
}

/** One page view of an engine (every native report and the SDK's batch), normalized as the receiver does. */
function pageView(engine: string, o: Replay = {}): IngestBatch[] {
  const wire = JSON.parse(read(`${engine}/wire/f_sdk_uri.json`)) as Wire;
  const out: IngestBatch[] = [];
  for (const r of wire.requests) {
    if (r.method !== 'POST') continue;
    const sdk = r.url.includes('via=sdk');
    if (!sdk && !r.url.startsWith('/r/uri')) continue;
    const meta = { receivedAt: (o.at ?? T0) + r.at, userAgent: header(r.rawHeaders, 'user-agent'), clientIp: o.clientIp ?? '198.51.100.0' };
    let body = parseBody(r.body, header(r.rawHeaders, 'content-type') ?? '') as Record<string, any>;
    if (sdk) {
      body = structuredClone(body);
      if (o.release) body.page.release = o.release;
      if (o.view) body.page.id = o.view;
      for (const e of body.events) {
        if (!o.hash || e.blockedURI !== 'inline' || !e.element) continue;
        const id = /#([\w-]+)$/.exec(e.element.selector)![1]!;
        e.element.hash = sha256(inlineText(engine, id, e.element.attr));
      }
    }
    out.push(sdk ? normalizeSdk(body, meta) : normalizeNative(body, meta));
  }
  return out;
}

/** A Chromium report-uri body of the probe page, with fields changed where a test says so. */
function chromium(type: string, change: Record<string, unknown> = {}, at = T0, clientIp = '198.51.100.0'): IngestBatch {
  const body = JSON.parse(read(`chromium-156/enforce/report-uri-${type}.json`));
  Object.assign(body['csp-report'], change);
  return normalizeNative(body, { receivedAt: at, clientIp, userAgent: 'Chromium 156' });
}

let opened: { store: Store; remove: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened) await o.store.close().then(o.remove);
  opened = [];
});

/** A file store holding the batches; `advice(test)` finds the group a test is about and advises on it. */
async function storeOf(batches: IngestBatch[]) {
  const { dir, remove } = await tempDir();
  const store = await openFileStore({ path: join(dir, 'db.json') });
  opened.push({ store, remove });
  for (const b of batches) await store.append(b);
  const groups = (await store.groups({ limit: 500 })).items;
  return {
    store,
    groups,
    async advice(pick: (g: ViolationGroup) => boolean): Promise<GroupAdvice> {
      const g = groups.filter(pick);
      expect(g, 'exactly one group matches').toHaveLength(1);
      return groupAdvice(store, (await store.group(g[0]!.id))!);
    },
  };
}

const is = (directive: string, blocked: string) => (g: ViolationGroup) => g.effectiveDirective === directive && g.blocked === blocked;
const POLICY_SCRIPT = "script-src 'self' 'nonce-…' 'report-sample'";

describe.each(['firefox-153', 'webkit-2.50'])('advice for one page view of %s, with the SDK hashing inline code', (engine) => {
  const view = () => storeOf(pageView(engine, { hash: true }));

  it('allows an external script of the same site by its path (script-src, where the policy has it)', async () => {
    const a = await (await view()).advice(is('script-src-elem', 'https://127.0.0.1:8813'));
    expect(a).toMatchObject({ verdict: 'allow', directive: 'script-src', add: ['https://127.0.0.1:8813/static/x.js'], kind: 'path' });
    expect(a.result).toBe(`${POLICY_SCRIPT} https://127.0.0.1:8813/static/x.js`);
    expect(a.summary).toBe('Add https://127.0.0.1:8813/static/x.js to script-src.');
  });

  it('allows an image of another site by its origin, and same-site images by their common path', async () => {
    const v = await view();
    expect(await v.advice(is('img-src', 'https://localhost:8813'))).toMatchObject({ verdict: 'allow', directive: 'img-src', add: ['https://localhost:8813'], kind: 'host', result: "img-src 'self' https://localhost:8813" });
    // /images/some/…/photo.png and /dyn/created-by-script.png have only "/" in common: the origin.
    expect(await v.advice(is('img-src', 'https://127.0.0.1:8813'))).toMatchObject({ verdict: 'allow', add: ['https://127.0.0.1:8813'], kind: 'host' });
  });

  it('does not propose what the policy already allows: the image was blocked after a redirect', async () => {
    const a = await (await view()).advice(is('img-src', 'https://127.0.0.1:8811'));
    expect(a.verdict).toBe('investigate');
    expect(a.add).toBeUndefined();
    expect(a.summary).toMatch(/^'self' already allows this URL: the request was redirected/);
  });

  it('allows an inline script by the exact hash the SDK computed', async () => {
    const a = await (await view()).advice(is('script-src-elem', 'inline'));
    const hash = `'${sha256(inlineText(engine, 'v-inline-script'))}'`;
    expect(a).toMatchObject({ verdict: 'allow', directive: 'script-src', add: [hash], kind: 'hash', result: `${POLICY_SCRIPT} ${hash}` });
    expect(a.alternatives![0]).toMatch(/nonce/);
    expect(JSON.stringify(a)).not.toContain('unsafe-inline\' in');
  });

  it("allows an inline style element by its hash, style and handler attributes with 'unsafe-hashes'", async () => {
    const v = await view();
    const styleEl = `'${sha256(inlineText(engine, 'v-style-elem'))}'`;
    const styleAttr = `'${sha256(inlineText(engine, 'v-style-attr', 'style'))}'`;
    const handler = `'${sha256(inlineText(engine, 'v-onclick', 'onclick'))}'`;
    expect(await v.advice(is('style-src-elem', 'inline'))).toMatchObject({ verdict: 'allow', directive: 'style-src', add: [styleEl] });
    const attr = await v.advice(is('style-src-attr', 'inline'));
    expect(attr).toMatchObject({ verdict: 'allow', directive: 'style-src', add: ["'unsafe-hashes'", styleAttr], result: `style-src 'self' 'report-sample' 'unsafe-hashes' ${styleAttr}` });
    expect(attr.warnings![0]).toMatch(/'unsafe-hashes' lets this exact text run in any style attribute/);
    expect(await v.advice(is('script-src-attr', 'inline'))).toMatchObject({ verdict: 'allow', directive: 'script-src', add: ["'unsafe-hashes'", handler] });
  });

  it('says eval is fixed in code, and where it is called', async () => {
    const a = await (await view()).advice((g) => g.category === 'eval');
    expect(a.verdict).toBe('fix-code');
    expect(a.add).toBeUndefined();
    expect(a.summary).toMatch(/fix the code, not the policy\.$/);
    expect(a.alternatives!.at(-1)).toMatch(/^Last resort: 'unsafe-eval'/);
    // Lines 123 to 127 of page.html: eval(…), the loop, the repeat and new Function.
    expect(a.locations!.map((l) => l.line).sort()).toEqual([123, 124, 125, 127]);
    expect(a.locations!.every((l) => l.file.startsWith('https://127.0.0.1:8811/p'))).toBe(true);
    expect(a.locations!.find((l) => l.line === 125)).toMatchObject({ sample: '2 + 2', count: 3 });
  });

  it('allows a same-site fetch, a blob: worker, a cut frame by its element URL, and a same-site form target', async () => {
    const v = await view();
    expect(await v.advice(is('connect-src', 'https://127.0.0.1:8813'))).toMatchObject({ verdict: 'allow', directive: 'connect-src', add: ['https://127.0.0.1:8813/api/data'] });
    expect(await v.advice(is('worker-src', 'blob'))).toMatchObject({ verdict: 'allow', directive: 'worker-src', add: ['blob:'], kind: 'scheme', result: "worker-src 'self' blob:" });
    // Both engines cut frame-src to the origin, in the event too: the SDK's element has the URL.
    expect(await v.advice(is('frame-src', 'https://127.0.0.1:8813'))).toMatchObject({ verdict: 'allow', add: ['https://127.0.0.1:8813/frame.html'] });
    expect(await v.advice(is('form-action', 'https://127.0.0.1:8813'))).toMatchObject({ verdict: 'allow', directive: 'form-action', add: ['https://127.0.0.1:8813/submit'] });
  });
});

describe('advice without a hash', () => {
  it('explains that the SDK gives the hash, and recommends the nonce the policy already has', async () => {
    const a = await (await storeOf(pageView('firefox-153'))).advice(is('script-src-elem', 'inline'));
    expect(a.verdict).toBe('fix-code');
    expect(a.add).toBeUndefined();
    expect(a.reasons[0]).toMatch(/^No hash was reported: the SDK sends one/);
    expect(a.alternatives).toEqual([
      "The policy has a nonce: give this element the page's nonce.",
      'Or move the code into a file on an allowed host.',
      expect.stringMatching(/^Not 'unsafe-inline'/),
    ]);
  });

  it('a native report alone (Chromium report-uri) gets the same advice for an event handler', async () => {
    const a = await (await storeOf([chromium('inline-event-handler')])).advice(is('script-src-attr', 'inline'));
    expect(a.verdict).toBe('fix-code');
    expect(a.alternatives![0]).toBe('Move the handler into a script (element.addEventListener).');
  });

  it(`gives up on hashes when the text changes between page views (more than ${MAX_HASHES} texts)`, async () => {
    const views = Array.from({ length: MAX_HASHES + 1 }, (_, i) => pageView('firefox-153', { hash: true, at: T0 + i * 60_000, view: `pv_${i}` }));
    // Each page view's inline script wrote other data into it: another hash each time.
    views.forEach((batches, i) => {
      for (const v of batches.flatMap((b) => b.violations)) if (v.element?.hash && v.effectiveDirective === 'script-src-elem') v.element = { ...v.element, hash: sha256(`data ${i}`) };
    });
    // Firefox's inline sourceFile is the page URL with its run query, the same in each replay.
    const a = await (await storeOf(views.flat())).advice(is('script-src-elem', 'inline'));
    expect(a.verdict).toBe('fix-code');
    expect(a.reasons.join(' ')).toMatch(/6 different texts among 6 records: the code changes between page views/);
  });
});

describe('when allowing is wrong', () => {
  // The probe page fetches from its own site; here the same real report goes to another site.
  const exfil = (clientIp: string, at = T0) => chromium('fetch', { 'blocked-uri': 'https://collect.evil.example/c?d=secret' }, at, clientIp);

  it('a connect-src to another site seen from one client only: investigate, not allow', async () => {
    const a = await (await storeOf([exfil('198.51.100.0'), exfil('198.51.100.0', T0 + 5000)])).advice(is('connect-src', 'https://collect.evil.example'));
    expect(a.verdict).toBe('investigate');
    expect(a.add).toEqual(['https://collect.evil.example']);
    expect(a.summary).toBe('Do not add https://collect.evil.example yet: find out where it comes from first.');
    expect(a.reasons.join(' ')).toMatch(/Seen from one client only/);
  });

  it('the same from three clients: allowed', async () => {
    const a = await (await storeOf([exfil('198.51.100.0'), exfil('203.0.113.0'), exfil('192.0.2.0')])).advice(is('connect-src', 'https://collect.evil.example'));
    expect(a).toMatchObject({ verdict: 'allow', add: ['https://collect.evil.example'] });
  });

  it('inline script new on a page seen an hour before without it, same release: investigate', async () => {
    const before = pageView('firefox-153', { hash: true, release: '1.0' }).map((b) => ({ ...b, violations: b.violations.filter((v) => v.blockedURL !== 'inline') }));
    const after = pageView('firefox-153', { hash: true, release: '1.0', at: T0 + HOUR }).map((b) => ({ ...b, violations: b.violations.filter((v) => v.effectiveDirective === 'script-src-elem' && v.blockedURL === 'inline') }));
    const a = await (await storeOf([...before, ...after])).advice(is('script-src-elem', 'inline'));
    expect(a.verdict).toBe('investigate');
    expect(a.reasons.join(' ')).toMatch(/Inline script that https:\/\/127\.0\.0\.1:8811\/p\?run=f_sdk_uri-\w+&mode=enforce&rep=uri never had before/);
    expect(a.add).toHaveLength(1);
  });

  it('the same with a new release: the deploy explains it, allowed', async () => {
    const before = pageView('firefox-153', { hash: true, release: '1.0' }).map((b) => ({ ...b, violations: b.violations.filter((v) => v.blockedURL !== 'inline') }));
    const after = pageView('firefox-153', { hash: true, release: '1.1', at: T0 + HOUR }).map((b) => ({ ...b, violations: b.violations.filter((v) => v.effectiveDirective === 'script-src-elem' && v.blockedURL === 'inline') }));
    const a = await (await storeOf([...before, ...after])).advice(is('script-src-elem', 'inline'));
    expect(a.verdict).toBe('allow');
    expect(a.reasons.join(' ')).toMatch(/appeared with release 1\.1: the deploy explains it/);
  });

  it('a javascript: URL: investigate (Chromium reports the navigation as inline with the URL as sample)', async () => {
    const a = await (await storeOf([chromium('inline-script', { 'script-sample': 'javascript:alert(document.cookie)' })])).advice(is('script-src-elem', 'inline'));
    expect(a).toMatchObject({ verdict: 'investigate' });
    expect(a.summary).toMatch(/^A javascript: URL ran/);
  });

  it('data: as a script source: investigate, with a warning', async () => {
    const a = await (await storeOf([chromium('external-script', { 'blocked-uri': 'data' })])).advice(is('script-src-elem', 'data'));
    expect(a).toMatchObject({ verdict: 'investigate', add: ['data:'], kind: 'scheme' });
    expect(a.warnings![0]).toMatch(/^data: in a script directive lets injected markup run any code/);
  });

  it("an external script under 'strict-dynamic': no host source works, fix the code", async () => {
    const policy = "script-src 'nonce-Nonce0123456789' 'strict-dynamic'; report-uri /r/uri";
    const a = await (await storeOf([chromium('external-script', { 'original-policy': policy })])).advice(is('script-src-elem', 'https://127.0.0.1:8813'));
    expect(a).toMatchObject({ verdict: 'fix-code' });
    expect(a.summary).toMatch(/^The policy has 'strict-dynamic', which ignores host sources/);
  });

  it('a browser extension: nothing to add', async () => {
    const a = await (await storeOf([chromium('external-script', { 'blocked-uri': 'chrome-extension://abcdefghijklmnop/inject.js' })])).advice((g) => g.category === 'extension');
    expect(a).toMatchObject({ verdict: 'investigate' });
    expect(a.add).toBeUndefined();
  });

  it('a blocked host that is no valid host-source (an underscore, a ";") is never proposed', async () => {
    for (const host of ['https://exa_mple.example/x.js', 'https://a;script-src/x.js']) {
      const a = await (await storeOf([chromium('external-script', { 'blocked-uri': host })])).advice((g) => g.effectiveDirective === 'script-src-elem');
      expect(a.verdict, host).toBe('investigate');
      expect(a.add, host).toBeUndefined();
      expect(a.result, host).toBeUndefined();
    }
  });

  it('the overflow group: nothing to add', () => {
    const a = adviseGroup({ overflow: true, records: 3 } as ViolationGroup, [], undefined, { clients: 3 });
    expect(a).toMatchObject({ verdict: 'investigate' });
    expect(a.add).toBeUndefined();
  });
});

describe('other kinds', () => {
  it("frame-ancestors: a parent of the page's own origin (Firefox names it) is 'self'; Chromium's cut report names none", async () => {
    const demo = JSON.parse(read('firefox-153/demo/report-uri.json')) as Wire;
    const body = demo.requests.find((r) => r.body.includes('"frame-ancestors"'))!.body;
    const firefox = normalizeNative(JSON.parse(body), { receivedAt: T0 });
    const a = await (await storeOf([firefox])).advice((g) => g.effectiveDirective === 'frame-ancestors');
    expect(a).toMatchObject({ verdict: 'allow', directive: 'frame-ancestors', add: ["'self'"], result: "frame-ancestors 'self'" });
    // Chromium files it under the framed page's origin (ENGINES.md rule 7).
    const cut = JSON.parse(body);
    cut['csp-report']['blocked-uri'] = 'http://127.0.0.1:35509/';
    const b = await (await storeOf([normalizeNative(cut, { receivedAt: T0 })])).advice((g) => g.effectiveDirective === 'frame-ancestors');
    expect(b.verdict).toBe('investigate');
    expect(b.add).toBeUndefined();
  });

  it("WebAssembly compilation: 'wasm-unsafe-eval' (an eval report of Chromium, blocked wasm-eval)", async () => {
    const a = await (await storeOf([chromium('eval', { 'blocked-uri': 'wasm-eval' })])).advice((g) => g.category === 'wasm-eval');
    expect(a).toMatchObject({ verdict: 'allow', directive: 'script-src', add: ["'wasm-unsafe-eval'"] });
  });

  it('Trusted Types: a policy name goes into trusted-types; a sink is fixed in code', async () => {
    const policy = "trusted-types app; require-trusted-types-for 'script'; report-uri /r/uri";
    const named = chromium('eval', { 'blocked-uri': 'trusted-types-policy', 'effective-directive': 'trusted-types', 'violated-directive': 'trusted-types', 'script-sample': 'analytics', 'original-policy': policy });
    const sink = chromium('eval', { 'blocked-uri': 'trusted-types-sink', 'effective-directive': 'require-trusted-types-for', 'violated-directive': 'require-trusted-types-for', 'script-sample': 'Element innerHTML|<img src=x>', 'original-policy': policy });
    const v = await storeOf([named, sink]);
    expect(await v.advice((g) => g.effectiveDirective === 'trusted-types')).toMatchObject({ verdict: 'allow', directive: 'trusted-types', add: ['analytics'], result: 'trusted-types app analytics' });
    const s = await v.advice((g) => g.effectiveDirective === 'require-trusted-types-for');
    expect(s.verdict).toBe('fix-code');
    expect(s.summary).toMatch(/^A string reached a DOM sink that takes code or markup \(Element innerHTML\)/);
  });

  it('blob: as a script source: allowed, with a warning; a worker from blob: without one', async () => {
    const a = await (await storeOf([chromium('external-script', { 'blocked-uri': 'blob' })])).advice(is('script-src-elem', 'blob'));
    expect(a).toMatchObject({ verdict: 'allow', directive: 'script-src', add: ['blob:'] });
    expect(a.warnings![0]).toMatch(/^blob: scripts are made by script already on the page/);
  });

  it('a <base> to another origin: investigate; a plugin: fix the code (object-src stays none)', async () => {
    const policy = "default-src 'self'; base-uri 'self'; object-src 'none'; report-uri /r/uri";
    const base = chromium('form-action', { 'effective-directive': 'base-uri', 'violated-directive': 'base-uri', 'original-policy': policy });
    const plugin = chromium('img-crosssite', { 'effective-directive': 'object-src', 'violated-directive': 'object-src', 'original-policy': policy });
    const v = await storeOf([base, plugin]);
    const b = await v.advice((g) => g.effectiveDirective === 'base-uri');
    expect(b.verdict).toBe('investigate');
    expect(b.summary).toMatch(/^A <base> pointing at https:\/\/127\.0\.0\.1:8813 re-points every relative URL/);
    const o = await v.advice((g) => g.effectiveDirective === 'object-src');
    expect(o).toMatchObject({ verdict: 'fix-code' });
    expect(o.add).toBeUndefined();
  });

  it('a directive the policy lacks starts as a copy of default-src (an image under default-src only)', async () => {
    const a = await (await storeOf([chromium('img-crosssite', { 'original-policy': "default-src 'self' https://fonts.example; report-uri /r/uri" })])).advice((g) => g.effectiveDirective === 'img-src');
    expect(a).toMatchObject({ verdict: 'allow', directive: 'img-src', from: { directive: 'default-src', sources: ["'self'", 'https://fonts.example'] }, result: "img-src 'self' https://fonts.example https://localhost:8813" });
    expect(a.summary).toBe('Add https://localhost:8813 to a new img-src directive (a copy of default-src plus it).');
  });
});
