import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { GroupPage, ViolationGroup } from '@csp-lens/schema';
import { startTestServer, type TestServer } from '../helpers/server.js';

// The dashboard's triage, filters, group view and phone layout in real Chromium, with a screenshot of
// each view in test-results/ (where dashboard.test.ts leaves its own; gitignored).

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = 'test-results';

const UA = {
  chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0',
};
const PAGED = 251;
const LONG_HOST = 'static-assets-eu-west-1.cdn-provider.example';
const HOSTS = {
  paged: 'https://cdn.shop.example',
  exfil: 'https://collect.evil.example',
  long: `https://${LONG_HOST}`,
  resolved: 'https://fonts.vendor.example',
  regressed: 'https://widgets.partner.example',
  ignored: 'https://ads.noise.example',
  // Forged: one 1,500-character label, then a path with no separator in 1,000 characters.
  forged: `https://${'x'.repeat(1500)}.example`,
};

let t: TestServer;
let browser: Browser;
// The receiver's clock: real time, moved on a second after each triage change, so that what arrives
// next happened after it (an occurrence in the very millisecond of a resolution does not reopen it).
let shift = 0;
let groups: Record<keyof typeof HOSTS, ViolationGroup>;

const report = (doc: string, blocked: string, directive = 'img-src', ua = UA.chrome) =>
  t.post(
    '/report',
    JSON.stringify({ 'csp-report': { 'document-uri': doc, 'violated-directive': directive, 'effective-directive': directive, 'blocked-uri': blocked, disposition: 'enforce', 'original-policy': `default-src 'self'; ${directive} 'self'; report-uri /csp/report` } }),
    'application/csp-report',
    { 'user-agent': ua },
  );

const sdk = (doc: string, blocked: string, directive: string, release: string) => {
  const now = Date.now() + shift;
  return t.post(
    '/sdk',
    JSON.stringify({
      v: 1,
      sentAt: now,
      page: { id: `pv-${Math.random()}`, url: doc, release, policies: [`default-src 'self'; ${directive} 'self'`] },
      events: [{ t: now, count: 1, documentURI: doc, blockedURI: blocked, effectiveDirective: directive, violatedDirective: directive, policy: 0, disposition: 'enforce', statusCode: 200, sourceFile: '', lineNumber: 0, columnNumber: 0, sample: '', referrer: '' }],
    }),
    'text/plain',
    { 'user-agent': UA.chrome },
  );
};

async function setState(id: string, body: object) {
  const res = await fetch(`${t.url}/api/groups/${id}/state`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' } });
  if (res.status !== 200) throw new Error(`state: ${res.status} ${await res.text()}`);
  shift += 1000;
}

const allGroups = async () => ((await (await t.api('/groups?status=all&limit=500')).json()) as GroupPage).items;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`e2e: ${CHROMIUM} is missing: apt-get install -y chromium (these tests need a real Chromium)`);
  t = await startTestServer({ mergeWindowMs: 0, clock: () => Date.now() + shift });
  const ok = (r: Response) => {
    if (r.status !== 204) throw new Error(`seed: ${r.status}`);
  };
  // 251 records of one group: the records list has to page.
  for (let i = 0; i < PAGED; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, PAGED - i) }, (_, j) =>
        report(`https://shop.example/report-uri/p${(i + j) % 7}?x=${i + j}`, `${HOSTS.paged}/pixel.gif?n=${i + j}`, 'img-src', (i + j) % 3 ? UA.chrome : UA.firefox).then(ok),
      ),
    );
  }
  ok(await sdk('https://shop.example/checkout', `${HOSTS.exfil}/beacon?session=abc&card=4111`, 'connect-src', '2026.11.3'));
  ok(await report('https://shop.example/landing', `${HOSTS.long}/assets/images/hero-banner-large.png?v=12345&size=2048`));
  ok(await report('https://shop.example/landing', `${HOSTS.forged}/${'y'.repeat(1000)}`));
  for (const key of ['resolved', 'regressed', 'ignored'] as const) ok(await sdk('https://shop.example/blog', `${HOSTS[key]}/x.js`, 'script-src-elem', '2026.11.2'));
  const byHost = (all: ViolationGroup[]) => Object.fromEntries(Object.entries(HOSTS).map(([k, host]) => [k, all.find((g) => g.blocked === host)!])) as typeof groups;
  groups = byHost(await allGroups());
  await setState(groups.resolved.id, { status: 'resolved', release: '2026.11.3', by: 'alice' });
  await setState(groups.regressed.id, { status: 'resolved', release: '2026.11.2', by: 'bob' });
  await setState(groups.ignored.id, { status: 'ignored', by: 'carol' });
  // Back in a newer release: a regression. (The ignored one keeps arriving, hidden.)
  ok(await sdk('https://shop.example/blog', `${HOSTS.regressed}/x.js`, 'script-src-elem', '2026.11.4'));
  ok(await sdk('https://shop.example/blog', `${HOSTS.ignored}/x.js`, 'script-src-elem', '2026.11.4'));
  ok(await sdk('https://shop.example/blog', `${HOSTS.resolved}/x.js`, 'script-src-elem', '2026.11.3'));
  groups = byHost(await allGroups());
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

interface Watch {
  page: Page;
  errors: string[];
  violations: () => Promise<string[]>;
}

async function open(context: BrowserContext, path: string): Promise<Watch> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  await page.goto(`${t.url}/dashboard${path}#token=${t.token}`);
  return { page, errors, violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp) };
}

const rowIds = (p: Page) => p.locator('table.groups tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-group')));
const pageWidth = (p: Page) => p.evaluate(() => document.documentElement.scrollWidth);

/** The lines a host's text takes, label by label: each label must sit on one line. */
const hostLines = (p: Page, scope: string) =>
  p.evaluate((sel) => {
    const host = document.querySelector(`${sel} .url .host`)!;
    const lines = (node: Node) => {
      const range = document.createRange();
      range.selectNodeContents(node);
      return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    };
    const boxes = (el: Element) => new Set([...el.getClientRects()].map((r) => Math.round(r.top))).size;
    return { host: host.textContent, whole: boxes(host), labels: [...host.querySelectorAll('.label')].map((n) => [n.textContent, lines(n)] as const) };
  }, scope);

describe('triage, filters and the group view in Chromium', () => {
  it('lists groups with their state, hides ignored ones until asked, marks regressions and new groups, and explains severity', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const w = await open(context, '');
    await w.page.waitForSelector('table.groups tbody tr');
    const shown = await rowIds(w.page);
    expect(shown).not.toContain(groups.ignored.id);
    expect(shown).toContain(groups.resolved.id);
    expect(await w.page.locator(`tr[data-group="${groups.regressed.id}"] .tag.regression`).innerText()).toBe('regression');
    expect(await w.page.locator(`tr[data-group="${groups.resolved.id}"] .tag.resolved`).innerText()).toBe('resolved in 2026.11.3');
    expect(await w.page.locator(`tr[data-group="${groups.exfil.id}"] .tag.new`).count()).toBe(1);
    const title = await w.page.locator(`tr[data-group="${groups.exfil.id}"] .badge`).getAttribute('title');
    expect(title).toMatch(/^critical: .*exfiltration/);
    await w.page.locator('.legend-severity summary').click();
    expect(await w.page.locator('.legend-severity .rules li').count()).toBe(6);
    await w.page.screenshot({ path: `${SHOTS}/triage-groups.png`, fullPage: true });
    // The blocked host stays on one line.
    expect(await hostLines(w.page, `tr[data-group="${groups.long.id}"]`)).toMatchObject({ host: HOSTS.long, whole: 1 });

    await w.page.selectOption('select[aria-label="State"]', 'ignored');
    await w.page.waitForURL((u) => u.searchParams.get('status') === 'ignored');
    await w.page.waitForFunction((id) => document.querySelector(`tr[data-group="${id}"]`), groups.ignored.id);
    expect(await rowIds(w.page)).toEqual([groups.ignored.id]);
    await w.page.selectOption('select[aria-label="State"]', 'regression');
    await w.page.waitForFunction((id) => [...document.querySelectorAll('table.groups tbody tr')].map((r) => r.getAttribute('data-group')).join() === id, groups.regressed.id);
    expect(await w.violations()).toEqual([]);
    expect(w.errors).toEqual([]);
    await context.close();
  });

  it('finds records by document prefix (a path, a URL with a query) and by search, and says why when nothing matches', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const w = await open(context, '');
    await w.page.waitForSelector('table.groups tbody tr');
    const records = () => w.page.locator('.stat:has(.label:text-is("Records")) b').innerText();
    for (const [doc, expected] of [['/report-uri', PAGED], ['https://shop.example/report-uri/p3?x=1', 36], ['HTTPS://SHOP.EXAMPLE/report-uri', PAGED]] as const) {
      await w.page.fill('input[aria-label="Document URL"]', doc);
      await w.page.press('input[aria-label="Document URL"]', 'Enter');
      await w.page.waitForURL((u) => u.searchParams.get('document') === doc);
      await w.page.waitForFunction((n) => [...document.querySelectorAll('.stat')].some((e) => e.textContent!.startsWith('Records') && e.querySelector('b')!.textContent === n), String(expected));
      expect(await rowIds(w.page)).toEqual([groups.paged.id]);
    }
    expect(Number(await records())).toBe(PAGED);
    await w.page.fill('input[aria-label="Document URL"]', '/nowhere');
    await w.page.press('input[aria-label="Document URL"]', 'Enter');
    await w.page.waitForSelector('.hint');
    expect(await w.page.locator('.groups-card').innerText()).toContain('Documents match by prefix');
    await w.page.fill('input[aria-label="Document URL"]', '');
    await w.page.fill('input[aria-label="Search"]', 'CARD=4111');
    await w.page.press('input[aria-label="Search"]', 'Enter');
    await w.page.waitForFunction((id) => [...document.querySelectorAll('table.groups tbody tr')].map((r) => r.getAttribute('data-group')).join() === id, groups.exfil.id);
    expect(w.errors).toEqual([]);
    await context.close();
  });

  it('shows a group’s breakdowns and pages through all of its records', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
    const w = await open(context, `?group=${groups.paged.id}`);
    await w.page.waitForSelector('.detail .record');
    const dim = (name: string) =>
      w.page.locator(`.breakdown .dim-${name} tr`).evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent).filter((x) => x).join(' ')));
    expect((await dim('documents'))[0]).toBe(`https://shop.example/report-uri/p0 ${Math.ceil(PAGED / 7)}`);
    expect(await dim('documents')).toHaveLength(7);
    expect(await dim('browsers')).toEqual([`Chrome 156 ${PAGED - Math.ceil(PAGED / 3)}`, `Firefox 153 ${Math.ceil(PAGED / 3)}`]);
    expect(await dim('streams')).toEqual([`report-uri ${PAGED}`]);
    expect(await dim('releases')).toEqual([`(none) ${PAGED}`]);
    const heading = () => w.page.locator('.record-list h2').innerText();
    expect(await heading()).toBe(`Records (50 of ${PAGED} live)`);
    await w.page.screenshot({ path: `${SHOTS}/triage-group.png`, fullPage: false });
    for (const n of [100, 150, 200, 250, 251]) {
      await w.page.locator('button.more-records').click();
      await w.page.waitForFunction((k) => document.querySelectorAll('.detail .record').length === k, n);
      expect(await heading()).toBe(`Records (${n} of ${PAGED} live)`);
    }
    expect(await w.page.locator('button.more-records').isHidden()).toBe(true);
    // Every record once: the documents carry their number in ?x=.
    const xs = await w.page.locator('.detail .record').evaluateAll((cards) => cards.map((c) => /\?x=(\d+)/.exec(c.textContent ?? '')?.[1]));
    expect(new Set(xs).size).toBe(PAGED);
    expect(w.errors).toEqual([]);
    await context.close();
  });

  it('resolves and ignores a group from its page, and the list follows', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const w = await open(context, `?group=${groups.exfil.id}`);
    await w.page.waitForSelector('.triage');
    expect(await w.page.locator('.triage .state-line').innerText()).toBe('Open: never triaged.');
    await w.page.fill('.triage input[aria-label="Who"]', 'dana');
    await w.page.fill('.triage input[aria-label="Resolved in release"]', '2026.11.3');
    await w.page.click('.triage button:has-text("Resolve")');
    await w.page.waitForFunction(() => document.querySelector('.triage .state-line')?.textContent?.startsWith('Resolved'));
    expect(await w.page.locator('.triage .state-line').innerText()).toMatch(/^Resolved .* by dana — records from release 2026.11.3 or older will not reopen it\.$/);
    const stored = ((await (await t.api(`/groups/${groups.exfil.id}`)).json()) as { group: ViolationGroup }).group.triage;
    expect(stored).toMatchObject({ status: 'resolved', release: '2026.11.3', by: 'dana' });
    await w.page.screenshot({ path: `${SHOTS}/triage-group-resolved.png`, fullPage: false });

    await w.page.selectOption('.triage select[aria-label="Ignore"]', 'n10');
    await w.page.click('.triage button:has-text("Ignore")');
    await w.page.waitForFunction(() => document.querySelector('.triage .state-line')?.textContent?.startsWith('Ignored'));
    expect(await w.page.locator('.triage .state-line').innerText()).toMatch(/^Ignored until 10 more occurrences \(0 so far\)/);
    await w.page.click('button.back');
    await w.page.waitForSelector('table.groups tbody tr');
    expect(await rowIds(w.page)).not.toContain(groups.exfil.id);
    expect(await w.violations()).toEqual([]);
    expect(w.errors).toEqual([]);
    await context.close();
  });

  it('fits a phone: no page wider than 375 px, the groups as cards, hosts broken only between labels', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const w = await open(context, '?status=all');
    await w.page.waitForSelector('table.groups tbody tr');
    expect(await pageWidth(w.page)).toBeLessThanOrEqual(375);
    expect(await w.page.locator('table.groups thead').isHidden()).toBe(true);
    const long = await hostLines(w.page, `tr[data-group="${groups.long.id}"]`);
    expect(long.host).toBe(HOSTS.long);
    for (const [label, lines] of long.labels) expect(lines, String(label)).toBe(1);
    await w.page.screenshot({ path: `${SHOTS}/triage-phone-groups.png`, fullPage: true });

    await w.page.locator(`tr[data-group="${groups.long.id}"]`).click();
    await w.page.waitForSelector('.detail .record');
    expect(await pageWidth(w.page)).toBeLessThanOrEqual(375);
    await w.page.screenshot({ path: `${SHOTS}/triage-phone-group.png`, fullPage: true });
    for (const id of [groups.paged.id, groups.forged.id]) {
      await w.page.goto(`${t.url}/dashboard?group=${id}`);
      await w.page.waitForSelector('.detail .record');
      expect(await pageWidth(w.page), id).toBeLessThanOrEqual(375);
    }
    expect(await w.violations()).toEqual([]);
    expect(w.errors).toEqual([]);
    await context.close();
  });
});
