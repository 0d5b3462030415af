// A quick throughput comparison for iterating on the ingest path: bare Koa vs csp-lens (journal)
// [vs naive lowdb, vs Koa + koa-body reading the body (koabody), vs the durable floor (floor), vs the worker prototype (worker)], same load as `npm run bench`, alternating servers, ratios per round. No
// BENCHMARKS.md. Build first (`npx rollup -c --silent`).
//   node bench/quick.mjs [ROUNDS=3] [SECONDS=5] [servers=koa,journal]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, runLoad, startJournalReceiver, startProcess } from './lib.mjs';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 5);
const names = (process.argv[4] ?? 'koa,journal').split(',');
const START = {
  koa: () => startProcess(['bench/servers/koa-bare.mjs']),
  koabody: () => startProcess(['bench/servers/koa-body.mjs']),
  floor: (db) => startProcess(['bench/servers/durable-floor.mjs', db]),
  // Not shipped: the merge in a worker thread (bench/prototypes/worker-merge.mjs).
  worker: (db) => startProcess(['bench/prototypes/worker-merge.mjs', db], { ready: /receiving at (http:\/\/127\.0\.0\.1:\d+)\/csp\/report/ }),
  naive: (db) => startProcess(['bench/servers/naive-lowdb.mjs', db]),
  journal: (db) => startJournalReceiver(db, { maxRecords: 10_000 }),
  // QUICK_BASE=DIST: the same receiver from another build (say the commit before a change).
  base: (db) => startJournalReceiver(db, { maxRecords: 10_000, dist: process.env.QUICK_BASE }),
};
// CPU seconds a process has used (user + system, all threads): /proc/PID/stat, 100 ticks a second.
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
};
const all = [];
for (let r = 0; r < rounds; r++) {
  const row = {};
  for (const name of names) {
    const dir = mkdtempSync(join(tmpdir(), `csp-lens-quick-${name}-`));
    const server = await START[name](join(dir, 'db.json'));
    try {
      const cpu0 = cpuOf(server.pid);
      const [res] = await runLoad({ url: server.url, mode: 'mixed', duration: seconds, connections: Number(process.env.QUICK_CONNECTIONS ?? 32), runId: `q${r}${name}-` });
      // The server's CPU per request: steadier than requests/s on a shared, noisy machine.
      const cpu1 = cpuOf(server.pid);
      const us = (k) => ((cpu1[k] - cpu0[k]) / res.requests) * 1e6;
      row[name] = { ...res, cpuUs: us('user') + us('system'), userUs: us('user'), systemUs: us('system') };
    } finally {
      await server.stop(60_000);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  all.push(row);
  console.log(`round ${r + 1}: ${names.map((n) => `${n} ${Math.round(row[n].rps)} req/s, ${Math.round(row[n].cpuUs)} µs CPU/req (user ${Math.round(row[n].userUs)}, system ${Math.round(row[n].systemUs)}; p50 ${row[n].p50}, p99 ${row[n].p99}, non-2xx ${row[n].non2xx + row[n].errors})`).join(', ')}${row.koa && row.journal ? `; journal ÷ koa ${(row.journal.rps / row.koa.rps).toFixed(3)}` : ''}${row.naive && row.journal ? `; journal ÷ naive ${(row.journal.rps / row.naive.rps).toFixed(1)}` : ''}`);
}
for (const n of names) console.log(`${n}: median ${Math.round(median(all.map((r) => r[n].rps)))} req/s, ${Math.round(median(all.map((r) => r[n].cpuUs)))} µs of server CPU per request`);
if (all[0].koa && all[0].journal) console.log(`median journal ÷ koa: ${median(all.map((r) => r.journal.rps / r.koa.rps)).toFixed(3)}`);
if (all[0].naive && all[0].journal) console.log(`median journal ÷ naive: ${median(all.map((r) => r.journal.rps / r.naive.rps)).toFixed(1)}`);
