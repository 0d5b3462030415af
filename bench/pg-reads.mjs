#!/usr/bin/env node
// Reads at scale on PostgreSQL (issue 17, target 3): a table of 1,000,000 live records, then the
// read API of one receiver process over HTTP, one request at a time: p50/p99 per query, and the
// receiver's memory before and after the reads (it must not grow with the table).
//   node bench/pg-reads.mjs [--records 1000000] [--groups 2000] [--requests 200] [--budget 60]
//                           [--query-timeout 5000] [--json]        (after npm run build)
// The table is built in SQL from real records (the Chromium fixtures sent through the receiver
// first), so rows are the size production rows are; times spread over 7 days, ending now.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.mjs';
import { createGenerator } from './bodies.mjs';
import { ROOT, memoryOf, quantile, startReceiver } from './lib.mjs';

const TOKEN = 'bench-token-0123456789abcdef';
const HOUR = 3_600_000;
const DAYS = 7;

// SIGTERM and wait for the exit (see bench/postgres.mjs on lib.mjs's stop()).
const stop = (r) =>
  new Promise((resolve) => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
    r.child.once('exit', () => resolve());
    r.child.kill('SIGTERM');
  });

async function withClient(url, fn) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Real records to copy: the fixtures' mixed stream through a receiver (merged, grouped, stored). */
export async function seedTemplates(url, requests = 1500) {
  const receiver = await startReceiver('unused.json', { maxRecords: 100_000, extra: ['--store', 'postgres', '--database-url', url] });
  try {
    const gen = createGenerator({ runId: 't', docs: 300 });
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < requests; i = next++) {
        const { path, type, body } = gen.mixed(i);
        const res = await fetch(receiver.url + path, { method: 'POST', headers: { 'content-type': type }, body });
        await res.arrayBuffer();
        if (res.status >= 300) throw new Error(`seeding: ${path} answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    await stop(receiver);
  }
}

/**
 * `records` live records in `groups` groups (a long tail: the first groups hold most), each group
 * copying one real group (directive, category, severity, the record's whole JSON), on 5,000
 * documents of 40 sites, seq in time order over the last 7 days; 40% merged, 20% SDK only, 40%
 * native only. The group rows, counters and sequence agree with the records, as the writer keeps them.
 */
export async function fill(url, { records, groups, now }) {
  await withClient(url, async (c) => {
    await c.query(`CREATE FUNCTION pg_temp.b36(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
      WITH RECURSIVE d(n, s) AS (SELECT n, ''::text UNION ALL SELECT n / 36, substr('0123456789abcdefghijklmnopqrstuvwxyz', (n % 36)::int + 1, 1) || s FROM d WHERE n > 0)
      SELECT s FROM d WHERE n = 0 $$`);
    await c.query(`CREATE TEMP TABLE tpl AS
      SELECT row_number() OVER (ORDER BY g.pos)::int - 1 AS i, r.effective_directive AS directive, r.disposition, r.severity, r.record, g.meta
        FROM csp_lens_groups g JOIN LATERAL (SELECT * FROM csp_lens_records WHERE group_id = g.id ORDER BY seq LIMIT 1) r ON true`);
    const templates = (await c.query('SELECT count(*)::int AS n FROM tpl')).rows[0].n;
    if (!templates) throw new Error('seeding stored no records');
    const base = Number((await c.query("SELECT nextval('csp_lens_seq') AS s")).rows[0].s);
    await c.query('TRUNCATE csp_lens_records, csp_lens_units, csp_lens_buckets, csp_lens_groups, csp_lens_reach');
    await c.query('SELECT setseed(0.17)');
    const from = now - DAYS * 24 * HOUR;
    await c.query(
      `INSERT INTO csp_lens_records (seq, lock_key, group_id, effective_directive, document_url, disposition, severity, occurred_at, sdk, report_uri, report_to, record)
       SELECT s.seq, 0, s.gid, t.directive, s.doc, t.disposition, t.severity, s.at, s.sdk, s.uri, s.rto,
              t.record || jsonb_build_object('id', 'r' || pg_temp.b36(s.seq), 'groupId', s.gid, 'documentURL', s.doc, 'occurredAt', s.at, 'firstReceivedAt', s.at,
                'lastReceivedAt', s.at, 'count', s.cnt, 'sources', jsonb_build_object('sdk', s.sdk, 'reportUri', s.uri, 'reportTo', s.rto))
         FROM (SELECT x.*, 'g_bench' || x.gi AS gid,
                      'https://site' || (x.d % 40) || '.example/p/' || x.d AS doc,
                      CASE WHEN x.k < 6 THEN x.c ELSE 0 END AS sdk,
                      CASE WHEN x.k IN (0, 1, 2, 6, 7, 8) THEN 1 ELSE 0 END AS uri,
                      CASE WHEN x.k IN (3, 9) THEN 1 ELSE 0 END AS rto,
                      CASE WHEN x.k < 6 THEN x.c ELSE 1 END AS cnt
                 FROM (SELECT n + $1::bigint AS seq, floor($2::int * power(random(), 2))::int AS gi, (n * 7919) % 5000 AS d, n % 10 AS k, 1 + (n / 10) % 3 AS c,
                              round($3::float8 + (n::float8 / $4::bigint) * $5::float8 + random() * 60000) AS at
                         FROM generate_series(1::bigint, $4::bigint) n) x) s
         JOIN tpl t ON t.i = s.gi % $6::int`,
      [base, groups, from, records, now - from - 60_000, templates],
    );
    await c.query(
      `INSERT INTO csp_lens_groups (id, pos, meta, severity, dispositions, count, records, sdk, report_uri, report_to, merged, native_only, first_seen, last_seen, example_id,
                                    reach_documents, reach_page_views, reach_user_agents)
       SELECT a.group_id, row_number() OVER (ORDER BY a.first_seq), t.meta || jsonb_build_object('fingerprint', (t.meta->>'fingerprint') || '#' || a.group_id),
              t.severity, ARRAY[t.disposition], a.count, a.records, a.sdk, a.report_uri, a.report_to, a.merged, a.native_only, a.first_seen, a.last_seen,
              'r' || pg_temp.b36(a.last_seq), LEAST(2000, a.documents), LEAST(2000, a.records - a.native_only), 1 + a.records % 7
         FROM (SELECT group_id, min(seq) AS first_seq, max(seq) AS last_seq, sum((record->>'count')::bigint) AS count, count(*) AS records, sum(sdk) AS sdk,
                      sum(report_uri) AS report_uri, sum(report_to) AS report_to, count(*) FILTER (WHERE sdk > 0 AND report_uri + report_to > 0) AS merged,
                      count(*) FILTER (WHERE sdk = 0) AS native_only, min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
                      count(DISTINCT document_url) AS documents
                 FROM csp_lens_records GROUP BY group_id) a
         JOIN tpl t ON t.i = substr(a.group_id, 8)::int % $1::int`,
      [templates],
    );
    await c.query("UPDATE csp_lens_counters SET n = $1 WHERE kind = 'store' AND name = 'live'", [records]);
    await c.query("SELECT setval('csp_lens_seq', $1)", [base + records + 1]);
  });
  // As autovacuum leaves a table that grew over days: statistics current, visibility map set.
  await withClient(url, (c) => c.query('VACUUM (ANALYZE)'));
  await withClient(url, (c) => c.query('CHECKPOINT'));
}

/** Ids and values the queries below ask for, picked from the table. */
async function pick(url, records) {
  return withClient(url, async (c) => {
    const one = async (sql, params = []) => (await c.query(sql, params)).rows[0];
    const directive = (await one('SELECT effective_directive AS d, count(*) FROM csp_lens_records GROUP BY 1 ORDER BY 2 DESC LIMIT 1')).d;
    const rare = (await one('SELECT effective_directive AS d, count(*) FROM csp_lens_records GROUP BY 1 ORDER BY 2 ASC LIMIT 1')).d;
    const group = (await one('SELECT id FROM csp_lens_groups ORDER BY records DESC OFFSET 100 LIMIT 1')).id;
    const document = (await one('SELECT document_url AS d FROM csp_lens_records ORDER BY seq DESC LIMIT 1')).d;
    const deep = (await one('SELECT record->>$2 AS id FROM csp_lens_records ORDER BY seq DESC OFFSET $1 LIMIT 1', [Math.floor(records * 0.9), 'id'])).id;
    return { directive, rare, group, document, deep };
  });
}

async function measure(base, path, { requests, budgetMs }) {
  const times = [];
  let bytes = 0;
  const started = performance.now();
  while (times.length < requests && performance.now() - started < budgetMs) {
    const t = performance.now();
    const res = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${Buffer.from(body).toString().slice(0, 300)}`);
    times.push(performance.now() - t);
    bytes = body.byteLength;
  }
  return { path, n: times.length, p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: Math.max(...times), bytes };
}

export async function runPgReadsBench({ records = 1_000_000, groups = 2000, requests = 200, budgetSec = 60, queryTimeoutMs = 5000, log = () => {} } = {}) {
  if (!existsSync(join(ROOT, 'packages/receiver/dist/cli.js'))) throw new Error('bench/pg-reads.mjs: build first (npm run build)');
  const cluster = await startCluster({ durable: true });
  let receiver;
  try {
    await withClient(cluster.url, (c) => c.query('CREATE DATABASE bench_reads'));
    const url = cluster.url.replace(/\/postgres$/, '/bench_reads');
    log('seeding real records through a receiver…');
    await seedTemplates(url);
    const now = Date.now();
    log(`filling ${records.toLocaleString('en')} records in ${groups} groups…`);
    let t = performance.now();
    await fill(url, { records, groups, now });
    const fillSec = (performance.now() - t) / 1000;
    const size = await withClient(url, async (c) => (await c.query("SELECT pg_total_relation_size('csp_lens_records') AS b")).rows[0].b);
    const p = await pick(url, records);

    const extra = ['--store', 'postgres', '--database-url', url, '--pg-query-timeout', String(queryTimeoutMs)];
    t = performance.now();
    receiver = await startReceiver('unused.json', { maxRecords: records * 2, extra });
    const startSec = (performance.now() - t) / 1000;
    const base = `${receiver.url}/csp`;
    const before = memoryOf(receiver.pid);
    const day = now - 24 * HOUR;
    const q = encodeURIComponent;
    const paths = [
      ['stats, no filter', '/api/stats'],
      ['stats, last 24 h (the dashboard)', `/api/stats?since=${day}`],
      ['stats, directive + since', `/api/stats?directive=${q(p.directive)}&since=${now - 3 * 24 * HOUR}`],
      ['stats, document (dashboard, 24 h)', `/api/stats?document=${q(p.document)}&since=${day}`],
      ['groups, default sort', '/api/groups'],
      ['groups, dashboard (severity, 24 h, 100)', `/api/groups?sort=severity&limit=100&since=${day}`],
      ['groups, sort=count + directive', `/api/groups?sort=count&directive=${q(p.directive)}`],
      ['groups, document', `/api/groups?document=${q(p.document)}`],
      ['violations, first page', '/api/violations'],
      ['violations, directive + coverage', `/api/violations?directive=${q(p.directive)}&coverage=sdk-only`],
      ['violations, rare directive', `/api/violations?directive=${q(p.rare)}`],
      ['violations, group', `/api/violations?group=${q(p.group)}`],
      ['violations, deep cursor (90%)', `/api/violations?cursor=${p.deep}`],
      ['violations, window 6 to 5 days ago', `/api/violations?since=${now - 6 * 24 * HOUR}&until=${now - 5 * 24 * HOUR}`],
      ['violations, a value no record has', '/api/violations?disposition=unknown'],
      ['group detail', `/api/groups/${q(p.group)}`],
    ];
    const results = [];
    for (const [name, path] of paths) {
      log(`${name}: ${path}`);
      await measure(base, path, { requests: 3, budgetMs: 0 }); // warm: plans, pool, page cache
      results.push({ name, ...(await measure(base, path, { requests, budgetMs: budgetSec * 1000 })) });
    }
    const after = memoryOf(receiver.pid);
    return { records, groups, tableBytes: size, fillSec, startSec, picked: p, results, memory: { before, after } };
  } finally {
    if (receiver) await stop(receiver);
    await cluster.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, d) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const r = await runPgReadsBench({
    records: arg('records', 1_000_000),
    groups: arg('groups', 2000),
    requests: arg('requests', 200),
    budgetSec: arg('budget', 60),
    queryTimeoutMs: arg('query-timeout', 5000),
    log: (m) => console.error(m),
  });
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 2));
  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`${r.records.toLocaleString('en')} live records, ${r.groups} groups, table ${mib(r.tableBytes)} (filled in ${r.fillSec.toFixed(0)} s; receiver started in ${r.startSec.toFixed(1)} s)`);
  console.log('| query | requests | p50 ms | p99 ms | max ms | bytes |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const x of r.results) console.log(`| ${x.name} | ${x.n} | ${x.p50.toFixed(1)} | ${x.p99.toFixed(1)} | ${x.max.toFixed(0)} | ${x.bytes.toLocaleString('en')} |`);
  console.log(`receiver RSS: ${mib(r.memory.before.rss)} before the reads, ${mib(r.memory.after.rss)} after (peak ${mib(r.memory.after.peak)})`);
}
