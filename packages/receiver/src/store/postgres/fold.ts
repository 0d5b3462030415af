import pg from 'pg';
import type { ViolationGroup } from '@csp-lens/schema';
import { REACH_CAP } from '../../core/group.js';
import { type GroupRow, toGroup } from './queries.js';
import { jsonLiteral, sqlPrepared } from './prepared.js';

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
  const wanted = jsonLiteral([...ids]);
  return [
    'BEGIN',
    'SET LOCAL synchronous_commit TO off',
    // A generic plan from the first EXECUTE on (not five custom ones first).
    'SET LOCAL plan_cache_mode TO force_generic_plan',
    `SELECT csp_lens_fold(${maxRecords}, ${REACH_CAP}) AS archived`,
    `EXECUTE ${GROUPS_NOW.name}(${wanted})`,
    'COMMIT',
  ];
}

// The groups a commit added to, as reads see them (another instance's commit may be pending), with
// their triage states. A statement prepared once per connection (SQL's PREPARE, so that EXECUTE can
// run in the fold's one round trip) with a generic plan: planned in each simple query instead, the
// view's plan cost the database more than the fold itself (540 µs a commit, bench/pg-write.mjs).
// The columns GroupRow reads, named: a newer instance's migration that adds a column to the view
// must not change what this statement returns (PostgreSQL refuses to run a prepared statement whose
// result type changed, and every fold of this connection would fail).
const GROUPS_NOW = sqlPrepared(
  'csp_lens_groups_now_of',
  'jsonb',
  `SELECT g.id, g.meta, g.severity, g.dispositions, g.count, g.records, g.sdk, g.report_uri, g.report_to, g.merged, g.native_only, g.first_seen,
          g.last_seen, g.example_id, g.reach_documents, g.reach_page_views, g.reach_user_agents, g.first_release, g.first_release_at, t.state AS triage
     FROM csp_lens_groups_now g LEFT JOIN csp_lens_triage t ON t.group_id = g.id
    WHERE g.id = ANY(ARRAY(SELECT jsonb_array_elements_text($1)))`,
);

/** Readies a connection for folds (once per connection, outside a transaction). */
export const prepareFold = (client: pg.PoolClient | pg.Client): Promise<void> => GROUPS_NOW.ready(client);

// foldSql's results: the fold's count, then the groups (BEGIN, COMMIT and SETs return nothing to read).
const folded = (results: pg.QueryResult[]): Folded => ({
  archived: results[results.length - 3]!.rows[0].archived,
  groups: new Map((results[results.length - 2]!.rows as GroupRow[]).map((r) => [r.id, toGroup(r)])),
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
  await prepareFold(client);
  return folded((await client.query(foldSql(maxRecords, ids).join('; '))) as unknown as pg.QueryResult[]);
}

/** Whether a transaction sent with its COMMIT went through could not be told (the question failed too). */
export class UnknownCommit extends Error {
  constructor(cause: unknown) {
    super(`csp-lens: PostgreSQL: whether a commit went through is unknown: ${(cause as Error)?.message}`, { cause });
  }
}

/**
 * COMMITs the transaction in progress (its id `xid`, from BEGIN's round trip) and folds, in one
 * round trip; `ahead`, a statement of the transaction (the write, write.ts), runs first in the same
 * round trip. Throws the commit's error when it failed, `ahead`'s when it failed (or when the
 * connection was lost: whether a lost COMMIT went through is unknown, and is taken as not), and a
 * FoldError when the commit went through but the fold failed (the connection is then outside any
 * transaction). The connection went through `prepareFold` before its transaction began (ingest.ts
 * `prepare` readies it: a PREPARE inside the transaction would abort it on failure).
 */
export async function commitAndFold(
  client: pg.PoolClient,
  maxRecords: number,
  ids: Iterable<string>,
  xid: string,
  ahead?: string,
): Promise<Folded> {
  const sql = [...(ahead ? [ahead] : []), 'COMMIT', ...foldSql(maxRecords, ids)].join('; ');
  let results: pg.QueryResult[];
  try {
    results = (await client.query(sql)) as unknown as pg.QueryResult[];
  } catch (e) {
    if (!(e instanceof pg.DatabaseError)) throw e;
    // Which statement failed is not in the error, and the client hands the error over before the
    // server's "ready" that says whether a transaction is still open: the transaction's own status
    // tells whether the COMMIT went through (then the fold is what failed).
    let status: string;
    try {
      await client.query('ROLLBACK');
      status = (await client.query<{ s: string }>('SELECT txid_status($1) AS s', [xid])).rows[0]!.s;
    } catch (asked) {
      throw new UnknownCommit(asked);
    }
    if (status === 'committed') throw new FoldError(e);
    throw e;
  }
  // The COMMIT's result and the write's, if any, come before the fold's.
  return folded(results.slice(ahead ? 2 : 1));
}
