import pg from 'pg';
import type { EraseResult, IngestBatch, Store, StoredViolation } from '../../core/types.js';
import { checkEraseFilter } from '../../core/erase.js';
import { ClientError } from '../../core/errors.js';
import { ensureAuditTable } from './erase.js';
import { migrate } from './schema.js';
import { regroupIfOlder } from './regroup.js';
import { postgresCommits } from './commit.js';
import { fold } from './fold.js';
import * as read from './queries.js';
import { type CoreOptions, applySeverity, coreOptions } from '../../core/options.js';
import * as triage from './triage.js';
import { vacuumer } from './vacuum.js';

// SQLSTATE of a database that is not answering: 57014 a statement cancelled by its timeout, 57P0x
// shutting down or starting, class 08 a connection lost or refused.
const NOT_ANSWERING = /^(57014|57P0[1-3]|08...)$/;

/**
 * A read the database did not answer (a timeout, a lost or refused connection) is a 503 the client
 * may retry, not the receiver's fault; any other error stays a 500 (and is logged).
 */
function unavailable<T>(read: Promise<T>): Promise<T> {
  return read.catch((e: unknown) => {
    const code = e instanceof pg.DatabaseError ? (e.code ?? '') : '';
    const lost = !(e instanceof pg.DatabaseError) && /timeout|terminated|ECONNREFUSED|ECONNRESET/i.test((e as Error)?.message ?? '');
    if (NOT_ANSWERING.test(code) || lost) throw new ClientError(503, 'PostgreSQL did not answer in time; retry later');
    throw e;
  });
}

/** The core's options (maxLiveBytes aside: PostgreSQL's tables are its own), and the connection. */
export interface PostgresStoreOptions extends CoreOptions {
  /** `postgres://user:pass@host:5432/db`; every receiver instance of a site points at the same one. */
  connectionString: string;
  /** Connections per instance for the read API, plus one (the writers have their own). Default 4. */
  poolSize?: number;
  /**
   * Write transactions in flight at once per instance, each on a connection of its own (default 1).
   * 2 makes one while the database flushes the other: more per instance where the database is far
   * and has cores to spare; where the database is the limit, smaller commits cost it more per report.
   */
  transactions?: number;
  /**
   * How long to wait for a connection (ms, default 3000), and for one statement (ms, default 5000:
   * the client gives up, and the server cancels it). A hung server then costs a report a 503 within
   * seconds instead of a wait without end, and /health turns 503 with the first failed write.
   */
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** Called after each committed transaction (tests and the benchmark count group commits). */
  onCommit?: (info: { appends: number; violations: number; archived: number }) => void;
  /**
   * The live tables are vacuumed by the receiver after this many violations (appended or archived)
   * went through them (vacuum.ts); default half of maxRecords, at least 5,000; 0: autovacuum only.
   */
  vacuumEvery?: number;
}

// Counts and sequence values are bigint: numbers here (they stay far below 2^53).
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * The store on PostgreSQL, for several receiver instances sharing one database. Group commits as the
 * file store does (commit.ts), and the merge runs inside the transaction under per-bucket advisory
 * locks, so instances agree; what a commit adds to rows all instances share is folded in right
 * after it (fold.ts), so that instances do not wait on each other's disk flushes.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  if (typeof options?.connectionString !== 'string' || !options.connectionString) {
    throw new Error('csp-lens: the PostgreSQL store needs a connection string (--database-url)');
  }
  const tuning = coreOptions(options);
  const every = options.vacuumEvery ?? Math.max(5_000, Math.ceil(tuning.maxRecords / 2));
  if (!Number.isSafeInteger(every) || every < 0) throw new Error(`csp-lens: vacuumEvery must be an integer ≥ 0, got ${every}`);
  const transactions = options.transactions ?? 1;
  if (!Number.isSafeInteger(transactions) || transactions < 1 || transactions > 16) {
    throw new Error(`csp-lens: transactions must be an integer from 1 to 16, got ${transactions}`);
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5_000;
  const connection = { connectionString: options.connectionString, types, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true };
  const pool = (max: number, settings?: string) => {
    const p = new pg.Pool({
      ...connection,
      ...(settings ? { options: settings } : {}),
      max,
      query_timeout: queryTimeoutMs,
      statement_timeout: queryTimeoutMs,
      // A receiver frozen mid-transaction must not hold its locks (and every other instance) for ever.
      idle_in_transaction_session_timeout: Math.max(30_000, 6 * queryTimeoutMs),
    });
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    p.on('error', (e) => console.error('csp-lens: PostgreSQL:', e.message));
    return p;
  };
  // The writers have connections of their own: reads never make an append wait for one (and time out).
  // Its statements look rows up by key, a few hundred at most, in tables whose statistics lag their
  // churn (thousands of rows in and out between two ANALYZEs): misled by them, the planner would
  // hash a whole table instead, and compile that plan (JIT) for 30 ms. Index lookups it is.
  const writer = pool(transactions, '-c jit=off -c enable_hashjoin=off -c enable_mergejoin=off -c enable_seqscan=off');
  const db = pool(Math.max(1, (options.poolSize ?? 4) - 1));
  const vacuum = every ? vacuumer(connection, every) : undefined;
  // The vacuum's pool ends once a vacuum under way is done: bounded with the rest.
  const end = () => Promise.race([Promise.all([writer.end(), db.end(), vacuum?.close()]), new Promise((r) => setTimeout(r, connectTimeoutMs).unref())]);
  // Migrating is not bound by the statement timeout: it may wait on another instance's migration.
  const admin = new pg.Client(connection);
  admin.on('error', () => {});
  try {
    await admin.connect();
    await migrate(admin);
    const regrouped = await regroupIfOlder(admin);
    if (regrouped) {
      console.error(`csp-lens: PostgreSQL: regrouped by the current rule: ${regrouped.groupsBefore} groups → ${regrouped.groupsAfter}, ${regrouped.records} live records moved or reclassified (archived records keep the group id they had)`);
    }
    await ensureAuditTable(admin);
    // What an instance that stopped between its commit and its fold left pending (fold.ts).
    await fold(admin as unknown as pg.PoolClient, tuning.maxRecords, []);
  } catch (e) {
    await end();
    throw new Error(`csp-lens: cannot open the PostgreSQL store: ${(e as Error).message}`);
  } finally {
    await admin.end().catch(() => {});
  }

  const commits = postgresCommits(writer, {
    ...tuning,
    transactions,
    onCommit: (info) => {
      vacuum?.churned(info.violations + info.archived);
      options.onCommit?.(info);
    },
  });
  let closed = false;
  return {
    append(batch: IngestBatch, filtered?: Record<string, number>) {
      if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
      applySeverity(batch, tuning.severity);
      return commits.add({ batch, filtered }) as Promise<StoredViolation[]>;
    },
    erase(filter, audit) {
      if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
      try {
        return commits.add({ erase: checkEraseFilter(filter), by: audit?.by }) as Promise<EraseResult>;
      } catch (e) {
        return Promise.reject(e);
      }
    },
    setGroupState(id, change) {
      if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
      return triage.setGroupState(db, id, change);
    },
    breakdown: (id) => unavailable(triage.breakdown(db, id)),
    severityRules: tuning.severity,
    violations: (q) => unavailable(read.violations(db, q)),
    groups: (q) => unavailable(read.groups(db, q)),
    group: (id) => unavailable(read.group(db, id)),
    policy: (hash) => unavailable(read.policy(db, hash)),
    stats: (q) => unavailable(read.stats(db, q)),
    async close() {
      if (closed) return;
      closed = true;
      await commits.kick();
      // Ending a connection waits for the server's goodbye, which a hung server never sends.
      await end();
    },
  };
}
