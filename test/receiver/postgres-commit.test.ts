import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { coreOptions } from '../../packages/receiver/src/core/options.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { prepare } from '../../packages/receiver/src/store/postgres/ingest.js';
import { write } from '../../packages/receiver/src/store/postgres/write.js';
import { dollarQuoted } from '../../packages/receiver/src/store/postgres/prepared.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, connectAsStore, startTestPostgres } from '../helpers/postgres.js';

// commit.ts: an append's transaction is two round trips, BEGIN with the load, then the write, the
// COMMIT and the fold in one; the write goes on its own where the commit must see a triage state
// before its COMMIT. What it must never do: acknowledge what did not commit, or commit past a
// triage state it did not apply.

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

const T = Date.now();
const report = (tag: string, i = 0): IngestBatch => normalizeNative(JSON.parse(reportUriBody(tag).body), { receivedAt: T + i });

/** Every simple query the process sends while `fn` runs; `before` may act on one before it is sent. */
async function queries<T>(fn: () => Promise<T>, before?: (sql: string) => Promise<void>): Promise<{ value: T; sent: string[] }> {
  const query = pg.Client.prototype.query;
  const sent: string[] = [];
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const sql = typeof args[0] === 'string' ? args[0] : '';
    sent.push(sql);
    const go = () => (query as (...a: unknown[]) => unknown).apply(this, args);
    return before && sql ? before(sql).then(go) : go();
  } as typeof query;
  try {
    return { value: await fn(), sent };
  } finally {
    pg.Client.prototype.query = query;
  }
}

const writes = (sent: string[]) => sent.filter((q) => q.includes('EXECUTE csp_lens_write('));

/** A store on a new database, with a first report stored, for `fn`; closed after. */
async function withStore(options: { maxRecords?: number }, fn: (store: Awaited<ReturnType<typeof openPostgresStore>>, url: string) => Promise<void>): Promise<void> {
  const url = await server.createDatabase();
  const store = await openPostgresStore({ connectionString: url, ...options });
  try {
    await store.append(report('first'));
    await fn(store, url);
  } finally {
    await store.close();
  }
}

describe('an append on PostgreSQL', () => {
  it('sends its write with its COMMIT and the fold, and on its own where the group has a triage state', async () => {
    await withStore({}, async (store, url) => {
      const fast = await queries(() => store.append(report('first', 1)));
      expect(writes(fast.sent)).toHaveLength(1);
      expect(writes(fast.sent)[0]).toMatch(/, true\); COMMIT; BEGIN; .*csp_lens_fold/);
      // The whole transaction: BEGIN with the load, then the write with the COMMIT.
      expect(fast.sent.filter((q) => /^BEGIN|; COMMIT/.test(q))).toHaveLength(2);

      const [group] = (await store.groups({})).items;
      await store.setGroupState(group!.id, { status: 'resolved', at: T });
      const slow = await queries(() => store.append(report('first', 2)));
      expect(writes(slow.sent)).toHaveLength(1);
      expect(writes(slow.sent)[0]).toMatch(/, false\)$/);
      expect(slow.sent.some((q) => q.startsWith('COMMIT; BEGIN'))).toBe(true);
      // The occurrence was applied to the state before the COMMIT: the group reopened.
      expect(slow.value[0]).toMatchObject({ regression: true });
      expect((await store.group(group!.id))?.group.triage).toMatchObject({ status: 'open', regression: true });
    });
  });

  it('makes its commit again when the group is triaged between its load and its write, and applies the state', async () => {
    await withStore({}, async (store, url) => {
      const [group] = (await store.groups({})).items;
      let resolved = false;
      const { value, sent } = await queries(
        () => store.append(report('first', 1)),
        async (sql) => {
          if (resolved || !sql.includes('EXECUTE csp_lens_write(') || !sql.includes(', true); COMMIT')) return;
          resolved = true;
          // The group is resolved while this commit, which loaded it untriaged, is about to send
          // its write with its COMMIT. The triage API waits for such a commit (its FOR UPDATE, the
          // next test); a state written without that lock (an instance of a version before it,
          // still running) is what the write's check is for.
          await server.query(url, 'INSERT INTO csp_lens_triage (group_id, status, state) VALUES ($1, $2, $3)', [group!.id, 'resolved', { status: 'resolved', at: T }]);
        },
      );
      expect(resolved).toBe(true);
      // Refused by the write (CLTRI), rolled back, made again the long way.
      expect(writes(sent).map((q) => q.endsWith('false)'))).toEqual([false, true]);
      expect(value[0]).toMatchObject({ regression: true });
      expect((await store.group(group!.id))?.group.triage).toMatchObject({ status: 'open', regression: true });
      // Stored once (the refused write left nothing): two records, two occurrences.
      expect((await store.violations({ limit: 10 })).items).toHaveLength(2);
      expect((await store.group(group!.id))?.group.count).toBe(2);
    });
  });

  it('acknowledges a commit whose fold failed behind it, and the next fold takes its work', async () => {
    await withStore({ maxRecords: 1 }, async (store, url) => {
      const errors: unknown[] = [];
      const log = console.error;
      console.error = (...a: unknown[]) => void errors.push(a[0]);
      try {
        // Every fold fails for a while: the function is swapped for one that raises.
        await server.query(url, `ALTER FUNCTION csp_lens_fold(bigint, integer) RENAME TO csp_lens_fold_kept;
          CREATE FUNCTION csp_lens_fold(bigint, integer) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'fold down'; END $$`);
        const stored = await store.append(report('second'));
        expect(stored).toHaveLength(1);
        expect(errors.join('\n')).toMatch(/folding the shared rows failed: fold down/);
        expect(await server.query(url, 'SELECT count(*)::int AS n FROM csp_lens_pending')).toEqual([{ n: 1 }]);
        // Committed: both records are live (no fold, no retention), and reads count them already.
        expect(await server.query(url, 'SELECT count(*)::int AS n FROM csp_lens_records')).toEqual([{ n: 2 }]);
        await server.query(url, 'DROP FUNCTION csp_lens_fold(bigint, integer); ALTER FUNCTION csp_lens_fold_kept(bigint, integer) RENAME TO csp_lens_fold');
        await store.append(report('third'));
        expect(await server.query(url, 'SELECT count(*)::int AS n FROM csp_lens_pending')).toEqual([{ n: 0 }]);
        // Retention caught up: one live record, the two others archived.
        expect(await server.query(url, 'SELECT (SELECT count(*)::int FROM csp_lens_records) AS live, (SELECT count(*)::int FROM csp_lens_archive) AS archived')).toEqual([
          { live: 1, archived: 2 },
        ]);
      } finally {
        console.error = log;
      }
    });
  });

  it('refuses an append whose write fails ahead of its COMMIT, and leaves nothing of it', async () => {
    await withStore({}, async (store, url) => {
      // The write fails on the server (units rows in the way of the one it inserts: every sequence
      // value the instance has reserved), after the load: the same round trip carries the COMMIT,
      // which must not count as sent.
      await server.query(url, `INSERT INTO csp_lens_units (seq, bucket, blocked, wide, rid, unit)
        SELECT g, 'x', '', false, 0, '{}' FROM generate_series(1, (SELECT last_value FROM csp_lens_seq)) AS g ON CONFLICT DO NOTHING`);
      await expect(store.append(report('second'))).rejects.toThrow(/duplicate key/);
      expect(await server.query(url, 'SELECT count(*)::int AS n FROM csp_lens_records')).toEqual([{ n: 1 }]);
      expect(await server.query(url, 'SELECT count(*)::int AS n FROM csp_lens_pending')).toEqual([{ n: 0 }]);
      await server.query(url, "DELETE FROM csp_lens_units WHERE bucket = 'x'");
      await store.append(report('third'));
      expect((await store.violations({ limit: 10 })).items).toHaveLength(2);
    });
  });
});

describe('a triage change through the API', () => {
  it('waits for an append to the group that is between its write and its COMMIT', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    // An append's transaction as commit.ts runs it, held after its write: it loaded the group untriaged.
    const other = await connectAsStore(url);
    try {
      await store.append(report('first'));
      const [group] = (await store.groups({})).items;
      await write(other, await prepare(other, [{ batch: report('first', 1) }], coreOptions({}), []));
      let done = false;
      const resolving = store.setGroupState(group!.id, { status: 'ignored', at: T, occurrences: 1 }).then((g) => ((done = true), g));
      // The change waits on the group's row until the append commits.
      const waiting = async () =>
        (await server.query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()'))[0]!.n;
      for (let i = 0; i < 100 && !done && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 20));
      expect(done).toBe(false);
      expect(await waiting()).toBe(1);
      await other.query('COMMIT');
      const changed = await resolving;
      // It counted the append that committed before it: "one more" means a third occurrence.
      expect(changed?.count).toBe(2);
      expect(changed?.triage).toMatchObject({ status: 'ignored', untilCount: 3 });
    } finally {
      await other.end();
      await store.close();
    }
  });
});

describe('values in simple queries', () => {
  it('reach the server as they were, whatever they hold', async () => {
    const url = await server.createDatabase();
    const hostile = ["it's", 'back\\slash \\u0000 \\', '$j$ then $j0$ and $j1$', '$$', "'); DROP TABLE csp_lens_units; --", 'ü \u2028 \ud83d\ude00', ''];
    for (const text of hostile) {
      const sql = dollarQuoted(text);
      expect(sql.startsWith('$j')).toBe(true);
      const [row] = await server.query<{ same: boolean; back: string }>(url, `SELECT ${sql} = $1 AS same, ${sql} AS back`, [text]);
      expect(row).toEqual({ same: true, back: text });
    }
    expect(dollarQuoted('$j$ $j0$')).toBe('$j1$$j$ $j0$$j1$');
  });
});
