import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { prepare } from '../../packages/receiver/src/store/postgres/ingest.js';
import { pruneGroups } from '../../packages/receiver/src/store/postgres/prune.js';
import { write } from '../../packages/receiver/src/store/postgres/write.js';
import { fold } from '../../packages/receiver/src/store/postgres/fold.js';
import { policyHash } from '../../packages/receiver/src/core/state.js';
import { coreOptions } from '../../packages/receiver/src/core/options.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, connectAsStore, startTestPostgres } from '../helpers/postgres.js';

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

  it('leaves every live record its group and its policy while two instances prune under each other', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([0, 1].map(() => openPostgresStore({ connectionString: url, maxRecords: 20, maxGroups: 8, groupCapPerMinute: 10_000 })));
    try {
      // Hosts and policies recur, so a group or policy one instance is about to prune is often the
      // one the other is adding to.
      const report = (i: number) =>
        normalizeNative(JSON.parse(reportUriBody(`c${i}`, { 'blocked-uri': `https://h${i % 13}.example/x.png`, 'original-policy': `img-src 'self' ${i % 7}` }).body), { receivedAt: T + i * 10 });
      await Promise.all(Array.from({ length: 300 }, (_, i) => stores[i % 2].append(report(i))));
      const live = (await stores[0].violations({ limit: 500 })).items;
      const groups = await server.query<{ id: string; fingerprint: string }>(url, "SELECT id, meta->>'fingerprint' AS fingerprint FROM csp_lens_groups");
      expect(groups.filter((g) => !g.fingerprint)).toEqual([]);
      const ids = new Set(groups.map((g) => g.id));
      expect(live.filter((r) => !ids.has(r.groupId))).toEqual([]);
      for (const r of live) expect(await stores[1].policy(r.policyHash!)).toBeDefined();
      const stats = await stores[0].stats({});
      expect(stats.groups).toBe(groups.length);
      expect(stats.limits!.groupsPruned! + groups.length).toBeGreaterThanOrEqual(13);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe('pruning next to a transaction that adds to what it prunes', () => {
  const OPTS = coreOptions({ maxRecords: 1 });
  const report = (tag: string, over: Record<string, unknown> = {}) => normalizeNative(JSON.parse(reportUriBody(tag, over).body), { receivedAt: T });

  /** Two connections to `url`, A (pruning) and B (ingesting, as postgres-commit.ts does), ended after `fn`. */
  async function twoConnections(url: string, fn: (a: pg.PoolClient, b: pg.PoolClient, pidOfA: number) => Promise<void>) {
    const [a, b] = await Promise.all([connectAsStore(url), connectAsStore(url)]);
    try {
      const [{ pid }] = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
      await fn(a, b, pid);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  }
  const seqs = async (c: pg.PoolClient) => (await c.query<{ s: number }>("SELECT nextval('csp_lens_seq') AS s FROM generate_series(1, 8)")).rows.map((r) => r.s);
  /** Resolves once `pid` waits on a lock, or with `done` when that settles first. */
  async function blockedOrDone(pid: number, done: Promise<unknown>): Promise<void> {
    let settled = false;
    void done.finally(() => (settled = true)).catch(() => {});
    while (!settled && !(await server.query<{ pid: number }>(url0, 'SELECT pid FROM pg_locks WHERE NOT granted AND pid = $1', [pid])).length) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  let url0 = '';

  it('keeps a group without live records that another transaction is adding a record to', async () => {
    const url = (url0 = await server.createDatabase());
    const store = await openPostgresStore({ connectionString: url, ...OPTS });
    const host = { 'blocked-uri': 'https://old.example/x.png' };
    await store.append(report('old', host));
    await store.append(report('new', { 'blocked-uri': 'https://new.example/x.png' })); // archives the first
    await store.close();
    await twoConnections(url, async (a, b, pidOfA) => {
      // B as commit.ts runs a commit: prepare (BEGIN, locks, load), write, COMMIT, then the fold.
      const work = await prepare(b, [{ batch: report('again', host) }], OPTS, await seqs(b));
      await a.query('BEGIN');
      const pruning = pruneGroups(a, 0);
      await blockedOrDone(pidOfA, pruning);
      await write(b, work);
      await b.query('COMMIT');
      await fold(b, OPTS.maxRecords, []);
      await pruning;
      await a.query('COMMIT');
    });
    const groups = await server.query<{ blocked: string; records: number }>(url, "SELECT meta->>'blocked' AS blocked, records::int FROM csp_lens_groups ORDER BY pos");
    expect(groups).toEqual([{ blocked: 'https://old.example', records: 2 }, { blocked: 'https://new.example', records: 1 }]);
  });

  it('keeps a policy whose last live record goes while another transaction adds a record naming it', async () => {
    const url = (url0 = await server.createDatabase());
    const store = await openPostgresStore({ connectionString: url, ...OPTS });
    const policy = { 'original-policy': "img-src 'self'; report-uri /kept" };
    await store.append(report('first', policy));
    await store.close();
    const [{ hash }] = await server.query<{ hash: string }>(url, "SELECT record->>'policyHash' AS hash FROM csp_lens_records");
    await twoConnections(url, async (a, b, pidOfA) => {
      await write(b, await prepare(b, [{ batch: report('second', policy) }], OPTS, await seqs(b)));
      // A's fold archives the only committed record naming the policy (maxRecords 0), and prunes
      // the policy: B's record is not committed yet. Folds never wait for a commit.
      const folding = fold(a, 0, []);
      await blockedOrDone(pidOfA, folding);
      expect(await folding).toMatchObject({ archived: 1 });
      expect(await server.query(url, 'SELECT hash FROM csp_lens_policies')).toEqual([]);
      // B commits, and its fold puts the policy back from its pending work, before B's append
      // would be acknowledged.
      await b.query('COMMIT');
      await fold(b, OPTS.maxRecords, []);
    });
    expect(await server.query(url, 'SELECT hash, policy FROM csp_lens_policies')).toEqual([{ hash, policy: policy['original-policy'] }]);
    const live = await server.query<{ hash: string }>(url, "SELECT record->>'policyHash' AS hash FROM csp_lens_records");
    expect(live).toEqual([{ hash }]);
  });
});
