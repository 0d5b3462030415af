import pg from 'pg';
import type { ViolationRecord } from '@csp-lens/schema';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import type { Store } from '../../packages/receiver/src/core/types.js';
import { type PgCluster, startCluster } from '../../scripts/pg-cluster.mjs';
import { type Child, requireBuiltCli, startCli } from '../helpers/cli.js';
import { TOKEN } from '../helpers/server.js';
import { reportUriBody } from '../helpers/bodies.js';

// PostgreSQL going away (stopped, crashed) or hanging (SIGSTOP: connections open, no answers) under
// load: the receiver stays up, answers 503 within its timeouts, says so on /health, and goes on by
// itself once the database is back. This file runs its own cluster, since it stops and pauses it.

let cluster: PgCluster;
let children: Child[] = [];
// Durable: a crash of a cluster without fsync and synchronous commit loses commits it acknowledged.
beforeAll(async () => void (cluster = await startCluster({ durable: true })), 120_000);
afterEach(async () => {
  // Whatever a test did to the cluster, the next one (and the cleanup) finds it running.
  cluster.resume();
  if (!(await answers(cluster.url))) await cluster.start();
  await Promise.all(children.map((c) => (c.process.exitCode === null ? (c.process.kill('SIGKILL'), c.exited) : undefined)));
  children = [];
}, 60_000);
afterAll(() => cluster?.stop(), 60_000);

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

let n = 0;
async function createDatabase(): Promise<string> {
  const name = `csp_lens_outage_${++n}`;
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return cluster.url.replace(/\/postgres$/, `/${name}`);
}

/** Settles with the promise, or rejects once `ms` have passed without it. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Runs `attempt` until it returns true, `ms` at most. */
async function until(ms: number, attempt: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await attempt())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const report = (tag: string) => normalizeNative(JSON.parse(reportUriBody(tag).body), { receivedAt: Date.now() });

describe('the PostgreSQL store when the database fails', () => {
  it('keeps the receiver up when PostgreSQL stops under load, answers 503 meanwhile, and recovers when it is back', async () => {
    requireBuiltCli();
    const url = await createDatabase();
    const cli = await startCli(['serve', '--store', 'postgres', '--database-url', url, '--port', '0', '--host', '127.0.0.1', '--rate-limit', '0', '--token', TOKEN]);
    children.push(cli);
    const acknowledged: string[] = [];
    const statuses: number[] = [];
    let stop = false;
    const send = async () => {
      const { body, document } = reportUriBody('outage');
      const res = await fetch(`${cli.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } });
      statuses.push(res.status);
      if (res.status === 204) acknowledged.push(document);
      else expect(await res.json()).toEqual({ error: 'storage unavailable; retry later' });
      return res.status;
    };
    // A stream of reports, eight at a time, for the whole test.
    const stream = Promise.all(Array.from({ length: 8 }, async () => {
      while (!stop) if ((await send()) !== 204) await new Promise((r) => setTimeout(r, 20));
    }));
    // Awaited at the end; a failure meanwhile (the receiver gone) must not count as unhandled first.
    stream.catch(() => {});
    try {
      await until(30_000, async () => acknowledged.length >= 40);
      await cluster.crash();
      await until(30_000, async () => (await send()) === 503);
      expect((await fetch(`${cli.url}/health`)).status).toBe(503);
      expect(cli.process.exitCode).toBeNull();

      await cluster.start();
      await until(30_000, async () => (await send()) === 204).catch((e: Error) => {
        throw new Error(`${e.message}; the receiver said:\n${cli.stderr().slice(-3000)}`);
      });
      expect((await fetch(`${cli.url}/health`)).status).toBe(200);
    } finally {
      stop = true;
      await stream;
    }
    expect(cli.process.exitCode).toBeNull();
    expect(statuses).toContain(503);
    // Every report answered 204 is stored, before and after the outage.
    const res = await fetch(`${cli.url}/api/violations?limit=500`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const stored = new Set(((await res.json()) as { items: ViolationRecord[] }).items.map((r) => r.documentURL));
    expect(acknowledged.filter((d) => !stored.has(d))).toEqual([]);
  }, 120_000);

  it('keeps storing after a connection lost with the answer to a COMMIT that went through (its sequence values are taken)', async () => {
    const url = await createDatabase();
    const store: Store = await openPostgresStore({ connectionString: url });
    // The writer's round trip that commits: it runs on the server, then the answer never comes back.
    const query = pg.Client.prototype.query;
    let cut = 0;
    let armed = false;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const sql = typeof args[0] === 'string' ? args[0] : '';
      const sent = (query as (...a: unknown[]) => unknown).apply(this, args);
      // The COMMIT rides behind the write, or goes alone (commit.ts).
      if (!armed || !/(^|; )COMMIT\b/.test(sql) || !(sent instanceof Promise)) return sent;
      armed = false;
      cut++;
      return sent.then(() => {
        (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        throw new Error('Connection terminated unexpectedly');
      });
    } as typeof query;
    try {
      await store.append(report('one'));
      armed = true;
      await expect(store.append(report('lost'))).rejects.toThrow(/terminated/);
      expect(cut).toBe(1);
      // Every later append is stored (it did not reuse the lost commit's record ids).
      for (const name of ['two', 'three', 'four']) await store.append(report(name));
      const { items } = await store.violations({ limit: 500 });
      const names = items.map((r) => r.documentURL.split('?')[1].split('=')[0]).sort();
      // 'lost' went through: stored, though its append was refused (a browser's retry would store it twice).
      expect(names).toEqual(['four', 'lost', 'one', 'three', 'two']);
      expect(new Set(items.map((r) => r.id)).size).toBe(5);
    } finally {
      pg.Client.prototype.query = query;
      await store.close();
    }
  }, 120_000);

  it('rejects appends within its timeouts while PostgreSQL hangs, and stores again once it answers', async () => {
    const url = await createDatabase();
    const store: Store = await openPostgresStore({ connectionString: url, connectTimeoutMs: 1000, queryTimeoutMs: 1000 });
    try {
      await store.append(report('before'));
      await cluster.pause();
      try {
        // One append alone, then several that queue behind one another.
        await expect(within(15_000, store.append(report('hung')))).rejects.toThrow(/timeout/i);
        const queued = await within(15_000, Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.append(report(`hung${i}`)))));
        expect(queued.map((r) => r.status)).toEqual(queued.map(() => 'rejected'));
        await expect(within(15_000, store.stats({}))).rejects.toThrow('PostgreSQL did not answer in time; retry later');
      } finally {
        cluster.resume();
      }
      await until(30_000, () => store.append(report('after')).then(() => true, () => false));
      const { items } = await store.violations({ limit: 500 });
      expect(items.map((r) => r.documentURL.split('?')[1].split('=')[0]).sort()).toEqual(['after', 'before']);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('answers 503 and turns /health 503 while PostgreSQL hangs, with the default timeouts, then recovers', async () => {
    requireBuiltCli();
    const url = await createDatabase();
    const cli = await startCli(['serve', '--store', 'postgres', '--database-url', url, '--port', '0', '--host', '127.0.0.1', '--rate-limit', '0', '--token', TOKEN]);
    children.push(cli);
    const post = () => fetch(`${cli.url}/report`, { method: 'POST', body: reportUriBody('hang').body, headers: { 'content-type': 'application/csp-report' } });
    expect((await post()).status).toBe(204);
    await cluster.pause();
    try {
      const res = await within(30_000, post());
      expect(res.status).toBe(503);
      expect((await fetch(`${cli.url}/health`)).status).toBe(503);
      // A read the database does not answer is a 503 to retry, saying so, not a 500.
      const read = await within(30_000, fetch(`${cli.url}/api/stats`, { headers: { authorization: `Bearer ${TOKEN}` } }));
      expect(read.status).toBe(503);
      expect(await read.json()).toEqual({ error: 'PostgreSQL did not answer in time; retry later' });
    } finally {
      cluster.resume();
    }
    await until(30_000, async () => (await post()).status === 204);
    expect((await fetch(`${cli.url}/health`)).status).toBe(200);
    expect(cli.process.exitCode).toBeNull();
  }, 120_000);
});
