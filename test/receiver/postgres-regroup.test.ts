import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { GROUPING_VERSION } from '../../packages/receiver/src/core/group.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { MIGRATIONS } from '../../packages/receiver/src/store/postgres/schema.js';
import { type StoredUnit, loadedUnit, storedUnit } from '../../packages/receiver/src/store/postgres/units.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';
import { OLD_STATE, expectCarried } from '../helpers/regroup.js';

// test/fixtures/stores/grouping-1.pg.json: the tables of a PostgreSQL store the receiver before
// issue 16 wrote (grouping rule 1, schema version 3) from the reports of grouping-1-reports.mjs,
// the same as the file store of regroup.test.ts.
const DUMP = JSON.parse(readFileSync(new URL('../fixtures/stores/grouping-1.pg.json', import.meta.url), 'utf8')) as {
  schema: number;
  sequences: Record<string, number>;
  tables: Record<string, object[]>;
};
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(async () => server?.stop());

/**
 * A database holding the old store's rows, at the old schema, or at a later one (`schema`, still
 * marked as grouped by rule 1); `then` runs on it before it is handed over.
 */
async function oldDatabase(schema = DUMP.schema, then?: (c: pg.Client) => Promise<void>): Promise<string> {
  const url = await server.createDatabase();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE TABLE csp_lens_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const m of MIGRATIONS.filter((x) => x.version <= schema)) {
      await c.query(m.sql);
      await c.query('INSERT INTO csp_lens_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    await c.query('DELETE FROM csp_lens_counters; DELETE FROM csp_lens_minute');
    if (schema > DUMP.schema) await c.query("UPDATE csp_lens_meta SET value = '1' WHERE key = 'grouping'");
    for (const [table, rows] of Object.entries(DUMP.tables)) {
      // The dump's columns, less those a later schema computes itself.
      const generated = (await c.query<{ c: string }>("SELECT column_name AS c FROM information_schema.columns WHERE table_name = $1 AND is_generated = 'ALWAYS'", [table])).rows.map((r) => r.c);
      const cols = Object.keys(rows[0] ?? {}).filter((k) => !generated.includes(k)).join(', ');
      if (cols) await c.query(`INSERT INTO ${table} (${cols}) SELECT ${cols} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`, [JSON.stringify(rows)]);
    }
    for (const [seq, value] of Object.entries(DUMP.sequences)) await c.query('SELECT setval($1, $2)', [seq, value]);
    await c.query("SELECT setval('csp_lens_archive_archive_id_seq', (SELECT max(archive_id) FROM csp_lens_archive))");
    await then?.(c);
  } finally {
    await c.end();
  }
  return url;
}

/** The units whose category or severity is not their record's (the merge rebuilds records from units). */
async function unitsOffRecord(url: string): Promise<string[]> {
  const rows = await server.query<{ unit: StoredUnit; record: ViolationRecord }>(url, 'SELECT u.unit, r.record FROM csp_lens_units u JOIN csp_lens_records r ON r.seq = u.rid');
  expect(rows.length).toBeGreaterThan(0);
  return rows.flatMap(({ unit, record }) => {
    const { v } = loadedUnit(unit, record);
    return v.category === record.category && v.severity === record.severity ? [] : [`${unit.seq}: ${v.category}/${v.severity}`];
  });
}

/** The old database's units rewritten as schema 10 stores them: against their records. */
async function againstRecords(c: pg.Client): Promise<void> {
  const { rows } = await c.query<{ seq: string; unit: StoredUnit; record: ViolationRecord }>('SELECT u.seq, u.unit, r.record FROM csp_lens_units u JOIN csp_lens_records r ON r.seq = u.rid');
  for (const r of rows) await c.query('UPDATE csp_lens_units SET unit = $2 WHERE seq = $1', [r.seq, storedUnit(loadedUnit(r.unit, r.record), r.record)]);
}

const sum = (gs: { count: number; records: number }[], k: 'count' | 'records') => gs.reduce((n, g) => n + Number(g[k]), 0);

describe('a PostgreSQL store grouped by rule 1, opened', () => {
  it('migrates (version 5) and regroups: every record in the group the current rule gives, counts intact', async () => {
    const url = await oldDatabase();
    const oldGroups = DUMP.tables.csp_lens_groups as { id: string; count: number; records: number }[];
    expect(oldGroups).toHaveLength(46);
    const store = await openPostgresStore({ connectionString: url, maxRecords: 30 });
    try {
      const meta = await server.query<{ value: number }>(url, "SELECT value FROM csp_lens_meta WHERE key = 'grouping'");
      expect(meta[0]!.value).toBe(GROUPING_VERSION);
      const groups = (await store.groups({ limit: 500 })).items;
      expect(sum(groups, 'count')).toBe(sum(oldGroups, 'count'));
      expect(sum(groups, 'records')).toBe(sum(oldGroups, 'records'));
      // The same groups as the file store's regrouping of the same reports (regroup.test.ts).
      const summary = (g: ViolationGroup) => `${g.effectiveDirective} ${g.category} ${g.blocked} ${g.sourceFile ?? '-'} ${g.count} ${g.severity}`;
      expect(groups.map(summary).sort()).toEqual([
        'img-src external https://127.0.0.1:8813 - 1 medium',
        'script-src eval eval //127.0.0.1/p 2 high',
        'script-src inline inline //shop.example/account 5 high',
        'script-src inline inline //shop.example/cart 1 high',
        'script-src-elem external https://127.0.0.1:8813 - 1 medium',
        'script-src-elem inline inline //shop.example/product/:id 40 high',
        'style-src inline inline - 1 low',
      ]);
      expect(groups.find((g) => g.sourceFile === '//shop.example/product/:id')!.reach.documents).toBe(40);

      // Rows agree with each other: records, their units and their buckets name existing groups.
      const orphans = await server.query(url, `
        SELECT 'record' AS what, r.seq::text AS id FROM csp_lens_records r LEFT JOIN csp_lens_groups g ON g.id = r.group_id WHERE g.id IS NULL OR r.group_id <> r.record->>'groupId'
        UNION ALL SELECT 'bucket', b.key FROM csp_lens_buckets b LEFT JOIN csp_lens_groups g ON g.id = b.group_id WHERE g.id IS NULL
        UNION ALL SELECT 'reach', x.group_id FROM csp_lens_reach x LEFT JOIN csp_lens_groups g ON g.id = x.group_id WHERE g.id IS NULL`);
      expect(orphans).toEqual([]);
      expect(await unitsOffRecord(url)).toEqual([]);
      // The archive is not rewritten.
      const archived = await server.query<{ record: ViolationRecord }>(url, 'SELECT record FROM csp_lens_archive ORDER BY archive_id');
      expect(archived.map((a) => a.record.groupId)).toEqual((DUMP.tables.csp_lens_archive as { record: ViolationRecord }[]).map((a) => a.record.groupId));

      // New reports land in the regrouped groups: the merge's buckets point there.
      const product = JSON.parse(readFileSync(new URL('../fixtures/firefox-153/enforce/report-uri-inline-script.json', import.meta.url), 'utf8'));
      product['csp-report']['document-uri'] = product['csp-report']['source-file'] = 'https://shop.example/product/99?ref=mail';
      await store.append(normalizeNative(product, { receivedAt: Date.now(), userAgent: FIREFOX }));
      const live = (DUMP.tables.csp_lens_records as { record: ViolationRecord }[]).find((r) => r.record.documentURL === 'https://shop.example/product/40?ref=home')!.record;
      const again = structuredClone(product);
      again['csp-report']['document-uri'] = again['csp-report']['source-file'] = live.documentURL;
      await store.append(normalizeNative(again, { receivedAt: live.occurredAt + 1000, userAgent: FIREFOX }));
      const after = (await store.groups({ limit: 500 })).items;
      expect(after).toHaveLength(7);
      expect(after.find((g) => g.sourceFile === '//shop.example/product/:id')).toMatchObject({ count: 42, records: 42 });
    } finally {
      await store.close();
    }
    // Once: reopening regroups nothing.
    const before = await server.query(url, 'SELECT id, count, records, meta FROM csp_lens_groups ORDER BY id');
    await (await openPostgresStore({ connectionString: url, maxRecords: 30 })).close();
    expect(await server.query(url, 'SELECT id, count, records, meta FROM csp_lens_groups ORDER BY id')).toEqual(before);
  });

  it('gives the groups it makes the triage state and first release of the old groups they are made of', async () => {
    // The old rows at today's schema (triage and first releases came after the dump's version 3).
    const url = await oldDatabase(MIGRATIONS[MIGRATIONS.length - 1]!.version, async (c) => {
      for (const [id, state] of Object.entries(OLD_STATE)) {
        await c.query('INSERT INTO csp_lens_triage (group_id, status, state) VALUES ($1, $2, $3)', [id, state.triage.status, state.triage]);
        await c.query('UPDATE csp_lens_groups SET first_release = $2, first_release_at = $3 WHERE id = $1', [id, state.firstRelease ?? null, state.firstReleaseAt ?? null]);
      }
    });
    const store = await openPostgresStore({ connectionString: url, maxRecords: 30 });
    try {
      expect((await server.query<{ value: number }>(url, "SELECT value FROM csp_lens_meta WHERE key = 'grouping'"))[0]!.value).toBe(GROUPING_VERSION);
      expectCarried((await store.groups({ limit: 500, status: 'all' })).items);
      // No triage row is left of a group that is gone.
      expect(await server.query(url, 'SELECT group_id FROM csp_lens_triage t WHERE NOT EXISTS (SELECT 1 FROM csp_lens_groups g WHERE g.id = t.group_id)')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('regroups units stored against their records (schema 10) as it does whole ones', async () => {
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    const regrouped = async (then?: (c: pg.Client) => Promise<void>) => {
      const url = await oldDatabase(latest, then);
      const store = await openPostgresStore({ connectionString: url, maxRecords: 30 });
      try {
        const units = await server.query<{ unit: StoredUnit; record: ViolationRecord }>(url, 'SELECT u.unit, r.record FROM csp_lens_units u JOIN csp_lens_records r ON r.seq = u.rid ORDER BY u.seq');
        return { groups: (await store.groups({ limit: 500 })).items, units: units.map((u) => loadedUnit(u.unit, u.record)), off: await unitsOffRecord(url), forms: units.map((u) => ('v' in u.unit ? 'v' : 'd')) };
      } finally {
        await store.close();
      }
    };
    // Inline scripts as rule 1 categorized them ("other"), records and units alike: the regrouping
    // makes them "inline" again, so their units must follow their records.
    const asRule1 = async (c: pg.Client) => {
      await c.query(`WITH r AS (UPDATE csp_lens_records SET record = jsonb_set(record, '{category}', '"other"')
                           WHERE record->>'blockedURL' = 'inline' AND effective_directive LIKE 'script-src%' RETURNING seq)
               UPDATE csp_lens_units u SET unit = jsonb_set(unit, '{v,category}', '"other"') FROM r WHERE u.rid = r.seq`);
    };
    const whole = await regrouped(asRule1);
    const against = await regrouped(async (c) => (await asRule1(c), await againstRecords(c)));
    expect(whole.forms.every((f) => f === 'v')).toBe(true);
    expect(against.forms.every((f) => f === 'd')).toBe(true);
    expect(against.off).toEqual([]);
    expect(against.groups).toEqual(whole.groups);
    expect(against.units).toEqual(whole.units);
    expect(against.units.filter((u) => u.v.blockedURL === 'inline' && u.v.effectiveDirective.startsWith('script-src')).map((u) => u.v.category)).toContain('inline');
  });

  it('starts an empty database at the current grouping rule', async () => {
    const url = await server.createDatabase();
    await (await openPostgresStore({ connectionString: url })).close();
    const meta = await server.query<{ value: number }>(url, "SELECT value FROM csp_lens_meta WHERE key = 'grouping'");
    expect(meta[0]!.value).toBe(GROUPING_VERSION);
  });
});
