import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { GroupPage, ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { seed, X } from './hostile.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let t: TestServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`e2e: ${CHROMIUM} is missing: apt-get install -y chromium (these tests need a real Chromium)`);
  t = await startTestServer();
  await seed(t, Date.now());
  // Two reports that are no CSP violation and one unusable item, in an accepted report-to batch.
  const other = { type: 'deprecation', age: 1, url: 'https://victim.example/', user_agent: 'x', body: { id: 'x' } };
  const res = await t.post('/report', JSON.stringify([other, other, { type: 'csp-violation', age: 1, url: 'https://victim.example/', body: 'garbage' }]), 'application/reports+json');
  if (res.status !== 204) throw new Error(`seeding other reports: ${res.status} ${await res.text()}`);
  // launch() gives each run a fresh temporary profile.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

interface Watch {
  page: Page;
  dialogs: string[];
  errors: string[];
  violations: () => Promise<string[]>;
}

/** A page that records dialogs, errors and CSP violations (listened for before any page script). */
async function open(context: BrowserContext, path: string): Promise<Watch> {
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => (dialogs.push(d.message()), void d.dismiss()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sample}`));
  });
  await page.goto(`${t.url}/dashboard${path}`);
  return { page, dialogs, errors, violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp) };
}

const pwned = (p: Page) => p.evaluate(() => (window as { __pwned?: unknown }).__pwned);
/** Elements that load or navigate: only the page's own stylesheet, script and data: icon may. */
const loaders = (p: Page) =>
  p.evaluate(() => [...document.querySelectorAll('[src],[href],[srcdoc],[action],[formaction],iframe,object,embed,img')].map((e) => e.outerHTML.slice(0, 120)));
const EXPECTED_LOADERS = ['<link rel="icon" href="data:,">', '<link rel="stylesheet" href="dashboard/app.css">', '<script src="dashboard/app.js" defer=""></script>'];

async function groups(): Promise<ViolationGroup[]> {
  return ((await (await t.api('/groups?limit=500')).json()) as GroupPage).items;
}

describe('dashboard in Chromium, over hostile data', () => {
  it('shows the overview under its CSP: text only, nothing runs, no violation, token leaves the URL', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const w = await open(context, `#token=${t.token}`);
    await w.page.waitForSelector('table.groups tbody tr');
    await w.page.waitForSelector('svg.chart .seg');
    expect(await w.page.evaluate(() => location.hash)).toBe('');
    expect(await w.page.evaluate(() => sessionStorage.getItem('csp-lens-token'))).toBe(t.token);
    const rows = await w.page.locator('table.groups tbody tr').count();
    expect(rows).toBe((await groups()).length);
    // The sort the issue asks for: severity first.
    const badges = await w.page.locator('table.groups tbody .badge').allTextContents();
    const rank = (s: string) => ['critical', 'high', 'medium', 'low'].indexOf(s);
    expect(badges.map(rank)).toEqual([...badges.map(rank)].sort((a, b) => a - b));
    expect(await w.page.locator('.coverage .covtable tr').count()).toBeGreaterThan(3);
    // What arrived but is no violation: counted, and shown beside the coverage.
    const stats = await t.stats();
    expect(stats.otherReports['deprecation']).toBe(2);
    expect(stats.invalid).toBeGreaterThanOrEqual(1);
    const unstored = Object.fromEntries(
      (await w.page.locator('.unstored .covkey li').allInnerTexts()).map((line) => {
        const [label, n] = line.split('\n');
        return [label.trim(), n.trim()];
      }),
    );
    expect(unstored).toEqual({
      'Filtered as noise': String(Object.values(stats.filtered).reduce((a, b) => a + b, 0)),
      'Past the SDK’s cap per page view': String(stats.sdkDropped),
      'Unusable items': String(stats.invalid),
      'Other report types': String(Object.values(stats.otherReports).reduce((a, b) => a + b, 0)),
    });
    expect(await w.page.locator('.unstored').innerText()).toContain('Other report types: deprecation 2');

    mkdirSync('test-results', { recursive: true });
    await w.page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });

    expect(await pwned(w.page)).toBeUndefined();
    expect(w.dialogs).toEqual([]);
    expect(await w.violations()).toEqual([]);
    expect(w.errors).toEqual([]);
    expect(await loaders(w.page)).toEqual(EXPECTED_LOADERS);
    await context.close();
  });

  // With the CSP bypassed, a payload that reached the DOM as markup would run: this checks the
  // rendering itself, not just the policy behind it.
  it('renders every hostile field as text in the group details, even with CSP bypassed', async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1440, height: 1000 } });
    const w = await open(context, `#token=${t.token}`);
    await w.page.waitForSelector('table.groups tbody tr');
    const all = await groups();
    const hostile = all.filter((g) => g.effectiveDirective !== 'img-src' || g.blocked.includes('evil'));
    for (const g of hostile) {
      await w.page.locator(`tr[data-group="${g.id}"]`).click();
      await w.page.waitForSelector('.detail .record');
      expect(new URL(w.page.url()).searchParams.get('group')).toBe(g.id);
      expect(await pwned(w.page), g.effectiveDirective).toBeUndefined();
      const { records } = (await (await t.api(`/groups/${g.id}`)).json()) as { records: ViolationRecord[] };
      const text = await w.page.locator('.detail').innerText();
      for (const r of records) {
        const shown = [r.documentURL, r.blockedURL, r.sample, r.referrer, r.element?.html, r.element?.selector, r.element?.url, r.page?.release, r.page?.env, r.page?.url, r.page?.session];
        for (const s of shown) if (s) expect(text, `${g.effectiveDirective}: ${s}`).toContain(s);
      }
      await w.page.mouse.move(300, 500); // hover over whatever is there: no onmouseover may fire
      await w.page.locator('.detail .record').first().click({ position: { x: 40, y: 60 } });
      await w.page.goBack();
      await w.page.waitForSelector('table.groups tbody tr');
    }
    expect(await pwned(w.page)).toBeUndefined();
    expect(w.dialogs).toEqual([]);
    expect(await loaders(w.page)).toEqual(EXPECTED_LOADERS);
    await context.close();
  });

  it('shows the SDK context beside the native fields and highlights the violated directive', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const merged = (await groups()).find((g) => g.merged > 0)!;
    const w = await open(context, `?group=${merged.id}#token=${t.token}`);
    await w.page.waitForSelector('.detail .record');
    const record = w.page.locator('.detail .record').first();
    expect(await record.locator('.side h4').allTextContents()).toEqual(['Report fields', 'SDK context']);
    const sdk = await record.locator('.side').nth(1).innerText();
    for (const s of ['<img>', X.img, 'Page view', 'Release']) expect(sdk).toContain(s);
    expect(await w.page.locator('mark.violated').innerText()).toMatch(/^img-src /);
    await w.page.screenshot({ path: 'test-results/dashboard-group.png', fullPage: true });
    expect(await pwned(w.page)).toBeUndefined();
    expect(await w.violations()).toEqual([]);
    await context.close();
  });

  it('keeps filters in the URL, so a shared view opens as it was', async () => {
    const context = await browser.newContext();
    const w = await open(context, `?severity=critical#token=${t.token}`);
    await w.page.waitForSelector('table.groups tbody tr');
    expect(new Set(await w.page.locator('table.groups tbody .badge').allTextContents())).toEqual(new Set(['critical']));
    expect(await w.page.locator('select[aria-label="Severity"]').inputValue()).toBe('critical');
    const directives = await w.page.locator('select[aria-label="Directive"] option').count();
    const critical = ((await (await t.api('/violations?severity=critical&limit=500')).json()) as ViolationPage).items;
    const directive = critical[0].effectiveDirective;
    await w.page.selectOption('select[aria-label="Directive"]', directive);
    await w.page.waitForURL((u) => u.searchParams.get('directive') === directive);
    expect(new URL(w.page.url()).searchParams.get('severity')).toBe('critical');
    // The cards and the chart count every record the filters select (the server's stats), and the
    // filter bar still offers every directive.
    const selected = critical.filter((r) => r.effectiveDirective === directive);
    expect(selected.length).toBeLessThan((await (await t.api('/violations?limit=500')).json() as ViolationPage).items.length);
    const card = (label: string) => w.page.locator('.stat', { hasText: label }).locator('b');
    await w.page.waitForFunction((n) => document.querySelector('select[aria-label="Directive"]') && [...document.querySelectorAll('.stat')].some((e) => e.textContent!.startsWith('Records') && e.querySelector('b')!.textContent === String(n)), selected.length);
    expect(await card('Violations').innerText()).toBe(String(selected.reduce((n, r) => n + r.count, 0)));
    expect(await w.page.locator('select[aria-label="Directive"] option').count()).toBe(directives);
    await context.close();
  });

  it('asks for the token when opened without one, and rejects a wrong one', async () => {
    const context = await browser.newContext();
    const w = await open(context, '');
    await w.page.fill('input[name=token]', 'wrong-token-0123456789');
    await w.page.click('button[type=submit]');
    await w.page.waitForSelector('.login .error');
    await w.page.fill('input[name=token]', t.token);
    await w.page.click('button[type=submit]');
    await w.page.waitForSelector('table.groups tbody tr');
    expect(await w.violations()).toEqual([]);
    await context.close();
  });
});
