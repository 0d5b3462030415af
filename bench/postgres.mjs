#!/usr/bin/env node
// The PostgreSQL store under load: one receiver process, then two sharing one database (as behind a
// load balancer), each as a ratio to the file store measured in the same run on the same machine.
// Bodies and load come from bodies.mjs/load.mjs (real Chromium payloads, every request distinct).
//   node bench/postgres.mjs [--duration 8]      (after npm run build)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startCluster } from '../scripts/pg-cluster.mjs';
import { ROOT, runLoad, startReceiver } from './lib.mjs';

async function createDatabase(cluster, name) {
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return cluster.url.replace(/\/postgres$/, `/${name}`);
}

// SIGTERM and wait for the exit here: lib.mjs's `stop()` waits on an 'exit' listener that its
// startProcess removes once the process is ready, so it never resolves.
const stop = (r) =>
  new Promise((resolve) => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
    r.child.once('exit', () => resolve());
    r.child.kill('SIGTERM');
  });

const sum = (runs, k) => runs.reduce((n, r) => n + r[k], 0);
const pick = (runs) => ({
  rps: sum(runs, 'rps'),
  reportsPerSec: sum(runs, 'reportsPerSec'),
  p50: Math.max(...runs.map((r) => r.p50)),
  p99: Math.max(...runs.map((r) => r.p99)),
  non2xx: sum(runs, 'non2xx'),
  errors: sum(runs, 'errors'),
});

/** Runs file, postgres ×1 and postgres ×2 for `durationSec` each; returns the numbers and ratios. */
export async function runPostgresBench({ durationSec = 8, connections = 32, log = () => {} } = {}) {
  if (!existsSync(join(ROOT, 'packages/receiver/dist/cli.js'))) throw new Error('bench/postgres.mjs: build first (npm run build)');
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-bench-pg-'));
  // PostgreSQL's defaults (fsync, synchronous_commit on): a commit costs what it costs in production,
  // as the file store's fsync does.
  const cluster = await startCluster({ durable: true });
  const running = [];
  const start = async (db, extra) => {
    const r = await startReceiver(db, { extra });
    running.push(r);
    return r;
  };
  const load = (url, o = {}) => runLoad({ url, mode: 'mixed', duration: durationSec, connections, ...o });
  try {
    log('file store, one process…');
    const file = await start(join(dir, 'file.json'));
    const fileRuns = await load(file.url, { runId: 'f' });
    await stop(file);

    log('postgres store, one process…');
    const one = await start(join(dir, 'unused1.json'), ['--store', 'postgres', '--database-url', await createDatabase(cluster, 'bench_one')]);
    const oneRuns = await load(one.url, { runId: 'o' });
    await stop(one);

    // Two instances, half the connections each; the same documents reach both, so SDK batches and
    // native reports of one page view land on different instances and merge in the database.
    log('postgres store, two processes on one database…');
    const url2 = await createDatabase(cluster, 'bench_two');
    const pair = await Promise.all([0, 1].map((i) => start(join(dir, `unused2${i}.json`), ['--store', 'postgres', '--database-url', url2])));
    const half = Math.max(1, connections >> 1);
    const twoRuns = (await Promise.all(pair.map((r, i) => load(r.url, { runId: 't', connections: half, start: i * 7 })))).flat();
    await Promise.all(pair.map(stop));

    const result = { durationSec, connections, file: pick(fileRuns), postgres1: pick(oneRuns), postgres2: pick(twoRuns) };
    return {
      ...result,
      ratios: {
        postgres1: result.postgres1.reportsPerSec / result.file.reportsPerSec,
        postgres2: result.postgres2.reportsPerSec / result.file.reportsPerSec,
        twoVsOne: result.postgres2.reportsPerSec / result.postgres1.reportsPerSec,
      },
    };
  } finally {
    await Promise.all(running.map(stop));
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--duration');
  const r = await runPostgresBench({ durationSec: i > 0 ? Number(process.argv[i + 1]) : 8, log: (m) => console.error(m) });
  const row = (name, x) => `${name.padEnd(22)} ${x.rps.toFixed(0).padStart(7)} req/s ${x.reportsPerSec.toFixed(0).padStart(8)} reports/s  p50 ${x.p50} ms  p99 ${x.p99} ms  non-2xx ${x.non2xx}`;
  console.log(row('file store', r.file));
  console.log(row('postgres, 1 process', r.postgres1));
  console.log(row('postgres, 2 processes', r.postgres2));
  console.log(`ratios (reports/s): postgres×1 / file = ${r.ratios.postgres1.toFixed(2)}, postgres×2 / file = ${r.ratios.postgres2.toFixed(2)}, ×2 / ×1 = ${r.ratios.twoVsOne.toFixed(2)}`);
}
