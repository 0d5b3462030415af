import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { MIGRATIONS } from '../../packages/receiver/src/store/postgres/schema.js';
import { keysOf, prepare } from '../../packages/receiver/src/store/postgres/ingest.js';
import { bucketKey } from '../../packages/receiver/src/core/merge.js';
import { write } from '../../packages/receiver/src/store/postgres/write.js';
import { fold } from '../../packages/receiver/src/store/postgres/fold.js';
import { coreOptions } from '../../packages/receiver/src/core/options.js';
import type { Store } from '../../packages/receiver/src/core/types.js';
import { TOKEN } from '../helpers/server.js';
import { reportUriBody, sdkBatch } from '../helpers/bodies.js';
import { type TestPostgres, connectAsStore, startTestPostgres } from '../helpers/postgres.js';
import { allRecords, readApi } from '../helpers/records.js';

const CLI = fileURLToPath(new URL('../../packages/receiver/bin/csp-lens.js', import.meta.url));
const UA = 'Mozilla/5.0 (X11; Linux x86_64) csp-lens-test';

let server: TestPostgres;
const children: ChildProcess[] = [];
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(async () => {
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => (c.once('exit', r), c.kill('SIGTERM'))) : undefined)));
  await server?.stop();
});

/** `csp-lens serve --store postgres` in its own process; resolves with its base URL (…/csp). */
function serve(url: string): Promise<string> {
  if (!existsSync(fileURLToPath(new URL('../../packages/receiver/dist/cli.js', import.meta.url)))) throw new Error('build first: npm run build');
  const args = [CLI, 'serve', '--store', 'postgres', '--database-url', url, '--port', '0', '--host', '127.0.0.1', '--rate-limit', '0', '--token', TOKEN];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`receiver exited (${code}): ${err}`)));
    let out = '';
    child.stdout!.on('data', (d) => {
      const m = (out += d).match(/receiving at (http:\/\/127\.0\.0\.1:\d+\/csp)\/report/);
      if (m) resolve(m[1]);
    });
  });
}

const all = (base: string) => allRecords(readApi(base, TOKEN));

/** Runs the tasks with at most `n` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], n: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }));
  return results;
}

const shuffle = <T>(xs: T[]) => xs.map((x) => [Math.random(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);

function expectGroupsToAddUp(groups: ViolationGroup[], records: ViolationRecord[]) {
  for (const g of groups) {
    const mine = records.filter((r) => r.groupId === g.id);
    expect(g.records).toBe(mine.length);
    expect(g.count).toBe(mine.reduce((n, r) => n + r.count, 0));
    expect(g.sources.sdk).toBe(mine.reduce((n, r) => n + r.sources.sdk, 0));
    expect(g.sources.reportUri).toBe(mine.reduce((n, r) => n + r.sources.reportUri, 0));
    expect(g.merged).toBe(mine.filter((r) => r.sources.sdk && r.sources.reportUri).length);
  }
}

describe('PostgreSQL store, several instances', () => {
  it('merges the SDK half sent to one receiver process with the native half sent to the other', async () => {
    const url = await server.createDatabase();
    const [a, b] = await Promise.all([serve(url), serve(url)]);
    const N = 300;
    const tasks = Array.from({ length: N }, (_, i) => {
      // Ten documents: the halves of different violations contend for the same buckets and group.
      const doc = `https://shop.example/p${i % 10}`;
      const blocked = `https://tracker.example/px${i}.gif`;
      const [sdkTo, nativeTo] = Math.random() < 0.5 ? [a, b] : [b, a];
      const headers = { 'user-agent': UA };
      const sdk = () => fetch(`${sdkTo}/sdk`, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: JSON.stringify(sdkBatch({ url: doc, blocked: [blocked] })) });
      const body = reportUriBody('x', { 'document-uri': doc, 'blocked-uri': blocked }).body;
      const native = () => fetch(`${nativeTo}/report`, { method: 'POST', headers: { ...headers, 'content-type': 'application/csp-report' }, body });
      return [sdk, native];
    }).flat();
    const statuses = await pool(shuffle(tasks).map((t) => async () => (await t()).status), 32);
    expect(statuses.every((s) => s === 204)).toBe(true);

    const records = await all(a);
    expect(await all(b)).toEqual(records);
    expect(records).toHaveLength(N);
    expect(new Set(records.map((r) => `${r.documentURL} ${r.blockedURL}`)).size).toBe(N);
    for (const r of records) expect(r.sources).toEqual({ sdk: 2, reportUri: 1, reportTo: 0 });
    const res = await fetch(`${a}/api/groups?limit=500`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const groups = ((await res.json()) as { items: ViolationGroup[] }).items;
    expect(groups).toHaveLength(1);
    expectGroupsToAddUp(groups, records);
    expect(groups[0].reach.pageViews).toBe(N);
  }, 120_000);

  it('keeps one record per violation when two stores in one process race on the same buckets', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([0, 1].map(() => openPostgresStore({ connectionString: url })));
    try {
      const T = Date.now();
      const native = (doc: string, blocked: string) => normalizeNative(JSON.parse(reportUriBody('y', { 'document-uri': doc, 'blocked-uri': blocked }).body), { receivedAt: T, userAgent: UA });
      const sdk = (doc: string, blocked: string, page: string) => {
        const batch = normalizeNative(JSON.parse(reportUriBody('y', { 'document-uri': doc, 'blocked-uri': blocked }).body), { receivedAt: T, userAgent: UA });
        return { ...batch, violations: batch.violations.map((v) => ({ ...v, stream: 'sdk' as const, count: 3, page: { id: page, url: doc } })) };
      };
      // Four documents, a page view per violation: both halves, to either store, all at once.
      const appends = Array.from({ length: 120 }, (_, i) => {
        const doc = `https://shop.example/race${i % 4}`;
        const blocked = `https://cdn.example/${i}.js`;
        return [() => stores[i % 2].append(sdk(doc, blocked, `pv${i}`)), () => stores[(i + 1) % 2].append(native(doc, blocked))];
      }).flat();
      await Promise.all(shuffle(appends).map((f) => f()));
      const { items } = await stores[0].violations({ limit: 500 });
      expect(items).toHaveLength(120);
      for (const r of items) expect(r.sources).toEqual({ sdk: 3, reportUri: 1, reportTo: 0 });
      expectGroupsToAddUp((await stores[1].groups({ limit: 500 })).items, items);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('holds the per-minute cap on new groups across instances', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([0, 1].map(() => openPostgresStore({ connectionString: url, groupCapPerMinute: 5 })));
    try {
      const T = Math.floor(Date.now() / 60_000) * 60_000;
      const host = (i: number) => normalizeNative(JSON.parse(reportUriBody('cap', { 'blocked-uri': `https://h${i}.example/x.png` }).body), { receivedAt: T });
      await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2].append(host(i))));
      const { items } = await stores[0].groups({ limit: 500 });
      expect(items.filter((g) => !g.overflow)).toHaveLength(5);
      expect(items.find((g) => g.overflow)).toMatchObject({ records: 35 });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('archives past maxRecords across instances without losing or duplicating a record', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([0, 1].map(() => openPostgresStore({ connectionString: url, maxRecords: 30 })));
    try {
      const report = (i: number) => normalizeNative(JSON.parse(reportUriBody(`a${i}`).body), { receivedAt: Date.now() });
      await Promise.all(Array.from({ length: 200 }, (_, i) => stores[i % 2].append(report(i))));
      const live = await server.query<{ seq: number }>(url, 'SELECT seq FROM csp_lens_records');
      const archived = await server.query<{ seq: number }>(url, 'SELECT seq FROM csp_lens_archive');
      expect(live.length).toBeLessThanOrEqual(30 + 16);
      expect(new Set([...live, ...archived].map((r) => r.seq)).size).toBe(200);
      expect(live.length + archived.length).toBe(200);
      const [count] = await server.query<{ n: string }>(url, "SELECT n FROM csp_lens_counters WHERE kind = 'store' AND name = 'live'");
      expect(Number(count.n)).toBe(live.length);
      expect((await stores[0].stats({})).archived).toBe(archived.length);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("stores an append while another instance's commit to the same group, policy and reach is in flight", async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    // Another instance in the middle of its commit: loaded and written, not committed yet (as a
    // commit waiting for its disk flush is).
    const other = await connectAsStore(url);
    try {
      // The same group (blocked host, directive), policy and user agent, each on its own page.
      const report = (tag: string) => normalizeNative(JSON.parse(reportUriBody(tag).body), { receivedAt: Date.now(), userAgent: UA });
      await store.append(report('first'));
      const seqs = (await other.query<{ s: number }>("SELECT nextval('csp_lens_seq') AS s FROM generate_series(1, 8)")).rows.map((r) => r.s);
      await write(other, await prepare(other, [{ batch: report('in-flight') }], coreOptions({}), seqs));
      // Its rows are this instance's to add to all the same: the append is stored without waiting.
      const [stored] = await store.append(report('meanwhile'));
      expect(stored.group).toMatchObject({ records: 2, count: 2 });
      await other.query('COMMIT');
      await fold(other, coreOptions({}).maxRecords, []);
      const { items } = await store.groups({});
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ records: 3, count: 3, reach: { userAgents: 1, documents: 3 } });
      expect(await server.query(url, 'SELECT count FROM csp_lens_policies')).toEqual([{ count: '3' }]);
    } finally {
      await other.end();
      await store.close();
    }
  });

  it('migrates one fresh database once when several instances start at the same time', async () => {
    const url = await server.createDatabase();
    const stores: Store[] = await Promise.all([0, 1, 2, 3].map(() => openPostgresStore({ connectionString: url })));
    await Promise.all(stores.map((s) => s.close()));
    const rows = await server.query<{ version: number }>(url, 'SELECT version FROM csp_lens_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('upgrades a database of schema version 1 with its data, and goes on storing', async () => {
    const url = await server.createDatabase();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('CREATE TABLE csp_lens_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      await c.query(MIGRATIONS[0].sql);
      await c.query('INSERT INTO csp_lens_migrations (version, name) VALUES (1, $1)', [MIGRATIONS[0].name]);
    } finally {
      await c.end();
    }
    const store = await openPostgresStore({ connectionString: url });
    try {
      await store.append(normalizeNative(JSON.parse(reportUriBody('upgraded').body), { receivedAt: Date.now() }));
      expect((await store.violations({ limit: 10 })).items).toHaveLength(1);
      const types = await server.query<{ column_name: string; data_type: string }>(
        url,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'csp_lens_records' AND column_name IN ('sdk', 'report_uri', 'report_to') ORDER BY 1",
      );
      expect(types.map((t) => t.data_type)).toEqual(['bigint', 'bigint', 'bigint']);
      const versions = await server.query<{ version: number }>(url, 'SELECT version FROM csp_lens_migrations ORDER BY version');
      expect(versions.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await store.close();
    }
  });

  it('shares one transaction among the appends that arrive while one is in flight', async () => {
    const url = await server.createDatabase();
    const commits: number[] = [];
    const store = await openPostgresStore({ connectionString: url, onCommit: ({ appends }) => commits.push(appends) });
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(normalizeNative(JSON.parse(reportUriBody(`g${i}`).body), { receivedAt: Date.now() }))));
      expect(commits.reduce((a, b) => a + b, 0)).toBe(200);
      expect(commits.length).toBeLessThan(20);
    } finally {
      await store.close();
    }
  });

  it('keeps committing while one of its transactions waits on a bucket another instance holds (two in flight), and never gives two records one id', async () => {
    const report = (tag: string) => normalizeNative(JSON.parse(reportUriBody(tag).body), { receivedAt: Date.now(), userAgent: UA });
    for (const transactions of [1, 2]) {
      const url = await server.createDatabase();
      const store = await openPostgresStore({ connectionString: url, transactions });
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        // Another instance holds the bucket of "held" (in its commit, say, waiting for its disk).
        const held = report('held');
        await other.query('BEGIN');
        await other.query('SELECT pg_advisory_xact_lock($1)', [keysOf(bucketKey(held.violations[0])).lock]);
        const first = store.append(held);
        const waiting = async () => (await server.query(url, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'advisory' AND pid <> pg_backend_pid()")).length;
        await vi.waitFor(async () => expect(await waiting()).toBe(1), { timeout: 10_000 });
        let stored = 0;
        const rest = Promise.all(Array.from({ length: 60 }, (_, i) => store.append(report(`free${i}`)).then(() => stored++)));
        if (transactions === 2) await rest;
        else {
          // One at a time: everything waits behind the transaction that waits on the lock.
          await new Promise((r) => setTimeout(r, 500));
          expect(stored).toBe(0);
        }
        await other.query('COMMIT');
        await Promise.all([first, rest]);
        const ids = (await store.violations({ limit: 100 })).items.map((r) => r.id);
        expect(ids).toHaveLength(61);
        expect(new Set(ids).size).toBe(61);
      } finally {
        await other.end();
        await store.close();
      }
    }
    await expect(openPostgresStore({ connectionString: 'postgres://nobody@127.0.0.1:1/none', transactions: 0 })).rejects.toThrow(
      'csp-lens: transactions must be an integer from 1 to 16, got 0',
    );
  });

  it('resolves an append only once another connection can read the record', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    try {
      const { body, document } = reportUriBody('durable');
      await store.append(normalizeNative(JSON.parse(body), { receivedAt: Date.now() }));
      const rows = await server.query(url, 'SELECT 1 FROM csp_lens_records WHERE document_url = $1', [document]);
      expect(rows).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('fails at start with a clear message when the database cannot be reached', async () => {
    await expect(openPostgresStore({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })).rejects.toThrow(/^csp-lens: cannot open the PostgreSQL store/);
    await expect(openPostgresStore({ connectionString: '' })).rejects.toThrow(/--database-url/);
  });
});
