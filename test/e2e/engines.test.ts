import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

const ENGINES_MJS = fileURLToPath(new URL('../../scripts/capture/engines.mjs', import.meta.url));

/** Every process below `root` (from /proc): pid and name. */
function descendants(root: number): { pid: number; name: string }[] {
  const parent = new Map<number, { ppid: number; name: string }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), { ppid: Number(fields[1]), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone meanwhile
    }
  }
  const out: { pid: number; name: string }[] = [];
  const walk = (p: number) => {
    for (const [pid, v] of parent) {
      if (v.ppid === p) {
        out.push({ pid, name: v.name });
        walk(pid);
      }
    }
  };
  walk(root);
  return out;
}

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return done();
}

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

  it('leaves no browser, driver or Xvfb process and no profile behind when the test process is killed', async () => {
    // A test process that launched the engine and then got SIGTERM (a CI timeout, Ctrl-C).
    const code = `const { launch } = await import(${JSON.stringify(ENGINES_MJS)}); const e = await launch(${JSON.stringify(name)}); await e.open('about:blank'); console.log('ready ' + e.profile); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      expect(await until(() => out.includes('\n'), 60_000), 'the engine started').toBe(true);
      const profile = out.trim().replace(/^ready /, '');
      const started = descendants(child.pid!);
      expect(existsSync(profile)).toBe(true);
      expect(started.length).toBeGreaterThan(0);
      child.kill('SIGTERM');
      const gone = await until(() => started.every((p) => !running(p.pid)) && !existsSync(profile), 15_000);
      expect(gone, `still running: ${started.filter((p) => running(p.pid)).map((p) => p.name).join(', ')}; profile ${existsSync(profile) ? 'kept' : 'gone'}`).toBe(true);
    } finally {
      // playwright and puppeteer end their browser on SIGTERM but keep the process itself alive.
      child.kill('SIGKILL');
    }
  });
});
