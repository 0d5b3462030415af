// In-process microbenchmark of the ingest path, without HTTP or disk: the bench's mixed bodies
// (bench/bodies.mjs) through parseBody → normalizeNative/normalizeSdk → noise filter →
// state.ingest (10,000 live records, as the bench runs it) → the journal line file.ts writes.
// Loads the working tree's packages/*/src (bench/source.mjs), not dist/.
//   node [--expose-gc] bench/micro.mjs [REQUESTS=20000] [ROUNDS=5]   (--expose-gc: live heap after each round)
import { writeFileSync } from 'node:fs';
import { createGenerator, UA } from './bodies.mjs';
import { loadSource } from './source.mjs';

const REQUESTS = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 5);

// SOURCE_ROOT=DIR: another checkout (say the commit before a change), for a before/after.
const mod = await loadSource(process.env.SOURCE_ROOT || undefined);
const { parseBody } = await mod('core/parse.js');
const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
const { createNoiseFilter } = await mod('core/filter.js');
const { createState, emptyData } = await mod('core/state.js');
const { anonymizeIp } = await mod('http/ip.js');
const { bump } = await mod('core/fields.js');
const { entryBody, journalPolicies } = await mod('store/file/journal.js');

const g = createGenerator({ docs: 5000, runId: 'micro-' });
const requests = Array.from({ length: REQUESTS }, (_, i) => g.mixed(i));
const reports = requests.reduce((a, r) => a + r.reports, 0);
const filter = createNoiseFilter();

function round() {
  const state = createState(emptyData(), { maxRecords: 10_000, mergeWindowMs: 10_000, groupCapPerMinute: 100 });
  const t = { parse: 0n, normalize: 0n, filter: 0n, journal: 0n, ingest: 0n };
  let bytes = 0;
  let n = 0;
  const journal = journalPolicies(); // a journal file's policy definitions, one round long
  let e;
  const now = process.hrtime.bigint;
  const t0 = now();
  for (const r of requests) {
    let a = now();
    const body = parseBody(r.body, r.type);
    let b = now();
    t.parse += b - a;
    const meta = { receivedAt: Date.now(), userAgent: UA, clientIp: anonymizeIp('127.0.0.1', 'truncate') };
    const batch = r.path.endsWith('/sdk') ? normalizeSdk(body, meta) : normalizeNative(body, meta);
    a = now();
    t.normalize += a - b;
    const filtered = {};
    const kept = batch.violations.filter((v) => {
      const rule = filter(v);
      if (rule) bump(filtered, rule);
      return !rule;
    });
    const stored = { ...batch, violations: kept };
    b = now();
    t.filter += b - a;
    // What file.ts's append serializes for the journal, before ingest.
    const line = journal.head(++n, (e = entryBody(stored, filtered))) + e.body;
    bytes += line.length;
    a = now();
    t.journal += a - b;
    state.ingest(stored, filtered);
    t.ingest += now() - a;
  }
  const total = Number(now() - t0) / 1e3;
  globalThis.gc?.();
  const heap = process.memoryUsage().heapUsed;
  return { total, heap, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Number(v) / 1e3])), bytes, records: state.records.size, groups: Object.keys(state.data.groups).length };
}

// MICRO_PROFILE=file.cpuprofile: a CPU profile of the rounds alone (not the compile).
const profiler = process.env.MICRO_PROFILE ? new (await import('node:inspector/promises')).Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
const results = [];
for (let i = 0; i < ROUNDS; i++) {
  const r = round();
  results.push(r);
  const us = (k) => `${k} ${(r[k] / REQUESTS).toFixed(1)}`;
  console.log(
    `round ${i + 1}: ${(r.total / REQUESTS).toFixed(1)} µs/request (${(r.total / reports).toFixed(1)} µs/report) = ${['parse', 'normalize', 'filter', 'journal', 'ingest'].map(us).join(' + ')} µs/request; journal ${(r.bytes / REQUESTS).toFixed(0)} B/request; ${r.records} records, ${r.groups} groups${r.heap ? `, heap ${(r.heap / 2 ** 20).toFixed(0)} MiB` : ''}`,
  );
}
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(process.env.MICRO_PROFILE, JSON.stringify(profile));
}
const best = results.slice(1).sort((a, b) => a.total - b.total)[0] ?? results[0];
console.log(`best of rounds 2–${ROUNDS}: ${(best.total / REQUESTS).toFixed(1)} µs/request, ${Math.round((REQUESTS / best.total) * 1e6)} requests/s, ${Math.round((reports / best.total) * 1e6)} reports/s (one core, no HTTP, no disk)`);
