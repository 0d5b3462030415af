import pg from 'pg';
import type { EraseFilter, EraseResult, StoredViolation } from '../../core/types.js';
import { type Outcome, groupCommit } from '../commit.js';
import type { ViolationGroup } from '@csp-lens/schema';
import { type IngestOptions, type Pending, type Work, prepare } from './ingest.js';
import { write, writeSql } from './write.js';
import { FoldError, commitAndFold } from './fold.js';
import { pruneGroups } from './prune.js';
import { applyOccurrences } from './triage.js';
import { erase } from './erase.js';

/** An erasure: a transaction of its own in the same group commit, so never beside an append. */
export interface Erasing {
  erase: EraseFilter;
  by?: string;
}

export interface CommitOptions extends IngestOptions {
  /** Transactions in flight at once (the writer pool has a connection for each). */
  transactions: number;
  onCommit?: (info: { appends: number; violations: number; archived: number }) => void;
}

// One transaction holds at most this many violations; the rest wait for the next.
const MAX_BATCH = 2000;
const RETRIES = 5;
// Deadlock and serialization failures are safe to retry: the transaction left nothing behind. So is
// CLTRI: a group the write adds to was triaged after the load said it was not (write.ts); made
// again, the load sees the state.
const RETRYABLE = new Set(['40P01', '40001', 'CLTRI']);
// SQLSTATE classes that blame the data: 22 a value a column or jsonb cannot hold, 23 a constraint,
// 54 a value past a limit. Anything else (connection lost, timeout, shutdown) is the database's state.
const POISON_CLASSES = new Set(['22', '23', '54']);

const codeOf = (e: unknown) => (e instanceof pg.DatabaseError ? (e.code ?? '') : '');
// Our own code throwing on an input (JSON.stringify's RangeError on a huge value, a TypeError)
// blames the data too.
const isPoison = (e: unknown) => POISON_CLASSES.has(codeOf(e).slice(0, 2)) || e instanceof TypeError || e instanceof RangeError;

/**
 * Group commit on PostgreSQL (store/commit.ts, as the file store): `opts.transactions` transactions
 * in flight per instance, and everything appended meanwhile rides the next one to start. They are
 * independent as two instances' are (the merge's advisory locks order them), so one instance uses
 * the database while it waits on another transaction's disk flush. `db` is the writers' own pool,
 * so that read API load never makes an append wait for a connection (and time out).
 */
export function postgresCommits(db: pg.Pool, opts: CommitOptions) {
  // Sequence values reserved by this instance and not used yet, ascending. A transaction takes what
  // it needs out of them (so two in flight never share one) and gives back what it did not use, so
  // ids stay dense.
  const seqs: number[] = [];
  const giveBack = (unused: number[]) => {
    if (!unused.length) return;
    seqs.push(...unused);
    seqs.sort((a, b) => a - b);
  };

  /**
   * `fn` on a connection of the writer's pool. `fn` throwing a server error rolls its transaction
   * back (the connection is fine then); a timeout or a lost connection (a statement may still be
   * running) makes the pool drop it, the server rolling back when it notices, and calls `unknown`:
   * whether a COMMIT sent went through is then unknown. The pool listens for errors on idle
   * connections only: without the listener here, a connection dropped while checked out
   * (PostgreSQL stopped) is an unhandled 'error' event that ends the process.
   */
  async function checkedOut<T>(fn: (client: pg.PoolClient) => Promise<T>, unknown?: () => void): Promise<T> {
    const client = await db.connect();
    let lost: Error | undefined;
    const onError = (e: Error) => (lost = e);
    client.on('error', onError);
    let broken: Error | undefined;
    const rollback = () => client.query('ROLLBACK').then(() => {}, (r: Error) => void (broken = r));
    try {
      return await fn(client);
    } catch (e) {
      if (e instanceof pg.DatabaseError && !lost) await rollback();
      else {
        broken = lost ?? (e as Error);
        unknown?.();
      }
      throw e;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async function transaction(items: Pending[]): Promise<{ archived: number; stored: StoredViolation[][] }> {
    // Taken now, before any await: the other transaction in flight takes its own. `prepare`
    // reserves more into it when short.
    const mine = seqs.splice(0, items.reduce((n, i) => n + i.batch.violations.length, 0));
    let known = true;
    const { work, regressions, result } = await checkedOut(
      async (client) => {
        // Round trips: BEGIN with the bucket locks and the load (ingest.ts), then the write
        // (write.ts), the COMMIT and the fold that follows it (fold.ts) in one. Where the commit
        // adds to a group with a triage state, the occurrences must be applied to it before the
        // COMMIT, and where it creates groups, they are pruned: the write goes first on its own.
        const work = await prepare(client, items, opts, mine);
        const fold = (ahead?: string) =>
          commitAndFold(client, opts.maxRecords, work.touched, work.xid, ahead).catch((e: unknown) => {
            if (!(e instanceof FoldError)) throw e;
            // The commit stands, and its pending work waits for the next fold (any instance's, or a
            // reader's: queries.ts folds before it reads what is pending).
            console.error(e.message);
            return undefined;
          });
        if (!work.creating && [...work.touched].every((id) => !work.triaged.has(id))) {
          return { work, regressions: new Set<string>(), result: await fold(writeSql(work, true)) };
        }
        const triage = await write(client, work);
        const regressions = await applyOccurrences(client, items, work, triage);
        if (work.created.size) await pruneGroups(client, opts.maxGroups);
        return { work, regressions, result: await fold() };
      },
      // If the COMMIT went through, the sequence values it used are taken, and using them again
      // would fail every later commit on the units' key. Not given back; a gap in the ids is all it costs.
      () => (known = false),
    ).catch((e: unknown) => {
      // Rolled back: none of them is used (a sequence does not roll back; they stay ours).
      if (known) giveBack(mine);
      throw e;
    });
    giveBack(mine.slice(work.usedSeqs));
    const archived = result?.archived ?? 0;
    const groups = result?.groups ?? new Map<string, ViolationGroup>();
    const stored = items.map((item, i) =>
      work.units[i]!.map((unit, j) => {
        const record = work.records.get(unit.rid!)!;
        const regression = regressions.has(`${i}:${j}`) ? { regression: true } : {};
        // Without the fold's answer (it failed), the group as this commit saw it.
        const group = groups.get(record.groupId) ?? work.book.groups[record.groupId]!;
        return { violation: item.batch.violations[j]!, record, group, newGroup: work.created.has(record.groupId), ...regression };
      }),
    );
    return { archived, stored };
  }

  /** An erasure's transaction, tried again after a deadlock like an append's. */
  async function eraseCommit(item: Erasing): Promise<Outcome<EraseResult>[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await checkedOut(async (client) => {
          await client.query('BEGIN');
          const result = await erase(client, item.erase, item.by);
          await client.query('COMMIT');
          return result;
        });
        return [{ ok: true, value }];
      } catch (e) {
        if (attempt < RETRIES && RETRYABLE.has(codeOf(e))) continue;
        throw e;
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
    concurrency: opts.transactions,
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
