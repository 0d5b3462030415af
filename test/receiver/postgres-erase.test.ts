import type { NormalizedViolation } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { DOCUMENT_KEY } from '../../packages/receiver/src/store/postgres/schema.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/core/types.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';
import { ERASE_T0, batchOf, shopViolation } from '../helpers/erase.js';

// Erasure on PostgreSQL: the tables it touches (records, units, buckets, archive, groups, reach,
// counters, policies), its audit rows, and erasures racing another instance's appends. The
// contract test (store-contract.test.ts) checks that it erases what the file store erases.

const T0 = ERASE_T0;
let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

const violation = (i: number, over: Partial<NormalizedViolation> = {}) => shopViolation(i, { originalPolicy: `img-src 'self'; report-uri /r${i % 2}`, ...over });
const batch = batchOf;

/** What must hold between the tables whatever was erased: nothing points to a record that is gone. */
async function consistent(url: string): Promise<void> {
  const q = <R extends Record<string, unknown>>(sql: string) => server.query<R>(url, sql);
  expect(await q('SELECT seq FROM csp_lens_units u WHERE NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.seq = u.rid)')).toEqual([]);
  expect(await q('SELECT key FROM csp_lens_buckets b WHERE NOT EXISTS (SELECT 1 FROM csp_lens_units u WHERE u.bucket = b.key)')).toEqual([]);
  // Each group counts exactly the records left of it, live and archived.
  const groups = await q<{ id: string; records: number; left: number }>(
    `SELECT g.id, g.records::int AS records,
            ((SELECT count(*) FROM csp_lens_records r WHERE r.group_id = g.id) + (SELECT count(*) FROM csp_lens_archive a WHERE a.record->>'groupId' = g.id))::int AS left
       FROM csp_lens_groups g`,
  );
  for (const g of groups) expect(g.records, g.id).toBe(g.left);
  const [c] = await q<{ live: number; archived: number; records: number; arch: number }>(
    `SELECT (SELECT n FROM csp_lens_counters WHERE name = 'live')::int AS live, (SELECT n FROM csp_lens_counters WHERE name = 'archived')::int AS archived,
            (SELECT count(*) FROM csp_lens_records)::int AS records, (SELECT count(*) FROM csp_lens_archive)::int AS arch`,
  );
  expect(c.live).toBe(c.records);
  expect(c.archived).toBe(c.arch);
}

describe('erasure on PostgreSQL', () => {
  it('removes live and archived rows, their units and empty buckets, and writes an audit row', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 4 });
    try {
      for (let i = 0; i < 12; i++) await store.append(batch([violation(i)]));
      const doc = 'https://shop.example/p1';
      const res = await store.erase({ document: doc }, { by: '203.0.113.9' });
      expect(res.deleted + res.archived).toBe(4);
      expect(res.archived).toBeGreaterThan(0);
      expect(await server.query(url, "SELECT 1 FROM csp_lens_records WHERE document_url = $1 UNION ALL SELECT 1 FROM csp_lens_archive WHERE record->>'documentURL' = $1", [doc])).toEqual([]);
      await consistent(url);
      expect(await server.query(url, 'SELECT action, filter, deleted::int, archived::int, by_whom FROM csp_lens_audit')).toEqual([
        { action: 'erase', filter: { document: doc }, deleted: res.deleted, archived: res.archived, by_whom: '203.0.113.9' },
      ]);

      const gid = (await store.groups({})).items[0].id;
      await store.erase({ groupId: gid });
      expect(await store.group(gid)).toBeUndefined();
      expect(await server.query(url, 'SELECT 1 FROM csp_lens_reach WHERE group_id = $1', [gid])).toEqual([]);
      await consistent(url);
      // The policies only erased records used are gone with them.
      expect(await server.query(url, "SELECT hash FROM csp_lens_policies p WHERE NOT EXISTS (SELECT 1 FROM csp_lens_records r WHERE r.record->>'policyHash' = p.hash)")).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('erases by document exactly that URL, found through the document key index: not its other queries or spellings of its host', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    try {
      const docs = ['https://Shop.example/p1?a=1', 'https://shop.example/p1?a=2', 'https://shop.example/p1?a=1', 'https://Shop.example/p1?a=1#x'];
      for (const [i, doc] of docs.entries()) await store.append(batch([violation(i, { documentURL: doc })]));
      expect(await store.erase({ document: 'https://Shop.example/p1?a=1' })).toMatchObject({ deleted: 1, archived: 0 });
      const left = await server.query<{ document_url: string }>(url, 'SELECT document_url FROM csp_lens_records ORDER BY seq');
      expect(left.map((r) => r.document_url)).toEqual(docs.filter((d) => d !== 'https://Shop.example/p1?a=1'));
      await consistent(url);
      // The records are found through csp_lens_records_doc_key (the document_url index is gone): an
      // index the condition can use (scans of the whole table priced out, as a few rows invite one).
      const plan = await server.query<{ 'QUERY PLAN': string }>(
        `${url}?options=${encodeURIComponent('-c enable_seqscan=off')}`,
        `EXPLAIN SELECT seq FROM csp_lens_records WHERE doc_key = (SELECT ${DOCUMENT_KEY} FROM (SELECT 'https://x.example/'::text AS document_url) AS d) AND document_url = 'https://x.example/'`,
      );
      expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('csp_lens_records_doc_key');
      expect(await server.query(url, "SELECT 1 FROM pg_indexes WHERE indexname = 'csp_lens_records_document'")).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('keeps every table consistent while another instance appends to the records being erased', async () => {
    const url = await server.createDatabase();
    const a = await openPostgresStore({ connectionString: url, maxRecords: 30 });
    const b = await openPostgresStore({ connectionString: url, maxRecords: 30 });
    try {
      // The erasures start once some appends are acknowledged, and run beside the rest (b's own
      // appends too: its two transactions in flight are as independent as two instances').
      let acknowledged = 0;
      let started!: () => void;
      const some = new Promise<void>((r) => (started = r));
      const appends = (store: Store, from: number) =>
        Promise.all(
          Array.from({ length: 40 }, (_, k) =>
            store.append(batch([violation(from + k), violation(from + k + 1000, { stream: 'reportTo' })])).then(() => ++acknowledged === 10 && started()),
          ),
        );
      const erasures = async () => {
        await some;
        const results = [];
        for (let k = 0; k < 6; k++) results.push(await b.erase(k % 2 ? { document: `https://shop.example/p${k % 3}` } : { clients: [`198.51.100.${k % 4}`] }));
        return results;
      };
      const [, , results] = await Promise.all([appends(a, 0), appends(b, 100), erasures()]);
      expect(results.reduce((n, r) => n + r.deleted + r.archived, 0)).toBeGreaterThan(0);
      await consistent(url);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
