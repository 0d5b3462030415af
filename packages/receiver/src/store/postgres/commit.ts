import pg from 'pg';
import type { EraseFilter, EraseResult, StoredViolation } from '../../core/types.js';
import { type Outcome, groupCommit } from '../commit.js';
import { type IngestOptions, type Pending, prepare } from './ingest.js';
import { write } from './write.js';
import { evict } from './evict.js';
import { pruneGroups } from './prune.js';
import { applyOccurrences } from './triage.js';
import { erase } from './erase.js';

/** An erasure: a transaction of its own in the same group commit, so never beside an append. */
export interface Erasing {
  erase: EraseFilter;
  by?: string;
}

export interface CommitOptions extends IngestOptions {
  onCommit?: (info: { appends: number; violations: number; archived: number }) => void;
}

// One transaction holds at most this many violations; the rest wait for the next.
const MAX_BATCH = 2000;
const RETRIES = 5;
// Deadlock and serialization failures are safe to retry: the transaction left nothing behind.
const RETRYABLE = new Set(['40P01', '40001']);
// SQLSTATE classes that blame the data: 22 a value a column or jsonb cannot hold, 23 a constraint,
// 54 a value past a limit. Anything else (connection lost, timeout, shutdown) is the database's state.
const POISON_CLASSES = new Set(['22', '23', '54']);

const codeOf = (e: unknown) => (e instanceof pg.DatabaseError ? (e.code ?? '') : '');
// Our own code throwing on an input (JSON.stringify's RangeError on a huge value, a TypeError)
// blames the data too.
const isPoison = (e: unknown) => POISON_CLASSES.has(codeOf(e).slice(0, 2)) || e instanceof TypeError || e instanceof RangeError;

/**
 * Group commit on PostgreSQL (store/commit.ts, as the file store): at most one transaction in flight
 * per instance, and everything appended meanwhile rides the next. `db` is the writer's own pool, so
 * that read API load never makes an append wait for a connection (and time out).
 */
export function postgresCommits(db: pg.Pool, opts: CommitOptions) {
  // Sequence values reserved by this instance; unused ones carry over, so ids stay dense.
  let seqs: number[] = [];

  async function transaction(items: Pending[]): Promise<{ archived: number; stored: StoredViolation[][] }> {
    const client = await db.connect();
    // The pool listens for errors on idle connections only: without this, a connection dropped
    // while checked out (PostgreSQL stopped) is an unhandled 'error' event that ends the process.
    let lost: Error | undefined;
    const onError = (e: Error) => (lost = e);
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      const needed = items.reduce((n, i) => n + i.batch.violations.length, 0);
      if (seqs.length < needed) {
        const { rows } = await client.query<{ s: number }>("SELECT nextval('csp_lens_seq') AS s FROM generate_series(1, $1)", [needed - seqs.length + 64]);
        seqs = [...seqs, ...rows.map((r) => r.s)].sort((a, b) => a - b);
      }
      await client.query('BEGIN');
      const work = await prepare(client, items, opts, seqs);
      const { live, groups } = await write(client, work);
      const regressions = await applyOccurrences(client, items, work, groups);
      const archived = await evict(client, live, opts.maxRecords);
      if (work.created.size) await pruneGroups(client, opts.maxGroups);
      await client.query('COMMIT');
      seqs = seqs.slice(work.usedSeqs);
      const stored = items.map((item, i) =>
        work.units[i]!.map((unit, j) => {
          const record = work.records.get(unit.rid!)!;
          const regression = regressions.has(`${i}:${j}`) ? { regression: true } : {};
          return { violation: item.batch.violations[j]!, record, group: groups.get(record.groupId)!, newGroup: work.created.has(record.groupId), ...regression };
        }),
      );
      return { archived, stored };
    } catch (e) {
      // After a server error the connection is fine once rolled back. After a timeout or a lost
      // connection it is not (a statement may still be running): the pool drops it, and the server
      // rolls back when it notices.
      if (e instanceof pg.DatabaseError && !lost) await client.query('ROLLBACK').catch((r: Error) => (broken = r));
      else broken = lost ?? (e as Error);
      throw e;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** An erasure's transaction, tried again after a deadlock like an append's. */
  async function eraseCommit(item: Erasing): Promise<Outcome<EraseResult>[]> {
    for (let attempt = 1; ; attempt++) {
      const client = await db.connect();
      let lost: Error | undefined;
      const onError = (e: Error) => (lost = e);
      client.on('error', onError);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await erase(client, item.erase, item.by);
        await client.query('COMMIT');
        return [{ ok: true, value: result }];
      } catch (e) {
        if (e instanceof pg.DatabaseError && !lost) await client.query('ROLLBACK').catch((r: Error) => (broken = r));
        else broken = lost ?? (e as Error);
        if (attempt < RETRIES && RETRYABLE.has(codeOf(e))) continue;
        throw e;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  /**
   * Commits `items` in one transaction. A retryable failure runs it again; one that blames the data
   * splits it in halves, each committed on its own, down to the single appends that fail: the
   * others are stored (report-uri and beacons are never retried, so a 503 loses them). Throws on a
   * failure of the database itself.
   */
  async function commit(items: Pending[]): Promise<Outcome<StoredViolation[]>[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { archived, stored } = await transaction(items);
        opts.onCommit?.({ appends: items.length, violations: items.reduce((n, i) => n + i.batch.violations.length, 0), archived });
        return stored.map((value) => ({ ok: true, value }));
      } catch (e) {
        if (attempt < RETRIES && RETRYABLE.has(codeOf(e))) continue;
        if (!isPoison(e)) throw e;
        if (items.length === 1) return [{ ok: false, error: e }];
        const half = Math.ceil(items.length / 2);
        return [...(await commit(items.slice(0, half))), ...(await commit(items.slice(half)))];
      }
    }
  }

  return groupCommit<Pending | Erasing, StoredViolation[] | EraseResult>({
    write: (items) => ('erase' in items[0] ? eraseCommit(items[0]) : commit(items as Pending[])),
    // At most MAX_BATCH violations a transaction (and always at least one append); an erasure alone.
    take(waiting) {
      if ('erase' in waiting[0]) return 1;
      let n = 0;
      let take = 0;
      const size = (i: number) => {
        const w = waiting[i]!;
        return 'erase' in w ? Infinity : w.batch.violations.length;
      };
      while (take < waiting.length && size(take) !== Infinity && (take === 0 || n + size(take) <= MAX_BATCH)) n += size(take++);
      return take;
    },
    // The database is down, hung or refusing: what queued meanwhile would wait just as long for the
    // same answer, so it gets it now. The next append tries the database again.
    failWaiting: true,
  });
}
