import pg from 'pg';
import type { IngestBatch, Store } from '../types.js';
import { migrate } from './postgres-schema.js';
import { type IngestOptions, type Pending, prepare } from './postgres-ingest.js';
import { write } from './postgres-write.js';
import { evict } from './postgres-evict.js';
import * as read from './postgres-queries.js';

export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:5432/db`; every receiver instance of a site points at the same one. */
  connectionString: string;
  maxRecords?: number;
  mergeWindowMs?: number;
  groupCapPerMinute?: number;
  /** Connections per instance: one for the writer, the rest for the read API. Default 4. */
  poolSize?: number;
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
  const db = new pg.Pool({ connectionString: options.connectionString, max: Math.max(2, options.poolSize ?? 4), types });
  // An idle connection dropped by the server must not crash the process; the pool replaces it.
  db.on('error', (e) => console.error('csp-lens: PostgreSQL:', e.message));
  try {
    const client = await db.connect();
    try {
      await migrate(client);
    } finally {
      client.release();
    }
  } catch (e) {
    await db.end();
    throw new Error(`csp-lens: cannot open the PostgreSQL store: ${(e as Error).message}`);
  }

  let queue: (Pending & { resolve(): void; reject(e: unknown): void })[] = [];
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
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const work = await prepare(client, items, opts, seqs);
      const delta = await write(client, work);
      const archived = await evict(client, delta, opts.maxRecords);
      await client.query('COMMIT');
      seqs = seqs.slice(work.usedSeqs);
      return archived;
    } catch (e) {
      await client.query('ROLLBACK').catch((r: Error) => (broken = r));
      throw e;
    } finally {
      client.release(broken);
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
      for (let attempt = 1; ; attempt++) {
        try {
          const archived = await transaction(items);
          for (const i of items) i.resolve();
          options.onCommit?.({ appends: items.length, violations: n, archived });
          break;
        } catch (e) {
          if (attempt < RETRIES && RETRYABLE.has((e as { code?: string }).code ?? '')) continue;
          for (const i of items) i.reject(e);
          break;
        }
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
      await db.end();
    },
  };
}
