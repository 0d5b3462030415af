import pg from 'pg';
import type { ViolationGroup } from '@csp-lens/schema';
import { REACH_CAP } from '../../core/group.js';
import { type GroupRow, toGroup } from './queries.js';

export interface Folded {
  archived: number;
  /** The groups asked for, as they now stand (every instance's counts included). */
  groups: Map<string, ViolationGroup>;
}

/** The commit went through; the fold after it did not (its pending work waits for the next fold). */
export class FoldError extends Error {
  constructor(cause: unknown) {
    super(`csp-lens: PostgreSQL: folding the shared rows failed: ${(cause as Error)?.message}`, { cause });
  }
}

/**
 * The fold (csp_lens_fold, schema.ts migration 7): every commit's pending work into the rows all
 * instances share, then the records past `maxRecords` to the archive; then the groups `ids`.
 *
 * It is committed without waiting for the disk (synchronous_commit off): it holds the shared rows
 * only as long as it runs, not through a flush, so instances do not take turns at the disk. A fold
 * lost in a crash loses nothing: the pending rows it took come back with it. And whatever commits
 * after it, and saw what it did, flushes it too (the log is written in order).
 */
function foldSql(maxRecords: number, ids: Iterable<string>): string[] {
  if (!Number.isSafeInteger(maxRecords) || maxRecords < 0) throw new Error('csp-lens: bad maxRecords');
  const wanted = pg.escapeLiteral(JSON.stringify([...ids]));
  return [
    'BEGIN',
    'SET LOCAL synchronous_commit TO off',
    `SELECT csp_lens_fold(${maxRecords}, ${REACH_CAP}) AS archived`,
    // As reads see them (another instance's commit may be pending), with their triage states.
    `SELECT g.*, t.state AS triage FROM csp_lens_groups_now g LEFT JOIN csp_lens_triage t ON t.group_id = g.id
      WHERE g.id = ANY(ARRAY(SELECT jsonb_array_elements_text(${wanted}::jsonb)))`,
    'COMMIT',
  ];
}

const folded = (results: pg.QueryResult[]): Folded => ({
  archived: results[2]!.rows[0].archived,
  groups: new Map((results[3]!.rows as GroupRow[]).map((r) => [r.id, toGroup(r)])),
});

/**
 * The fold inside a transaction that is about to change what it folds (erase.ts, regroup.ts): no
 * retention, and committed with that transaction.
 */
export async function foldHere(client: pg.PoolClient | pg.Client): Promise<void> {
  await client.query(`SELECT csp_lens_fold(NULL, ${REACH_CAP})`);
}

/** A fold on its own (at start, in tests). */
export async function fold(client: pg.PoolClient, maxRecords: number, ids: Iterable<string>): Promise<Folded> {
  return folded((await client.query(foldSql(maxRecords, ids).join('; '))) as unknown as pg.QueryResult[]);
}

/**
 * COMMITs the transaction in progress and folds, in one round trip. Throws the commit's error when
 * it failed (or when the connection was lost: whether a lost COMMIT went through is unknown, and is
 * taken as not), and a FoldError when the commit went through but the fold failed (the connection
 * is then in the fold's failed transaction, to roll back).
 */
export async function commitAndFold(client: pg.PoolClient, maxRecords: number, ids: Iterable<string>): Promise<Folded> {
  const sql = ['COMMIT', ...foldSql(maxRecords, ids)].join('; ');
  let results: pg.QueryResult[];
  try {
    results = (await client.query(sql)) as unknown as pg.QueryResult[];
  } catch (e) {
    // A failed COMMIT ends its transaction and skips the rest ('I'); a failure past it leaves the
    // fold's transaction failed ('E'), the commit done.
    if (e instanceof pg.DatabaseError && client.getTransactionStatus() === 'E') throw new FoldError(e);
    throw e;
  }
  return folded(results.slice(1));
}
