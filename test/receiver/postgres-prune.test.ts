import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres.js';
import { policyHash } from '../../packages/receiver/src/store/state.js';
import { reportUriBody } from '../helpers/server.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';

// Issue 12: distinct 16 KiB policies, or distinct fingerprints, one per report, grew the policy and
// group tables without bound whatever --max-records said.

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

const T = 1_800_000_000_000;
const count = async (url: string, table: string) => Number((await server.query<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0].n);

describe('PostgreSQL store limits', () => {
  it('prunes the policies no live record names once their records are archived', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 10 });
    try {
      // Each report its own 16 KiB policy (the cap), and its own record.
      const policy = (i: number) => `img-src 'self' https://${i}.example ${'x'.repeat(16_000)}`;
      const batches = Array.from({ length: 60 }, (_, i) =>
        normalizeNative(JSON.parse(reportUriBody(`p${i}`, { 'original-policy': policy(i) }).body), { receivedAt: T + i }),
      );
      for (const b of batches) await store.append(b);
      const live = (await store.violations({ limit: 500 })).items;
      const policies = await count(url, 'csp_lens_policies');
      // The eviction only moves what it can lock at once, and a few records more may stay live.
      expect(live.length).toBeLessThanOrEqual(10 + 16);
      expect(policies).toBe(live.length);
      for (const r of live) expect(await store.policy(r.policyHash!)).toBe(policy(Number(/p(\d+)=/.exec(r.documentURL)![1])));
      expect(await store.policy(policyHash(policy(0)))).toBeUndefined();
      expect((await store.stats({})).limits).toEqual({ policiesPruned: 60 - policies, groupsPruned: 0 });
    } finally {
      await store.close();
    }
  });

  it('keeps a policy that a live record still names while others naming it are archived', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 3 });
    try {
      const shared = "img-src 'self'; report-uri /shared";
      for (let i = 0; i < 12; i++) {
        await store.append(normalizeNative(JSON.parse(reportUriBody(`s${i}`, { 'original-policy': i % 2 ? shared : `${shared}; x${i}` }).body), { receivedAt: T + i }));
      }
      expect(await store.policy(policyHash(shared))).toBe(shared);
      const live = (await store.violations({ limit: 500 })).items;
      expect(await count(url, 'csp_lens_policies')).toBe(new Set(live.map((r) => r.policyHash)).size);
    } finally {
      await store.close();
    }
  });

  it('keeps at most maxGroups groups, dropping those without a live record, least recently seen first', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 4, maxGroups: 6, groupCapPerMinute: 1000 });
    try {
      // Twenty fingerprints (one blocked host each), one report each, a second apart.
      const host = (i: number) => `https://h${i}.example/x.png`;
      for (let i = 0; i < 20; i++) {
        await store.append(normalizeNative(JSON.parse(reportUriBody(`g${i}`, { 'blocked-uri': host(i) }).body), { receivedAt: T + i * 1000 }));
      }
      const { items: groups } = await store.groups({ limit: 500 });
      const live = (await store.violations({ limit: 500 })).items;
      expect(live).toHaveLength(4);
      expect(groups.map((g) => g.blocked).sort()).toEqual([14, 15, 16, 17, 18, 19].map((i) => `https://h${i}.example`).sort());
      for (const r of live) expect(groups.map((g) => g.id)).toContain(r.groupId);
      expect(await count(url, 'csp_lens_groups')).toBe(6);
      const stats = await store.stats({});
      expect(stats.groups).toBe(6);
      expect(stats.limits).toMatchObject({ groupsPruned: 14 });
      // A fingerprint whose group was pruned starts a new one.
      await store.append(normalizeNative(JSON.parse(reportUriBody('again', { 'blocked-uri': host(0) }).body), { receivedAt: T + 30_000 }));
      expect((await store.groups({ limit: 500 })).items.find((g) => g.blocked === 'https://h0.example')).toMatchObject({ records: 1, count: 1 });
    } finally {
      await store.close();
    }
  });

  it('never prunes a group that still has a live record, however many groups there are', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 100, maxGroups: 3, groupCapPerMinute: 1000 });
    try {
      for (let i = 0; i < 8; i++) {
        await store.append(normalizeNative(JSON.parse(reportUriBody(`k${i}`, { 'blocked-uri': `https://k${i}.example/x.png` }).body), { receivedAt: T + i }));
      }
      expect((await store.groups({ limit: 500 })).items).toHaveLength(8);
      expect((await store.stats({})).limits).toMatchObject({ groupsPruned: 0 });
    } finally {
      await store.close();
    }
  });
});
