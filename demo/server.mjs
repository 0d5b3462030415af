// The csp-lens demo: a small Koa site that mounts the receiver and violates its own policy on purpose.
//
//   npm run demo            (builds, then runs this file)
//
// Default ports, each overridable by an environment variable:
//   8800  DEMO_HTTP_PORT         the site over http   (report-uri, report-only, meta pages)
//   8801  DEMO_HTTPS_PORT        the same site over https (report-to and cross-origin pages)
//   8802  DEMO_THIRD_PARTY_PORT  the "third party" (https): script, stylesheet, images, frame, form target
//   8803  DEMO_REMOTE_PORT       a second receiver on its own origin (https), for the CORS path
// DEMO_HOST (127.0.0.1), DEMO_DB (a JSON file in the temp dir), CSP_LENS_TOKEN (generated when absent).
// The https certificate is generated at start for localhost and 127.0.0.1: nothing secret is on disk
// but the stores. Your browser will warn about it once per port; the tests pass --ignore-certificate-errors.
import Koa from 'koa';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createReceiver, cspHeader, openFileStore, policyParts } from '@csp-lens/receiver';
import { PAGES, demoDirectives, renderFramed, renderIndex, renderPage } from './pages.mjs';
import { createThirdPartyApp } from './third-party.mjs';
import { generateCert, listen, requestLog } from './infra.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const STATIC = {
  '/demo/triggers.js': ['application/javascript', readFileSync(join(here, 'public/triggers.js'))],
  '/demo/demo.css': ['text/css', readFileSync(join(here, 'public/demo.css'))],
  '/demo/ok.png': ['image/png', PNG],
};
// The SDK's inline loader buffers violations that happen before the async SDK script has loaded.
const LOADER = join(here, '../packages/browser/src/loader.js');


export async function startDemo(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const quiet = options.quiet ?? false;
  const warn = quiet ? () => {} : (m) => console.warn(m);
  const dbPath = options.dbPath ?? join(tmpdir(), 'csp-lens-demo', 'demo.json');
  const remoteDbPath = options.remoteDbPath ?? dbPath.replace(/(\.json)?$/, '.remote.json');
  for (const p of [dbPath, remoteDbPath]) mkdirSync(dirname(p), { recursive: true });
  const tls = await generateCert();
  const log = [];
  const closers = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };

  try {
    // Bind first, so the pages can name the real ports (0 = any free port).
    const thirdParty = createHttpsServer(tls, createThirdPartyApp().callback());
    const main = new Koa();
    const remote = new Koa();
    // app.callback() composes the middleware present when it is called: bind now, resolve later.
    const handlers = {};
    const late = (name) => (req, res) => handlers[name](req, res);
    const servers = {
      http: createServer(late('main')),
      https: createHttpsServer(tls, late('main')),
      thirdParty,
      remote: createHttpsServer(tls, late('remote')),
    };
    for (const s of Object.values(servers)) {
      closers.push(
        () =>
          new Promise((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections?.();
          }),
      );
    }
    const port = {
      http: await listen(servers.http, options.httpPort ?? 0, host),
      https: await listen(servers.https, options.httpsPort ?? 0, host),
      thirdParty: await listen(servers.thirdParty, options.thirdPartyPort ?? 0, host),
      remote: await listen(servers.remote, options.remotePort ?? 0, host),
    };
    const origin = {
      http: `http://${urlHost}:${port.http}`,
      https: `https://${urlHost}:${port.https}`,
      thirdParty: `https://${urlHost}:${port.thirdParty}`,
      thirdPartyLocalhost: `https://localhost:${port.thirdParty}`,
      remote: `https://${urlHost}:${port.remote}`,
    };

    const store = await openFileStore({ path: dbPath });
    closers.push(() => store.close());
    const receiver = createReceiver({ store, token: options.token ?? process.env.CSP_LENS_TOKEN });
    const token = receiver.token;
    const remoteStore = await openFileStore({ path: remoteDbPath });
    closers.push(() => remoteStore.close());
    const remoteReceiver = createReceiver({ store: remoteStore, token, corsOrigins: '*' });

    remote.use(requestLog('remote', log, quiet));
    remote.use(remoteReceiver.middleware());

    const pageUrl = (p) => `${p.scheme === 'https' ? origin.https : origin.http}${p.path}`;
    const links = [{ href: `${origin.http}/`, text: 'all pages' }, ...PAGES.map((p) => ({ href: pageUrl(p), text: p.path.slice(1) }))];
    const loader = existsSync(LOADER) ? readFileSync(LOADER, 'utf8') : undefined;

    // Reporting per page: where native reports go (the framed frame-ancestors page reuses it).
    const reporting = (p) => {
      if (p.meta) return undefined;
      const base = p.remote ? `${origin.remote}/csp/report` : '/csp/report';
      const reportTo = p.path === '/report-uri' ? undefined : { group: p.remote ? 'remote' : 'csp-lens', url: base };
      // report-to endpoints are absolute: a path resolves against the https origin, never the request's host.
      return { reportOnly: !!p.reportOnly, reportUri: base, reportTo, origin: origin.https, warn };
    };
    const pages = new Map();
    for (const p of PAGES) {
      const directives = demoDirectives(p.remote ? [origin.remote] : []);
      pages.set(p.path, {
        page: p,
        csp: p.meta ? undefined : cspHeader({ directives, ...reporting(p) }),
        directives,
        framed: p.meta
          ? undefined
          : cspHeader({ directives: { 'default-src': ["'self'"], 'frame-ancestors': ["'none'"] }, nonce: false, ...reporting(p) }),
      });
    }
    const indexCsp = cspHeader({ directives: demoDirectives(), reportUri: '/csp/report', warn });

    const render = (ctx, entry) => {
      const p = entry.page;
      let nonce = ctx.state.cspNonce;
      let metaPolicy;
      if (p.meta) {
        nonce = randomBytes(16).toString('base64');
        metaPolicy = policyParts(Object.entries(entry.directives), nonce).join('; ');
      }
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = renderPage({
        page: p,
        nonce,
        metaPolicy,
        policy: metaPolicy || ctx.response.get('Content-Security-Policy') || ctx.response.get('Content-Security-Policy-Report-Only'),
        thirdParty: origin.thirdParty,
        thirdPartyLocalhost: origin.thirdPartyLocalhost,
        sdkOrigin: p.remote ? origin.remote : `${ctx.protocol}://${ctx.host}`,
        loader,
        links,
        query: ctx.querystring,
      });
    };

    main.use(requestLog('main', log, quiet));
    main.use(receiver.middleware());
    main.use(async (ctx, next) => {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
      const file = STATIC[ctx.path];
      const entry = pages.get(ctx.path);
      if (file) {
        ctx.type = file[0];
        ctx.body = file[1];
      } else if (entry?.csp) {
        await entry.csp(ctx, async () => render(ctx, entry));
      } else if (entry) {
        render(ctx, entry);
      } else if (ctx.path === '/demo/framed') {
        const framed = pages.get(`/${ctx.query.page}`)?.framed;
        if (!framed) return next();
        await framed(ctx, async () => {
          ctx.type = 'html';
          ctx.body = renderFramed();
        });
      } else if (ctx.path === '/demo/redir') {
        // Same-origin URL that redirects to the third party: img-src 'self' allows the first hop only.
        const to = String(ctx.query.to ?? '');
        if (!to.startsWith(`${origin.thirdParty}/`)) ctx.throw(400, 'redirects only to the third party');
        ctx.redirect(to);
      } else if (ctx.path === '/') {
        await indexCsp(ctx, async () => {
          ctx.type = 'html';
          ctx.body = renderIndex({
            pages: PAGES.map((p) => ({ url: pageUrl(p), title: p.title })),
            readHelp: readHelp(origin),
          });
        });
      } else {
        return next();
      }
    });

    handlers.main = main.callback();
    handlers.remote = remote.callback();

    const urls = {
      index: `${origin.http}/`,
      ...Object.fromEntries(PAGES.map((p) => [p.path.slice(1), pageUrl(p)])),
      dashboard: `${origin.http}/csp/dashboard`,
      api: `${origin.http}/csp/api`,
      http: origin.http,
      https: origin.https,
      thirdParty: origin.thirdParty,
      remote: origin.remote,
      remoteApi: `${origin.remote}/csp/api`,
    };
    return { urls, ports: port, token, cert: tls.cert, log, dbPath, remoteDbPath, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// No token in the page: the site may be reachable by others (DEMO_HOST); the console has it.
function readHelp(origin) {
  return [
    `TOKEN=…   (printed in the console that started the demo)`,
    `dashboard: ${origin.http}/csp/dashboard#token=$TOKEN`,
    `curl -H "Authorization: Bearer $TOKEN" ${origin.http}/csp/api/groups`,
    `curl -H "Authorization: Bearer $TOKEN" '${origin.http}/csp/api/violations?limit=20'`,
    `cross-origin receiver: curl -k -H "Authorization: Bearer $TOKEN" ${origin.remote}/csp/api/violations`,
  ].join('\n');
}

async function main() {
  const env = process.env;
  const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
  const demo = await startDemo({
    host: env.DEMO_HOST || '127.0.0.1',
    httpPort: num(env.DEMO_HTTP_PORT, 8800),
    httpsPort: num(env.DEMO_HTTPS_PORT, 8801),
    thirdPartyPort: num(env.DEMO_THIRD_PARTY_PORT, 8802),
    remotePort: num(env.DEMO_REMOTE_PORT, 8803),
    dbPath: env.DEMO_DB || undefined,
  });
  const u = demo.urls;
  console.log(`csp-lens demo
  start here        ${u.index}
  report-uri        ${u['report-uri']}
  report-to         ${u['report-to']}
  report-only       ${u['report-only']}
  <meta> policy     ${u.meta}
  cross-origin      ${u['cross-origin']}
  third party       ${u.thirdParty}
  remote receiver   ${u.remote}/csp  (its own store)
  dashboard         ${u.dashboard}#token=${demo.token}
  read API          ${u.api}/violations  (Authorization: Bearer ${demo.token})
  token             ${demo.token}
  stores            ${demo.dbPath}, ${demo.remoteDbPath}
The https certificate is self-signed and new on every start: accept it once per port in your browser
(open ${u.https}/, ${u.thirdParty}/ and ${u.remote}/csp/sdk.js). Ctrl-C stops.`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await demo.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    const message = err instanceof Error ? err.message : String(err);
    // A second demo: say how to give it a store (and ports) of its own.
    if (/ is in use by process \d+/.test(message)) {
      console.error(`${message}; another demo uses this store: stop it, or give this one its own with DEMO_DB=<file> (and DEMO_HTTP_PORT, DEMO_HTTPS_PORT, DEMO_THIRD_PARTY_PORT, DEMO_REMOTE_PORT)`);
    } else if (err?.code === 'EADDRINUSE') {
      console.error(`csp-lens demo: port ${err.port} is in use (another demo?): stop it, or set DEMO_HTTP_PORT, DEMO_HTTPS_PORT, DEMO_THIRD_PARTY_PORT, DEMO_REMOTE_PORT (0: any free port) and DEMO_DB=<file> for a store of its own`);
    } else {
      console.error(message);
    }
    process.exit(1);
  });
}
