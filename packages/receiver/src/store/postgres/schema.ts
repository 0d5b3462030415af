import type pg from 'pg';

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const STRIPPED = "regexp_replace(document_url, '[?#].*$', '')";
const ORIGIN = `substring(${STRIPPED} from '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*')`;
/**
 * core/match.ts's documentKey in SQL: scheme and host in ASCII lower case, no query, no fragment.
 * Stored once per record as `doc_key` by migration 8 (indexed for prefixes): filtering 1,000,000
 * records by these expressions at read time took longer than the statement timeout. Part of that
 * migration's text: a change needs a new migration.
 */
export const DOCUMENT_KEY = `coalesce(translate(${ORIGIN}, '${UPPER}', '${UPPER.toLowerCase()}') || substr(${STRIPPED}, length(${ORIGIN}) + 1), ${STRIPPED})`;

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
  {
    version: 7,
    name: 'rows every instance shares are updated by short folds, not by the durable commit',
    sql: `
      -- What a commit adds to rows every instance shares (group totals, reach, policies, counters,
      -- the live count), written in its durable transaction as one row here. A row every commit
      -- updated in place stayed locked until that commit's WAL flush: every other instance
      -- touching it waited for it, so instances took turns at the disk (commit.ts, fold.ts).
      CREATE TABLE csp_lens_pending (id bigserial PRIMARY KEY, work jsonb NOT NULL);

      -- Folds the pending work into the shared rows, in pending order, then moves the records past
      -- max_records to the archive (none when max_records is null). One fold at a time (an
      -- advisory lock), each short: its caller commits it without waiting for the disk (fold.ts),
      -- since a fold lost in a crash loses nothing: the pending rows it deleted come back with it,
      -- and the next fold takes them.
      CREATE FUNCTION csp_lens_fold(max_records bigint, reach_cap integer) RETURNS integer LANGUAGE plpgsql AS $fold$
      DECLARE
        todo jsonb[];
        w jsonb;
        excess bigint;
        victims bigint[];
        moved integer := 0;
        emptied text[];
        hashes text[];
        pruned integer;
      BEGIN
        PERFORM pg_advisory_xact_lock(7166477438011044613);
        WITH p AS (DELETE FROM csp_lens_pending RETURNING id, work) SELECT array_agg(work ORDER BY id) INTO todo FROM p;
        FOREACH w IN ARRAY coalesce(todo, '{}') LOOP
          -- As write.ts's deltas were applied in place before: sums, the earliest and latest
          -- times, the highest severity, dispositions in order of appearance, the newest example.
          UPDATE csp_lens_groups g SET count = g.count + x.count, records = g.records + x.records, sdk = g.sdk + x.sdk,
                 report_uri = g.report_uri + x.report_uri, report_to = g.report_to + x.report_to, merged = g.merged + x.merged,
                 native_only = g.native_only + x.native_only, first_seen = LEAST(g.first_seen, x.first_seen), last_seen = GREATEST(g.last_seen, x.last_seen),
                 severity = CASE WHEN array_position(ARRAY['low','medium','high','critical'], x.severity) > array_position(ARRAY['low','medium','high','critical'], g.severity)
                                 THEN x.severity ELSE g.severity END,
                 dispositions = g.dispositions || ARRAY(SELECT d FROM unnest(x.dispositions) WITH ORDINALITY AS u(d, i) WHERE NOT d = ANY(g.dispositions) ORDER BY i),
                 example_id = CASE WHEN x.example_id <> '' THEN x.example_id ELSE g.example_id END,
                 first_release = CASE WHEN x.first_release_at IS NOT NULL AND (g.first_release_at IS NULL OR x.first_release_at < g.first_release_at
                   OR (x.first_release_at = g.first_release_at AND x.first_release COLLATE "C" < g.first_release COLLATE "C")) THEN x.first_release ELSE g.first_release END,
                 first_release_at = CASE WHEN x.first_release_at IS NOT NULL AND (g.first_release_at IS NULL OR x.first_release_at < g.first_release_at
                   OR (x.first_release_at = g.first_release_at AND x.first_release COLLATE "C" < g.first_release COLLATE "C")) THEN x.first_release_at ELSE g.first_release_at END
            FROM jsonb_to_recordset(w->'groups') AS x(id text, severity text, dispositions text[], count bigint, records bigint, sdk bigint, report_uri bigint,
                 report_to bigint, merged bigint, native_only bigint, first_seen float8, last_seen float8, example_id text, first_release text, first_release_at float8)
           WHERE g.id = x.id;
          -- Distinct reach values, capped: exact, since folds take turns and nothing else adds any.
          WITH x AS (SELECT * FROM jsonb_to_recordset(w->'reach') AS x(g text, d smallint, v text)),
               ins AS (INSERT INTO csp_lens_reach (group_id, dim, value)
                       SELECT x.g, x.d, x.v FROM x JOIN csp_lens_groups gr ON gr.id = x.g
                        WHERE CASE x.d WHEN 0 THEN gr.reach_documents WHEN 1 THEN gr.reach_page_views ELSE gr.reach_user_agents END < reach_cap
                        ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING RETURNING group_id, dim),
               c AS (SELECT group_id, count(*) FILTER (WHERE dim = 0) AS d0, count(*) FILTER (WHERE dim = 1) AS d1, count(*) FILTER (WHERE dim = 2) AS d2
                       FROM ins GROUP BY group_id)
          UPDATE csp_lens_groups gr SET reach_documents = LEAST(reach_cap, reach_documents + c.d0), reach_page_views = LEAST(reach_cap, reach_page_views + c.d1),
                 reach_user_agents = LEAST(reach_cap, reach_user_agents + c.d2)
            FROM c WHERE gr.id = c.group_id;
          INSERT INTO csp_lens_policies AS p
            SELECT * FROM jsonb_to_recordset(w->'policies') AS x(hash text, policy text, first_seen float8, count bigint) ORDER BY hash
            ON CONFLICT (hash) DO UPDATE SET count = p.count + excluded.count;
          INSERT INTO csp_lens_counters AS c
            SELECT * FROM jsonb_to_recordset(w->'counters') AS x(kind text, name text, n bigint) ORDER BY kind, name
            ON CONFLICT (kind, name) DO UPDATE SET n = c.n + excluded.n;
        END LOOP;

        -- Retention (state.ts): the oldest by first insertion go, each only under its bucket's
        -- lock; one a commit in flight is merging is skipped (try-lock: a fold never waits on a
        -- commit's disk flush) and goes in a later fold.
        -- Readers fold too (queries.ts), with no max_records: retention is the writers' part.
        IF max_records IS NULL THEN
          RETURN 0;
        END IF;
        SELECT n - max_records INTO excess FROM csp_lens_counters WHERE kind = 'store' AND name = 'live';
        IF excess > 0 THEN
          SELECT array_agg(v.seq ORDER BY v.ord) INTO victims FROM (
            SELECT c.seq, c.ord FROM (SELECT seq, ord, lock_key FROM csp_lens_records ORDER BY ord LIMIT excess + 16) AS c
             WHERE pg_try_advisory_xact_lock(c.lock_key) ORDER BY c.ord LIMIT excess) AS v;
          IF victims IS NOT NULL THEN
            WITH gone AS (DELETE FROM csp_lens_records r USING unnest(victims) AS v(seq) WHERE r.seq = v.seq RETURNING r.seq, r.ord, r.record),
                 arch AS (INSERT INTO csp_lens_archive (seq, record) SELECT seq, record FROM gone ORDER BY ord RETURNING 1),
                 u AS (DELETE FROM csp_lens_units u USING unnest(victims) AS v(seq) WHERE u.rid = v.seq RETURNING u.bucket, u.unit->>'policyHash' AS policy)
            SELECT (SELECT count(*) FROM arch)::int, ARRAY(SELECT DISTINCT bucket FROM u),
                   ARRAY(SELECT record->>'policyHash' FROM gone UNION SELECT policy FROM u EXCEPT SELECT NULL)
              INTO moved, emptied, hashes;
            -- A bucket without live units is gone: the next violation with its key starts over.
            DELETE FROM csp_lens_buckets b USING unnest(emptied) AS k(key)
             WHERE b.key = k.key AND NOT EXISTS (SELECT 1 FROM csp_lens_units u WHERE u.bucket = b.key);
            UPDATE csp_lens_counters SET n = n + CASE name WHEN 'live' THEN -moved ELSE moved END WHERE kind = 'store' AND name IN ('live', 'archived');
            -- Policies nothing live names any more. A commit in flight naming one carries its text
            -- in its pending work, and its fold puts it back.
            WITH d AS (DELETE FROM csp_lens_policies p USING unnest(hashes) AS h(hash)
                        WHERE p.hash = h.hash
                          AND NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.record->>'policyHash' = p.hash)
                          AND NOT EXISTS (SELECT 1 FROM csp_lens_units u WHERE u.unit->>'policyHash' = p.hash) RETURNING 1)
            SELECT count(*) INTO pruned FROM d;
            IF pruned > 0 THEN
              UPDATE csp_lens_counters SET n = n + pruned WHERE kind = 'store' AND name = 'policiesPruned';
            END IF;
          END IF;
        END IF;
        RETURN moved;
      END $fold$;

      -- What reads see: the shared rows with the work not folded yet added, exactly as the fold
      -- will add it. A commit's records and its pending row become visible together, and a fold's
      -- changes and the deletion of what it folded too, so in one statement a group's totals always
      -- count exactly the records that statement sees (queries.ts reads these, never the tables).
      -- The pending work's parts, as functions: the planner takes them for the few rows they are
      -- (ROWS), where it would guess an unanalyzed table of a thousand rows of a hundred elements
      -- each, and spend most of a second compiling (JIT) the plan of a read. STABLE: they read in
      -- the snapshot of the statement that calls them.
      CREATE FUNCTION csp_lens_pending_groups() RETURNS TABLE (pid bigint, x jsonb) LANGUAGE plpgsql STABLE ROWS 16 AS $f$
      BEGIN
        RETURN QUERY SELECT p.id, e.x FROM csp_lens_pending p CROSS JOIN LATERAL jsonb_array_elements(p.work->'groups') AS e(x);
      END $f$;
      CREATE FUNCTION csp_lens_pending_reach() RETURNS TABLE (g text, d smallint, v text) LANGUAGE plpgsql STABLE ROWS 16 AS $f$
      BEGIN
        RETURN QUERY SELECT r.g, r.d, r.v FROM csp_lens_pending p CROSS JOIN LATERAL jsonb_to_recordset(p.work->'reach') AS r(g text, d smallint, v text);
      END $f$;
      CREATE FUNCTION csp_lens_pending_counters() RETURNS TABLE (kind text, name text, n bigint) LANGUAGE plpgsql STABLE ROWS 4 AS $f$
      BEGIN
        RETURN QUERY SELECT x.kind, x.name, x.n FROM csp_lens_pending p CROSS JOIN LATERAL jsonb_to_recordset(p.work->'counters') AS x(kind text, name text, n bigint);
      END $f$;
      CREATE FUNCTION csp_lens_pending_policies() RETURNS TABLE (hash text, policy text) LANGUAGE plpgsql STABLE ROWS 2 AS $f$
      BEGIN
        RETURN QUERY SELECT x.hash, x.policy FROM csp_lens_pending p CROSS JOIN LATERAL jsonb_to_recordset(p.work->'policies') AS x(hash text, policy text);
      END $f$;

      CREATE VIEW csp_lens_groups_now AS
      WITH x AS (SELECT * FROM csp_lens_pending_groups()),
           d AS (SELECT x->>'id' AS id, sum((x->>'count')::bigint)::bigint AS count, sum((x->>'records')::bigint)::bigint AS records,
                        sum((x->>'sdk')::bigint)::bigint AS sdk, sum((x->>'report_uri')::bigint)::bigint AS report_uri,
                        sum((x->>'report_to')::bigint)::bigint AS report_to, sum((x->>'merged')::bigint)::bigint AS merged,
                        sum((x->>'native_only')::bigint)::bigint AS native_only, min((x->>'first_seen')::float8) AS first_seen,
                        max((x->>'last_seen')::float8) AS last_seen, max(array_position(ARRAY['low','medium','high','critical'], x->>'severity')) AS rank,
                        (array_agg(x->>'example_id' ORDER BY pid DESC) FILTER (WHERE x->>'example_id' <> ''))[1] AS example_id,
                        (array_agg(x->>'first_release' ORDER BY (x->>'first_release_at')::float8, x->>'first_release' COLLATE "C")
                          FILTER (WHERE x->>'first_release_at' IS NOT NULL))[1] AS first_release,
                        min((x->>'first_release_at')::float8) AS first_release_at
                   FROM x GROUP BY 1),
           -- Dispositions in order of appearance (folds go in pending order).
           dd AS (SELECT id, array_agg(disp ORDER BY pid, i) AS list FROM (
                    SELECT DISTINCT ON (x.x->>'id', u.disp) x.x->>'id' AS id, u.disp, x.pid, u.i
                      FROM x CROSS JOIN LATERAL jsonb_array_elements_text(x.x->'dispositions') WITH ORDINALITY AS u(disp, i)
                     ORDER BY x.x->>'id', u.disp, x.pid, u.i) AS f GROUP BY id),
           -- Reach values not stored yet, per dimension: the fold stores them all while under the cap.
           rn AS (SELECT r.g AS id, count(DISTINCT r.v) FILTER (WHERE r.d = 0) AS d0, count(DISTINCT r.v) FILTER (WHERE r.d = 1) AS d1,
                         count(DISTINCT r.v) FILTER (WHERE r.d = 2) AS d2
                    FROM csp_lens_pending_reach() AS r
                   WHERE NOT EXISTS (SELECT 1 FROM csp_lens_reach c WHERE c.group_id = r.g AND c.dim = r.d AND c.value = r.v)
                   GROUP BY 1)
      SELECT g.id, g.pos, g.meta,
             CASE WHEN d.rank > array_position(ARRAY['low','medium','high','critical'], g.severity) THEN (ARRAY['low','medium','high','critical'])[d.rank] ELSE g.severity END AS severity,
             CASE WHEN dd.list IS NULL THEN g.dispositions
                  ELSE g.dispositions || ARRAY(SELECT u FROM unnest(dd.list) WITH ORDINALITY AS l(u, i) WHERE NOT u = ANY(g.dispositions) ORDER BY i) END AS dispositions,
             g.count + coalesce(d.count, 0) AS count, g.records + coalesce(d.records, 0) AS records, g.sdk + coalesce(d.sdk, 0) AS sdk,
             g.report_uri + coalesce(d.report_uri, 0) AS report_uri, g.report_to + coalesce(d.report_to, 0) AS report_to,
             g.merged + coalesce(d.merged, 0) AS merged, g.native_only + coalesce(d.native_only, 0) AS native_only,
             LEAST(g.first_seen, d.first_seen) AS first_seen, GREATEST(g.last_seen, d.last_seen) AS last_seen,
             coalesce(d.example_id, g.example_id) AS example_id,
             -- core/group.ts REACH_CAP (2000); the fold is given it by the code.
             CASE WHEN g.reach_documents < 2000 THEN LEAST(2000, g.reach_documents + coalesce(rn.d0, 0))::int ELSE g.reach_documents END AS reach_documents,
             CASE WHEN g.reach_page_views < 2000 THEN LEAST(2000, g.reach_page_views + coalesce(rn.d1, 0))::int ELSE g.reach_page_views END AS reach_page_views,
             CASE WHEN g.reach_user_agents < 2000 THEN LEAST(2000, g.reach_user_agents + coalesce(rn.d2, 0))::int ELSE g.reach_user_agents END AS reach_user_agents,
             CASE WHEN d.first_release_at IS NOT NULL AND (g.first_release_at IS NULL OR d.first_release_at < g.first_release_at
               OR (d.first_release_at = g.first_release_at AND d.first_release COLLATE "C" < g.first_release COLLATE "C")) THEN d.first_release ELSE g.first_release END AS first_release,
             CASE WHEN d.first_release_at IS NOT NULL AND (g.first_release_at IS NULL OR d.first_release_at < g.first_release_at
               OR (d.first_release_at = g.first_release_at AND d.first_release COLLATE "C" < g.first_release COLLATE "C")) THEN d.first_release_at ELSE g.first_release_at END AS first_release_at
        FROM csp_lens_groups g LEFT JOIN d ON d.id = g.id LEFT JOIN dd ON dd.id = g.id LEFT JOIN rn ON rn.id = g.id;

      CREATE VIEW csp_lens_counters_now AS
      SELECT kind, name, sum(n)::bigint AS n FROM (
        SELECT kind, name, n FROM csp_lens_counters
        UNION ALL SELECT kind, name, n FROM csp_lens_pending_counters()
      ) AS c GROUP BY 1, 2;

      -- A policy a commit not folded yet brought (its text rides in the pending work).
      CREATE VIEW csp_lens_policies_now AS
      SELECT hash, policy FROM csp_lens_policies
      UNION ALL SELECT hash, policy FROM csp_lens_pending_policies();
    `,
  },
  {
    version: 8,
    name: 'the document key of each record, stored and indexed for the document filter',
    sql: `
      -- DOCUMENT_KEY above, computed once per record: the document filter (a prefix of it)
      -- scanned a million rows through three regular expressions each, past the statement timeout.
      ALTER TABLE csp_lens_records ADD COLUMN doc_key text GENERATED ALWAYS AS (${DOCUMENT_KEY}) STORED;
      CREATE INDEX csp_lens_records_doc_key ON csp_lens_records (doc_key text_pattern_ops);
    `,
  },
  {
    version: 9,
    name: 'the records index on document_url dropped (doc_key serves the document filter and erasure)',
    sql: `
      -- Since migration 8 no read uses it, and an erasure by document finds its records through
      -- doc_key (erase.ts); every record written paid for it (a tenth of the database's CPU per
      -- report in bench/pg-write.mjs, an index with the whole URL and group id in each entry).
      DROP INDEX IF EXISTS csp_lens_records_document;
    `,
  },
  {
    version: 10,
    name: 'units stored against their record (what of the violation differs from it), not whole',
    sql: `
      -- Nothing to rewrite: a unit stored whole ({"v": …}) is still read, and written against its
      -- record once that record changes (units.ts). The version is what matters: an instance
      -- older than this one cannot read such a unit, and refuses to start against this schema.
      COMMENT ON COLUMN csp_lens_units.unit IS 'csp-lens units.ts StoredUnit: v (whole) or d and x (against the record named by rid)';
    `,
  },
  {
    version: 11,
    name: 'the write can refuse to commit when a group it adds to was triaged since its load',
    sql: `
      -- write.ts: a commit whose load found no triage state on the groups it adds to sends its write
      -- and its COMMIT in one round trip; should a state have been set since (the triage API), the
      -- write stops the transaction here, with a code of ours, and the commit is made again the
      -- long way (triage.ts applies the occurrences to the state before COMMIT).
      CREATE FUNCTION csp_lens_triaged_meanwhile() RETURNS integer LANGUAGE plpgsql VOLATILE AS $f$
      BEGIN
        RAISE EXCEPTION 'csp-lens: a group this commit adds to was triaged since its load' USING ERRCODE = 'CLTRI';
      END $f$;
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
