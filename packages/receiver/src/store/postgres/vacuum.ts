import pg from 'pg';

// The live tables churn at the rate of ingest: every commit inserts units, records and pending rows
// that the fold deletes or rewrites at once, and moves what leaves the live window to the archive;
// group, reach and tally rows are updated in place. Each of those leaves a dead row version behind.
// Autovacuum looks at most once a minute, and only past 20% of a table's rows: under a steady load
// the live tables grew to ten times their live content within a minute (bench/pg-growth.mjs: 350 MiB
// for 10,000 live records), and every lookup and fold slowed with them. So the receiver vacuums them
// itself, off the write path: after `every` violations have churned through this instance, one
// VACUUM of the live tables on a connection of its own. SKIP_LOCKED: a table another instance is
// vacuuming right now is skipped, not waited for (its vacuum serves this instance's churn too).
// TRUNCATE false: the tables keep their size under a steady load, so the space freed at a table's
// end is reused soon anyway, and giving it back takes an exclusive lock that every commit waits
// behind (the vacuum tries for it for up to 5 s; 6 % of the wait samples in the benchmark were that).

/** Every table but the archive (append-only: autovacuum's job). */
export const CHURNING_TABLES = [
  'csp_lens_pending',
  'csp_lens_units',
  'csp_lens_records',
  'csp_lens_buckets',
  'csp_lens_groups',
  'csp_lens_reach',
  'csp_lens_policies',
  'csp_lens_tally',
  'csp_lens_tally_delta',
  'csp_lens_counters',
  'csp_lens_minute',
  'csp_lens_triage',
] as const;

export interface Vacuumer {
  /** `n` violations (appended or archived) went through the live tables. */
  churned(n: number): void;
  /** Vacuums run so far (tests, the benchmark). */
  readonly runs: number;
  /** Starts no more; resolves once a vacuum under way is done and the connection closed. */
  close(): Promise<void>;
}

// A skip for want of ownership (PostgreSQL warns and goes on; "lock not available" is SKIP_LOCKED's).
const NOT_OWNER = /^skipping .*(owner|privilege)/i;

export function vacuumer(connection: pg.ClientConfig, every: number): Vacuumer {
  // One connection, no statement timeout: a vacuum of a large table may take longer than any read should.
  const pool = new pg.Pool({ ...connection, max: 1 });
  pool.on('error', () => {});
  let churn = 0;
  let runs = 0;
  let running = false;
  let refused = false;
  let closing: Promise<void> | undefined;

  /** Autovacuum is all there is then: said once, never asked again. */
  const refuse = (why: string) => {
    refused = true;
    console.error(`csp-lens: PostgreSQL: cannot VACUUM the live tables (${why}); leaving them to autovacuum`);
  };

  async function run(): Promise<void> {
    let client: pg.PoolClient | undefined;
    let failed: Error | undefined;
    const skipped: string[] = [];
    const onNotice = (n: { message?: string }) => void (NOT_OWNER.test(n.message ?? '') && skipped.push(n.message!));
    // The pool listens on idle connections only: a checked-out one that drops must not end the process.
    const onLost = (e: Error) => void (failed ??= e);
    try {
      client = await pool.connect();
      client.on('notice', onNotice);
      client.on('error', onLost);
      await client.query(`VACUUM (SKIP_LOCKED, TRUNCATE false) ${CHURNING_TABLES.join(', ')}`);
      if (skipped.length) refuse(skipped[0]!);
      else runs++;
    } catch (e) {
      failed = e as Error;
      // 42501: no privilege at all.
      if (e instanceof pg.DatabaseError && e.code === '42501') refuse(failed.message);
      else console.error(`csp-lens: PostgreSQL: VACUUM of the live tables failed (trying again later): ${failed.message}`);
    } finally {
      client?.off('notice', onNotice);
      client?.off('error', onLost);
      // A connection that failed is dropped, not reused.
      client?.release(failed);
    }
  }

  return {
    churned(n) {
      churn += n;
      if (churn < every || running || refused || closing) return;
      churn = 0;
      running = true;
      void run().finally(() => (running = false));
    },
    get runs() {
      return runs;
    },
    close: () => (closing ??= pool.end()),
  };
}
