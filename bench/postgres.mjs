#!/usr/bin/env node
// The PostgreSQL store under load: the file store, then 1, 2 and 4 receiver processes sharing one
// database (as behind a load balancer), in rounds; medians. Besides requests/s (which on a shared
// 2-core machine mostly says how the cores were split) it reports what each side spends: receiver
// CPU per request, database CPU per report, transactions and statements per commit, lock waits.
// Bodies and load come from bodies.mjs/load.mjs (real Chromium payloads, every request distinct).
//   node bench/postgres.mjs [--duration 8] [--rounds 3] [--processes 1,2,4] [--json]   (after npm run build)
//   BENCH_PG_URL=postgres://user@host/db node bench/postgres.mjs    the same against a database on
//     another machine (it must allow CREATE DATABASE; pg_stat_statements is used if it is loaded there)
//   BENCH_PG_BASELINE=/other/checkout node bench/postgres.mjs    each PostgreSQL count run with that
//     checkout's build too, in the same rounds (rows base1, base2…): before/after in one run
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.mjs';
import { ROOT, median, runLoad, startReceiver } from './lib.mjs';
import { cpuOf, probe } from './pg-probe.mjs';

async function admin(url, sql) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

const withDb = (url, name) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
};

// SIGTERM and wait for the exit here: lib.mjs's `stop()` waits on an 'exit' listener that its
// startProcess removes once the process is ready, so it never resolves.
const stop = (r) =>
  new Promise((resolve) => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
    r.child.once('exit', () => resolve());
    r.child.kill('SIGTERM');
  });

const sum = (runs, k) => runs.reduce((n, r) => n + r[k], 0);

/**
 * Where the database saturates, from what was measured: a receiver's CPU per report and the
 * database's (one process's medians), so how many receiver processes, each with a core of its own,
 * one database core keeps up with. And the database's CPU per group commit fitted over every
 * PostgreSQL run (least squares: a fixed part per commit plus a part per report), which says what
 * smaller commits (more instances, more transactions in flight) cost it. The fit is left out when
 * the runs' commit sizes are too alike to tell the two parts apart (a part comes out negative).
 */
export function saturation(rounds, one) {
  if (!one?.reports || !Number.isFinite(one.dbCpuUsPerReport)) return undefined;
  const receiverUsPerReport = (one.cpuUs * one.requests) / one.reports;
  const model = {
    receiverUsPerReport,
    dbUsPerReport: one.dbCpuUsPerReport,
    reportsPerCommit: one.commits ? one.reports / one.commits : undefined,
    reportsPerDbCore: 1e6 / one.dbCpuUsPerReport,
    receiversPerDbCore: receiverUsPerReport / one.dbCpuUsPerReport,
  };
  const points = rounds
    .flatMap((r) => Object.entries(r).filter(([k]) => /^pg\d+$/.test(k)).map(([, x]) => x))
    .filter((x) => x.commits > 0 && Number.isFinite(x.dbCpuUsPerReport))
    .map((x) => ({ x: x.reports / x.commits, y: (x.dbCpuUsPerReport * x.reports) / x.commits }));
  if (points.length >= 3) {
    const mx = points.reduce((n, p) => n + p.x, 0) / points.length;
    const my = points.reduce((n, p) => n + p.y, 0) / points.length;
    const sxx = points.reduce((n, p) => n + (p.x - mx) ** 2, 0);
    const perReport = sxx ? points.reduce((n, p) => n + (p.x - mx) * (p.y - my), 0) / sxx : NaN;
    const fixed = my - perReport * mx;
    if (perReport > 0 && fixed > 0) Object.assign(model, { fixedUsPerCommit: fixed, fittedUsPerReport: perReport, points: points.length });
  }
  return model;
}

/** The model as a sentence (BENCHMARKS.md and the command line). */
export function describeSaturation(m) {
  const n = (v, d = 0) => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const fit = m.fixedUsPerCommit === undefined
    ? ''
    : ` Fitted over ${m.points} runs, the database spends ${n(m.fixedUsPerCommit)} µs per group commit plus ${n(m.fittedUsPerReport)} µs per report: halving the reports per commit (two transactions in flight, twice the instances at the same load) adds ${n(m.fixedUsPerCommit / (m.reportsPerCommit ?? 1))} µs per report.`;
  return (
    `one receiver process spends ${n(m.receiverUsPerReport)} µs CPU per report and the database ${n(m.dbUsPerReport)}` +
    (m.reportsPerCommit ? ` (at ${n(m.reportsPerCommit, 1)} reports per group commit)` : '') +
    `, so one database core keeps up with ${n(m.reportsPerDbCore)} reports/s, what ${n(m.receiversPerDbCore, 1)} receiver processes with a core each send: ` +
    `receivers scale out until about ${n(m.receiversPerDbCore, 1)} per database core, and the database is the limit past that.${fit}`
  );
}

/**
 * Runs, `rounds` times: the file store, then PostgreSQL with each count of `processes`, each for
 * `durationSec` on a fresh store; returns the per-round numbers, their medians and the ratios.
 * `url`: a PostgreSQL server to use instead of a local throwaway cluster.
 */
export async function runPostgresBench({ durationSec = 8, connections = 32, rounds = 3, processes = [1, 2, 4], url = process.env.BENCH_PG_URL, baseline = process.env.BENCH_PG_BASELINE, log = () => {} } = {}) {
  const builds = [['pg', undefined], ...(baseline ? [['base', join(baseline, 'packages/receiver/bin/csp-lens.js')]] : [])];
  if (baseline && !existsSync(join(baseline, 'packages/receiver/dist/cli.js'))) throw new Error(`bench/postgres.mjs: build ${baseline} first`);
  if (!existsSync(join(ROOT, 'packages/receiver/dist/cli.js'))) throw new Error('bench/postgres.mjs: build first (npm run build)');
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-bench-pg-'));
  // PostgreSQL's defaults (fsync, synchronous_commit on): a commit costs what it costs in production,
  // as the file store's fsync does. pg_stat_statements counts statements and commits.
  const cluster = url
    ? undefined
    : await startCluster({ durable: true, settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': process.env.BENCH_PG_TRACK ?? 'top' } });
  const base = url ?? cluster.url;
  await admin(base, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements').catch(() => {});
  const made = [];
  const createDatabase = async (name) => {
    const db = `csp_lens_bench_${process.pid}_${name}`;
    await admin(base, `CREATE DATABASE ${db}`);
    made.push(db);
    return { db, url: withDb(base, db) };
  };
  const running = [];
  const start = async (file, extra, cli) => {
    const r = await startReceiver(file, { extra, cli });
    running.push(r);
    return r;
  };
  try {
    const all = [];
    for (let round = 0; round < rounds; round++) {
      const row = {};
      log(`round ${round + 1}/${rounds}: file store…`);
      const file = await start(join(dir, `file${round}.json`));
      const cpu0 = cpuOf(file.pid);
      const [f] = await runLoad({ url: file.url, mode: 'mixed', duration: durationSec, connections, runId: `f${round}` });
      row.file = { ...f, cpuUs: ((cpuOf(file.pid) - cpu0) / f.requests) * 1e6 };
      await stop(file);
      rmSync(join(dir, `file${round}.json`), { force: true });
      for (const n of processes) for (const [build, cli] of builds) {
        const key = `${build}${n}`;
        log(`round ${round + 1}/${rounds}: PostgreSQL${cli ? ' (baseline)' : ''}, ${n} process${n > 1 ? 'es' : ''}…`);
        const { db, url: dbUrl } = await createDatabase(`r${round}${build}${n}`);
        const receivers = await Promise.all(Array.from({ length: n }, (_, i) => start(join(dir, 'unused.json'), ['--store', 'postgres', '--database-url', dbUrl], cli)));
        const watch = await probe(base, db, { dataDir: cluster && join(cluster.dir, 'data') });
        const before = receivers.map((r) => cpuOf(r.pid));
        // Each process under the load one process gets (N receivers each loaded as one: what
        // scaling out is for), so its group commits are as full as the single one's. The same
        // documents reach all of them, so SDK batches and native reports of one page view land on
        // different instances and merge in the database.
        const runs = (await Promise.all(receivers.map((r, i) => runLoad({ url: r.url, mode: 'mixed', duration: durationSec, connections, runId: `p${round}n${n}`, start: i * 7 })))).flat();
        const receiverCpu = receivers.reduce((s, r, i) => s + cpuOf(r.pid) - before[i], 0);
        const seen = await watch.stop();
        await Promise.all(receivers.map(stop));
        const requests = sum(runs, 'requests');
        const reports = sum(runs, 'reports');
        row[key] = {
          processes: n,
          requests,
          reports,
          rps: sum(runs, 'rps'),
          reportsPerSec: sum(runs, 'reportsPerSec'),
          p50: Math.max(...runs.map((r) => r.p50)),
          p99: Math.max(...runs.map((r) => r.p99)),
          non2xx: sum(runs, 'non2xx') + sum(runs, 'errors'),
          cpuUs: (receiverCpu / requests) * 1e6,
          dbCpuUsPerReport: (seen.cpuSeconds / reports) * 1e6,
          dbCpuUsPerRequest: (seen.cpuSeconds / requests) * 1e6,
          dbBusy: seen.cpuSeconds / durationSec,
          commits: seen.commits,
          requestsPerCommit: seen.commits ? requests / seen.commits : undefined,
          statementsPerCommit: seen.commits ? seen.statements / seen.commits : undefined,
          execMsPerCommit: seen.commits ? seen.execMs / seen.commits : undefined,
          lockWaiting: seen.lockWaiting,
          lockShare: seen.lockShare,
          active: seen.active,
          waits: seen.waits,
          top: seen.top,
        };
        log(
          `  ${Math.round(row[key].rps)} req/s, receiver ${Math.round(row[key].cpuUs)} µs CPU/request, database ${Math.round(row[key].dbCpuUsPerReport)} µs CPU/report ` +
            `(${Math.round(row[key].dbBusy * 100)}% of a core), ${seen.commits ?? '?'} commits, ${row[key].statementsPerCommit?.toFixed(1) ?? '?'} statements/commit, ` +
            `lock waits ${seen.lockWaiting.toFixed(2)} backends (${Math.round(seen.lockShare * 100)}% of samples), p99 ${row[key].p99} ms, non-2xx ${row[key].non2xx}`,
        );
        await admin(base, `DROP DATABASE ${db}`).catch(() => {});
        made.splice(made.indexOf(db), 1);
      }
      all.push(row);
    }
    const keys = Object.keys(all[0]);
    const med = {};
    for (const k of keys) {
      med[k] = {};
      for (const f of Object.keys(all[0][k])) if (typeof all[0][k][f] === 'number') med[k][f] = median(all.map((r) => r[k][f]).filter((v) => v !== undefined && !Number.isNaN(v)));
      med[k].non2xx = all.reduce((n, r) => n + (r[k].non2xx ?? 0) + (r[k].errors ?? 0), 0);
    }
    const ratio = (a, b, k = 'reportsPerSec') => median(all.map((r) => r[a][k] / r[b][k]));
    const ratios = { postgres1: ratio('pg1', 'file') };
    for (const n of processes) if (n > 1) Object.assign(ratios, { [`postgres${n}`]: ratio(`pg${n}`, 'file'), [`scale${n}`]: ratio(`pg${n}`, 'pg1') });
    if (baseline) for (const n of processes) Object.assign(ratios, { [`baseline${n}`]: ratio(`base${n}`, 'file'), [`afterVsBaseline${n}`]: ratio(`pg${n}`, `base${n}`) });
    return { durationSec, connections, rounds: all, external: Boolean(url), baseline, processes, ...med, ratios, model: saturation(all, med.pg1), last: all[all.length - 1] };
  } finally {
    await Promise.all(running.map(stop));
    for (const db of made) await admin(base, `DROP DATABASE IF EXISTS ${db}`).catch(() => {});
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, d) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : d);
  const r = await runPostgresBench({
    durationSec: Number(arg('--duration', 8)),
    rounds: Number(arg('--rounds', 3)),
    processes: arg('--processes', '1,2,4').split(',').map(Number),
    log: (m) => console.error(m),
  });
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 1));
  const f = (v, d = 0) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(d));
  console.log(`file store             ${f(r.file.rps).padStart(7)} req/s ${f(r.file.reportsPerSec).padStart(8)} reports/s  ${f(r.file.cpuUs)} µs CPU/request`);
  for (const key of Object.keys(r).filter((k) => /^(pg|base)\d+$/.test(k))) {
    const x = r[key];
    const n = x.processes;
    console.log(
      `${key.startsWith('base') ? 'baseline' : 'postgres'}, ${n} process${n > 1 ? 'es' : '  '} ${f(x.rps).padStart(7)} req/s ${f(x.reportsPerSec).padStart(8)} reports/s  receiver ${f(x.cpuUs)} µs CPU/request, database ${f(x.dbCpuUsPerReport)} µs CPU/report ` +
        `(${f(x.dbBusy * 100)}% of a core), ${f(x.requestsPerCommit, 1)} requests/commit, ${f(x.statementsPerCommit, 1)} statements/commit, ${f(x.execMsPerCommit, 2)} ms/commit in statements, lock waits ${f(x.lockWaiting, 2)}, p50 ${x.p50} ms, p99 ${x.p99} ms, non-2xx ${x.non2xx}`,
    );
  }
  console.log(`ratios (reports/s, medians of rounds): ${Object.entries(r.ratios).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  if (r.model) console.log(`model: ${describeSaturation(r.model)}`);
  const last = r.last[`pg${r.processes[0]}`];
  console.log('statements (last round, first count):');
  for (const s of last.top ?? []) console.log(`  ${f(s.ms).padStart(7)} ms ${String(s.calls).padStart(6)} calls ${String(s.rows).padStart(7)} rows ${s.toplevel ? '' : '(nested) '}${s.query}`);
  console.log('waits (last round):', JSON.stringify(last.waits));
}
