#!/usr/bin/env node
// The growth benchmark (bench/run.mjs) on the PostgreSQL store: `total` reports into one receiver
// process on a local cluster (fsync on), in slices; per slice, reports/s, the receiver's and the
// database's CPU per report, RSS, and the live, units and archive tables' sizes (a live record's
// units stay while it can still merge, store/postgres/units.ts). The live table is bounded
// by --max-records (retention moves the rest to the archive table), so the end should go as fast as
// the start.
//   node bench/pg-growth.mjs [TOTAL=200000]   (after npm run build; BENCH_PG_URL: a database elsewhere;
//   PG_GROWTH_CLI=/other/checkout/packages/receiver/bin/csp-lens.js: another build, for a before/after)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.mjs';
import { memoryOf, runLoad, startReceiver } from './lib.mjs';
import { clusterCpu, cpuOf } from './pg-probe.mjs';

export async function runPgGrowthBench({ total = 200_000, slices = 10, connections = 32, maxRecords = 10_000, url = process.env.BENCH_PG_URL, log = () => {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-bench-pg-growth-'));
  const cluster = url ? undefined : await startCluster({ durable: true });
  const admin = new pg.Client({ connectionString: url ?? cluster.url });
  await admin.connect();
  const name = `csp_lens_growth_${process.pid}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(url ?? cluster.url);
  u.pathname = `/${name}`;
  const db = new pg.Client({ connectionString: u.toString() });
  let server;
  try {
    server = await startReceiver(join(dir, 'unused.json'), { maxRecords, cli: process.env.PG_GROWTH_CLI || undefined, extra: ['--store', 'postgres', '--database-url', u.toString()] });
    await db.connect();
    const sizes = async () => {
      const { rows } = await db.query(
        `SELECT pg_total_relation_size('csp_lens_records')::float8 AS live, pg_total_relation_size('csp_lens_units')::float8 AS units,
                pg_total_relation_size('csp_lens_archive')::float8 AS archive, (SELECT count(*) FROM csp_lens_records)::int AS records`,
      );
      return rows[0];
    };
    let peakRss = 0;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, memoryOf(server.pid).rss);
      } catch {}
    }, 250);
    const dbCpu = () => (cluster ? clusterCpu(join(cluster.dir, 'data')) : NaN);
    let mark = { rx: cpuOf(server.pid), db: dbCpu() };
    const pending = [];
    const t0 = Date.now();
    try {
      // The slice's CPU is read as its line arrives; the tables' sizes right after.
      await runLoad({ url: server.url, mode: 'growth', total, slices, connections }, (line) => {
        const now = { rx: cpuOf(server.pid), db: dbCpu() };
        const rss = memoryOf(server.pid).rss;
        const slice = { ...line, rss, receiverUsPerReport: ((now.rx - mark.rx) / line.reports) * 1e6, dbUsPerReport: ((now.db - mark.db) / line.reports) * 1e6 };
        mark = now;
        pending.push(sizes().then((s) => Object.assign(slice, s)));
        log(`pg growth slice ${line.slice + 1}/${slices}: ${line.sent} reports, ${Math.round(line.reportsPerSec)} reports/s, receiver ${slice.receiverUsPerReport.toFixed(1)} + database ${slice.dbUsPerReport.toFixed(1)} µs CPU/report, p99 ${line.p99} ms, RSS ${(rss / 2 ** 20).toFixed(1)} MiB, non-2xx ${line.non2xx}`);
      });
    } finally {
      clearInterval(sampler);
    }
    const rows = await Promise.all(pending);
    const first = rows[0];
    const last = rows[rows.length - 1];
    return {
      total, maxRecords, seconds: (Date.now() - t0) / 1000, slices: rows, peakRss,
      endVsStart: last.reportsPerSec / first.reportsPerSec,
      cpuEndVsStart: (last.receiverUsPerReport + last.dbUsPerReport) / (first.receiverUsPerReport + first.dbUsPerReport),
    };
  } finally {
    await server?.stop(60_000);
    await db.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${name}`).catch(() => {});
    await admin.end();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await runPgGrowthBench({ total: Number(process.argv[2] ?? 200_000), log: (m) => console.error(m) });
  const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  console.log('| slice | reports so far | reports/s | receiver µs CPU/report | database µs CPU/report | p99 ms | RSS | live table | units table | archive table | live records |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of r.slices) {
    console.log(`| ${s.slice + 1} | ${s.sent} | ${Math.round(s.reportsPerSec)} | ${s.receiverUsPerReport.toFixed(1)} | ${s.dbUsPerReport.toFixed(1)} | ${s.p99} | ${mib(s.rss)} | ${mib(s.live)} | ${mib(s.units)} | ${mib(s.archive)} | ${s.records} |`);
  }
  console.log(`end ÷ start: throughput ${r.endVsStart.toFixed(2)}, CPU per report ${r.cpuEndVsStart.toFixed(2)}; peak RSS ${mib(r.peakRss)}; ${r.seconds.toFixed(0)} s`);
}
