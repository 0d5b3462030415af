import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { CHURNING_TABLES, vacuumer } from '../../packages/receiver/src/store/postgres/vacuum.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';

// Issue 17: under a steady load the live tables grew without bound (bench/pg-growth.mjs: 24 → 350
// MiB for the same 10,000 live records in 40 s, the database's CPU per report up 80%): every commit
// leaves dead row versions (folded pending rows, archived records and units, updated groups) and
// autovacuum looks once a minute at best.

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

const T = 1_800_000_000_000;
// The tables' heaps (where a vacuum's freed space is reused; their indexes settle more slowly).
const sizeOf = async (url: string) =>
  Number((await server.query<{ n: string }>(url, `SELECT sum(pg_relation_size(t))::bigint AS n FROM unnest($1::regclass[]) t`, [CHURNING_TABLES]))[0].n);

/** Manual VACUUMs of the records table so far (autovacuum's are counted apart). */
const vacuums = async (url: string) =>
  Number((await server.query<{ n: string }>(url, "SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'csp_lens_records'"))[0].n);

/** One append of `n` distinct reports (as a report-to upload would bring them). */
const batch = (from: number, n: number) => {
  const each = Array.from({ length: n }, (_, i) => normalizeNative(JSON.parse(reportUriBody(`v${from + i}`).body), { receivedAt: T + from + i, userAgent: 'UA' }));
  return { ...each[0]!, violations: each.flatMap((b) => b.violations) };
};

describe('PostgreSQL live tables under churn', () => {
  it('stay the size of their live content however many reports pass through them', { timeout: 120_000 }, async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 50, vacuumEvery: 300 });
    const sizes: number[] = [];
    try {
      let sent = 0;
      for (let round = 0; round < 16; round++) {
        for (let i = 0; i < 25; i++, sent += 20) await store.append(batch(sent, 20));
        sizes.push(await sizeOf(url));
      }
      expect(sent).toBe(8000);
      expect((await store.stats({})).records).toBeLessThanOrEqual(50 + 20);
      // Through a window of 50 records: without the vacuums the heaps grow by the same amount every
      // 500 reports (16 times the first size at the end, measured); with them they go up and down
      // around what one vacuum's interval leaves behind (up to 3 times the first, under load).
      expect(sizes.at(-1)!, `sizes after each 500 reports: ${sizes.join(', ')}`).toBeLessThan(4 * Math.max(sizes[0]!, sizes[1]!));
      expect(await vacuums(url)).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('leaves them to autovacuum with vacuumEvery 0, and refuses a bad value before connecting', async () => {
    const url = await server.createDatabase();
    await expect(openPostgresStore({ connectionString: url, vacuumEvery: -1 })).rejects.toThrow('vacuumEvery must be an integer ≥ 0, got -1');
    const store = await openPostgresStore({ connectionString: url, maxRecords: 50, vacuumEvery: 0 });
    try {
      for (let i = 0; i < 25; i++) await store.append(batch(i * 20, 20));
      expect(await vacuums(url)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('says once that a role which does not own the tables cannot vacuum them, and stops asking', async () => {
    const url = await server.createDatabase();
    // The owner creates the tables; another role may read and write them, not vacuum them.
    await (await openPostgresStore({ connectionString: url })).close();
    const role = `csp_lens_writer_${process.pid}`;
    await server.query(url, `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN; END IF; END $$`);
    await server.query(url, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
    const asRole = new URL(url);
    asRole.username = role;
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const vacuum = vacuumer({ connectionString: asRole.toString() }, 1);
    try {
      vacuum.churned(1);
      await vi.waitFor(() => expect(errors).toHaveBeenCalledTimes(1));
      expect(String(errors.mock.calls[0]![0])).toMatch(/^csp-lens: PostgreSQL: cannot VACUUM the live tables \(skipping "csp_lens_\w+" --- .*\); leaving them to autovacuum$/);
      // Asked again: nothing starts (close waits for a vacuum under way, and there is none to log).
      vacuum.churned(100);
      await vacuum.close();
      expect(errors).toHaveBeenCalledTimes(1);
      expect(vacuum.runs).toBe(0);
    } finally {
      await vacuum.close();
      errors.mockRestore();
    }
  });
});
