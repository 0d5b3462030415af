// Where a request's server CPU goes, stage by stage: copies of this build's receiver whose report
// routes answer 204 after a stage instead of storing, measured under the mixed load of `npm run
// bench` next to the durable floor and the whole receiver, alternating, medians of rounds. The
// difference between two rows is what the later stage costs, its garbage collection included.
// Build first (`npx rollup -c --silent`).
//   node bench/stages.mjs [ROUNDS=3] [SECONDS=5]
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, runLoad, startJournalReceiver, startProcess } from './lib.mjs';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 5);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'packages/receiver/dist');

// The report routes' bodies in the built bundle, and what each stage keeps of them.
const ROUTE = (kind) => `        const body = parseBody(String(ctx.request.body ?? ''), ctx.get('content-type'));
        await store(ctx, normalize${kind}(body, meta(ctx)));`;
// What a cut route keeps: the report read into the schema as the shipped route does, then more.
const read = (kind) => [
  `const body = parseBody(String(ctx.request.body ?? ''), ctx.get('content-type'));`,
  `const batch = normalize${kind}(body, meta(ctx));`,
  'scrubBatch(batch, deps.scrub);',
  'batch.violations = batch.violations.filter((v) => !deps.filter(v));',
];
const answer = (lines) => [...lines, 'ctx.status = 204;'].map((l) => `        ${l}`).join('\n');
const STAGES = [
  { name: 'http', label: "csp-lens's HTTP layer: its middleware (errors, CORS, rate limit, body budget), the router, koa-body reading the body; 204", cut: () => answer([]) },
  { name: 'normalize', label: '+ parseBody, normalize, scrub, noise filter; 204', cut: (kind) => answer(read(kind)) },
  { name: 'line', label: '+ the journal line built (entryBody), not written; 204', cut: (kind) => answer([...read(kind), 'entryBody(batch);']) },
];

/** A copy of the built receiver with the report routes cut after `stage`; returns its dist folder. */
function cutBuild(stage) {
  const root = mkdtempSync(join(tmpdir(), `csp-lens-stage-${stage.name}-`));
  const dist = join(root, 'packages/receiver/dist');
  cpSync(DIST, dist, { recursive: true });
  // The copy resolves its dependencies (koa, lowdb, …) from this checkout.
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  const file = join(dist, 'shared-config.js');
  let src = readFileSync(file, 'utf8');
  for (const kind of ['Native', 'Sdk']) {
    const route = ROUTE(kind);
    if (!src.includes(route)) throw new Error(`bench/stages.mjs: the ${kind} report route is not where it was in ${file}; update ROUTE`);
    src = src.replace(route, stage.cut(kind));
  }
  for (const name of ['scrubBatch', 'entryBody']) {
    if (!new RegExp(`function ${name}\\(`).test(src)) throw new Error(`bench/stages.mjs: ${name} is not in ${file}`);
  }
  writeFileSync(file, src);
  return { root, dist };
}

const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

const builds = STAGES.map((s) => ({ ...s, ...cutBuild(s) }));
const servers = [
  { name: 'floor', label: 'durable floor (Koa + koa-body + JSON.parse + group-commit fdatasync)', start: (db) => startProcess([join(ROOT, 'bench/servers/durable-floor.mjs'), db]) },
  ...builds.map((b) => ({ name: b.name, label: b.label, start: (db) => startJournalReceiver(db, { dist: b.dist }) })),
  { name: 'all', label: '+ the store: journal append + fdatasync, merge and grouping, live-window bounds, archive (the shipped receiver)', start: (db) => startJournalReceiver(db) },
];
const rows = Object.fromEntries(servers.map((s) => [s.name, []]));
try {
  for (let r = 0; r < rounds; r++) {
    for (const s of servers) {
      const dir = mkdtempSync(join(tmpdir(), `csp-lens-stages-${s.name}-`));
      const server = await s.start(join(dir, 'db.json'));
      try {
        const cpu0 = cpuOf(server.pid);
        const [res] = await runLoad({ url: server.url, mode: 'mixed', duration: seconds, connections: 32, runId: `st${r}${s.name}-` });
        rows[s.name].push({ rps: res.rps, us: ((cpuOf(server.pid) - cpu0) / res.requests) * 1e6, bad: res.non2xx + res.errors });
      } finally {
        await server.stop(60_000);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    console.error(`round ${r + 1}: ${servers.map((s) => `${s.name} ${Math.round(rows[s.name][r].us)} µs`).join(', ')}`);
  }
} finally {
  for (const b of builds) rmSync(b.root, { recursive: true, force: true });
}
console.log(`| stops after | requests/s | server CPU µs/request | this stage, µs/request |\n|---|---:|---:|---:|`);
let prev;
for (const s of servers) {
  const us = median(rows[s.name].map((x) => x.us));
  const bad = rows[s.name].reduce((a, x) => a + x.bad, 0);
  const step = prev === undefined || s.name === 'http' ? '' : `+${Math.round(us - prev)}`;
  console.log(`| ${s.label}${bad ? ` (${bad} non-2xx!)` : ''} | ${Math.round(median(rows[s.name].map((x) => x.rps))).toLocaleString('en')} | ${Math.round(us)} | ${step} |`);
  if (s.name !== 'floor') prev = us;
}
