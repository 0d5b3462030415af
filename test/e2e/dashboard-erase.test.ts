import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type { ViolationGroup } from '@csp-lens/schema';
import { startTestServer, type TestServer } from '../helpers/server.js';

// The dashboard in a real Chromium: the alert rules' badges on a group, and deleting a group behind
// its confirmation.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let t: TestServer;
let browser: Browser;
let campaign: ViolationGroup;
let other: ViolationGroup;

const report = (blocked: string, doc = 'https://shop.example/pay') =>
  JSON.stringify({ 'csp-report': { 'document-uri': doc, 'effective-directive': 'script-src-elem', 'blocked-uri': blocked, 'original-policy': "script-src 'self'" } });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`e2e: ${CHROMIUM} is missing: apt-get install -y chromium (these tests need a real Chromium)`);
  // Behind one proxy: each report's client is the address the proxy appended.
  t = await startTestServer({ trustProxy: 1 });
  for (let i = 1; i <= 6; i++) {
    const res = await t.post('/report', report(`https://skimmer.example/x${i}.js`, `https://shop.example/p${i}`), 'application/csp-report', { 'x-forwarded-for': `203.0.${i}.9` });
    if (res.status !== 204) throw new Error(`seeding: ${res.status}`);
  }
  await t.post('/report', report('https://cdn.example/lib.js'), 'application/csp-report', { 'x-forwarded-for': '198.51.100.1' });
  const groups = (await (await t.api('/groups')).json()).items as ViolationGroup[];
  campaign = groups.find((g) => g.blocked === 'https://skimmer.example')!;
  other = groups.find((g) => g.blocked === 'https://cdn.example')!;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('dashboard: badges and deleting a group', () => {
  it('badges a likely attack campaign in the list and the group view, and deletes the group after a confirmation', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => (errors.push(`dialog: ${d.message()}`), void d.dismiss()));
    await page.goto(`${t.url}/dashboard#token=${t.token}`);
    await page.waitForSelector('table.groups');
    const row = page.locator(`tr[data-group="${campaign.id}"]`);
    await expect.poll(() => row.locator('.signal.campaign').textContent()).toBe('Likely attack campaign');
    expect(await page.locator(`tr[data-group="${other.id}"] .signal`).count()).toBe(0);

    await row.click();
    await page.waitForSelector('.detail');
    expect(await page.locator('.detail-head .signal.campaign').count()).toBe(1);
    await page.click('[data-action="delete"]');
    expect(await page.locator('.danger-zone .confirm').textContent()).toBe('Delete the 6 records of this group, live and archived, for good? This cannot be undone.');
    // Cancel keeps everything.
    await page.click('[data-action="cancel-delete"]');
    expect((await t.api(`/groups/${campaign.id}`)).status).toBe(200);
    await page.click('[data-action="delete"]');
    await page.click('[data-action="confirm-delete"]');
    await expect.poll(() => page.locator('.danger-zone .done').textContent()).toBe('Deleted: 6 live and 0 archived records.');
    expect((await t.api(`/groups/${campaign.id}`)).status).toBe(404);
    expect((await t.all()).map((r) => r.groupId)).toEqual([other.id]);

    await page.click('.danger-zone .btn.link');
    await page.waitForSelector('table.groups');
    await expect.poll(() => page.locator('table.groups tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-group')))).toEqual([other.id]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
