// Instructions per request of the ingest path, counted by valgrind (callgrind) instead of timed:
// on a shared, noisy machine a change of a few percent drowns in the noise of any clock, while the
// instruction count of the same work repeats within ~0.2%. The work is bench/micro.mjs's, in one
// process per count: the bench's mixed bodies through parseBody → normalize → scrub → noise filter
// → the journal line → state.ingest (a 2,000-record window, so evictions run too). Each stage is
// counted as the difference between runs that stop before and after it, so body generation and
// start-up cancel out; JIT compilation of a stage's code is spread over the requests.
// Instructions are not time (a cache miss costs more than an add), but for a change to the
// JavaScript of one stage they move together; time the end result with bench/quick.mjs.
//   node bench/instructions.mjs [REQUESTS=1500]                 this tree (needs valgrind)
//   INSTR_BASE=/other/checkout node bench/instructions.mjs     that checkout's sources too, and ratios
import { execFileSync, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const STAGES = ['bodies', 'read', 'line', 'ingest'];

if (process.argv[2] === '--work') {
  // The counted process: node bench/instructions.mjs --work <receiver src dir as JSON map> N STAGE
  const [files, n, stage] = [JSON.parse(process.argv[3]), Number(process.argv[4]), process.argv[5]];
  const mod = (p) => import(pathToFileURL(files[p]).href);
  const { createGenerator, UA } = await import('./bodies.mjs');
  const { parseBody } = await mod('core/parse.js');
  const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
  const { createNoiseFilter } = await mod('core/filter.js');
  const { createScrubber, scrubBatch } = await mod('core/scrub.js');
  const { createState, emptyData } = await mod('core/state.js');
  const { bump } = await mod('core/fields.js');
  const { entryBody, journalPolicies } = await mod('store/file/journal.js');
  const upTo = STAGES.indexOf(stage);
  const g = createGenerator({ docs: 5000, runId: 'instr-' });
  const filter = createNoiseFilter();
  const scrub = createScrubber();
  const state = createState(emptyData(), { maxRecords: 2000, mergeWindowMs: 10_000, groupCapPerMinute: 100 });
  const journal = journalPolicies();
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const r = g.mixed(i);
    kept += r.body.length;
    if (upTo < 1) continue;
    const meta = { receivedAt: 1_796_599_660_000 + i * 3, userAgent: UA, clientIp: '127.0.0.0' };
    const batch = scrubBatch(r.path.endsWith('/sdk') ? normalizeSdk(parseBody(r.body, r.type), meta) : normalizeNative(parseBody(r.body, r.type), meta), scrub);
    const filtered = {};
    const stored = { ...batch, violations: batch.violations.filter((v) => { const rule = filter(v); if (rule) bump(filtered, rule); return !rule; }) };
    if (upTo < 2) continue;
    const e = entryBody(stored, filtered);
    kept += (journal.head(i + 1, e) + e.body).length;
    if (upTo < 3) continue;
    state.ingest(stored, filtered);
  }
  if (kept < 0) console.log(kept);
  process.exit(0);
}

const { compileSource } = await import('./source.mjs');
const { ROOT } = await import('./lib.mjs');
const requests = Number(process.argv[2] ?? 1500);
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench/instructions.mjs needs valgrind (apt-get install valgrind)');
  process.exit(1);
}

const PATHS = ['core/parse.js', 'core/normalize.js', 'core/filter.js', 'core/scrub.js', 'core/state.js', 'core/fields.js', 'store/file/journal.js'];
function count(files, stage) {
  const run = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--single-threaded', new URL(import.meta.url).pathname, '--work', JSON.stringify(files), String(requests), stage],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const m = /Collected : (\d+)/.exec(run.stderr);
  if (run.status !== 0 || !m) throw new Error(`valgrind run failed (${stage}): ${run.stderr.slice(-2000)}`);
  return Number(m[1]);
}

const roots = [...(process.env.INSTR_BASE ? [['base', process.env.INSTR_BASE]] : []), ['this tree', ROOT]];
const rows = [];
for (const [name, root] of roots) {
  const { resolve } = compileSource(root);
  const files = Object.fromEntries(PATHS.map((p) => [p, resolve(p)]));
  const totals = STAGES.map((s) => count(files, s));
  const per = STAGES.slice(1).map((s, i) => (totals[i + 1] - totals[i]) / requests);
  rows.push({ name, per, total: per.reduce((a, b) => a + b, 0) });
  console.error(`${name}: ${totals.join(' ')}`);
}
const k = (x) => (x / 1000).toFixed(1);
console.log(`\nthousands of instructions per request (${requests} requests of the mixed load; stage = run to it − run before it)\n`);
console.log(`| | read (parse, normalize, scrub, filter) | journal line | ingest (merge, groups, window) | all |`);
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.per.map(k).join(' | ')} | ${k(r.total)} |`);
if (rows.length === 2) {
  const [a, b] = rows;
  console.log(`| this tree ÷ base | ${b.per.map((x, i) => (x / a.per[i]).toFixed(3)).join(' | ')} | ${(b.total / a.total).toFixed(3)} |`);
}
