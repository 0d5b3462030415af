// The worker half of bench/prototypes/worker-merge.mjs: the merge state, fed journal lines.
import { parentPort, workerData } from 'node:worker_threads';
import { loadSource } from '../source.mjs';

const mod = await loadSource();
const { createState, emptyData } = await mod('core/state.js');
const state = createState(emptyData(), { maxRecords: workerData.maxRecords, mergeWindowMs: 10_000, groupCapPerMinute: 100 });
let archived = 0;
parentPort.on('message', (items) => {
  for (const [body, refs] of items) {
    const { b, f } = JSON.parse(`{${body}`);
    if (refs) {
      const texts = new Map();
      for (let i = 0; i < refs.length; i += 2) texts.set(refs[i], refs[i + 1]);
      for (const v of b.violations) if (typeof v.originalPolicy === 'string' && texts.has(v.originalPolicy)) v.originalPolicy = texts.get(v.originalPolicy);
    }
    const out = state.ingest(b, f);
    for (const r of Array.isArray(out) ? out : out.evicted) archived += JSON.stringify(r).length;
  }
  parentPort.postMessage(items.length);
});
parentPort.postMessage('ready');
