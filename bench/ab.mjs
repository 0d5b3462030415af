// An in-process A/B of the ingest path between two checkouts, robust to a busy machine: both
// builds run in one process, over the same requests, in alternating slices of SLICE requests, so
// whatever else the machine does falls on both alike. Prints each stage's µs/request and the ratio.
//   node bench/ab.mjs OTHER_CHECKOUT [REQUESTS=20000] [ROUNDS=3] [SLICE=250]
import { createGenerator } from './bodies.mjs';
import { loadSource } from './source.mjs';

const [other, requestsArg, roundsArg, sliceArg] = process.argv.slice(2);
if (!other) throw new Error('usage: node bench/ab.mjs OTHER_CHECKOUT [REQUESTS] [ROUNDS] [SLICE]');
const REQUESTS = Number(requestsArg ?? 20_000);
const ROUNDS = Number(roundsArg ?? 3);
const SLICE = Number(sliceArg ?? 250);

async function side(name, root) {
  const mod = await loadSource(root);
  const { parseBody } = await mod('core/parse.js');
  const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
  const { createNoiseFilter } = await mod('core/filter.js');
  const { createState, emptyData } = await mod('core/state.js');
  const { entryBody, journalPolicies } = await mod('store/file/journal.js');
  const filter = createNoiseFilter();
  let state, journal;
  const reset = () => {
    state = createState(emptyData(), { maxRecords: 10_000, mergeWindowMs: 10_000, groupCapPerMinute: 100 });
    journal = journalPolicies();
  };
  const t = { parse: 0n, normalize: 0n, filter: 0n, journal: 0n, ingest: 0n };
  // CPU time (user + system, every thread: GC helpers included) per slice: steadier than wall time
  // on a machine whose other work takes the core away at random.
  const cpu = { us: 0 };
  const now = process.hrtime.bigint;
  /** Requests [from, to) of `requests` through this build. */
  function run(requests, from, to) {
    const c0 = process.cpuUsage();
    for (let i = from; i < to; i++) {
      const r = requests[i];
      let a = now();
      const body = parseBody(r.body, r.type);
      let b = now();
      t.parse += b - a;
      const meta = { receivedAt: r.at, userAgent: r.ua, clientIp: r.ip };
      const batch = r.path.endsWith('/sdk') ? normalizeSdk(body, meta) : normalizeNative(body, meta);
      a = now();
      t.normalize += a - b;
      const filtered = {};
      batch.violations = batch.violations.filter((v) => !filter(v));
      b = now();
      t.filter += b - a;
      entryBody(batch, filtered, journal);
      a = now();
      t.journal += a - b;
      state.ingest(batch, filtered);
      b = now();
      t.ingest += b - a;
    }
    const c = process.cpuUsage(c0);
    cpu.us += c.user + c.system;
  }
  return { name, t, cpu, run, reset };
}

const g = createGenerator({ docs: 5000, runId: 'ab-' });
const UAS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36', 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0'];
const t0 = Date.now();
const requests = Array.from({ length: REQUESTS }, (_, i) => ({ ...g.mixed(i), at: t0 + i, ua: UAS[i % 2], ip: `10.0.${(i >> 8) & 255}.${i & 255}` }));
const sides = [await side('other', other), await side('this', undefined)];
for (let round = 0; round < ROUNDS; round++) {
  for (const s of sides) {
    s.reset();
    for (const k of Object.keys(s.t)) s.t[k] = 0n;
    s.cpu.us = 0;
  }
  for (let from = 0; from < REQUESTS; from += SLICE) {
    // Which side goes first alternates too: neither always gets the warmer cache.
    const order = (from / SLICE) % 2 ? sides : [...sides].reverse();
    for (const s of order) s.run(requests, from, Math.min(REQUESTS, from + SLICE));
  }
  const us = (s, k) => Number(s.t[k]) / 1e3 / REQUESTS;
  const total = (s) => Object.keys(s.t).reduce((a, k) => a + us(s, k), 0);
  const cpuOf = (s) => s.cpu.us / REQUESTS;
  const line = (s) => `${s.name} ${cpuOf(s).toFixed(1)} µs CPU/request, ${total(s).toFixed(1)} µs wall (${Object.keys(s.t).map((k) => `${k} ${us(s, k).toFixed(1)}`).join(', ')})`;
  console.log(`round ${round + 1}: ${line(sides[0])}; ${line(sides[1])}; this ÷ other: CPU ${(cpuOf(sides[1]) / cpuOf(sides[0])).toFixed(3)}, wall ${(total(sides[1]) / total(sides[0])).toFixed(3)}, ingest wall ${(us(sides[1], 'ingest') / us(sides[0], 'ingest')).toFixed(3)}`);
}
