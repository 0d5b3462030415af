// The demo in one engine: every page, every trigger, what reached the receivers byte for byte, and
// what the receivers stored. The raw material of test/fixtures/ENGINES.md.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo } from '../../demo/server.mjs';
import { launch } from './engines.mjs';
import { tapRequests } from './tap.mjs';
import { header } from './analyze.mjs';

export const DEMO_PAGES = ['report-uri', 'report-to', 'report-only', 'meta', 'cross-origin'];

/** GET a read-API URL with the token; https is verified against the demo's generated certificate. */
function getJson(url, token, ca) {
  const headers = { authorization: `Bearer ${token}` };
  if (url.startsWith('http:')) {
    return fetch(url, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`GET ${url}: ${r.status}`))));
  }
  return new Promise((resolve, reject) => {
    const r = request(url, { headers, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => ((res.statusCode ?? 0) >= 300 ? reject(new Error(`GET ${url}: ${res.statusCode}`)) : resolve(JSON.parse(body))));
    });
    r.on('error', reject);
    r.end();
  });
}

async function allRecords(api, token, ca) {
  const out = [];
  let cursor;
  do {
    const page = await getJson(`${api}/violations?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token, ca);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** Waits until `idleMs` passed without a request to the receivers (from `since` on), at most `maxMs`. */
async function settle(entries, isReceiver, { idleMs, maxMs, since = Date.now() }) {
  const end = Date.now() + maxMs;
  for (;;) {
    const mine = entries.filter(isReceiver);
    const last = Math.max(since, mine.length ? mine[mine.length - 1].at : 0);
    const wait = Math.min(end, last + idleMs) - Date.now();
    if (wait <= 0) return;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Opens one demo page, waits for its load-time violations and the SDK, fires every trigger once from
 * page code, closes the page (the SDK flushes on pagehide), waits for every request and reads
 * what the receiver stored for that page view.
 */
async function visit(engine, demo, tap, name, { idleMs }) {
  const run = randomBytes(6).toString('hex');
  const url = `${demo.urls[name]}?run=${run}`;
  const remote = name === 'cross-origin';
  const ports = new Set([demo.ports.http, demo.ports.https, demo.ports.remote]);
  const from = tap.entries.length;
  const isReceiver = (e) => ports.has(e.port) && /^\/csp\/(report|sdk)(\?|$)/.test(e.url);
  const fresh = () => tap.entries.slice(from);
  const t0 = Date.now();
  const page = await engine.open(url);
  let triggered;
  let errors;
  let closedAt;
  try {
    await page.waitFor(() => window.__demoReady === true && !!window.__cspLens && 'stop' in window.__cspLens, { timeoutMs: 30_000 });
    // From a timer, i.e. page code: code that a driver runs is exempt from the eval check in
    // Chromium, and events that Firefox's driver dispatches report source-file "chrome".
    triggered = await page.evaluate(
      () =>
        new Promise((resolve) =>
          setTimeout(() => resolve({ at: Date.now(), n: Object.fromEntries(window.triggerKinds.map((k) => [k, window.trigger(k)])) }), 0),
        ),
    );
    await settle(fresh(), isReceiver, { idleMs, maxMs: 60_000 });
    errors = page.errors;
  } finally {
    await page.close();
    closedAt = Date.now();
  }
  await settle(fresh(), isReceiver, { idleMs, maxMs: 60_000, since: closedAt });
  const api = remote ? demo.urls.remoteApi : demo.urls.api;
  const origin = new URL(url).origin;
  const mine = (r) =>
    r.documentURL === url ||
    (r.effectiveDirective === 'frame-ancestors' && r.firstReceivedAt >= t0 && (r.documentURL?.includes(run) || r.documentURL === `${origin}/`));
  // Stored before answered: read until two reads a second apart agree.
  let records = [];
  for (let i = 0; i < 20; i++) {
    const now = (await allRecords(api, demo.token, demo.cert)).filter(mine);
    if (i > 0 && JSON.stringify(now) === JSON.stringify(records)) break;
    records = now;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const requests = fresh()
    .filter(isReceiver)
    .map((e) => ({
      at: e.at - t0,
      receiver: e.port === demo.ports.remote ? 'remote' : 'main',
      method: e.method,
      url: e.url,
      status: e.status,
      rawHeaders: e.rawHeaders,
      body: e.body.toString('utf8'),
    }));
  return { page: name, url, run, t0, closedAt: closedAt - t0, triggered, errors: errors ?? null, requests, records };
}

/** Every demo page in one engine; returns { engine, version, userAgent, pages }. */
export async function surveyDemo(engineName, { idleMs = 3000, pages = DEMO_PAGES } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'csp-lens-survey-'));
  const tap = tapRequests();
  let demo;
  let engine;
  try {
    demo = await startDemo({ dbPath: join(dir, 'main.json'), remoteDbPath: join(dir, 'remote.json'), quiet: true });
    engine = await launch(engineName);
    const out = { engine: engine.name, version: engine.version, pages: {} };
    for (const name of pages) {
      out.pages[name] = await visit(engine, demo, tap, name, { idleMs });
      const v = out.pages[name];
      console.log(`  ${name}: ${v.requests.length} requests, ${v.records.length} records${v.errors?.length ? `, page errors: ${v.errors.join(' | ')}` : ''}`);
    }
    const post = Object.values(out.pages)[0]?.requests.find((r) => r.method === 'POST');
    out.userAgent = (post && header(post.rawHeaders, 'user-agent')) ?? null;
    return out;
  } finally {
    await engine?.close();
    await demo?.close();
    tap.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
