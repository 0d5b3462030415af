// PROTOTYPE (not shipped): csp-lens's HTTP layer and journal on the main thread, the merge state in a
// worker thread fed each journal line after its fdatasync. No reads, no checkpoints, no archive file
// (evicted records are only serialized). Measures the throughput ceiling of that design.
//   npm run build && node bench/prototypes/worker-merge.mjs DB [MAX_RECORDS]   (then load it like bench/quick.mjs does)
// Measured (bench/notes.md, round 5): +5% requests/s over csp-lens as shipped, same CPU per request.
import Koa from 'koa';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { createReceiver } from '../../packages/receiver/dist/index.js';
import { loadSource } from '../source.mjs';

const [db, maxRecords = '10000'] = process.argv.slice(2);
const mod = await loadSource();
const { entryBody, openJournal } = await mod('store/file/journal.js');
const journal = await openJournal(db.replace(/\.json$/, '.journal.jsonl'));
const worker = new Worker(fileURLToPath(new URL('./worker-merge-state.mjs', import.meta.url)), { workerData: { maxRecords: Number(maxRecords) } });
await new Promise((r) => worker.once('message', r)); // ready
let n = 0;
let queue = [];
let writing;
let inWorker = 0;
let wake;
worker.on('message', (k) => {
  inWorker -= k;
  if (wake && inWorker < 2048) (wake(), (wake = undefined));
});
async function commit() {
  while (queue.length) {
    if (inWorker >= 4096) await new Promise((r) => (wake = r));
    const items = queue;
    queue = [];
    for (const it of items) journal.entry(++n, it.body);
    try {
      await journal.append();
    } catch (e) {
      for (const it of items) it.reject(e);
      continue;
    }
    worker.postMessage(items.map((it) => [it.body.body, it.body.refs]));
    inWorker += items.length;
    for (const it of items) it.resolve();
  }
  writing = undefined;
}
const empty = async () => ({ items: [] });
const store = {
  append(batch, filtered) {
    const body = entryBody(batch, filtered);
    return new Promise((resolve, reject) => {
      queue.push({ body, resolve, reject });
      writing ??= commit();
    });
  },
  violations: empty, groups: empty, group: async () => undefined, policy: async () => undefined, stats: async () => ({}),
  close: async () => { await writing; await journal.close(); await worker.terminate(); },
};
const receiver = createReceiver({ store, rateLimit: 0, token: 'bench-token-0123456789abcdef' });
const app = new Koa();
app.silent = true;
app.use(receiver.middleware());
const server = app.listen(0, '127.0.0.1', () => console.log(`csp-lens receiving at http://127.0.0.1:${server.address().port}/csp/report (worker prototype)`));
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { server.close(); server.closeAllConnections(); store.close().then(() => process.exit(0)); });
