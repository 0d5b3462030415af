import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { coreOptions } from '../../packages/receiver/src/core/options.js';
import { policyHash } from '../../packages/receiver/src/core/state.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { prepare } from '../../packages/receiver/src/store/postgres/ingest.js';
import { write } from '../../packages/receiver/src/store/postgres/write.js';
import { fold } from '../../packages/receiver/src/store/postgres/fold.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, connectAsStore, startTestPostgres } from '../helpers/postgres.js';

// A commit puts what it adds to rows every instance shares (group totals, reach, policies,
// counters) in a pending row, folded right after it (fold.ts). Between the two, or when the
// instance stops between them, everything that reads or changes those rows must see the commit.

const UA = 'Mozilla/5.0 (X11; Linux x86_64) csp-lens-test';
const OPTS = coreOptions({});
let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(async () => server?.stop());

const report = (tag: string, at = Date.now(), overrides: Record<string, unknown> = {}) =>
  normalizeNative(JSON.parse(reportUriBody(tag, overrides).body), { receivedAt: at, userAgent: UA });

/**
 * Another instance commits `batch` and stops before its fold: what it added to shared rows stays
 * pending.
 */
async function commitWithoutFold(url: string, batch: IngestBatch): Promise<void> {
  const other = await connectAsStore(url);
  try {
    await write(other, await prepare(other, [{ batch }], OPTS, []));
    await other.query('COMMIT');
  } finally {
    await other.end();
  }
}

const pendingRows = async (url: string) => (await server.query<{ n: string }>(url, 'SELECT count(*) AS n FROM csp_lens_pending'))[0]!.n;

describe('PostgreSQL: a commit whose fold has not run yet', () => {
  it('is in every read: group totals and reach, the policy text, the counters; the same after the fold', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    try {
      await store.append(report('first'));
      const second = report('second', Date.now(), { 'original-policy': "img-src 'none'; report-uri /second" });
      second.invalid = 2;
      await commitWithoutFold(url, second);
      expect(await pendingRows(url)).toBe('1');

      const read = async () => {
        const { items } = await store.groups({});
        const stats = await store.stats({});
        const g = await store.group(items[0]!.id);
        const policy = await store.policy(policyHash(second.violations[0]!.originalPolicy!));
        return { items, stats: { records: stats.records, invalid: stats.invalid, groups: stats.groups }, records: g?.records.length, policy };
      };
      const before = await read();
      expect(before.items).toHaveLength(1);
      expect(before.items[0]).toMatchObject({ records: 2, count: 2, reach: { documents: 2, userAgents: 1 } });
      expect(before.stats).toEqual({ records: 2, invalid: 2, groups: 1 });
      expect(before.records).toBe(2);
      expect(before.policy).toBe("img-src 'none'; report-uri /second");

      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await fold(admin as unknown as pg.PoolClient, OPTS.maxRecords, []);
      await admin.end();
      expect(await pendingRows(url)).toBe('0');
      expect(await read()).toEqual(before);
    } finally {
      await store.close();
    }
  });

  it('counts toward an "ignore until N more": the group reopens at its mark', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    try {
      const [first] = await store.append(report('first'));
      const id = first!.group.id;
      // Ignored until two more occurrences (the mark is 3); the first of them is pending.
      await store.setGroupState(id, { status: 'ignored', at: Date.now(), occurrences: 2 });
      await commitWithoutFold(url, report('second'));
      const [third] = await store.append(report('third'));
      expect(third!.group.count).toBe(3);
      expect(third!.group.triage).toMatchObject({ status: 'open', reopened: { reason: 'ignore-count' } });
    } finally {
      await store.close();
    }
  });

  it('is in the totals an erasure subtracts from: erasing the group leaves no live count behind', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    try {
      const [first] = await store.append(report('first'));
      await commitWithoutFold(url, report('second'));
      expect(await store.erase({ groupId: first!.group.id })).toEqual({ deleted: 2, archived: 0 });
      expect(await server.query(url, "SELECT n FROM csp_lens_counters WHERE kind = 'store' AND name = 'live'")).toEqual([{ n: '0' }]);
      expect(await pendingRows(url)).toBe('0');
      expect((await store.groups({})).items).toEqual([]);
      // And the store goes on from there.
      await store.append(report('after'));
      expect((await store.groups({})).items[0]).toMatchObject({ records: 1, count: 1 });
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL: the reads’ view of pending work', () => {
  it('caps reach where core does (migration 7’s view writes the cap as a number: change both together)', async () => {
    const { MIGRATIONS } = await import('../../packages/receiver/src/store/postgres/schema.js');
    const { REACH_CAP } = await import('../../packages/receiver/src/core/group.js');
    const view = MIGRATIONS.find((m) => m.version === 7)!.sql;
    const caps = [...view.matchAll(/reach_\w+ < (\d+) THEN LEAST\((\d+),/g)].flatMap((m) => [Number(m[1]), Number(m[2])]);
    expect(caps).toHaveLength(6);
    expect(new Set(caps)).toEqual(new Set([REACH_CAP]));
  });
});
