// Baseline 2, what the tutorials do: parse, `db.data.push(r)`, `await db.write()` per request.
// lowdb's JSONFile (steno) already coalesces overlapping writes; each write still stringifies and
// writes the whole file, so its cost grows with everything ever received.
//   node bench/servers/naive-lowdb.mjs FILE
import Koa from 'koa';
import { koaBody } from 'koa-body';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';

const db = new Low(new JSONFile(process.argv[2]), { reports: [] });
await db.read();
const app = new Koa();
app.use(koaBody({ text: true, json: false, urlencoded: false, textTypes: ['application/csp-report', 'application/reports+json', 'application/json', 'text/plain'] }));
app.use(async (ctx) => {
  let body;
  try {
    body = JSON.parse(ctx.request.body);
  } catch {
    ctx.status = 400;
    return;
  }
  for (const r of Array.isArray(body) ? body : [body]) db.data.reports.push({ ...r, receivedAt: Date.now(), userAgent: ctx.get('user-agent') });
  await db.write();
  ctx.status = 204;
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
