import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { GroupAdvice, PolicyProposal, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { pollRecords } from './helpers.js';
import { seed } from './hostile.js';

// From report-only to enforced, in real Chromium: a page with an external script of another
// origin, an inline script, a style attribute, an image of another site and a fetch, under a
// report-only policy with the SDK on it; the policy builder's proposal, served back as the page's
// enforced policy, must leave nothing blocked, and everything on the page must run and load.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

let t: TestServer;
let browser: Browser;
let third: Server;
let site: Server;
let TP: string;
let SITE: string;
/** The policy header the site sends: changed by the test between the two loads. */
let policy: { name: string; value: string };

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
};

const page = (receiver: string) => `<!doctype html><html><head><meta charset="utf-8">
<script src="${receiver}/sdk.js"></script>
<title>advice e2e</title></head><body>
<h1>A page rolling out its CSP</h1>
<script src="${TP}/static/x.js?v=1"></script>
<script>window.__inlineRan = true;
fetch('${TP}/api/data').then((r) => r.json()).then((j) => { window.__fetched = j.ok; }, (e) => { window.__fetched = String(e); });</script>
<div id="styled" style="color: rgb(255, 0, 0)">styled</div>
<img id="pic" src="${TP.replace('127.0.0.1', 'localhost')}/pic.png" alt="">
</body></html>`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`e2e: ${CHROMIUM} is missing: apt-get install -y chromium (these tests need a real Chromium)`);
  t = await startTestServer();
  third = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/static/x.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end('window.__extRan = true;');
    if (path === '/pic.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    if (path === '/api/data') return void res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end('{"ok":true}');
    res.writeHead(404).end();
  });
  TP = `http://127.0.0.1:${await listen(third)}`;
  site = createServer((req, res) => {
    if (req.url !== '/page') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', [policy.name]: policy.value }).end(page(t.url));
  });
  SITE = `http://127.0.0.1:${await listen(site)}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => third?.close(r));
  await new Promise((r) => site?.close(r));
  await t?.close();
});

/** Opens the page with a listener for every violation (added before any page script). */
async function load(): Promise<{ page: Page; seen: () => Promise<string[]> }> {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.disposition} ${e.effectiveDirective} ${e.blockedURI}`), true);
  });
  await p.goto(`${SITE}/page`, { waitUntil: 'load' });
  await p.waitForFunction(() => (window as { __fetched?: unknown }).__fetched !== undefined);
  return { page: p, seen: () => p.evaluate(() => (window as unknown as { __csp: string[] }).__csp) };
}

const api = async <T>(path: string): Promise<T> => {
  const res = await t.api(path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};

describe('the policy builder, end to end in Chromium', () => {
  it('proposes a policy that, enforced, lets the page run with zero violations', async () => {
    const initial = `default-src 'self'; script-src 'self' ${t.url.replace('/csp', '')}; style-src 'self'; img-src 'self'; connect-src 'self' ${t.url.replace('/csp', '')}; report-uri ${t.url}/report`;
    policy = { name: 'content-security-policy-report-only', value: initial };

    // 1. Report-only: everything runs, and five kinds of violation are reported.
    const first = await load();
    // A set: Chromium fires a report-only fetch violation twice (test/fixtures/ENGINES.md).
    expect([...new Set(await first.seen())].sort()).toEqual(
      [`report connect-src ${TP}/api/data`, `report img-src ${TP.replace('127.0.0.1', 'localhost')}/pic.png`, `report script-src-elem ${TP}/static/x.js?v=1`, 'report script-src-elem inline', 'report style-src-attr inline'].sort(),
    );
    await first.page.close(); // pagehide: the SDK sends its batch
    const records = await pollRecords(() => t.all(), (rs) => rs.filter((r) => r.sources.sdk > 0 && r.sources.reportUri > 0).length >= 5 && rs.filter((r) => r.element?.hash).length >= 2);
    expect(records.filter((r) => r.element?.hash).map((r) => r.effectiveDirective).sort()).toEqual(['script-src-elem', 'style-src-attr']);

    // 2. The proposal: one source per violation, all ticked.
    const p = await api<PolicyProposal>('/policy/proposal?disposition=report');
    const proposed = Object.fromEntries(p.directives.map((d) => [d.name, d.sources.map((s) => [...(s.requires ?? []), s.source].join(' '))]));
    const inlineHash = records.find((r) => r.effectiveDirective === 'script-src-elem' && r.element?.hash)!.element!.hash;
    const styleHash = records.find((r) => r.effectiveDirective === 'style-src-attr')!.element!.hash;
    expect(proposed).toEqual({
      'script-src': expect.arrayContaining([`${TP}/static/x.js`, `'${inlineHash}'`]),
      'style-src': [`'unsafe-hashes' '${styleHash}'`],
      'img-src': [TP.replace('127.0.0.1', 'localhost')],
      'connect-src': [`${TP}/api/data`],
    });
    expect(proposed['script-src']).toHaveLength(2);
    expect(p.directives.flatMap((d) => d.sources).every((s) => s.selected && s.verdict === 'allow')).toBe(true);
    expect(p.header.policy).toMatch(new RegExp(`; report-uri ${t.url}/report$`));

    // 3. Enforced: nothing is blocked, and the page's script, style, image and fetch all work.
    policy = { name: 'content-security-policy', value: p.header.policy };
    const second = await load();
    const state = await second.page.evaluate(() => ({
      ext: (window as { __extRan?: boolean }).__extRan,
      inline: (window as { __inlineRan?: boolean }).__inlineRan,
      fetched: (window as { __fetched?: unknown }).__fetched,
      img: (document.getElementById('pic') as HTMLImageElement).naturalWidth,
      color: getComputedStyle(document.getElementById('styled')!).color,
      sdk: !!(window as { __cspLens?: { stop?: unknown } }).__cspLens?.stop,
    }));
    expect(state).toEqual({ ext: true, inline: true, fetched: true, img: 1, color: 'rgb(255, 0, 0)', sdk: true });
    // A violation the test makes on purpose, last: once the receiver has it, it has everything the
    // SDK had to send for this page view, and it must be the only one.
    await second.page.evaluate((url) => void (new Image().src = url), `${TP.replace('127.0.0.1', '127.0.0.2')}/sentinel.png`);
    await second.page.waitForFunction(() => (window as unknown as { __csp: string[] }).__csp.length > 0);
    expect(await second.seen()).toEqual([`enforce img-src ${TP.replace('127.0.0.1', '127.0.0.2')}/sentinel.png`]);
    await second.page.close();
    const after = await pollRecords(() => t.all(), (rs) => rs.some((r) => r.disposition === 'enforce' && r.blockedURL?.endsWith('/sentinel.png') && r.sources.sdk > 0));
    const enforced = after.filter((r) => r.disposition === 'enforce');
    expect(enforced.map((r) => `${r.effectiveDirective} ${r.blockedURL}`)).toEqual([`img-src ${TP.replace('127.0.0.1', '127.0.0.2')}/sentinel.png`]);

    // 4. What the dashboard shows: the inline script group's advice, and the builder.
    const groups = (await api<{ items: ViolationGroup[] }>('/groups?limit=500')).items;
    const inline = groups.find((g) => g.effectiveDirective === 'script-src-elem' && g.category === 'inline')!;
    const { advice } = await api<{ advice: GroupAdvice }>(`/groups/${inline.id}`);
    expect(advice).toMatchObject({ verdict: 'allow', directive: 'script-src', add: [`'${inlineHash}'`] });
    mkdirSync('test-results', { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const dash = await context.newPage();
    const errors: string[] = [];
    dash.on('pageerror', (e) => errors.push(String(e)));
    await dash.goto(`${t.url}/dashboard?group=${inline.id}#token=${t.token}`);
    await dash.waitForSelector('.advice .advice-summary');
    expect(await dash.locator('.advice .advice-summary').innerText()).toBe(advice.summary);
    expect(await dash.locator('.advice mark.added').innerText()).toBe(`'${inlineHash}'`);
    await dash.screenshot({ path: 'test-results/advice-group.png', fullPage: true });
    await dash.getByRole('button', { name: 'Policy builder' }).click();
    await dash.waitForSelector('.builder .header-out');
    await dash.selectOption('select[aria-label="Time range"]', 'all');
    await dash.waitForFunction(() => !!document.querySelector('.builder select[aria-label="Time range"]') && (document.querySelector('.builder select[aria-label="Time range"]') as HTMLSelectElement).value === 'all');
    expect(await dash.locator('.builder .header-out').innerText()).toBe(`Content-Security-Policy: ${p.header.policy}`);
    await dash.screenshot({ path: 'test-results/advice-builder.png', fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('advice and the builder over hostile data', () => {
  // With the CSP bypassed, markup that reached the DOM would run: this checks the rendering itself.
  it('render every report value as text, in every group\'s advice and in the builder', async () => {
    const hostile = await startTestServer();
    try {
      await seed(hostile, Date.now());
      const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
      const p = await context.newPage();
      const dialogs: string[] = [];
      p.on('dialog', (d) => (dialogs.push(d.message()), void d.dismiss()));
      const groups = ((await (await hostile.api('/groups?limit=500')).json()) as { items: ViolationGroup[] }).items;
      for (const g of groups) {
        await p.goto(`${hostile.url}/dashboard?group=${g.id}#token=${hostile.token}`);
        await p.waitForSelector('.advice .advice-summary');
        await p.locator('.advice').hover();
      }
      await p.goto(`${hostile.url}/dashboard?builder#token=${hostile.token}`);
      await p.waitForSelector('.builder .header-out');
      await p.selectOption('select[aria-label="Violations"]', 'all');
      await p.waitForFunction(() => (document.querySelector('.builder select[aria-label="Violations"]') as HTMLSelectElement | null)?.value === 'all');
      await p.locator('.builder').hover();
      expect(await p.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined();
      expect(dialogs).toEqual([]);
      // The builder's policy holds only valid source expressions (the seed's policy text has markup in it).
      const header = await p.locator('.builder .header-out').innerText();
      expect(header).not.toMatch(/[<>"]/);
      await context.close();
    } finally {
      await hostile.close();
    }
  });
});
