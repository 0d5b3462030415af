// Differential check of the ingest path against another checkout (say, the commit before an
// optimization): the same requests through both trees' parseBody → normalize → noise filter →
// state.ingest, with one fake clock; every normalized batch, filter verdict, evicted record and the
// final snapshot must serialize to the same JSON, key order included (it is what the files hold).
//   git worktree add /tmp/base HEAD   # or any copy of the sources
//   node bench/check-equivalence.mjs /tmp/base [REQUESTS=30000]    (CHECK_AFTER=dir: compare with that tree, not this one)
//   CHECK_BATCH_KEY_ORDER=ignore: normalized batches compared with their keys sorted (for a change that
//   reorders a violation's keys on purpose; records, evictions and snapshots stay byte for byte).
import { createGenerator, UA } from './bodies.mjs';
import { loadSource } from './source.mjs';

const base = process.argv[2];
if (!base) throw new Error('usage: node bench/check-equivalence.mjs BASE_CHECKOUT [REQUESTS]');
const REQUESTS = Number(process.argv[3] ?? 30_000);

async function pipeline(root) {
  const mod = await loadSource(root);
  const { parseBody } = await mod('core/parse.js');
  const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
  const { createNoiseFilter } = await mod('core/filter.js');
  const { createState, emptyData } = await mod('core/state.js');
  const filter = createNoiseFilter();
  // A small live window and a low group cap, so eviction, freezing and the overflow group all run.
  const state = createState(emptyData(), { maxRecords: 2_000, mergeWindowMs: 10_000, groupCapPerMinute: 30 });
  return (r, meta) => {
    let batch;
    try {
      const body = parseBody(r.body, r.type);
      batch = r.path.endsWith('/sdk') ? normalizeSdk(body, meta) : normalizeNative(body, meta);
    } catch (e) {
      return { error: `${e.status} ${e.message}` };
    }
    const verdicts = batch.violations.map((v) => filter(v) ?? null);
    const kept = batch.violations.filter((_, i) => verdicts[i] === null);
    const normalized = process.env.CHECK_BATCH_KEY_ORDER === 'ignore' ? sortedJson(batch) : JSON.stringify(batch);
    // Since issue 15 ingest returns { evicted, stored }: the evicted records are what the archive gets.
    const out = state.ingest({ ...batch, violations: kept }, {});
    const evicted = JSON.stringify(Array.isArray(out) ? out : out.evicted);
    return { normalized, verdicts: verdicts.join(), evicted, snapshot: () => JSON.stringify(state.snapshot()) };
  };
}

/** JSON with every object's keys sorted. */
function sortedJson(value) {
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

const [before, after] = [await pipeline(base), await pipeline(process.env.CHECK_AFTER)];
const mixed = createGenerator({ docs: 3000, hosts: 300, runId: 'eq-' });
const burst = createGenerator({ docs: 50_000, hosts: 2000, runId: 'eqg-' });
// Hostile and odd bodies too: errors must be the same errors.
const odd = [
  { path: '/csp/report', type: 'application/json', body: '{"csp-report":{"document-uri":"https://a.example/","violated-directive":"img-src","__proto__":{}}}' },
  { path: '/csp/report', type: 'application/json', body: '{"csp-report":{"document-uri":"https://a.example/","violated-directive":"img-src","\\u005f_proto__":1,"constructor":2}}' },
  { path: '/csp/report', type: 'application/json', body: `${'['.repeat(40)}${']'.repeat(40)}` },
  { path: '/csp/report', type: 'application/json', body: '{"a":"\\\\"}' },
  { path: '/csp/report', type: 'application/json', body: '{"csp-report":{"document-uri":"HTTPS://A.example:443/x","blocked-uri":"HTTPS://CDN.example:0443","violated-directive":"img-src"}}' },
  { path: '/csp/report', type: 'application/json', body: '{"csp-report":{"document-uri":"https://a.example/","blocked-uri":"https://xn--nxasmq6b.example/","violated-directive":"img-src"}}' },
  { path: '/csp/report', type: 'application/json', body: '{"csp-report":{"document-uri":"https://a.example/","blocked-uri":"wss://a.example/","violated-directive":"connect-src"}}' },
];
let n = 0;
const t0 = 1_795_300_000_000;
for (let i = 0; i < REQUESTS; i++) {
  const k = i % 50;
  const r = k < 7 ? odd[k] : k < 10 ? { path: '/csp/report', type: 'application/reports+json', body: JSON.stringify(Array.from({ length: 100 }, (_, j) => burst.reportToItem(i * 100 + j))) } : mixed.mixed(i);
  // Arrivals 40 ms apart with jitter: merge windows, the 10-minute horizon and minutes all pass.
  const meta = { receivedAt: t0 + i * 40 + ((i * 7919) % 97), userAgent: i % 3 ? UA : `UA ${i % 17}`, clientIp: `203.0.113.${i % 5}` };
  const a = before(r, meta);
  const b = after(r, meta);
  for (const key of ['error', 'normalized', 'verdicts', 'evicted']) {
    if (a[key] !== b[key]) {
      console.error(`request ${i} (${r.path} ${r.type}): ${key} differs\n before: ${String(a[key]).slice(0, 2000)}\n after:  ${String(b[key]).slice(0, 2000)}`);
      process.exit(1);
    }
  }
  if (a.snapshot && i % 5000 === 4999 && a.snapshot() !== b.snapshot()) {
    console.error(`request ${i}: the state's snapshot differs`);
    process.exit(1);
  }
  n++;
}
const last = mixed.mixed(REQUESTS);
const meta = { receivedAt: t0 + REQUESTS * 40, userAgent: UA, clientIp: '203.0.113.9' };
const [a, b] = [before(last, meta), after(last, meta)];
if (a.snapshot() !== b.snapshot()) {
  console.error('final snapshot differs');
  process.exit(1);
}
console.log(`${n + 1} requests: identical batches, filter verdicts, evictions and snapshots (${(a.snapshot().length / 2 ** 20).toFixed(1)} MiB)`);
