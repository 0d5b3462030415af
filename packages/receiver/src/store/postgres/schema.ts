import type pg from 'pg';

/**
 * Versioned migrations, applied in order at start. Append new versions; never edit an applied one.
 * Times are ms since the epoch (double precision: report-to's `age` can make them fractional).
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'records, units, groups, policies, counters',
    sql: `
      CREATE SEQUENCE csp_lens_seq;
      CREATE SEQUENCE csp_lens_ord;
      -- Live records (newest maxRecords by first insertion); the rest move to csp_lens_archive.
      CREATE TABLE csp_lens_records (
        seq bigint PRIMARY KEY,
        ord bigint NOT NULL DEFAULT nextval('csp_lens_ord'),
        lock_key bigint NOT NULL,
        group_id text NOT NULL,
        effective_directive text NOT NULL,
        document_url text NOT NULL,
        disposition text NOT NULL,
        severity text NOT NULL,
        occurred_at double precision NOT NULL,
        sdk integer NOT NULL,
        report_uri integer NOT NULL,
        report_to integer NOT NULL,
        record jsonb NOT NULL
      );
      CREATE INDEX csp_lens_records_ord ON csp_lens_records (ord);
      CREATE INDEX csp_lens_records_group ON csp_lens_records (group_id, seq);
      CREATE INDEX csp_lens_records_occurred ON csp_lens_records (occurred_at);
      CREATE TABLE csp_lens_archive (
        archive_id bigserial PRIMARY KEY,
        seq bigint NOT NULL,
        archived_at timestamptz NOT NULL DEFAULT now(),
        record jsonb NOT NULL
      );
      -- A bucket exists while it has live units; it fixes the group of everything it merges.
      CREATE TABLE csp_lens_buckets (key text PRIMARY KEY, group_id text NOT NULL);
      -- The merge's live units (one stream's account of one violation), so any instance can go on
      -- matching exactly where another left off.
      CREATE TABLE csp_lens_units (
        seq bigint PRIMARY KEY,
        bucket text NOT NULL,
        blocked text NOT NULL,
        cut boolean NOT NULL,
        rid bigint NOT NULL,
        unit jsonb NOT NULL
      );
      CREATE INDEX csp_lens_units_bucket ON csp_lens_units (bucket, blocked);
      CREATE INDEX csp_lens_units_cut ON csp_lens_units (bucket) WHERE cut;
      CREATE INDEX csp_lens_units_rid ON csp_lens_units (rid);
      CREATE TABLE csp_lens_groups (
        id text PRIMARY KEY,
        -- Creation order: the file store lists groups in it, and sorts keep it among equals.
        pos bigint NOT NULL,
        meta jsonb NOT NULL,
        severity text NOT NULL,
        dispositions text[] NOT NULL,
        count bigint NOT NULL,
        records bigint NOT NULL,
        sdk bigint NOT NULL,
        report_uri bigint NOT NULL,
        report_to bigint NOT NULL,
        merged bigint NOT NULL,
        native_only bigint NOT NULL,
        first_seen double precision NOT NULL,
        last_seen double precision NOT NULL,
        example_id text NOT NULL,
        reach_documents integer NOT NULL DEFAULT 0,
        reach_page_views integer NOT NULL DEFAULT 0,
        reach_user_agents integer NOT NULL DEFAULT 0
      );
      -- Distinct short hashes per reach dimension (0 documents, 1 page views, 2 user agents), capped.
      CREATE TABLE csp_lens_reach (group_id text NOT NULL, dim smallint NOT NULL, value text NOT NULL, PRIMARY KEY (group_id, dim, value));
      CREATE TABLE csp_lens_policies (hash text PRIMARY KEY, policy text NOT NULL, first_seen double precision NOT NULL, count bigint NOT NULL);
      -- kind: filtered | otherReports | store (invalid, sdkDropped, archived, live).
      CREATE TABLE csp_lens_counters (kind text NOT NULL, name text NOT NULL, n bigint NOT NULL, PRIMARY KEY (kind, name));
      -- New groups created in the current minute, for the per-minute cap across instances.
      CREATE TABLE csp_lens_minute (id integer PRIMARY KEY CHECK (id = 1), at bigint NOT NULL, created integer NOT NULL);
      INSERT INTO csp_lens_minute VALUES (1, 0, 0);
      INSERT INTO csp_lens_counters VALUES ('store', 'live', 0), ('store', 'archived', 0);
    `,
  },
  {
    version: 2,
    name: 'bigint stream counts; indexes to prune policies and groups',
    sql: `
      -- SDK repeats in one page view add up on one record: 2^31 is a few thousand batches away.
      -- Group totals, counters and policy counts were bigint already: sums of at most 10^6 per
      -- report (normalize-sdk.ts), so 2^63 is out of reach.
      ALTER TABLE csp_lens_records ALTER COLUMN sdk TYPE bigint, ALTER COLUMN report_uri TYPE bigint, ALTER COLUMN report_to TYPE bigint;
      -- Whether anything live still names a policy (postgres-prune.ts) or a group.
      CREATE INDEX csp_lens_records_policy ON csp_lens_records ((record->>'policyHash'));
      CREATE INDEX csp_lens_units_policy ON csp_lens_units ((unit->>'policyHash'));
      CREATE INDEX csp_lens_buckets_group ON csp_lens_buckets (group_id);
      INSERT INTO csp_lens_counters VALUES ('store', 'policiesPruned', 0), ('store', 'groupsPruned', 0);
    `,
  },
  {
    version: 3,
    name: 'units that pair widely: a URL cut to its origin, or a report that leaves fields out',
    sql: `
      -- merge.ts isWildcard: besides a URL cut to its origin, a report without a disposition
      -- (WebKit's report-uri) pairs with any SDK event of its bucket. No stored unit lacks one yet.
      ALTER TABLE csp_lens_units RENAME COLUMN cut TO wide;
      ALTER INDEX csp_lens_units_cut RENAME TO csp_lens_units_wide;
    `,
  },
  {
    version: 4,
    name: 'the read API in SQL: a count column, a per-hour tally, indexes for pages and stats',
    sql: `
      -- /api/stats sums occurrences in SQL (queries.ts). Generated from the record, so it
      -- can never disagree with it, and rows written by an instance that predates it get it too.
      -- Adding it rewrites the table once (11 s for a million records on a 2-core machine).
      ALTER TABLE csp_lens_records ADD COLUMN count bigint GENERATED ALWAYS AS ((record->>'count')::bigint) STORED;
      -- A page is ORDER BY seq DESC LIMIT n: under an equality filter, the first n entries of that
      -- value's range of (value, seq) (group_id has one already). The groups of a document come
      -- from this index alone (INCLUDE group_id).
      CREATE INDEX csp_lens_records_directive ON csp_lens_records (effective_directive, seq);
      CREATE INDEX csp_lens_records_document ON csp_lens_records (document_url, seq) INCLUDE (group_id);
      -- The records of a time range without visiting the table (index-only scans): every column
      -- the stats read and filter on, and seq for the pages of a window in the past (a page is the
      -- window's newest by seq), in an index a fifteenth of the table's size.
      DROP INDEX csp_lens_records_occurred;
      CREATE INDEX csp_lens_records_occurred ON csp_lens_records (occurred_at)
        INCLUDE (effective_directive, severity, disposition, count, sdk, report_uri, report_to, seq);

      -- /api/stats without reading a million rows: live records and occurrences per hour and per
      -- value of every filter but group and document, kept by the triggers below. Writers only
      -- append their changes to csp_lens_tally_delta (no row two instances both update, so no lock
      -- waits and no deadlocks); now and then one of them folds the deltas into csp_lens_tally.
      -- A read sums both. The hour is tally.ts's: floor(occurred_at / 1 h) * 1 h.
      CREATE TABLE csp_lens_tally (
        hour double precision NOT NULL,
        directive text NOT NULL,
        severity text NOT NULL,
        disposition text NOT NULL,
        sdk boolean NOT NULL,
        report_uri boolean NOT NULL,
        report_to boolean NOT NULL,
        records bigint NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (hour, directive, severity, disposition, sdk, report_uri, report_to)
      );
      CREATE TABLE csp_lens_tally_delta (LIKE csp_lens_tally);
      CREATE SEQUENCE csp_lens_tally_tick;
      INSERT INTO csp_lens_tally
        SELECT floor(occurred_at / 3600000) * 3600000, effective_directive, severity, disposition, sdk > 0, report_uri > 0, report_to > 0, count(*), sum(count)
          FROM csp_lens_records GROUP BY 1, 2, 3, 4, 5, 6, 7;
      CREATE FUNCTION csp_lens_tally_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
          INSERT INTO csp_lens_tally_delta
            SELECT floor(occurred_at / 3600000) * 3600000, effective_directive, severity, disposition, sdk > 0, report_uri > 0, report_to > 0, -count(*), -sum(count)
              FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6, 7;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
          INSERT INTO csp_lens_tally_delta
            SELECT floor(occurred_at / 3600000) * 3600000, effective_directive, severity, disposition, sdk > 0, report_uri > 0, report_to > 0, count(*), sum(count)
              FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7;
        END IF;
        -- Every 64th change, unless another transaction is folding right now (it is never waited
        -- for): the deltas this snapshot sees go into the tally; those still being written stay.
        IF nextval('csp_lens_tally_tick') % 64 = 0 AND pg_try_advisory_xact_lock(1668246636, 4) THEN
          WITH d AS (DELETE FROM csp_lens_tally_delta RETURNING *)
          INSERT INTO csp_lens_tally AS t
            SELECT hour, directive, severity, disposition, sdk, report_uri, report_to, sum(records), sum(count) FROM d GROUP BY 1, 2, 3, 4, 5, 6, 7
            ON CONFLICT (hour, directive, severity, disposition, sdk, report_uri, report_to)
            DO UPDATE SET records = t.records + excluded.records, count = t.count + excluded.count;
          DELETE FROM csp_lens_tally WHERE records = 0;
        END IF;
        RETURN NULL;
      END $$;
      CREATE FUNCTION csp_lens_tally_clear() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        TRUNCATE csp_lens_tally, csp_lens_tally_delta;
        RETURN NULL;
      END $$;
      CREATE TRIGGER csp_lens_tally_insert AFTER INSERT ON csp_lens_records REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION csp_lens_tally_change();
      CREATE TRIGGER csp_lens_tally_update AFTER UPDATE ON csp_lens_records REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION csp_lens_tally_change();
      CREATE TRIGGER csp_lens_tally_delete AFTER DELETE ON csp_lens_records REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION csp_lens_tally_change();
      CREATE TRIGGER csp_lens_tally_truncate AFTER TRUNCATE ON csp_lens_records
        FOR EACH STATEMENT EXECUTE FUNCTION csp_lens_tally_clear();
    `,
  },
  {
    version: 5,
    name: 'the grouping rule the groups were made by',
    sql: `
      -- Values the store keeps about itself. grouping: the rule (core/group.ts GROUPING_VERSION)
      -- the groups were made by. A database with groups has rule 1's; regroup.ts, run right after
      -- migrating, brings them to the current rule (it needs the core's code, not SQL). An empty
      -- one starts at the current rule, 2.
      CREATE TABLE csp_lens_meta (key text PRIMARY KEY, value jsonb NOT NULL);
      INSERT INTO csp_lens_meta SELECT 'grouping', to_jsonb(CASE WHEN EXISTS (SELECT 1 FROM csp_lens_groups) THEN 1 ELSE 2 END);
    `,
  },
  {
    version: 6,
    name: 'triage states of groups; the release a group was first seen in',
    sql: `
      -- One row per triaged group (core/triage.ts GroupTriage in state); a group without one is
      -- open. Deleted with its group (prune.ts), so it only ever holds states of groups that exist.
      CREATE TABLE csp_lens_triage (group_id text PRIMARY KEY, status text NOT NULL, state jsonb NOT NULL);
      CREATE INDEX csp_lens_triage_status ON csp_lens_triage (status);
      -- group.ts touchGroup: the release of the earliest violation that carried one.
      ALTER TABLE csp_lens_groups ADD COLUMN first_release text, ADD COLUMN first_release_at double precision;
    `,
  },
];

// Any fixed number, the same in every instance: the lock that serializes migrating.
export const MIGRATION_LOCK = '7166477438011044609';

/** Brings the schema up to date. Several instances starting at once take turns on an advisory lock. */
export async function migrate(client: pg.PoolClient | pg.Client): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS csp_lens_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM csp_lens_migrations');
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    const known = MIGRATIONS[MIGRATIONS.length - 1].version;
    if (newest > known) throw new Error(`csp-lens: the database schema (version ${newest}) is newer than this receiver knows (${known}); upgrade csp-lens`);
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO csp_lens_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
