import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import type { Severity, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { MIGRATIONS } from '../../packages/receiver/src/store/postgres/schema.js';
import { documentSql } from '../../packages/receiver/src/store/postgres/match.js';
import { documentFilter } from '../../packages/receiver/src/core/match.js';
import { GROUPING_VERSION } from '../../packages/receiver/src/core/group.js';
import { computeStats, groupsOn, queryGroups, queryViolations } from '../../packages/receiver/src/core/query.js';
import type { GroupQuery, RecordFilter, Store, ViolationQuery } from '../../packages/receiver/src/core/types.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';
import { messages, violation } from '../helpers/violations.js';

// A table far bigger than any answer. The store must answer in SQL (aggregates, LIMIT): what
// PostgreSQL sends it is then about the size of the answer, not of the table. And each answer must
// be the one query.ts (the file store's read side) gives over the same records and groups.

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

const HOUR = 3_600_000;
const T = 1_800_000_000_000; // on the hour
const N = 50_000;
const GROUPS = 3_000;
const DIRECTIVES = ['img-src', 'script-src-elem', 'style-src-elem', 'connect-src', 'frame-src'];
const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];

/** Records over 72 hours, some on the hour and some a fraction of a ms past it; groups with many ties. */
function data() {
  const groups: ViolationGroup[] = Array.from({ length: GROUPS }, (_, g) => ({
    id: `g_${g}`,
    fingerprint: `f${g}`,
    effectiveDirective: DIRECTIVES[g % 5],
    category: 'external',
    blocked: `https://b${g}.test`,
    ...(g % 2 ? { sourceFile: `https://s.test/${g}.js` } : {}),
    severity: SEVERITIES[g % 4],
    dispositions: g % 7 ? ['enforce'] : ['enforce', 'report'],
    count: 1 + (g % 5),
    records: g < GROUPS - 100 ? 1 + (g % 3) : 0,
    sources: { sdk: g % 3, reportUri: 1, reportTo: 0 },
    merged: g % 2,
    firstSeen: T + (g % 4) * HOUR,
    lastSeen: T + (g % 6) * HOUR,
    reach: { documents: 1, pageViews: g % 3, userAgents: 1 },
    exampleId: `r${(g + 1).toString(36)}`,
  }));
  const records = Array.from({ length: N }, (_, i): ViolationRecord => {
    const g = (i * 7) % (GROUPS - 100);
    const k = i % 10;
    const count = 1 + (i % 4);
    const sources = { sdk: k < 6 ? count : 0, reportUri: [0, 1, 2, 6, 7, 8].includes(k) ? 1 : 0, reportTo: k === 3 || k === 9 ? 1 : 0 };
    const at = T + Math.floor((i / N) * 72 * HOUR);
    const occurredAt = i % 1000 === 0 ? Math.floor(at / HOUR) * HOUR : i % 997 === 0 ? at + 0.5 : at;
    return {
      id: `r${(i + 1).toString(36)}`,
      groupId: groups[g].id,
      category: 'external',
      severity: groups[g].severity,
      count,
      sources,
      occurredAt,
      firstReceivedAt: occurredAt,
      lastReceivedAt: occurredAt,
      documentURL: `https://s.test/p${i % 400}`,
      effectiveDirective: groups[g].effectiveDirective,
      disposition: i % 9 ? 'enforce' : 'report',
      blockedURL: groups[g].blocked,
    } as ViolationRecord;
  });
  return { groups, records };
}

/** A TCP proxy in front of PostgreSQL that counts the bytes the server sends. */
async function countingProxy(target: string) {
  const to = new URL(target);
  let received = 0;
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    sockets.add(client).add(upstream);
    upstream.on('data', (d: Buffer) => (received += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    for (const s of [client, upstream]) s.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((proxy.address() as AddressInfo).port);
  return {
    url: url.toString(),
    /** Bytes received since the last call. */
    take() {
      const n = received;
      received = 0;
      return n;
    },
    close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), proxy.close(() => resolve()))),
  };
}

/** A database of schema version 3 (before the read side moved to SQL) holding `records` and `groups`, then migrated. */
async function version3(url: string, records: ViolationRecord[], groups: ViolationGroup[]) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE TABLE csp_lens_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const m of MIGRATIONS.filter((m) => m.version <= 3)) {
      await c.query(m.sql);
      await c.query('INSERT INTO csp_lens_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    for (let i = 0; i < records.length; i += 10_000) {
      await c.query(
        `INSERT INTO csp_lens_records (seq, lock_key, group_id, effective_directive, document_url, disposition, severity, occurred_at, sdk, report_uri, report_to, record)
         SELECT x.seq, 0, r->>'groupId', r->>'effectiveDirective', r->>'documentURL', r->>'disposition', r->>'severity', (r->>'occurredAt')::float8,
                (r->'sources'->>'sdk')::bigint, (r->'sources'->>'reportUri')::bigint, (r->'sources'->>'reportTo')::bigint, r
           FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, record jsonb), LATERAL (SELECT x.record AS r) AS l`,
        [JSON.stringify(records.slice(i, i + 10_000).map((record) => ({ seq: parseInt(record.id.slice(1), 36), record })))],
      );
    }
    const rows = groups.map((g, pos) => ({
      id: g.id, pos, severity: g.severity, dispositions: g.dispositions, count: g.count, records: g.records, sdk: g.sources.sdk, report_uri: g.sources.reportUri,
      report_to: g.sources.reportTo, merged: g.merged, native_only: 0, first_seen: g.firstSeen, last_seen: g.lastSeen, example_id: g.exampleId,
      reach_documents: g.reach.documents, reach_page_views: g.reach.pageViews, reach_user_agents: g.reach.userAgents,
      meta: { fingerprint: g.fingerprint, effectiveDirective: g.effectiveDirective, category: g.category, blocked: g.blocked, sourceFile: g.sourceFile },
    }));
    await c.query(
      `INSERT INTO csp_lens_groups SELECT * FROM jsonb_populate_recordset(NULL::csp_lens_groups, $1::jsonb)`,
      [JSON.stringify(rows)],
    );
    await c.query("UPDATE csp_lens_counters SET n = $1 WHERE kind = 'store' AND name = 'live'", [records.length]);
    await c.query("SELECT setval('csp_lens_seq', $1)", [records.length + 1]);
    // The read side's migration over the rows already there, as opening would run it; then the
    // grouping rule's (5) with these groups marked as made by the current rule: the synthetic
    // groups and severities are not what classification would give, and a regroup would replace them.
    for (const m of MIGRATIONS.filter((m) => m.version === 4 || m.version === 5)) {
      await c.query(m.sql);
      await c.query('INSERT INTO csp_lens_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    await c.query("UPDATE csp_lens_meta SET value = to_jsonb($1::int) WHERE key = 'grouping'", [GROUPING_VERSION]);
  } finally {
    await c.end();
  }
}

const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x));

describe('the PostgreSQL read API over a large table', () => {
  it('answers as query.ts does over 50,000 records and 3,000 groups, receiving about the size of each answer', async () => {
    const { records, groups } = data();
    const url = await server.createDatabase();
    await version3(url, records, groups);
    const proxy = await countingProxy(url);
    // The counts and the tally come from the rows already there (migration 4).
    const store = await openPostgresStore({ connectionString: proxy.url, maxRecords: 2 * N });
    try {
      const counters = { filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0, archived: 0 };
      const byId = Object.fromEntries(groups.map((g) => [g.id, g]));
      /** The answer, once what PostgreSQL sent for it is shown to be about its size. */
      const read = async <A>(what: unknown, fn: () => Promise<A>): Promise<A> => {
        proxy.take();
        const answer = await fn();
        const bytes = proxy.take();
        expect(bytes, JSON.stringify(what)).toBeLessThan(2 * JSON.stringify(answer ?? null).length + 16_384);
        return answer;
      };

      const windows: RecordFilter[] = [
        {}, { since: T + 5 * HOUR }, { since: T + 5 * HOUR + 1 }, { since: T + 5 * HOUR - 1 }, { until: T + 40 * HOUR }, { until: T + 40 * HOUR + 1 },
        { since: T + 10 * HOUR - 1, until: T + 30 * HOUR + 1 }, { since: T + 3 * HOUR + 17, until: T + 3 * HOUR + 1_000_000 }, { since: T + 100 * HOUR },
      ];
      const statsFilters: RecordFilter[] = [
        ...windows,
        { directive: 'img-src' }, { directive: 'img-src', since: T + 3 * HOUR + 17 }, { coverage: 'merged' }, { coverage: 'sdk-only', severity: 'high' },
        { coverage: 'native-only', until: T + 20 * HOUR }, { source: 'reportTo', disposition: 'report' }, { source: 'sdk', since: T + 50 * HOUR },
        { groupId: 'g_5' }, { groupId: 'g_5', since: T + 24 * HOUR }, { document: 'https://s.test/p7' }, { document: 'https://s.test/p7', since: T + 24 * HOUR },
      ];
      for (const q of statsFilters) {
        const { limits: _limits, ...got } = await read(q, () => store.stats(q));
        expect({ q, stats: plain(got) }).toEqual({ q, stats: plain(computeStats(records, GROUPS, counters, q)) });
      }

      const groupFilters: GroupQuery[] = [
        {}, { directive: 'img-src' }, { severity: 'high' }, { disposition: 'report' }, { coverage: 'merged' }, { coverage: 'native-only' },
        { document: 'https://s.test/p7' }, { since: T + 3 * HOUR }, { until: T + 2 * HOUR }, { directive: 'frame-src', coverage: 'sdk-only', until: T + 3 * HOUR },
      ];
      for (const sort of ['lastSeen', 'count', 'reach', 'severity'] as const) {
        for (const f of groupFilters) {
          for (const cursor of [undefined, '50', '1440', '2850']) {
            const q = { ...f, sort, cursor, limit: cursor === '1440' ? 500 : undefined };
            const got = await read(q, () => store.groups(q));
            expect({ q, page: plain(got) }).toEqual({ q, page: plain(queryGroups(byId, q, groupsOn(records, q))) });
          }
        }
      }

      const recordFilters: ViolationQuery[] = [
        {}, { directive: 'connect-src' }, { document: 'https://s.test/p7' }, { groupId: 'g_5' }, { coverage: 'native-only', severity: 'low' },
        { since: T + 70 * HOUR }, { source: 'reportTo', disposition: 'report', directive: 'img-src' },
        { disposition: 'unknown' }, { severity: 'critical', directive: 'img-src' }, { coverage: 'merged', severity: 'low', since: T + 60 * HOUR },
        // Windows in the past: their first page comes from the occurred_at index, the later ones from seq's.
        { until: T + HOUR }, { since: T + 10 * HOUR, until: T + 20 * HOUR }, { directive: 'img-src', since: T + 10 * HOUR + 1, until: T + 11 * HOUR },
      ];
      for (const f of recordFilters) {
        for (const cursor of [undefined, records[N / 2].id, records[10].id]) {
          const q = { ...f, cursor };
          const got = await read(q, () => store.violations(q));
          expect({ q, page: plain(got) }).toEqual({ q, page: plain(queryViolations(records, q)) });
        }
      }

      for (const id of ['g_5', 'g_2950', 'g_nope']) {
        const got = await read(id, () => store.group(id));
        const want = byId[id] && { group: byId[id], records: queryViolations(records, { groupId: id, limit: 50 }).items };
        expect(plain(got ?? null)).toEqual(plain(want ?? null));
      }

      // And the tally goes on from there: a new record counts in its hour.
      const now = T + 80 * HOUR + 5;
      await store.append(normalizeNative(JSON.parse(reportUriBody('later').body), { receivedAt: now }));
      const added = (await store.violations({ limit: 1 })).items[0];
      expect(added.occurredAt).toBe(now);
      const { limits: _limits, ...got } = await read('after an append', () => store.stats({}));
      expect(plain(got)).toEqual(plain(computeStats([...records, added], GROUPS + 1, counters, {})));
    } finally {
      await store.close();
      await proxy.close();
    }
  }, 180_000);

  it('filters by a whole document URL through the doc_key index, not a scan of every record', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const list: unknown[] = [];
      const where = documentSql(documentFilter('HTTPS://Shop.Example/p/1?x=1')!, (v) => `$${list.push(v)}`);
      expect(list).toEqual(['https://shop.example/p/1%']);
      // Planned with its value (as the read API's unnamed statements are), on a table too small to
      // prefer the index by cost: seq scans off shows it can be used.
      await client.query('SET enable_seqscan = off');
      const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT seq FROM csp_lens_records WHERE ${where.replace('$1', pg.escapeLiteral(list[0] as string))}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toContain('csp_lens_records_doc_key');
      // And the key is documentKey's: what the file store compares.
      await store.append(normalizeNative(JSON.parse(reportUriBody('doc', { 'document-uri': 'HTTPS://Shop.Example/p/1/cart?token=1#x' }).body), { receivedAt: T }));
      const [{ doc_key }] = (await client.query<{ doc_key: string }>('SELECT doc_key FROM csp_lens_records')).rows;
      expect(doc_key).toBe('https://shop.example/p/1/cart');
      expect((await store.violations({ document: 'https://SHOP.example/p/1', limit: 10 })).items).toHaveLength(1);
      expect((await store.violations({ document: 'https://shop.example/p/2', limit: 10 })).items).toHaveLength(0);
    } finally {
      await client.end();
      await store.close();
    }
  });

  it('counts exactly while two instances merge, archive and fold the tally at the same time', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([0, 1].map(() => openPostgresStore({ connectionString: url, maxRecords: 60 })));
    try {
      // Hundreds of transactions over four hours: deltas from both, folded every 64 changes by either.
      const vs = fc.sample(violation, { seed: 5, numRuns: 150 }).map((v, i) => ({ ...v, t: v.t + (i % 4) * HOUR }));
      const msgs = vs.flatMap(messages).sort((a, b) => a.at - b.at);
      await Promise.all(stores.map(async (store, k) => {
        for (const [i, m] of msgs.entries()) if (i % 2 === k) await store.append(m.batch);
      }));
      const live = await everyRecord(stores[1]);
      expect(live.length).toBeGreaterThan(0);
      const [{ n: archived }] = await server.query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM csp_lens_archive');
      expect(archived).toBeGreaterThan(0);
      const [{ n: folded }] = await server.query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM csp_lens_tally');
      expect(folded).toBeGreaterThan(0);
      const T0 = Math.min(...live.map((r) => r.occurredAt));
      const filters: RecordFilter[] = [{}, { since: T0 + HOUR }, { until: T0 + 2 * HOUR + 1 }, { coverage: 'merged' }, { directive: 'img-src', since: T0 - 1 }, { source: 'reportTo' }];
      for (const q of filters) {
        const { records, hours, coverage } = await stores[0].stats(q);
        const want = computeStats(live, 0, { filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0, archived: 0 }, q);
        expect(plain({ q, records, hours, coverage })).toEqual(plain({ q, records: want.records, hours: want.hours, coverage: want.coverage }));
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  }, 180_000);
});

async function everyRecord(store: Store): Promise<ViolationRecord[]> {
  const out: ViolationRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.violations({ limit: 500, cursor });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}
