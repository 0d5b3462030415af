// Floor of any receiver that reads the body: Koa + @koa/router + koa-body reading the text as
// csp-lens's ingest routes do, then 204, no parsing. (Not in `npm run bench`; bench/quick.mjs.)
import Koa from 'koa';
import Router from '@koa/router';
import { koaBody } from 'koa-body';

const TYPES = ['application/csp-report', 'application/reports+json', 'application/json', 'application/x-www-form-urlencoded', 'text/plain'];
const app = new Koa();
const router = new Router({ prefix: '/csp' });
const read = koaBody({ json: false, urlencoded: false, multipart: false, text: true, textTypes: TYPES, textLimit: '1mb', encoding: 'utf-8' });
const done = (ctx) => {
  ctx.status = ctx.request.body ? 204 : 400;
};
router.post('/report', read, done);
router.post('/sdk', read, done);
app.use(router.routes());
app.use(router.allowedMethods());
const server = app.listen(0, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
