// The floor of any receiver on the required stack that acknowledges durably: Koa + @koa/router +
// koa-body reading the text (as csp-lens's ingest routes do), `JSON.parse` (a bad body must get its
// 400 before the ack), the raw body appended to a file and fdatasync'd by a group commit (one write
// and one fdatasync for every request that arrived meanwhile), then 204. No normalization, merge,
// grouping, archive or checkpoint: whatever csp-lens does costs more than this.
//   node bench/servers/durable-floor.mjs FILE
import Koa from 'koa';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import { open } from 'node:fs/promises';

const TYPES = ['application/csp-report', 'application/reports+json', 'application/json', 'application/x-www-form-urlencoded', 'text/plain'];
const file = await open(process.argv[2], 'a');
let pending = [];
let writing;

async function commit() {
  while (pending.length) {
    const batch = pending;
    pending = [];
    await file.write(Buffer.from(`${batch.map((p) => p.line).join('\n')}\n`));
    await file.datasync();
    for (const p of batch) p.resolve();
  }
  writing = undefined;
}

const durable = (line) =>
  new Promise((resolve) => {
    pending.push({ line, resolve });
    writing ??= commit();
  });

const app = new Koa();
const router = new Router({ prefix: '/csp' });
const read = koaBody({ json: false, urlencoded: false, multipart: false, text: true, textTypes: TYPES, textLimit: '1mb', encoding: 'utf-8' });
const ingest = async (ctx) => {
  try {
    JSON.parse(ctx.request.body);
  } catch {
    ctx.status = 400;
    return;
  }
  await durable(ctx.request.body);
  ctx.status = 204;
};
router.post('/report', read, ingest);
router.post('/sdk', read, ingest);
app.use(router.routes());
const server = app.listen(0, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => file.close().then(() => process.exit(0))));
