import pg from 'pg';

// The live tables churn at the rate of ingest: every commit inserts units, records and pending rows
// that the fold deletes or rewrites at once, and moves what leaves the live window to the archive;
// group, reach and tally rows are updated in place. Each of those leaves a dead row version behind.
// Autovacuum looks at most once a minute, and only past 20% of a table's rows: under a steady load
// the live tables grew to ten times their live content within a minute (bench/pg-growth.mjs: 350 MiB
// for 10,000 live records), and every lookup and fold slowed with them. So the receiver vacuums them
// itself, off the write path: after `every` violations have churned through this instance, one
// VACUUM of the live tables on a connection of its own, one at a time across all instances.

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

// pg_try_advisory_lock key: "csp-lens vacuum" (the merge's keys are hashes of bucket keys, 64-bit).
const LOCK = 0x63737076;

export interface Vacuumer {
  /** `n` violations (appended or archived) went through the live tables. */
  churned(n: number): void;
  /** Vacuums run so far (tests, the benchmark). */
  readonly runs: number;
  /** Waits for a vacuum under way, then lets the connection go. */
  close(): Promise<void>;
}

export function vacuumer(connection: pg.ClientConfig, every: number, waitMs = 3_000): Vacuumer {
  let churn = 0;
  let runs = 0;
  let running: Promise<void> | undefined;
  let client: pg.Client | undefined;
  let refused = false;
  let closed = false;

  async function run(): Promise<void> {
    try {
      if (!client) {
        // No statement timeout: a vacuum of a large table may take longer than any read should.
        const c = new pg.Client(connection);
        c.on('error', () => {
          if (client === c) client = undefined;
        });
        await c.connect();
        client = c;
      }
      const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [LOCK]);
      // Another instance is at it: its vacuum serves this one's churn as well.
      if (!rows[0]?.got) return;
      // A role that does not own a table is not refused: PostgreSQL skips the table with a warning.
      const skipped: string[] = [];
      const onNotice = (n: { message?: string }) => {
        if (/^skipping .*(owner|privilege)/i.test(n.message ?? '')) skipped.push(n.message!);
      };
      client.on('notice', onNotice);
      try {
        await client.query(`VACUUM (SKIP_LOCKED) ${CHURNING_TABLES.join(', ')}`);
      } finally {
        client.off('notice', onNotice);
        await client.query('SELECT pg_advisory_unlock($1)', [LOCK]);
      }
      if (skipped.length) {
        refused = true;
        console.error(`csp-lens: PostgreSQL: cannot VACUUM the live tables (${skipped[0]}); leaving them to autovacuum`);
      } else runs++;
    } catch (e) {
      const code = e instanceof pg.DatabaseError ? e.code : undefined;
      // 42501: no privilege. Autovacuum is all there is then: say so once, stop asking.
      if (code === '42501') {
        refused = true;
        console.error(`csp-lens: PostgreSQL: cannot VACUUM the live tables (${(e as Error).message}); leaving them to autovacuum`);
      } else {
        console.error(`csp-lens: PostgreSQL: VACUUM of the live tables failed (trying again later): ${(e as Error).message}`);
      }
      await client?.end().catch(() => {});
      client = undefined;
    }
  }

  return {
    churned(n) {
      churn += n;
      if (churn < every || running || refused || closed) return;
      churn = 0;
      running = run().finally(() => (running = undefined));
    },
    get runs() {
      return runs;
    },
    // A vacuum under way is waited for, but not past `waitMs`: a hung server never answers it.
    async close() {
      closed = true;
      const bounded = <T>(p: Promise<T> | undefined) => Promise.race([p, new Promise((r) => setTimeout(r, waitMs).unref())]);
      await bounded(running);
      await bounded(client?.end().catch(() => {}));
      client = undefined;
    },
  };
}
