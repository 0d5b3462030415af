// Crash-replay check of the file store's journal: batches appended (group commits, checkpoints on a
// small journal size so resets happen mid-run) by WRITER's build (packages/receiver/dist); the files as they stand once the
// last append is acknowledged are copied (as a kill -9 would leave them) and opened by this tree's
// build, whose replay must rebuild the same live file and archive as the writer's clean close.
//   npx rollup -c --silent && node bench/check-replay.mjs [WRITER_CHECKOUT=this tree, built] [REQUESTS=6000]
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGenerator, UA } from './bodies.mjs';
import { loadSource } from './source.mjs';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib.mjs';

const writerRoot = process.argv[2] || undefined;
const REQUESTS = Number(process.argv[3] ?? 6000);
const files = ['db.json', 'db.journal.jsonl', 'db.archive.jsonl'];

// The stores from each build; bodies parsed and normalized by the reader's sources (the same code
// for both, so the batches are too).
const mod = await loadSource();
const { parseBody } = await mod('core/parse.js');
const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
async function tools(root) {
  const { openFileStore } = await import(pathToFileURL(join(root ?? ROOT, 'packages/receiver/dist/index.js')).href);
  return { parseBody, normalizeNative, normalizeSdk, openFileStore };
}
const [w, r] = [await tools(writerRoot), await tools(undefined)];
const opts = { maxRecords: 1000, journal: { checkpointMs: 3_600_000, checkpointBytes: 1_500_000 } };
const dirA = mkdtempSync(join(tmpdir(), 'csp-lens-replay-a-'));
const dirB = mkdtempSync(join(tmpdir(), 'csp-lens-replay-b-'));
const a = await w.openFileStore({ path: join(dirA, 'db.json'), ...opts });
const g = createGenerator({ docs: 2000, hosts: 100, runId: 'rp-' });
const t0 = 1_795_300_000_000;
let pending = [];
for (let i = 0; i < REQUESTS; i++) {
  const q = g.mixed(i);
  const meta = { receivedAt: t0 + i * 40, userAgent: i % 3 ? UA : `UA ${i % 17}`, clientIp: `203.0.113.${i % 5}` };
  const body = w.parseBody(q.body, q.type);
  const batch = q.path.endsWith('/sdk') ? w.normalizeSdk(body, meta) : w.normalizeNative(body, meta);
  // A policy that looks like a hash, and a second text now and then: references must not confuse them.
  if (i % 97 === 0 && batch.violations[0]) batch.violations[0].originalPolicy = i % 2 ? '0123456789abcdef' : `default-src 'none' ${i}`;
  pending.push(a.append(batch, i % 11 ? {} : { 'browser-extension': 1 }));
  if (pending.length >= 32) await Promise.all(pending.splice(0));
}
await Promise.all(pending);
for (const f of files) if (existsSync(join(dirA, f))) copyFileSync(join(dirA, f), join(dirB, f));
const journal = existsSync(join(dirB, 'db.journal.jsonl')) ? readFileSync(join(dirB, 'db.journal.jsonl'), 'utf8').split('\n').slice(0, -1) : [];
const journalLines = `${journal.length} (${journal.filter((l) => l.includes('"v":2,')).length} version 2, ${journal.filter((l) => l.includes('"d":{')).length} defining policies)`;
await a.close();
const b = await r.openFileStore({ path: join(dirB, 'db.json'), ...opts });
await b.close();
const live = (d) => {
  const data = JSON.parse(readFileSync(join(d, 'db.json'), 'utf8'));
  delete data.checkpoint;
  return JSON.stringify(data);
};
const archive = (d) => (existsSync(join(d, 'db.archive.jsonl')) ? readFileSync(join(d, 'db.archive.jsonl'), 'utf8') : '');
const ok = live(dirA) === live(dirB) && archive(dirA) === archive(dirB);
console.log(`${REQUESTS} batches, ${journalLines} journal lines replayed from ${writerRoot ?? 'this tree'}'s files: live file and archive ${ok ? 'identical' : 'DIFFER'}`);
rmSync(dirA, { recursive: true, force: true });
rmSync(dirB, { recursive: true, force: true });
if (!ok) process.exit(1);
