// SDK cost in real Chromium: a page whose own code triggers N violations (mixed kinds, many
// identical) with the built SDK loaded. The SDK's listener is wrapped before the SDK loads, so the
// time measured is exactly the handler's main-thread time per violation; a tiny local server
// counts the batches and bytes the SDK sends.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const SDK = fileURLToPath(new URL('../packages/browser/dist/sdk.js', import.meta.url));
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// `inline`: every style attribute is a new text (and the policy asks for samples), so each is a
// distinct violation whose element the SDK finds and whose text it hashes (up to maxEvents, 100).
const page = (n, withSdk, inline) => `<!doctype html><meta charset=utf-8><title>sdk bench</title>
<script nonce=n0>
// Wrap the SDK's securitypolicyviolation listener before it is added: times its every call.
window.__times = [];
const add = EventTarget.prototype.addEventListener;
EventTarget.prototype.addEventListener = function (type, fn, opts) {
  if (type !== 'securitypolicyviolation' || typeof fn !== 'function') return add.call(this, type, fn, opts);
  const timed = function (e) { const t = performance.now(); try { return fn.call(this, e); } finally { window.__times.push(performance.now() - t); } };
  return add.call(this, type, timed, opts);
};
window.__events = 0;
add.call(window, 'securitypolicyviolation', () => window.__events++);
</script>
${withSdk ? '<script src="/csp/sdk.js"></script>' : ''}
<div id=box></div>
<script nonce=n0>
// Violations from page code (DevTools' evaluate is not CSP-checked): ${n} of them, in chunks so
// the events are dispatched between chunks, a quarter each of eval (identical), style attributes
// (identical), images (each URL new, or Chromium's image cache
// skips the load and its check) and new Function (identical).
window.__run = (n) => new Promise((done) => {
  const box = document.getElementById('box');
  let i = 0;
  const chunk = () => {
    for (const end = Math.min(n, i + 250); i < end; i++) {
      const k = i % 4;
      if (k === 0) { try { eval('1'); } catch {} }
      else if (k === 1) { box.removeAttribute('style'); box.setAttribute('style', ${inline ? "'color: red; --i: ' + i + '; ' + 'x'.repeat(200)" : "'color: red'"}); }
      else if (k === 2) { const img = new Image(); img.src = 'https://cdn.example/img/' + (i % 50) + '.png?i=' + i; }
      else { try { new Function('return 1'); } catch {} }
    }
    if (i < n) setTimeout(chunk, 0); else setTimeout(done, 200);
  };
  chunk();
});
</script>`;

/** Runs the page once; returns the handler times (ms) and what the server received. */
async function once(n, withSdk, inline = false) {
  const sdk = readFileSync(SDK);
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url.startsWith('/csp/sdk')) {
      let bytes = 0;
      req.on('data', (d) => (bytes += d.length));
      req.on('end', () => {
        received.requests++;
        received.bytes += bytes;
        res.writeHead(204).end();
      });
      return;
    }
    const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    if (req.url === '/csp/sdk.js') return void res.writeHead(200, { 'content-type': 'text/javascript', ...isolation }).end(sdk);
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // Cross-origin isolated: performance.now() resolution goes from 100 µs to 5 µs.
      ...isolation,
      'content-security-policy': `default-src 'self'; script-src 'self' 'nonce-n0'; style-src 'self'${inline ? " 'report-sample'" : ''}; img-src 'self'; connect-src 'self'`,
    });
    res.end(page(n, withSdk, inline));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const profile = mkdtempSync(join(tmpdir(), 'csp-lens-bench-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
  try {
    const tab = await browser.newPage();
    await tab.goto(`${origin}/p`);
    const isolated = await tab.evaluate(() => self.crossOriginIsolated);
    const t0 = Date.now();
    await tab.evaluate((count) => window.__run(count), n);
    const wall = Date.now() - t0;
    const { times, events } = await tab.evaluate(() => ({ times: window.__times, events: window.__events }));
    // Closing the page fires pagehide: the SDK flushes what is pending with a beacon.
    await tab.close({ runBeforeUnload: true });
    await new Promise((r) => setTimeout(r, 1000));
    return { times, events, wall, isolated, ...received };
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
    rmSync(profile, { recursive: true, force: true });
  }
}

/** `rounds` page loads with the SDK; handler time per violation, requests and bytes per load. */
export async function runSdkBench({ violations = 10_000, rounds = 3, inline = false } = {}) {
  const runs = [];
  for (let r = 0; r < rounds; r++) runs.push(await once(violations, true, inline));
  const all = runs.flatMap((x) => x.times).sort((a, b) => a - b);
  const q = (p) => all[Math.min(all.length - 1, Math.floor(p * all.length))];
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  // The first 100 calls: distinct violations (element lookup, and with `inline` the hash), the rest repeats.
  const first = runs.flatMap((x) => x.times.slice(0, 100));
  return {
    violations,
    rounds,
    inline,
    first100MeanUs: (first.reduce((a, b) => a + b, 0) / first.length) * 1000,
    events: runs.map((x) => x.events),
    handled: runs.map((x) => x.times.length),
    isolated: runs.every((x) => x.isolated),
    medianUs: q(0.5) * 1000,
    p99Us: q(0.99) * 1000,
    meanUs: mean * 1000,
    requests: runs.map((x) => x.requests),
    bytes: runs.map((x) => x.bytes),
    wallMs: runs.map((x) => x.wall),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await runSdkBench({ violations: Number(process.argv[2] ?? 10_000), rounds: Number(process.argv[3] ?? 1), inline: process.argv.includes('--inline') }));
}
