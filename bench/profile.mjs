// Where the receiver's CPU goes under the mixed load: `node --cpu-prof` on csp-lens (journal on,
// as bench/servers/csp-lens.mjs runs it), autocannon in its own process, then a summary of the
// profile: self time by function, inclusive time of the ingest steps, and coarse buckets.
//   npm run build && node bench/profile.mjs [SECONDS=8] [CONNECTIONS=32]
//   PROFILE_KEEP=1 keeps the .cpuprofile (open it in Chrome DevTools).
//   PROFILE_DIST=/other/checkout/packages/receiver/dist profiles that build instead.
//   PROFILE_PG=1 profiles `csp-lens serve --store postgres` on a throwaway local cluster (fsync on).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../scripts/pg-cluster.mjs';
import { runLoad, startJournalReceiver, startReceiver } from './lib.mjs';

const seconds = Number(process.argv[2] ?? 8);
const connections = Number(process.argv[3] ?? 32);
const dir = mkdtempSync(join(tmpdir(), 'csp-lens-profile-'));
const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
const cluster = process.env.PROFILE_PG ? await startCluster({ durable: true }) : undefined;
const server = cluster
  ? await startReceiver(join(dir, 'db.json'), { nodeArgs, extra: ['--store', 'postgres', '--database-url', cluster.url] })
  : await startJournalReceiver(join(dir, 'db.json'), { nodeArgs, dist: process.env.PROFILE_DIST });
let res;
try {
  [res] = await runLoad({ url: server.url, mode: 'mixed', duration: seconds, connections, runId: 'prof-' });
} finally {
  await server.stop(60_000);
  await cluster?.stop();
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
const summary = summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')));
console.log(`load: ${Math.round(res.rps)} req/s, ${Math.round(res.reportsPerSec)} reports/s, p50 ${res.p50} ms, p99 ${res.p99} ms, non-2xx ${res.non2xx}`);
console.log(summary);
if (process.env.PROFILE_KEEP) console.log(`profile: ${join(dir, file)}`);
else rmSync(dir, { recursive: true, force: true });

/** Self and inclusive time per function of a .cpuprofile, as text. */
export function summarize(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const nameOf = (n) => {
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  const bySelf = new Map();
  const inclusive = new Map();
  for (const [id, t] of self) {
    const n = nodes.get(id);
    const name = nameOf(n);
    bySelf.set(name, (bySelf.get(name) ?? 0) + t);
    // Each function once per stack, so recursion is not counted twice.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = nodes.get(cur).callFrame.functionName || '(anonymous)';
      if (seen.has(fn)) continue;
      seen.add(fn);
      inclusive.set(fn, (inclusive.get(fn) ?? 0) + t);
    }
  }
  const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  const idle = bySelf.get('(idle)') ?? 0;
  const lines = [`total ${(total / 1e6).toFixed(2)} s sampled, idle ${pct(idle)}, busy ${pct(total - idle)}`, '', 'self time, top 30:'];
  for (const [name, t] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, 30)) lines.push(`  ${pct(t)}  ${name}`);
  lines.push('', 'inclusive (by function name):');
  const watch = [
    'parseBody', 'parseJson', 'maxDepth', 'normalizeNative', 'normalizeSdk', 'readReport', 'toViolation', 'categorize',
    'ingest', 'add', 'bucketKey', 'assignGroup', 'addToBucket', 'matchUnits', 'buildRecord', 'applyChange',
    'blockedOrigin', 'isCutToOrigin', 'blockedCompatible', 'fingerprint', 'anonymizeIp', 'append', 'appendJournal',
    'checkpoint', 'stringify', 'koaBody', 'parseBody', 'dispatch', 'handleRequest', '(garbage collector)',
    // PostgreSQL store
    'transaction', 'prepare', 'write', 'evict', 'keysOf', 'loadUnits', 'toGroup', 'query', 'parseRow', 'handleDataRow', 'parse',
  ];
  for (const fn of watch) if (inclusive.has(fn)) lines.push(`  ${pct(inclusive.get(fn))}  ${fn}`);
  return lines.join('\n');
}
