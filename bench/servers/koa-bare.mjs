// Baseline 1, the ceiling: Koa answering 204 without reading or parsing the body.
import Koa from 'koa';

const app = new Koa();
app.use((ctx) => {
  ctx.status = 204;
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
