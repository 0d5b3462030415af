import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SdkBatch, ViolationRecord } from '@csp-lens/schema';
import { openFileStore, type FileStoreOptions } from '../../packages/receiver/src/store/file/index.js';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/core/types.js';
import { tempDir } from '../helpers/server.js';
import { allRecords, readStore } from '../helpers/records.js';

// Issue 12's attacks on what the file store keeps: every byte a sender can make it hold is bounded
// by configuration, and what happens at a bound is counted in /api/stats.

const MiB = 1024 * 1024;
const T = 1_800_000_000_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/153.0';

/** A page context as large as the SDK reader lets through, in characters JSON escapes to 6 bytes each. */
function hugeContext(n: number) {
  const junk = (len: number, seed: number) => Array.from({ length: len }, (_, i) => String.fromCharCode(1 + ((i + seed) % 30))).join('');
  return {
    id: `pv-${n}`,
    session: junk(128, n),
    url: `https://site.example/${junk(2000, n)}`,
    referrer: `https://ref.example/${junk(2000, n)}`,
    release: junk(128, n),
    env: junk(128, n),
    tags: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${junk(60, i)}${i}`, junk(250, n + i)])),
    context: { blob: junk(3900, n) },
  };
}

function sdkFlood(n: number, events = 500): IngestBatch {
  const batch: SdkBatch = {
    v: 1,
    sentAt: T,
    page: { ...hugeContext(n), policies: ["img-src 'self'"] },
    events: Array.from({ length: events }, (_, i) => ({
      t: T,
      count: 1,
      documentURI: 'https://site.example/p',
      blockedURI: `https://cdn.example/${n}/${i}.png`,
      effectiveDirective: 'img-src',
      violatedDirective: 'img-src',
      policy: 0,
      disposition: 'enforce' as const,
      statusCode: 200,
      sourceFile: '',
      lineNumber: 0,
      columnNumber: 0,
      sample: '',
      referrer: '',
    })),
  };
  return normalizeSdk(batch, { receivedAt: T + n, userAgent: UA, clientIp: '203.0.113.0' });
}

const report = (fields: Record<string, unknown>, at: number, clientIp = '198.51.100.0') =>
  normalizeNative(
    {
      'csp-report': {
        'document-uri': 'https://site.example/p',
        'effective-directive': 'img-src',
        'blocked-uri': 'https://cdn.example/a.png',
        disposition: 'enforce',
        'original-policy': "img-src 'self'",
        ...fields,
      },
    },
    { receivedAt: at, userAgent: UA, clientIp },
  );

describe('what a sender can make the file store keep', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: string;
  const stores: Store[] = [];
  const open = async (opts: Omit<FileStoreOptions, 'path'>) => {
    const s = await openFileStore({ path: db, journal: { checkpointMs: 60_000 }, ...opts });
    stores.push(s);
    return s;
  };
  beforeEach(async () => {
    tmp = await tempDir();
    db = join(tmp.dir, 'db.json');
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await tmp.remove();
  });

  it('keeps the live file within --max-live-bytes however large the SDK page contexts, stores each once, and reopens', async () => {
    const store = await open({ maxLiveBytes: 2 * MiB });
    for (let n = 0; n < 16; n++) await store.append(sdkFlood(n));
    const stats = await store.stats({});
    expect(stats.limits!.liveBytes).toBeLessThanOrEqual(2 * MiB);
    expect(stats.limits!.evictedForSpace).toBeGreaterThan(0);
    await store.close();
    stores.length = 0;
    const size = statSync(db).size;
    expect(size).toBeLessThanOrEqual(2 * MiB + 64 * 1024);
    // One copy of each page context, referenced by key from its records.
    const file = JSON.parse(readFileSync(db, 'utf8'));
    const pageRefs = new Set(file.records.map((r: { page: string }) => r.page));
    expect(Object.keys(file.pages).sort()).toEqual([...pageRefs].sort());
    expect(file.records.every((r: { page: unknown }) => typeof r.page === 'string')).toBe(true);
    const again = await open({ maxLiveBytes: 2 * MiB });
    const { items } = await again.violations({ limit: 1 });
    expect(items[0].page).toMatchObject({ id: 'pv-15', release: expect.any(String), tags: expect.any(Object) });
    expect((await again.stats({})).records).toBe(file.records.length);
  });

  it('lets a policy go with the last live record that used it', async () => {
    const store = await open({ maxRecords: 100 });
    const policy = (i: number) => `img-src 'self' https://${String(i).padStart(5, '0')}.example ${'x'.repeat(16_000)}`;
    for (let i = 0; i < 600; i++) {
      await store.append(report({ 'document-uri': `https://site.example/p${i}`, 'original-policy': policy(i) }, T + i));
    }
    await store.close();
    stores.length = 0;
    const file = JSON.parse(readFileSync(db, 'utf8'));
    expect(Object.keys(file.policies)).toHaveLength(100);
    expect(statSync(db).size).toBeLessThan(100 * 16_500 + 256 * 1024);
    const again = await open({ maxRecords: 100 });
    expect((await again.stats({})).limits).toMatchObject({ policiesPruned: 500 });
    const { items } = await again.violations({ limit: 1 });
    expect(await again.policy(items[0].policyHash!)).toBe(policy(599));
  });

  it('lets go of groups without live records past --max-groups, the longest unseen first', async () => {
    const store = await open({ maxRecords: 10, maxGroups: 20, groupCapPerMinute: 10_000 });
    const long = 'a'.repeat(1500);
    for (let i = 0; i < 200; i++) {
      await store.append(report({ 'blocked-uri': `https://h${i}-${long}.example/x.png`, 'source-file': `https://site.example/${long}` }, T + i * 1000));
    }
    const stats = await store.stats({});
    expect(stats.groups).toBe(30); // 10 with a live record, 20 without
    expect(stats.limits).toMatchObject({ groupsPruned: 170 });
    const { items } = await store.groups({ sort: 'lastSeen', limit: 500 });
    expect(items.map((g) => g.blocked).at(-1)).toBe(`https://h170-${long}.example`);
  });

  it('shares the live window between clients: a flood from one pushes out its own records, not everyone’s', async () => {
    const store = await open({ maxRecords: 1000 });
    const honest: string[] = [];
    for (let i = 0; i < 100; i++) {
      const doc = `https://site.example/honest/${i}`;
      honest.push(doc);
      await store.append(report({ 'document-uri': doc }, T + i, `192.0.2.${i % 3}`.replace(/\.\d+$/, '.0')));
    }
    for (let post = 0; post < 10; post++) {
      const flood: IngestBatch = { violations: [], otherReports: {}, invalid: 0 };
      for (let i = 0; i < 1000; i++) {
        flood.violations.push(...report({ 'document-uri': `https://site.example/flood/${post}/${i}` }, T + 1000 + post, '203.0.113.0').violations);
      }
      await store.append(flood);
    }
    const live = await allRecords(readStore(store));
    expect(live).toHaveLength(1000);
    const docs = new Set(live.map((r) => r.documentURL));
    expect(honest.filter((d) => !docs.has(d))).toEqual([]);
  });

  it('never sends a critical violation to the overflow group, however full the minute’s cap', async () => {
    const store = await open({ groupCapPerMinute: 100 });
    const junk: IngestBatch = { violations: [], otherReports: {}, invalid: 0 };
    for (let i = 0; i < 100; i++) junk.violations.push(...report({ 'blocked-uri': `https://junk${i}.example/x.png` }, T).violations);
    await store.append(junk);
    await store.append(report({ 'blocked-uri': 'https://junk-more.example/x.png' }, T + 10));
    await store.append(report({ 'effective-directive': 'connect-src', 'blocked-uri': 'https://exfil.example/steal?c=1' }, T + 20));
    const { items } = await store.violations({ directive: 'connect-src' });
    expect(items).toHaveLength(1);
    expect(items[0].groupId).not.toBe('g_overflow');
    const group = (await store.group(items[0].groupId))!.group;
    expect(group).toMatchObject({ blocked: 'https://exfil.example', severity: 'critical' });
    expect((await store.violations({ groupId: 'g_overflow' })).items.map((r) => r.blockedURL)).toEqual(['https://junk-more.example/x.png']);
  });
});
