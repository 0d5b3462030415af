// csp-lens embedded as Koa middleware (DESIGN §6) over a file store with the journal on, which the
// CLI has no flag for yet. The same app `csp-lens serve` builds (server.ts), store options aside.
//   node bench/servers/csp-lens.mjs DB MAX_RECORDS [RATE_LIMIT] [CHECKPOINT_MS]
//   CSP_LENS_DIST=/other/checkout/packages/receiver/dist: that build instead (bench/run.mjs's
//   BENCH_BASELINE, to measure before and after a change in one run).
import Koa from 'koa';
import { pathToFileURL } from 'node:url';

const dist = process.env.CSP_LENS_DIST ? pathToFileURL(`${process.env.CSP_LENS_DIST}/index.js`).href : '../../packages/receiver/dist/index.js';
const { createReceiver, openFileStore } = await import(dist);

const [db, maxRecords = '10000', rateLimit = '0', checkpointMs = '30000'] = process.argv.slice(2);
const store = await openFileStore({ path: db, maxRecords: Number(maxRecords), journal: { checkpointMs: Number(checkpointMs) } });
const receiver = createReceiver({ store, rateLimit: Number(rateLimit), token: 'bench-token-0123456789abcdef' });
const app = new Koa();
app.silent = true;
app.on('error', (err) => {
  if (!err.status || err.status >= 500) console.error('csp-lens:', err.message);
});
app.use(receiver.middleware());
const server = app.listen(0, '127.0.0.1', () => console.log(`csp-lens receiving at http://127.0.0.1:${server.address().port}/csp/report (journal)`));
server.requestTimeout = 30_000;
server.headersTimeout = 10_000;
server.keepAliveTimeout = 5_000;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close();
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
    store.close().then(() => process.exit(0), () => process.exit(1));
  });
}
