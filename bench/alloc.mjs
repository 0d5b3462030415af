// Allocation per request on the ingest path, counted by V8 itself (--trace-gc-nvp: bytes allocated,
// survived and promoted at each GC): unlike time, the same on a busy machine as on an idle one, so
// a change that allocates or retains less shows up even when timings are noise. The bench's mixed
// requests through parseBody → normalize → filter → journal line → state.ingest (10,000 live
// records), after a warm-up of the same length.
//   node bench/alloc.mjs [OTHER_CHECKOUT] [REQUESTS=20000]   (with a checkout: both, side by side)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeSync } from 'node:fs';

const [other, requestsArg] = process.argv.slice(2);
const REQUESTS = Number(requestsArg ?? 20_000);

if (process.env.ALLOC_CHILD) {
  const { createGenerator } = await import('./bodies.mjs');
  const { loadSource } = await import('./source.mjs');
  const mod = await loadSource(process.env.ALLOC_ROOT || undefined);
  const { parseBody } = await mod('core/parse.js');
  const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
  const { createNoiseFilter } = await mod('core/filter.js');
  const { createState, emptyData } = await mod('core/state.js');
  const { entryBody } = await mod('store/file/journal.js');
  const g = createGenerator({ docs: 5000, runId: 'alloc-' });
  const t0 = 1_700_000_000_000;
  const requests = Array.from({ length: 2 * REQUESTS }, (_, i) => ({ ...g.mixed(i), at: t0 + i }));
  const filter = createNoiseFilter();
  const state = createState(emptyData(), { maxRecords: 10_000, mergeWindowMs: 10_000, groupCapPerMinute: 100 });
  const run = (from, to) => {
    for (let i = from; i < to; i++) {
      const r = requests[i];
      const body = parseBody(r.body, r.type);
      const meta = { receivedAt: r.at, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36', clientIp: `10.0.${(i >> 8) & 255}.${i & 255}` };
      const batch = r.path.endsWith('/sdk') ? normalizeSdk(body, meta) : normalizeNative(body, meta);
      batch.violations = batch.violations.filter((v) => !filter(v));
      entryBody(batch, {});
      state.ingest(batch, {});
    }
  };
  run(0, REQUESTS);
  globalThis.gc();
  // ALLOC_SITES=N: where the bytes are allocated, garbage included (V8's sampling heap profiler,
  // keeping the samples of collected objects), the top N functions.
  const sites = Number(process.env.ALLOC_SITES ?? 0);
  let session;
  if (sites) {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  writeSync(1, 'ALLOC-START\n');
  run(REQUESTS, 2 * REQUESTS);
  writeSync(1, 'ALLOC-END\n');
  if (session) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const bySite = new Map();
    let total = 0;
    const name = (f) => `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    // A built-in (Set, exec, JSON.stringify…) is named with the function that called it.
    const walk = (n, parent) => {
      const f = n.callFrame;
      const k = f.url ? name(f) : `${f.functionName} ← ${parent ? name(parent) : '?'}`;
      bySite.set(k, (bySite.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
      for (const c of n.children) walk(c, f.url ? f : parent);
    };
    walk(profile.head);
    for (const [k, v] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, sites)) {
      writeSync(2, `${((v / REQUESTS) / 1024).toFixed(2).padStart(6)} KiB/request ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}\n`);
    }
  }
  process.exit(0);
}

function measure(root) {
  const out = spawnSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', fileURLToPath(import.meta.url), '', String(REQUESTS)], {
    env: { ...process.env, ALLOC_CHILD: '1', ALLOC_ROOT: root ?? '' },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const text = out.stdout + out.stderr;
  const from = text.indexOf('ALLOC-START');
  const to = text.indexOf('ALLOC-END');
  if (from < 0 || to < 0) throw new Error(`no measurement: ${text.slice(-2000)}`);
  const sum = { allocated: 0, survived: 0, promoted: 0, scavenges: 0, marks: 0, pause: 0 };
  // GC lines after the start mark: each names the bytes allocated since the previous GC.
  for (const line of text.slice(from, to).split('\n')) {
    const field = (k) => Number(new RegExp(`\\b${k}=([\\d.]+)`).exec(line)?.[1] ?? 0);
    if (!line.includes('gc=')) continue;
    sum.allocated += field('allocated');
    sum.survived += field('new_space_survived');
    sum.promoted += field('promoted');
    sum.pause += field('pause');
    if (/gc=s\b/.test(line)) sum.scavenges++;
    else sum.marks++;
  }
  return sum;
}

const rows = [['this tree', measure(undefined)], ...(other ? [[other, measure(other)]] : [])];
const kb = (b) => (b / REQUESTS / 1024).toFixed(1);
for (const [name, s] of rows) {
  console.log(`${name}: ${kb(s.allocated)} KiB allocated per request (between GCs), ${kb(s.survived)} KiB survived a scavenge, ${kb(s.promoted)} KiB promoted; ${s.scavenges} scavenges, ${s.marks} mark-compacts over ${REQUESTS} requests`);
}
