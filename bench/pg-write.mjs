#!/usr/bin/env node
// In-process microbenchmark of the PostgreSQL write path, without HTTP: the bench's mixed bodies
// (bench/bodies.mjs), parsed and normalized up front, appended to the PostgreSQL store by 32
// concurrent callers (the group commit batches them, as under 32 connections), on a local
// cluster with fsync on. Per request and per report: the receiver's CPU in the store (this
// process, process.cpuUsage) and the database's (every process of the cluster, /proc), and with
// pg_stat_statements where the database's time goes. SOURCE_ROOT=DIR adds another checkout (say the
// commit before a change), measured in alternating rounds on fresh databases.
//   node bench/pg-write.mjs [REQUESTS=6000] [ROUNDS=3] [CONCURRENCY=32]   (loads packages/*/src)
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.mjs';
import { createGenerator, UA } from './bodies.mjs';
import { loadSource } from './source.mjs';
import { median } from './lib.mjs';
import { clusterCpu } from './pg-probe.mjs';

const REQUESTS = Number(process.argv[2] ?? 6000);
const ROUNDS = Number(process.argv[3] ?? 3);
const CONCURRENCY = Number(process.argv[4] ?? 32);
// PGW_WARM=N: requests appended before the measured ones, so eviction (--max-records) is in its steady state.
const WARM = Number(process.env.PGW_WARM ?? 4000);

const trees = { this: await loadSource() };
if (process.env.SOURCE_ROOT) trees.base = await loadSource(process.env.SOURCE_ROOT);
// PGW_VARIANTS='name=SQL|name2=SQL2': the working tree again, with SQL run on its database once the
// store has migrated it (say, dropping an index or a trigger to measure what it costs).
const variants = {};
for (const v of (process.env.PGW_VARIANTS ?? '').split('|').filter(Boolean)) {
  const i = v.indexOf('=');
  variants[v.slice(0, i)] = v.slice(i + 1);
  trees[v.slice(0, i)] = trees.this;
}

// PGW_EXPLAIN=MS: auto_explain logs the plan of every statement slower than MS (copied to pgw-explain.log).
const explain = process.env.PGW_EXPLAIN
  ? { shared_preload_libraries: 'pg_stat_statements,auto_explain', 'auto_explain.log_min_duration': process.env.PGW_EXPLAIN, 'auto_explain.log_analyze': 'on', 'auto_explain.log_nested_statements': 'on' }
  : {};
// Planning time is counted too (pg_stat_statements.track_planning): a statement planned at every commit shows it.
const cluster = await startCluster({
  durable: true,
  settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on', ...explain },
});
const data = join(cluster.dir, 'data');
const admin = new pg.Client({ connectionString: cluster.url });
await admin.connect();
await admin.query('CREATE EXTENSION pg_stat_statements');

async function batches(mod, runId, n) {
  const { parseBody } = await mod('core/parse.js');
  const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
  const g = createGenerator({ docs: 5000, runId });
  return Array.from({ length: n }, (_, i) => {
    const r = g.mixed(i);
    const body = parseBody(r.body, r.type);
    const meta = { receivedAt: Date.now(), userAgent: UA, clientIp: '127.0.0.0' };
    return r.path.endsWith('/sdk') ? normalizeSdk(body, meta) : normalizeNative(body, meta);
  });
}

async function append(store, list) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < list.length; i = next++) await store.append(list[i]);
    }),
  );
}

// PGW_PROFILE=PREFIX: a CPU profile of each measured round (PREFIX.<tree>.<round>.cpuprofile).
const profiler = process.env.PGW_PROFILE ? new (await import('node:inspector/promises')).Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
}

let dbs = 0;
async function round(name, r) {
  const mod = trees[name];
  const { openPostgresStore } = await mod('store/postgres/index.js');
  const db = `pgw_${name}_${r}_${dbs++}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = cluster.url.replace(/\/postgres$/, `/${db}`);
  const warm = await batches(mod, `w${r}${name}`, WARM);
  const list = await batches(mod, `m${r}${name}`, REQUESTS);
  const reports = list.reduce((n, b) => n + b.violations.length, 0);
  let commits = 0;
  const store = await openPostgresStore({ connectionString: url, maxRecords: 10_000, onCommit: () => commits++ });
  if (variants[name]) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(variants[name]);
    await c.end();
  }
  try {
    await append(store, warm);
    commits = 0;
    await admin.query('SELECT pg_stat_statements_reset()');
    if (profiler) await profiler.post('Profiler.start');
    const wal0 = (await admin.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
    const db0 = clusterCpu(data);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await append(store, list);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const dbCpu = (clusterCpu(data) - db0) * 1e6;
    const wal = Number((await admin.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS b', [wal0])).rows[0].b);
    if (process.env.PGW_WALDUMP) {
      // What the log holds, by kind of record (pg_waldump --stats), for this round.
      const wal1 = (await admin.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
      const { execFileSync } = await import('node:child_process');
      console.log(execFileSync(join(cluster.bin, 'pg_waldump'), ['--stats=record', '-p', join(data, 'pg_wal'), '-s', wal0, '-e', wal1], { encoding: 'utf8' }));
    }
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(`${process.env.PGW_PROFILE}.${name}.${r}.cpuprofile`, JSON.stringify(profile));
    }
    const { rows } = await admin.query(
      `SELECT s.query, s.calls::int AS calls, s.total_exec_time AS ms, s.total_plan_time AS plan, s.plans::int AS plans, s.rows::int AS rows, s.toplevel FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = $1 ORDER BY s.total_exec_time DESC`,
      [db],
    );
    const top = rows.filter((x) => x.toplevel);
    return {
      name,
      reports,
      ms,
      rps: (REQUESTS / ms) * 1e3,
      jsUs: (cpu.user + cpu.system) / REQUESTS,
      dbUs: dbCpu / REQUESTS,
      jsUsReport: (cpu.user + cpu.system) / reports,
      dbUsReport: dbCpu / reports,
      commits,
      statements: top.reduce((n, x) => n + x.calls, 0) / commits,
      execUs: (top.reduce((n, x) => n + x.ms, 0) * 1e3) / REQUESTS,
      walBytes: wal / REQUESTS,
      rows,
    };
  } finally {
    await store.close();
    await admin.query(`DROP DATABASE ${db}`);
  }
}

const results = Object.fromEntries(Object.keys(trees).map((k) => [k, []]));
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of Object.keys(trees)) {
      const x = await round(name, r);
      results[name].push(x);
      console.log(
        `round ${r + 1} ${name}: ${x.rps.toFixed(0)} requests/s; per request: receiver ${x.jsUs.toFixed(0)} µs CPU, database ${x.dbUs.toFixed(0)} µs CPU, ${x.execUs.toFixed(0)} µs in statements; ` +
          `per report: ${x.jsUsReport.toFixed(0)} + ${x.dbUsReport.toFixed(0)} µs; ${(x.walBytes / 1024).toFixed(1)} KiB WAL/request; ${(REQUESTS / x.commits).toFixed(1)} requests and ${x.statements.toFixed(1)} statements per commit`,
      );
    }
  }
  for (const name of Object.keys(trees)) {
    const xs = results[name];
    const m = (k) => median(xs.map((x) => x[k]));
    console.log(`${name}: median ${m('rps').toFixed(0)} requests/s, receiver ${m('jsUs').toFixed(0)} + database ${m('dbUs').toFixed(0)} µs CPU per request (${m('jsUsReport').toFixed(0)} + ${m('dbUsReport').toFixed(0)} per report), ${m('statements').toFixed(1)} statements/commit`);
    if (process.env.PGW_STATEMENTS) {
      const last = xs[xs.length - 1];
      for (const s of last.rows.slice(0, Number(process.env.PGW_STATEMENTS))) {
        console.log(`  ${((s.ms * 1e3) / REQUESTS).toFixed(1).padStart(6)} µs/req ${((s.plan * 1e3) / REQUESTS).toFixed(1).padStart(6)} planning (${s.plans}) ${String(s.calls).padStart(6)} calls ${String(s.rows).padStart(7)} rows ${s.toplevel ? '' : '(nested) '}${s.query.replace(/\s+/g, ' ').slice(0, 150)}`);
      }
    }
  }
} finally {
  await admin.end();
  if (process.env.PGW_EXPLAIN) copyFileSync(join(cluster.dir, 'server.log'), 'pgw-explain.log');
  await cluster.stop();
}
