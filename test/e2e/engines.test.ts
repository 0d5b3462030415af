import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import { generateCert, listen } from '../../demo/infra.mjs';
import { ENGINES, launch, type EngineName } from './browser.js';

// A page that violates its own policy (img-src 'self' against a cross-origin <img>), records the
// securitypolicyviolation event, and beacons on pagehide: what every engine must show the tests.
const PAGE = `<!doctype html><meta charset="utf-8"><title>engine smoke</title>
<script nonce="n0nce">
  window.__events = [];
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__events.push({ blockedURI: e.blockedURI, effectiveDirective: e.effectiveDirective, disposition: e.disposition }));
  addEventListener('pagehide', () => navigator.sendBeacon('/bye', 'gone'));
</script>
<img src="https://localhost:1/blocked.png?x=1" alt="">`;

let server: Server;
let origin: string;
const beacons: string[] = [];
const arrivals = new EventTarget();

beforeAll(async () => {
  server = createServer(await generateCert(), (req, res) => {
    if (req.method === 'POST' && req.url === '/bye') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        beacons.push(body);
        arrivals.dispatchEvent(new Event('beacon'));
        res.writeHead(204).end();
      });
      return;
    }
    res.writeHead(req.url === '/' ? 200 : 404, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': "default-src 'self'; script-src 'nonce-n0nce'; img-src 'self'",
    });
    res.end(req.url === '/' ? PAGE : '');
  });
  origin = `https://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe.each(ENGINES)('%s', (name: EngineName) => {
  it('opens an https page with the self-signed certificate, sees its violation event, and runs pagehide on close', async () => {
    const engine = await launch(name);
    try {
      expect(engine.version).toMatch(/^\d+\.\d+/);
      const page = await engine.open(`${origin}/`);
      await page.waitFor(() => (window as unknown as { __events: unknown[] }).__events.length > 0);
      const events = await page.evaluate(() => (window as unknown as { __events: unknown[] }).__events);
      expect(events).toEqual([{ blockedURI: 'https://localhost:1/blocked.png?x=1', effectiveDirective: 'img-src', disposition: 'enforce' }]);
      expect(await page.evaluate((a: number, b: number) => a + b, 2, 3)).toBe(5);
      const before = beacons.length;
      const beacon = once(arrivals, 'beacon');
      await page.close();
      await beacon;
      expect(beacons.length).toBe(before + 1);
      expect(page.errors ?? []).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
