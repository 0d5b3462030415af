// `npm run bench`: builds, then measures ingest throughput against two baselines, growth to 1M
// reports, the SDK's cost in real Chromium and the bundle sizes; prints a table and rewrites
// BENCHMARKS.md. Every server runs in its own process, the load generator in another.
//   BENCH_ROUNDS=3 BENCH_DURATION=8 BENCH_GROWTH=1000000 BENCH_CONNECTIONS=32 BENCH_PG_GROWTH=200000 BENCH_PG_READS=1000000 npm run bench
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT, median, memoryOf, runLoad, sizeOf, startJournalReceiver, startProcess, startReceiver } from './lib.mjs';
import { runSdkBench } from './sdk.mjs';

const env = (k, d) => (process.env[k] ? Number(process.env[k]) : d);
const ROUNDS = env('BENCH_ROUNDS', 3);
const DURATION = env('BENCH_DURATION', 8);
const CONNECTIONS = env('BENCH_CONNECTIONS', 32);
const GROWTH = env('BENCH_GROWTH', 1_000_000);
const GROWTH_SLICES = 10;
const MAX_RECORDS = 10_000;
const SDK_VIOLATIONS = 10_000;
const PG_READS = env('BENCH_PG_READS', 1_000_000);
const PG_GROWTH = env('BENCH_PG_GROWTH', 200_000);

const log = (...a) => console.error('bench:', ...a);
const fmt = (n, d = 0) => (n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const mib = (b) => `${fmt(b / 2 ** 20, 1)} MiB`;

function machine() {
  const c = cpus();
  let chromium = '';
  try {
    chromium = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim();
  } catch {}
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {}
  return { cpu: `${c.length} × ${c[0]?.model}`, memory: `${mib(totalmem())} (${mib(freemem())} free)`, os: `${platform()} ${release()}`, node: process.version, chromium, commit };
}

// BENCH_BASELINE=DIR: also measure the receiver built in another checkout (DIR/packages/receiver/dist),
// say the commit before an optimization, journal on, in the same rounds ("before" below).
const BASELINE = process.env.BENCH_BASELINE;

// (a) Throughput: one server at a time, a fresh store each, the same mixed load for DURATION s.
const SERVERS = {
  koa: { label: 'bare Koa, 204 without parsing (ceiling)', start: () => startProcess(['bench/servers/koa-bare.mjs']) },
  floor: { label: 'durable floor: Koa + koa-body + JSON.parse + group-commit fdatasync of the raw body, nothing else', start: (db) => startProcess(['bench/servers/durable-floor.mjs', db]) },
  naive: { label: 'naive lowdb: push + write per request', start: (db) => startProcess(['bench/servers/naive-lowdb.mjs', db]) },
  rewrite: { label: 'csp-lens serve --journal false: whole-file commits', start: (db) => startReceiver(db, { maxRecords: MAX_RECORDS, extra: ['--journal', 'false'] }) },
  ...(BASELINE
    ? { baseline: { label: `csp-lens, journal commits, before (${BASELINE_NAME()})`, start: (db) => startJournalReceiver(db, { maxRecords: MAX_RECORDS, dist: join(BASELINE, 'packages/receiver/dist') }) } }
    : {}),
  journal: { label: 'csp-lens, journal commits (this tree)', start: (db) => startJournalReceiver(db, { maxRecords: MAX_RECORDS }) },
};

/** The baseline checkout's commit (it is another checkout: say the commit before a change, or a release). */
function BASELINE_NAME() {
  try {
    return `commit ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BASELINE, encoding: 'utf8' }).trim()}`;
  } catch {
    return BASELINE;
  }
}

// CPU seconds a process has used, all threads, user + system (/proc/PID/stat, 100 ticks a second).
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

async function throughput() {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = {};
    for (const [name, s] of Object.entries(SERVERS)) {
      const dir = mkdtempSync(join(tmpdir(), `csp-lens-bench-${name}-`));
      const db = join(dir, 'db.json');
      const server = await s.start(db);
      try {
        const cpu = cpuOf(server.pid);
        const [res] = await runLoad({ url: server.url, mode: 'mixed', duration: DURATION, connections: CONNECTIONS, runId: `r${r}${name}-` });
        // The server's own CPU per request: what it costs, whatever the load generator could send.
        const cpuUs = ((cpuOf(server.pid) - cpu) / res.requests) * 1e6;
        round[name] = { ...res, cpuUs, peak: memoryOf(server.pid).peak, file: sizeOf(db) };
        log(`round ${r + 1}/${ROUNDS} ${name}: ${fmt(res.rps)} req/s, ${fmt(cpuUs)} µs CPU/request, p50 ${res.p50} ms, p99 ${res.p99} ms, non-2xx ${res.non2xx}, errors ${res.errors}`);
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    rounds.push(round);
  }
  const med = (name, k) => median(rounds.map((r) => r[name][k]));
  const ratio = (a, b) => median(rounds.map((r) => r[a].rps / r[b].rps));
  return {
    rounds,
    rows: Object.entries(SERVERS).map(([name, s]) => ({
      name,
      label: s.label,
      rps: med(name, 'rps'),
      reportsPerSec: med(name, 'reportsPerSec'),
      p50: med(name, 'p50'),
      p99: med(name, 'p99'),
      cpuUs: med(name, 'cpuUs'),
      non2xx: rounds.reduce((a, r) => a + r[name].non2xx + r[name].errors, 0),
    })),
    ratios: {
      journalKoa: ratio('journal', 'koa'),
      journalNaive: ratio('journal', 'naive'),
      rewriteKoa: ratio('rewrite', 'koa'),
      rewriteNaive: ratio('rewrite', 'naive'),
      journalRewrite: ratio('journal', 'rewrite'),
      floorKoa: ratio('floor', 'koa'),
      floorNaive: ratio('floor', 'naive'),
      journalFloor: ratio('journal', 'floor'),
      ...(BASELINE ? { journalBaseline: ratio('journal', 'baseline') } : {}),
    },
  };
}

// (b) Growth: GROWTH reports into one receiver, in slices; throughput, memory and files per slice.
async function growth(kind) {
  const dir = mkdtempSync(join(tmpdir(), `csp-lens-bench-growth-`));
  const db = join(dir, 'db.json');
  const server = kind === 'journal' ? await startJournalReceiver(db, { maxRecords: MAX_RECORDS }) : await startReceiver(db, { maxRecords: MAX_RECORDS });
  // The archive: the open segment and the sealed ones (db.archive.<n>.jsonl, 64 MiB each by default).
  const archives = () => readdirSync(dir).filter((n) => /^db\.archive\.(\d+\.)?jsonl$/.test(n));
  const files = () => ({
    live: sizeOf(db),
    journal: sizeOf(join(dir, 'db.journal.jsonl')),
    archive: archives().reduce((a, n) => a + sizeOf(join(dir, n)), 0),
    archiveFiles: archives().length,
  });
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, memoryOf(server.pid).rss);
    } catch {}
  }, 250);
  const slices = [];
  const t0 = Date.now();
  // The server's CPU per report in each slice: whether it slows down as the store fills, whatever
  // rate the load generator (building 100-report bodies) manages to send at.
  let cpuMark = cpuOf(server.pid);
  try {
    await runLoad({ url: server.url, mode: 'growth', total: GROWTH, slices: GROWTH_SLICES, connections: CONNECTIONS }, (line) => {
      const f = files();
      const m = memoryOf(server.pid);
      const cpu = cpuOf(server.pid);
      const cpuUsPerReport = ((cpu - cpuMark) / line.reports) * 1e6;
      const busy = (cpu - cpuMark) / line.seconds;
      cpuMark = cpu;
      slices.push({ ...line, ...f, rss: m.rss, cpuUsPerReport, busy });
      log(`growth ${kind} slice ${line.slice + 1}/${GROWTH_SLICES}: ${fmt(line.sent)} reports, ${fmt(line.reportsPerSec)} reports/s, ${fmt(cpuUsPerReport, 1)} µs server CPU/report (${fmt(busy * 100)}% of a core), p99 ${line.p99} ms, RSS ${mib(m.rss)}, live ${mib(f.live)}, journal ${mib(f.journal)}, non-2xx ${line.non2xx}`);
    });
  } finally {
    clearInterval(sampler);
    const peak = memoryOf(server.pid).peak;
    peakRss = Math.max(peakRss, peak);
    await server.stop(60_000);
    var after = files();
    rmSync(dir, { recursive: true, force: true });
  }
  return { kind, slices, peakRss, seconds: (Date.now() - t0) / 1000, afterStop: after };
}

function bundles() {
  return ['packages/browser/dist/sdk.js', 'packages/browser/dist/index.mjs'].map((f) => {
    const buf = readFileSync(join(ROOT, f));
    return { file: f, raw: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
  });
}

async function postgres() {
  const file = join(ROOT, 'bench/postgres.mjs');
  if (!existsSync(file)) return undefined;
  try {
    const { runPostgresBench, describeSaturation } = await import(file);
    return typeof runPostgresBench === 'function' ? { ...(await runPostgresBench({ durationSec: DURATION, rounds: ROUNDS, connections: CONNECTIONS, log })), describeSaturation } : undefined;
  } catch (e) {
    return { error: e.message };
  }
}

// The growth benchmark on the PostgreSQL store, BENCH_PG_GROWTH reports (0: skipped).
async function pgGrowth() {
  if (!PG_GROWTH || !existsSync(join(ROOT, 'bench/pg-growth.mjs'))) return undefined;
  try {
    const { runPgGrowthBench } = await import(join(ROOT, 'bench/pg-growth.mjs'));
    return await runPgGrowthBench({ total: PG_GROWTH, connections: CONNECTIONS, maxRecords: MAX_RECORDS, log });
  } catch (e) {
    return { error: e.message };
  }
}

// The PostgreSQL read API over BENCH_PG_READS live records (0: skipped).
async function pgReads() {
  if (!PG_READS || !existsSync(join(ROOT, 'bench/pg-reads.mjs'))) return undefined;
  try {
    const { runPgReadsBench } = await import(join(ROOT, 'bench/pg-reads.mjs'));
    return await runPgReadsBench({ records: PG_READS, log });
  } catch (e) {
    return { error: e.message };
  }
}

const started = new Date();
const info = machine();
log('machine', info);
log(`throughput: ${ROUNDS} rounds × ${Object.keys(SERVERS).length} servers × ${DURATION} s, ${CONNECTIONS} connections`);
const tp = await throughput();
log(`growth: ${fmt(GROWTH)} reports`);
const grow = await growth('journal');
log('SDK in Chromium');
const sdk = await runSdkBench({ violations: SDK_VIOLATIONS, rounds: 3 }).catch((e) => ({ error: e.message }));
const sizes = bundles();
const pg = await postgres();
log(`PostgreSQL growth: ${fmt(PG_GROWTH)} reports`);
const pgGrow = await pgGrowth();
log(`PostgreSQL reads over ${fmt(PG_READS)} records`);
const reads = await pgReads();

// Table and BENCHMARKS.md.
const first = grow.slices[0];
const last = grow.slices[grow.slices.length - 1];
const out = [];
out.push('# Benchmarks', '');
out.push(`Generated by \`npm run bench\` (${started.toISOString()}, ${((Date.now() - started) / 60_000).toFixed(1)} min). Reproduce with:`, '');
out.push('```sh', `${BASELINE ? 'BENCH_BASELINE=/tmp/base ' : ''}BENCH_ROUNDS=${ROUNDS} BENCH_DURATION=${DURATION} BENCH_CONNECTIONS=${CONNECTIONS} BENCH_GROWTH=${GROWTH} BENCH_PG_GROWTH=${PG_GROWTH} BENCH_PG_READS=${PG_READS} npm run bench`, '```', '');
if (BASELINE) out.push(`where /tmp/base is another checkout (here ${BASELINE_NAME()}), built with \`npx rollup -c --silent\` there: "before" below.`, '');
out.push(`Machine: ${info.cpu}; ${info.memory}; ${info.os}; Node ${info.node}; ${info.chromium}; commit ${info.commit} plus the working tree.`);
out.push('The load generator (autocannon, its own process) shares these cores with the server under test, as it would on any 2-core box: ratios measured in the same run are the numbers to compare, not absolute rates.', '');

out.push('## Ingest throughput', '');
out.push(`Loopback, ${CONNECTIONS} keep-alive connections, ${DURATION} s per server per round, ${ROUNDS} rounds, medians. Every request is distinct: 60% report-uri (1 report), 20% report-to batches (10 reports), 20% SDK batches (1–6 events), built from the Chromium 156 fixtures with 5,000 documents on 40 sites and 200 third-party hosts (\`bench/bodies.mjs\`). Each server starts on an empty store; csp-lens keeps ${fmt(MAX_RECORDS)} live records (the default \`--max-records\`), acknowledging each request only after its commit is durable (fsync). CPU/request is the server process's own CPU time (user + system, all threads) over the requests it answered: unlike requests/s it does not depend on how fast the load generator, on the same two cores, can send.`, '');
out.push('| server | requests/s | reports/s | CPU µs/request | p50 ms | p99 ms | non-2xx + errors |', '|---|---:|---:|---:|---:|---:|---:|');
for (const r of tp.rows) out.push(`| ${r.label} | ${fmt(r.rps)} | ${fmt(r.reportsPerSec)} | ${fmt(r.cpuUs)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.non2xx} |`);
out.push('');
const t = (v, goal) => `${fmt(v, 3)} (target ${goal})`;
out.push('| ratio (median of per-round ratios) | value |', '|---|---:|');
out.push(`| csp-lens journal ÷ bare Koa (3÷1) | ${t(tp.ratios.journalKoa, '≥ 0.75')} |`);
out.push(`| csp-lens journal ÷ naive lowdb (3÷2) | ${t(tp.ratios.journalNaive, '≥ 50')} |`);
out.push(`| csp-lens whole-file ÷ bare Koa | ${fmt(tp.ratios.rewriteKoa, 3)} |`);
out.push(`| csp-lens whole-file ÷ naive lowdb | ${fmt(tp.ratios.rewriteNaive, 3)} |`);
out.push(`| journal ÷ whole-file | ${fmt(tp.ratios.journalRewrite, 2)} |`);
out.push(`| durable floor ÷ bare Koa (the best 3÷1 any durable receiver on this stack can reach here) | ${fmt(tp.ratios.floorKoa, 3)} |`);
out.push(`| durable floor ÷ naive lowdb (the best 3÷2) | ${fmt(tp.ratios.floorNaive, 1)} |`);
out.push(`| csp-lens journal ÷ durable floor | ${fmt(tp.ratios.journalFloor, 3)} |`);
if (BASELINE) out.push(`| this tree ÷ before (requests/s) | ${fmt(tp.ratios.journalBaseline, 2)} |`);
out.push('');
out.push('Per round (requests/s):', '');
out.push(`| round | ${Object.keys(SERVERS).join(' | ')} |`, `|---|${Object.keys(SERVERS).map(() => '---:').join('|')}|`);
tp.rounds.forEach((r, i) => out.push(`| ${i + 1} | ${Object.keys(SERVERS).map((k) => fmt(r[k].rps)).join(' | ')} |`));
out.push('');

out.push('## Growth', '');
out.push(`${fmt(GROWTH)} reports into one csp-lens (journal, \`--max-records ${MAX_RECORDS}\`), in ${GROWTH_SLICES} slices: 8 of every 10 requests are report-to batches of 100 (how Chromium ships a burst; it keeps 1M reports to ~12,500 requests), one is an SDK batch, one a report-uri report; 250,000 documents on 40 sites, 2,000 third-party hosts (so group creation hits the 100-per-minute cap and the overflow group). Took ${fmt(grow.seconds)} s.`, '');
out.push('| slice | reports so far | reports/s | server CPU µs/report | server busy | p50 ms | p99 ms | RSS | live file | journal | archive |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const s of grow.slices) out.push(`| ${s.slice + 1} | ${fmt(s.sent)} | ${fmt(s.reportsPerSec)} | ${fmt(s.cpuUsPerReport, 1)} | ${fmt(s.busy * 100)}% | ${fmt(s.p50)} | ${fmt(s.p99)} | ${mib(s.rss)} | ${mib(s.live)} | ${mib(s.journal)} | ${mib(s.archive)} |`);
out.push('');
out.push(`End ÷ start throughput: **${fmt(last.reportsPerSec / first.reportsPerSec, 2)}** (target ≥ 0.8); server CPU per report, end ÷ start: **${fmt(last.cpuUsPerReport / first.cpuUsPerReport, 2)}** (1 = no slowdown; it does not depend on how fast the load generator sends, which the busy column shows when the server is below 100%). Peak RSS of the receiver: **${mib(grow.peakRss)}**. Live file after a clean stop: **${mib(grow.afterStop.live)}** (journal ${mib(grow.afterStop.journal)}); it holds the newest ${fmt(MAX_RECORDS)} records plus groups and policies, bounded by \`--max-records\` and the group cap, not by the ${fmt(GROWTH)} ingested; everything older is in the archive (${mib(grow.afterStop.archive)} in ${grow.afterStop.archiveFiles} files: sealed 64 MiB segments and the open one; \`--archive-keep\` would bound it too). Non-2xx: ${grow.slices.reduce((a, s) => a + s.non2xx + s.errors, 0)}.`, '');

out.push('## SDK cost in Chromium', '');
if (sdk.error) out.push(`Not measured: ${sdk.error}`, '');
else {
  out.push(`${info.chromium}, headless, flags \`--no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync\`, a fresh profile per load. A page with a header policy loads \`dist/sdk.js\`; its own code triggers ${fmt(SDK_VIOLATIONS)} violations (eval, a style attribute, \`new Function\` — identical repeats — and images with a new URL each), ${sdk.rounds} loads. The SDK's \`securitypolicyviolation\` listener is wrapped before the SDK loads, so each call is timed with \`performance.now()\` (the page is cross-origin isolated: ${sdk.isolated ? '5 µs' : '100 µs'} resolution); closing the page flushes the queue.`, '');
  out.push('| metric | value |', '|---|---:|');
  out.push(`| events dispatched / handled per load | ${sdk.events.join(', ')} / ${sdk.handled.join(', ')} |`);
  out.push(`| handler time per violation, median | ${sdk.medianUs < 5 ? '< 5 µs (below timer resolution)' : `${fmt(sdk.medianUs, 1)} µs`} (target ≤ 20 µs) |`);
  out.push(`| handler time per violation, mean | ${fmt(sdk.meanUs, 1)} µs |`);
  out.push(`| handler time per violation, p99 | ${fmt(sdk.p99Us, 1)} µs |`);
  out.push(`| requests sent per load | ${sdk.requests.join(', ')} |`);
  out.push(`| bytes sent per load | ${sdk.bytes.map((b) => fmt(b)).join(', ')} |`, '');
  out.push('Requests are bounded by the flush window and the 100-distinct-violation cap, not by the number of events: repeats only add to `count`.', '');
}

out.push('## Bundle', '');
out.push('| file | raw bytes | gzip -9 bytes |', '|---|---:|---:|');
for (const b of sizes) out.push(`| ${b.file} | ${fmt(b.raw)} | ${fmt(b.gzip)} |`);
out.push('');
if (pg?.file) {
  out.push('## PostgreSQL store', '');
  out.push(
    `\`runPostgresBench()\` (bench/postgres.mjs): the same mixed load, ${pg.durationSec} s, ${pg.connections} connections per receiver process, ${pg.external ? 'an external PostgreSQL (BENCH_PG_URL)' : 'one local PostgreSQL (fsync on) on the same 2 cores'}; medians of ${pg.rounds.length} rounds.`,
    '',
  );
  out.push('| receiver | requests/s | reports/s | receiver µs CPU/request | database µs CPU/report | lock waits (backends) | p99 ms | ÷ file store |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  const pgRow = (name, r, ratio) =>
    `| ${name} | ${fmt(r.rps)} | ${fmt(r.reportsPerSec)} | ${fmt(r.cpuUs)} | ${r.dbCpuUsPerReport === undefined ? '–' : fmt(r.dbCpuUsPerReport)} | ${r.lockWaiting === undefined ? '–' : r.lockWaiting.toFixed(2)} | ${r.p99} | ${ratio === undefined ? '1' : ratio.toFixed(2)} |`;
  out.push(pgRow('file store, 1 process', pg.file));
  for (const n of pg.processes) out.push(pgRow(`PostgreSQL, ${n} process${n > 1 ? 'es, one database' : ''}`, pg[`pg${n}`], pg.ratios[`postgres${n}`]));
  out.push('', `N processes ÷ one: ${pg.processes.filter((n) => n > 1).map((n) => `${n}: ${pg.ratios[`scale${n}`].toFixed(2)}`).join(', ')} (on 2 cores shared with PostgreSQL and the load generator, more processes get no more cores: receiver CPU per request is the number to watch).`, '');
  if (pg.model) out.push(`Where the database saturates (the model, from these runs): ${pg.describeSaturation(pg.model)}`, '');
}
if (pgGrow?.slices) {
  out.push('## Growth on PostgreSQL', '');
  out.push(`\`runPgGrowthBench()\` (bench/pg-growth.mjs): the growth load above, ${fmt(pgGrow.total)} reports into one receiver on a local PostgreSQL (fsync on), \`--max-records ${fmt(pgGrow.maxRecords)}\`. Took ${fmt(pgGrow.seconds)} s.`, '');
  out.push('| slice | reports so far | reports/s | receiver µs CPU/report | database µs CPU/report | p99 ms | RSS | live table | units table | archive table | live records |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of pgGrow.slices) out.push(`| ${x.slice + 1} | ${fmt(x.sent)} | ${fmt(x.reportsPerSec)} | ${fmt(x.receiverUsPerReport, 1)} | ${fmt(x.dbUsPerReport, 1)} | ${fmt(x.p99)} | ${mib(x.rss)} | ${mib(x.live)} | ${mib(x.units)} | ${mib(x.archive)} | ${fmt(x.records)} |`);
  out.push('', `End ÷ start throughput: **${fmt(pgGrow.endVsStart, 2)}** (target ≥ 0.8); CPU per report (receiver + database), end ÷ start: **${fmt(pgGrow.cpuEndVsStart, 2)}**. Peak RSS of the receiver: **${mib(pgGrow.peakRss)}**.`, '');
} else if (pgGrow?.error) out.push('## Growth on PostgreSQL', '', `Not measured: ${pgGrow.error}`, '');
if (reads?.results) {
  out.push('## PostgreSQL reads at scale', '');
  out.push(
    `\`runPgReadsBench()\` (bench/pg-reads.mjs): ${fmt(reads.records)} live records in ${fmt(reads.groups)} groups over 7 days (table ${mib(reads.tableBytes)}), one receiver process, one request at a time, up to 200 requests per query (fewer where 60 s ran out).`,
    '',
  );
  out.push('| query | p50 ms | p99 ms | response bytes |', '|---|---:|---:|---:|');
  for (const x of reads.results) out.push(`| ${x.name} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${fmt(x.bytes)} |`);
  out.push('', `Receiver RSS: ${mib(reads.memory.before.rss)} before the reads, ${mib(reads.memory.after.rss)} after (peak ${mib(reads.memory.after.peak)}).`, '');
} else if (reads?.error) out.push('## PostgreSQL reads at scale', '', `Not measured: ${reads.error}`, '');
out.push('## Where the time went (profiles)', '');
out.push(readFileSync(join(ROOT, 'bench/notes.md'), 'utf8').trim(), '');

const md = out.join('\n');
writeFileSync(join(ROOT, 'BENCHMARKS.md'), md);
console.log(md);
