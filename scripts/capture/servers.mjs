// The three https origins of a capture, each recording every request exactly as it arrived:
//   page      https://127.0.0.1:<page>      the probe page, its same-origin receivers /r/{uri,to,sdk}
//   receiver  https://localhost:<receiver>  a cross-site receiver (CORS per ?cors=none|star|cred)
//   third     https://127.0.0.1:<third> and https://localhost:<third>: what the violations point at
// Plain node:https (no framework) so that nothing parses, reorders or decodes a body before it is
// recorded: `body` is the bytes as received, `rawHeaders` the headers in the order sent.
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateCert, listen } from '../../demo/infra.mjs';
import { probePage } from './page.mjs';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const SDK = fileURLToPath(new URL('../../packages/browser/dist/sdk.js', import.meta.url));
const LOADER = fileURLToPath(new URL('../../packages/browser/src/loader.js', import.meta.url));
export const NONCE = 'Nonce0123456789';

/** The policy of the fixtures (see chromium-156/report-uri-img.json), without its reporting part. */
export const basePolicy = (receiver) =>
  `default-src 'self'; script-src 'self' 'nonce-${NONCE}' 'report-sample'; style-src 'self' 'report-sample'; ` +
  `img-src 'self'; connect-src 'self' ${receiver}; frame-src 'self'; form-action 'self'; worker-src 'self'`;

/**
 * A scenario (one page load): { run, mode: 'enforce'|'ro', rep: 'uri'|'to'|'both', cross (report to
 * the cross-site receiver), sdk (load the csp-lens SDK from line 100 of the page) }.
 */
export async function startServers({ host = '127.0.0.1', ports }) {
  const tls = await generateCert();
  const wire = [];
  const scenarios = new Map();
  const waiters = new Set();
  const servers = [];
  const origin = {};
  let api;

  const record = (name, req, body) => {
    const entry = {
      server: name,
      at: Date.now(),
      method: req.method,
      host: req.headers.host,
      url: req.url,
      rawHeaders: req.rawHeaders.slice(),
      body,
    };
    wire.push(entry);
    for (const w of waiters) w();
    return entry;
  };

  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const cors = (req, res, mode) => {
    const o = req.headers.origin;
    if (mode === 'star') res.setHeader('Access-Control-Allow-Origin', '*');
    if (mode === 'cred' && o) {
      res.setHeader('Access-Control-Allow-Origin', o);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS' && mode !== 'none') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'content-type');
      res.setHeader('Access-Control-Max-Age', '0');
    }
  };

  // The receivers: record, answer 204 (a non-2xx makes report-to retry), CORS as the query asks.
  const receive = (name) => async (req, res, url) => {
    const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    record(name, req, body);
    cors(req, res, url.searchParams.get('cors') ?? (name === 'receiver' ? 'none' : 'same'));
    res.writeHead(204).end();
  };

  const pageOf = (url) => {
    const run = url.searchParams.get('run');
    const s = scenarios.get(run);
    if (!s) return undefined;
    const target = s.cross ? origin.receiver : origin.page;
    const crossQ = (cors) => (s.cross ? `&cors=${cors}` : '');
    const reportUri = `${s.cross ? target : ''}/r/uri?run=${run}${crossQ('none')}`;
    const reportTo = `${target}/r/to?run=${run}${crossQ('star')}`;
    let policy = basePolicy(origin.receiver);
    if (s.rep === 'uri' || s.rep === 'both') policy += `; report-uri ${reportUri}`;
    if (s.rep === 'to' || s.rep === 'both') policy += '; report-to g1';
    const headers = {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Set-Cookie': `pagecookie=fromA_${run}; Path=/; Secure; SameSite=Lax`,
      [s.mode === 'ro' ? 'Content-Security-Policy-Report-Only' : 'Content-Security-Policy']: policy,
    };
    if (s.rep === 'to' || s.rep === 'both') headers['Reporting-Endpoints'] = `g1="${reportTo}"`;
    const extra = s.sdk ? sdkBoot(run) : '';
    const html = probePage({
      run,
      nonce: NONCE,
      receiver: origin.receiver,
      thirdParty: origin.third,
      thirdPartyLocalhost: origin.thirdLocalhost,
      extra,
    });
    return { headers, html };
  };

  const handlers = {
    page: async (req, res, url) => {
      const p = url.pathname;
      if (p.startsWith('/r/')) return receive('page')(req, res, url);
      record('page', req, Buffer.alloc(0));
      if (p === '/start') {
        // A same-origin page that navigates to the probe: the probe's referrer is this full URL.
        const s = scenarios.get(api.current);
        if (!s) return res.writeHead(404).end();
        const next = `/p?run=${s.run}&mode=${s.mode}&rep=${s.rep}`;
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        return res.end(`<!doctype html><title>start</title><script>location.href = ${JSON.stringify(next)};</script>`);
      }
      if (p === '/p') {
        const page = pageOf(url);
        if (!page) return res.writeHead(404).end();
        res.writeHead(200, page.headers);
        return res.end(page.html);
      }
      if (p === '/redir') {
        const to = url.searchParams.get('to') ?? '';
        if (!to.startsWith(`${origin.third}/`)) return res.writeHead(400).end();
        return res.writeHead(302, { Location: to }).end();
      }
      if (p === '/static/ok.png') return res.writeHead(200, { 'Content-Type': 'image/png' }).end(PNG);
      if (p === '/sdk.js') return res.writeHead(200, { 'Content-Type': 'application/javascript' }).end(readFileSync(SDK));
      res.writeHead(404).end();
    },
    receiver: async (req, res, url) => {
      if (url.pathname.startsWith('/r/')) return receive('receiver')(req, res, url);
      record('receiver', req, Buffer.alloc(0));
      res.writeHead(404).end();
    },
    third: async (req, res, url) => {
      const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
      record('third', req, body);
      const p = url.pathname;
      if (p === '/static/x.js') return res.writeHead(200, { 'Content-Type': 'application/javascript' }).end('window.__thirdPartyScriptRan = true;');
      if (p === '/static/s.css') return res.writeHead(200, { 'Content-Type': 'text/css' }).end('body { border-top: 4px solid orange; }');
      if (/^\/(images|img2|dyn|redirected)\//.test(p)) return res.writeHead(200, { 'Content-Type': 'image/png' }).end(PNG);
      if (p === '/frame.html' || p === '/submit') {
        return res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>third party</title><p>third party');
      }
      if (p === '/api/data') return res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' }).end('{}');
      res.writeHead(404).end();
    },
  };

  const serve = async (name, port) => {
    const server = createServer(tls, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      handlers[name](req, res, url).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    servers.push(server);
    return listen(server, port, host);
  };

  const close = async () => {
    for (const s of servers.splice(0)) {
      await new Promise((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections?.();
      });
    }
  };

  try {
    const pagePort = await serve('page', ports.page);
    const receiverPort = await serve('receiver', ports.receiver);
    const thirdPort = await serve('third', ports.third);
    Object.assign(origin, {
      page: `https://127.0.0.1:${pagePort}`,
      receiver: `https://localhost:${receiverPort}`,
      third: `https://127.0.0.1:${thirdPort}`,
      thirdLocalhost: `https://localhost:${thirdPort}`,
    });
  } catch (err) {
    await close();
    throw err;
  }

  /** Resolves once `done(wire)` holds, or after `timeoutMs` (then with false). */
  const waitFor = (done, timeoutMs) =>
    new Promise((resolve) => {
      const check = () => {
        if (!done(wire)) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok) => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(ok);
      };
      waiters.add(check);
      check();
    });

  api = { origin, wire, scenarios, current: undefined, waitFor, close, cert: tls.cert };
  return api;
}

/**
 * Code for line 100 of the page (inside its first script, so no line number moves): the SDK's inline
 * loader, then the SDK itself, posting its batches to /r/sdk of this run.
 */
function sdkBoot(run) {
  const loader = readFileSync(LOADER, 'utf8')
    .split('\n')
    .filter((l) => !l.trim().startsWith('//'))
    .join(' ')
    .replace(/\s+/g, ' ');
  return (
    `${loader} { const s = document.createElement('script'); s.nonce = document.currentScript.nonce; ` +
    `s.src = '/sdk.js'; s.dataset.endpoint = '/r/sdk?run=${run}&via=sdk'; s.dataset.release = 'capture'; ` +
    `document.head.appendChild(s); }`
  );
}
