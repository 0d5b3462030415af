import pg from 'pg';
import type { IngestBatch, Store } from '../types.js';
import { migrate } from './postgres-schema.js';
import { type IngestOptions, type Pending, prepare } from './postgres-ingest.js';
import { write } from './postgres-write.js';
import { evict } from './postgres-evict.js';
import { pruneGroups } from './postgres-prune.js';
import * as read from './postgres-queries.js';

export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:5432/db`; every receiver instance of a site points at the same one. */
  connectionString: string;
  maxRecords?: number;
  mergeWindowMs?: number;
  groupCapPerMinute?: number;
  /** Most groups kept: past it, groups with no live record go, least recently seen first. Default 10,000. */
  maxGroups?: number;
  /** Connections per instance: one for the writer, the rest for the read API. Default 4. */
  poolSize?: number;
  /**
   * How long to wait for a connection (ms, default 3000), and for one statement (ms, default 5000:
   * the client gives up, and the server cancels it). A hung server then costs a report a 503 within
   * seconds instead of a wait without end, and /health turns 503 with the first failed write.
   */
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** Called after each committed transaction (tests and the benchmark count group commits). */
  onCommit?: (info: { appends: number; violations: number; archived: number }) => void;
}

// Counts and sequence values are bigint: numbers here (they stay far below 2^53).
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

// One transaction holds at most this many violations; the rest wait for the next.
const MAX_BATCH = 2000;
const RETRIES = 5;
// Deadlock and serialization failures are safe to retry: the transaction left nothing behind.
const RETRYABLE = new Set(['40P01', '40001']);
// SQLSTATE classes that blame the data: 22 a value a column or jsonb cannot hold, 23 a constraint,
// 54 a value past a limit. A transaction failing with one is split until only the appends that
// cause it fail. Anything else (connection lost, timeout, shutdown) is the database's state.
const POISON_CLASSES = new Set(['22', '23', '54']);

const codeOf = (e: unknown) => (e instanceof pg.DatabaseError ? (e.code ?? '') : '');
// Our own code throwing on an input (JSON.stringify's RangeError on a huge value, a TypeError) blames
// the data too.
const isPoison = (e: unknown) => POISON_CLASSES.has(codeOf(e).slice(0, 2)) || e instanceof TypeError || e instanceof RangeError;

/**
 * The store on PostgreSQL, for several receiver instances sharing one database. Group commits as the
 * file store does (one transaction in flight per instance; appends meanwhile share the next), and
 * the merge runs inside the transaction under per-bucket advisory locks, so instances agree.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  if (typeof options?.connectionString !== 'string' || !options.connectionString) {
    throw new Error('csp-lens: the PostgreSQL store needs a connection string (--database-url)');
  }
  const opts: IngestOptions = {
    maxRecords: options.maxRecords ?? 10_000,
    mergeWindowMs: options.mergeWindowMs ?? 10_000,
    groupCapPerMinute: options.groupCapPerMinute ?? 100,
  };
  const maxGroups = options.maxGroups ?? 10_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5_000;
  const connection = { connectionString: options.connectionString, types, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true };
  const db = new pg.Pool({
    ...connection,
    max: Math.max(2, options.poolSize ?? 4),
    query_timeout: queryTimeoutMs,
    statement_timeout: queryTimeoutMs,
    // A receiver frozen mid-transaction must not hold its locks (and every other instance) for ever.
    idle_in_transaction_session_timeout: Math.max(30_000, 6 * queryTimeoutMs),
  });
  // An idle connection dropped by the server must not crash the process; the pool replaces it.
  db.on('error', (e) => console.error('csp-lens: PostgreSQL:', e.message));
  // Migrating is not bound by the statement timeout: it may wait on another instance's migration.
  const admin = new pg.Client(connection);
  admin.on('error', () => {});
  try {
    await admin.connect();
    await migrate(admin);
  } catch (e) {
    await admin.end().catch(() => {});
    await db.end();
    throw new Error(`csp-lens: cannot open the PostgreSQL store: ${(e as Error).message}`);
  }
  await admin.end().catch(() => {});

  type Queued = Pending & { resolve(): void; reject(e: unknown): void };
  let queue: Queued[] = [];
  let writing: Promise<void> | undefined;
  let closed = false;
  // Sequence values reserved by this instance; unused ones carry over, so ids stay dense.
  let seqs: number[] = [];

  async function transaction(items: Pending[]): Promise<number> {
    const needed = items.reduce((n, i) => n + i.batch.violations.length, 0);
    if (seqs.length < needed) {
      const { rows } = await db.query<{ s: number }>("SELECT nextval('csp_lens_seq') AS s FROM generate_series(1, $1)", [needed - seqs.length + 64]);
      seqs = [...seqs, ...rows.map((r) => r.s)].sort((a, b) => a - b);
    }
    const client = await db.connect();
    // The pool listens for errors on idle connections only: without this, a connection dropped
    // while checked out (PostgreSQL stopped) is an unhandled 'error' event that ends the process.
    let lost: Error | undefined;
    const onError = (e: Error) => (lost = e);
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const work = await prepare(client, items, opts, seqs);
      const delta = await write(client, work);
      const archived = await evict(client, delta, opts.maxRecords);
      if (work.created.size) await pruneGroups(client, maxGroups);
      await client.query('COMMIT');
      seqs = seqs.slice(work.usedSeqs);
      return archived;
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

  /**
   * Commits `items` in one transaction. A retryable failure runs it again; one that blames the data
   * splits it in halves, each committed on its own, down to the single appends that fail: the
   * others are stored (report-uri and beacons are never retried, so a 503 loses them). Throws on a
   * failure of the database itself.
   */
  async function commit(items: Queued[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const archived = await transaction(items);
        for (const i of items) i.resolve();
        options.onCommit?.({ appends: items.length, violations: items.reduce((n, i) => n + i.batch.violations.length, 0), archived });
        return;
      } catch (e) {
        if (attempt < RETRIES && RETRYABLE.has(codeOf(e))) continue;
        if (!isPoison(e)) throw e;
        if (items.length === 1) return items[0].reject(e);
        const half = Math.ceil(items.length / 2);
        await commit(items.slice(0, half));
        await commit(items.slice(half));
        return;
      }
    }
  }

  // Group commit: at most one transaction in flight; everything appended meanwhile rides the next.
  async function drain(): Promise<void> {
    while (queue.length) {
      let n = 0;
      let take = 0;
      while (take < queue.length && (take === 0 || n + queue[take].batch.violations.length <= MAX_BATCH)) n += queue[take++].batch.violations.length;
      const items = queue.slice(0, take);
      queue = queue.slice(take);
      try {
        await commit(items);
      } catch (e) {
        // The database is down, hung or refusing: what queued meanwhile would wait just as long for
        // the same answer, so it gets it now. The next append tries the database again.
        const waiting = queue;
        queue = [];
        for (const i of [...items, ...waiting]) i.reject(e);
      }
    }
    writing = undefined;
  }

  return {
    append(batch: IngestBatch, filtered?: Record<string, number>) {
      if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
      return new Promise<void>((resolve, reject) => {
        queue.push({ batch, filtered, resolve, reject });
        writing ??= drain();
      });
    },
    violations: (q) => read.violations(db, q),
    groups: (q) => read.groups(db, q),
    group: (id) => read.group(db, id),
    policy: (hash) => read.policy(db, hash),
    stats: (q) => read.stats(db, q),
    async close() {
      if (closed) return;
      closed = true;
      await writing;
      // Ending a connection waits for the server's goodbye, which a hung server never sends.
      await Promise.race([db.end(), new Promise((r) => setTimeout(r, connectTimeoutMs).unref())]);
    },
  };
}
